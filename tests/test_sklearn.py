"""chainrule.sklearn: scikit-learn's estimator checks, its tools (Pipeline, GridSearchCV,
cross_val_score, clone, pickle), pandas input, reproducibility, scikit-learn's own MLP rules
(loss curves equal to sklearn.neural_network's from the same weights) and the NeuralNet
wrappers' module/optimizer/criterion parameters."""
import doctest
import pickle
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn import neural_network  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_iris, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule import nn, optim  # noqa: E402
from chainrule.cli import models  # noqa: E402
from chainrule.sklearn import (  # noqa: E402
    MLPClassifier, MLPRegressor, NeuralNetClassifier, NeuralNetRegressor)


class TinyNet(nn.Module):
    """Linear, ReLU, Linear; the estimators fill in both sizes from the data."""

    def __init__(self, in_features, out_features, hidden=8):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(),
                                  nn.Linear(hidden, out_features))

    def forward(self, x):
        return self.body(x)


# Tiny nets and few epochs keep the ~215 checks fast; still enough to learn the checks'
# blobs (accuracy > 0.83) and regression set (R^2 > 0.5).
CHECKED = [
    MLPClassifier((8,), learning_rate_init=0.05, max_iter=25, random_state=0),
    MLPRegressor((8,), learning_rate_init=0.05, max_iter=25, random_state=0),
    NeuralNetClassifier(TinyNet, optimizer=optim.Adam, lr=0.05, max_epochs=15, batch_size=64,
                        random_state=0),
    NeuralNetRegressor(TinyNet, optimizer=optim.Adam, lr=0.05, max_epochs=15, batch_size=64,
                       random_state=0),
]

FLOAT32_BATCHING = (
    "the module computes in float32 (chainrule's default dtype), and BLAS's float32 matrix "
    "products round differently for different numbers of rows (matrix-vector kernels for "
    "one row, blocked kernels for many), so predictions of a subset can differ from the "
    "full set's in the last bits (~1e-7 relative), at the check's tolerance. The MLP "
    "estimators pass it: like scikit-learn's they train in float64 unless given float32")


def _expected_failures(estimator):
    if isinstance(estimator, (NeuralNetClassifier, NeuralNetRegressor)):
        return {"check_methods_subset_invariance": FLOAT32_BATCHING}
    return {}


@parametrize_with_checks(CHECKED, expected_failed_checks=_expected_failures)
def test_scikit_learn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def test_doctests_pass():
    import chainrule.sklearn
    import chainrule.sklearn.mlp
    import chainrule.sklearn.neural_net
    for module in (chainrule.sklearn, chainrule.sklearn.mlp, chainrule.sklearn.neural_net):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            assert doctest.testmod(module).failed == 0, module.__name__


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X, y


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*args, **kwargs)


# -------------------------------------------------------------- scikit-learn tools
def test_pipeline_grid_search_and_cross_val_score(iris):
    X, y = iris
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=60, random_state=0))
    grid = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(4,), (16,)],
                               "mlpclassifier__learning_rate_init": [0.001, 0.02]}, cv=3)
    _quiet(grid.fit, X, y)
    assert grid.best_params_ == {"mlpclassifier__hidden_layer_sizes": (16,),
                                 "mlpclassifier__learning_rate_init": 0.02}
    assert grid.best_score_ > 0.9
    scores = _quiet(cross_val_score, grid.best_estimator_, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.9


def test_grid_search_reaches_module_and_optimizer_parameters(iris):
    X, y = iris
    net = NeuralNetClassifier(models.mlp, optimizer=optim.SGD, lr=0.05, max_epochs=30,
                              batch_size=16, random_state=0)
    grid = GridSearchCV(make_pipeline(StandardScaler(), net), {
        "neuralnetclassifier__module__hidden": [(2,), (16,)],
        "neuralnetclassifier__optimizer__momentum": [0.0, 0.9]}, cv=3)
    grid.fit(X, y)
    best = grid.best_estimator_[-1]
    assert best.get_params()["module__hidden"] == (16,)
    assert best.optimizer_.param_groups[0]["momentum"] == best.get_params()["optimizer__momentum"]
    assert best.module_[1].out_features == 16 and best.module_[1].in_features == 4
    assert grid.best_score_ > 0.9


def test_clone_and_pickle_keep_parameters_and_predictions(iris):
    X, y = iris
    for est in (MLPClassifier((8,), max_iter=20, random_state=1),
                NeuralNetClassifier(TinyNet, module__hidden=5, max_epochs=3, random_state=1)):
        twin = clone(est)
        assert twin.get_params() == est.get_params() and not hasattr(twin, "module_")
        _quiet(est.fit, X, y)
        restored = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(restored.predict_proba(X), est.predict_proba(X))
        # a restored estimator trains on from where it was, exactly as the original does
        _quiet(restored.partial_fit, X, y)
        _quiet(est.partial_fit, X, y)
        np.testing.assert_array_equal(restored.predict_proba(X), est.predict_proba(X))


def test_pandas_dataframes_and_string_labels(iris):
    pd = pytest.importorskip("pandas")
    X, y = iris
    names = ["sepal length", "sepal width", "petal length", "petal width"]
    frame = pd.DataFrame(X, columns=names)
    labels = pd.Series(np.array(["setosa", "versicolor", "virginica"])[y])
    for est in (MLPClassifier((16,), learning_rate_init=0.02, max_iter=100, random_state=0),
                NeuralNetClassifier(TinyNet, module__hidden=16, optimizer=optim.Adam, lr=0.02,
                                    max_epochs=40, batch_size=16, random_state=0)):
        _quiet(est.fit, frame, labels)
        assert list(est.feature_names_in_) == names
        assert list(est.classes_) == ["setosa", "versicolor", "virginica"]
        predicted = est.predict(frame)
        assert predicted.dtype.kind in "OU" and (predicted == labels.to_numpy()).mean() > 0.9
        with pytest.warns(UserWarning, match="does not have valid feature names"):
            est.predict(X)
        with pytest.raises(ValueError, match="feature names"):
            est.predict(frame[names[::-1]])
    targets = pd.DataFrame({"a": X[:, 0] - 5.8, "b": X[:, 1] - X[:, 2] + 0.7})
    reg = _quiet(MLPRegressor((16,), learning_rate_init=0.02, max_iter=200,
                              random_state=0).fit, frame, targets)
    assert reg.predict(frame).shape == (150, 2) and reg.score(frame, targets) > 0.8


# ---------------------------------------------------------------- reproducibility
@pytest.mark.parametrize("make", [
    lambda seed: MLPClassifier((8,), max_iter=5, random_state=seed),
    lambda seed: NeuralNetClassifier(TinyNet, max_epochs=2, batch_size=16, random_state=seed),
], ids=["mlp", "neuralnet"])
def test_random_state_fixes_the_model_and_leaves_chainrule_rng_alone(iris, make):
    X, y = iris
    cr.manual_seed(123)
    before = cr.get_rng_state()
    first = _quiet(make(0).fit, X, y).predict_proba(X)
    assert cr.get_rng_state() == before  # fit seeded its own draws and gave the state back
    np.testing.assert_array_equal(_quiet(make(0).fit, X, y).predict_proba(X), first)
    assert not np.array_equal(_quiet(make(1).fit, X, y).predict_proba(X), first)
    # a RandomState instance is consumed, so each fit draws anew (scikit-learn's rule)
    shared = make(np.random.RandomState(0))
    a = _quiet(shared.fit, X, y).predict_proba(X)
    b = _quiet(shared.fit, X, y).predict_proba(X)
    assert not np.array_equal(a, b)


# ------------------------------------------------- scikit-learn's own MLP, step by step
def _from_sklearn_weights(ours, theirs, X, y):
    """Start both from the same weights: one epoch each (warm_start), then copy
    scikit-learn's weights into ours through the coefs_/intercepts_ views."""
    _quiet(ours.fit, X, y)
    _quiet(theirs.fit, X, y)
    for mine, its in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        mine[...] = its
    ours.set_params(max_iter=15)
    theirs.set_params(max_iter=15)
    _quiet(ours.fit, X, y)
    _quiet(theirs.fit, X, y)


@pytest.mark.parametrize("task, solver, rtol", [
    ("multiclass", "sgd", 1e-9), ("binary", "sgd", 1e-9), ("multilabel", "sgd", 1e-9),
    ("regression", "sgd", 1e-9), ("multiclass", "adam", 1e-3), ("regression", "adam", 1e-3)])
def test_same_weights_give_scikit_learns_loss_curve(iris, task, solver, rtol):
    """Same loss (log loss or half squared error), same L2 penalty, same updates: from the
    same weights, full batches in order, the loss curves and outputs agree. (Adam agrees to
    ~1e-4: scikit-learn adds epsilon to sqrt(v) before the bias correction, PyTorch's and
    chainrule's Adam after it.)"""
    X, y = iris
    X = StandardScaler().fit_transform(X)
    y = {"multiclass": y, "binary": y == 2, "multilabel": np.stack([y == 0, y == 2], 1),
         "regression": X[:, 0] * 0.5 - X[:, 2]}[task]
    kwargs = dict(hidden_layer_sizes=(6, 5), activation="tanh", solver=solver, alpha=0.01,
                  batch_size=len(X), shuffle=False, learning_rate_init=0.05, momentum=0.9,
                  nesterovs_momentum=True, max_iter=1, warm_start=True, random_state=0)
    if task == "regression":
        ours, theirs = MLPRegressor(**kwargs), neural_network.MLPRegressor(**kwargs)
    else:
        ours, theirs = MLPClassifier(**kwargs), neural_network.MLPClassifier(**kwargs)
    _from_sklearn_weights(ours, theirs, X, y)
    assert ours.n_iter_ == theirs.n_iter_ == 15 and ours.t_ == theirs.t_ == 16 * len(X)
    np.testing.assert_allclose(ours.loss_curve_[1:], theirs.loss_curve_[1:], rtol=rtol)
    if task == "regression":
        np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=rtol, atol=1e-12)
    else:
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=rtol,
                                   atol=1e-12)
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
        assert ours.out_activation_ == theirs.out_activation_
    assert [c.shape for c in ours.coefs_] == [c.shape for c in theirs.coefs_]
    assert ours.n_layers_ == theirs.n_layers_ and ours.n_outputs_ == theirs.n_outputs_


def test_stopping_rule_and_learning_rate_schedules(iris):
    X, y = iris
    X = StandardScaler().fit_transform(X)
    stalled = MLPClassifier((8,), learning_rate_init=0.05, max_iter=500, tol=1e-2,
                            n_iter_no_change=3, random_state=0).fit(X, y)
    assert stalled.n_iter_ < 500 and len(stalled.loss_curve_) == stalled.n_iter_
    curve = stalled.loss_curve_
    assert stalled.best_loss_ == min(curve)
    # each of the last n_iter_no_change + 1 epochs missed the best loss before it by tol
    assert all(curve[i] > min(curve[:i]) - 1e-2 for i in range(len(curve) - 4, len(curve)))
    assert not all(curve[i] > min(curve[:i]) - 1e-2 for i in range(len(curve) - 5, len(curve)))

    scaled = _quiet(MLPClassifier((8,), solver="sgd", learning_rate="invscaling",
                                  learning_rate_init=0.1, power_t=0.25, max_iter=7,
                                  random_state=0).fit, X, y)
    assert scaled.t_ == 7 * 150
    assert scaled.optimizer_.param_groups[0]["lr"] == pytest.approx(0.1 / (7 * 150 + 1) ** 0.25)

    kwargs = dict(solver="sgd", learning_rate="adaptive", tol=1.0, learning_rate_init=0.01,
                  n_iter_no_change=1, max_iter=500, random_state=0)
    adaptive = MLPClassifier((8,), **kwargs).fit(X, y)
    # after the first epoch every one misses tol=1: each second miss divides the rate by 5,
    # until it is below 1e-6 (6 times), and the next second miss stops: 15 epochs
    assert adaptive.optimizer_.param_groups[0]["lr"] == pytest.approx(0.01 / 5 ** 6)
    assert adaptive.n_iter_ == neural_network.MLPClassifier((8,), **kwargs).fit(X, y).n_iter_ == 15


def test_early_stopping_keeps_the_best_validation_weights(iris):
    X, y = iris
    X = StandardScaler().fit_transform(X)
    clf = MLPClassifier((8,), learning_rate_init=0.01, early_stopping=True,
                        validation_fraction=0.2, n_iter_no_change=5, max_iter=300,
                        random_state=0).fit(X, y)
    assert clf.best_loss_ is None and len(clf.validation_scores_) == clf.n_iter_ < 300
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    # the restored weights are the best epoch's: their score on the held-out rows
    # (the same stratified split, drawn again from the same seed) is the best score
    from sklearn.model_selection import train_test_split
    seeds = np.random.default_rng(np.random.RandomState(0).randint(2 ** 31 - 1))
    split_seed = int(seeds.integers(2 ** 31 - 1))
    _, X_val, _, y_val = train_test_split(X, y, test_size=0.2, random_state=split_seed,
                                          stratify=y)
    assert clf.score(X_val, y_val) == clf.best_validation_score_


def test_verbose_prints_scikit_learns_lines(iris, capsys):
    X, y = iris
    _quiet(MLPClassifier((4,), max_iter=2, verbose=True, random_state=0).fit, X, y)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(line.startswith(f"Iteration {i + 1}, loss = ")
                                   for i, line in enumerate(lines))


def test_max_iter_warns_as_scikit_learn_does(iris):
    X, y = iris
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\) reached"):
        MLPClassifier((4,), max_iter=3, random_state=0).fit(X, y)


def test_solvers_and_activations_beyond_scikit_learns(iris):
    X, y = iris
    X = StandardScaler().fit_transform(X)
    for solver in ("adamw", "rmsprop", "adagrad", optim.Adam):
        clf = _quiet(MLPClassifier((16,), solver=solver, learning_rate_init=0.02,
                                   max_iter=60, random_state=0).fit, X, y)
        assert clf.score(X, y) > 0.8, solver
    for activation in ("identity", "logistic", "gelu", "leaky_relu", "elu", "silu", "softplus"):
        clf = _quiet(MLPClassifier((16,), activation=activation, learning_rate_init=0.02,
                                   max_iter=60, random_state=0).fit, X, y)
        assert clf.score(X, y) > 0.8, activation


def test_float32_inputs_train_a_float32_network(iris):
    X, y = iris
    clf = _quiet(MLPClassifier((4,), max_iter=2, random_state=0).fit, X.astype(np.float32), y)
    assert clf.module_[0].weight.dtype == np.float32
    clf = _quiet(MLPClassifier((4,), max_iter=2, random_state=0).fit, X.astype(int), y)
    assert clf.module_[0].weight.dtype == np.float64


def test_mlp_partial_fit(iris):
    X, y = iris
    X = StandardScaler().fit_transform(X)
    clf = MLPClassifier((8,), learning_rate_init=0.05, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    for _ in range(30):
        clf.partial_fit(X, y)
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 31 and clf.t_ == 100 + 30 * 150
    assert list(clf.classes_) == [0, 1, 2] and clf.score(X, y) > 0.8
    with pytest.raises(ValueError, match=r"y has classes \[7\] that are not among"):
        clf.partial_fit(X[:3], [0, 1, 7])


@pytest.mark.parametrize("params, message", [
    ({"solver": "lbfgs"}, r"solver='lbfgs' is not available"),
    ({"solver": "newton"}, r"solver must be one of 'adam', 'sgd'"),
    ({"activation": "swish"}, r"activation must be one of 'identity', 'logistic'"),
    ({"hidden_layer_sizes": (8, 0)}, r"hidden_layer_sizes must be a positive int"),
    ({"learning_rate_init": 0.0}, r"learning_rate_init must be a number in \(0.0, inf\], got 0.0"),
    ({"validation_fraction": 1.0, "early_stopping": True},
     r"validation_fraction must be a number in \(0.0, 1.0\), got 1.0"),
    ({"batch_size": 0}, r"batch_size \('auto' or\) must be an int in \[1, inf\]"),
    ({"max_iter": 2.5}, r"max_iter must be an int"),
])
def test_bad_mlp_parameters_are_named_at_fit(iris, params, message):
    est = MLPClassifier(**params)  # scikit-learn's rule: check in fit, not in __init__
    with pytest.raises(ValueError, match=r"MLPClassifier: " + message):
        est.fit(*iris)


def test_sparse_inputs_are_refused_with_scikit_learns_message(iris):
    scipy_sparse = pytest.importorskip("scipy.sparse")
    X, y = iris
    for est in (MLPClassifier(max_iter=1), NeuralNetClassifier(TinyNet, max_epochs=1)):
        with pytest.raises(TypeError, match=r"dense data is required.*\.toarray\(\)"):
            est.fit(scipy_sparse.csr_matrix(X), y)


def test_single_class_and_diverging_loss_are_refused(iris):
    X, y = iris
    with pytest.raises(ValueError, match=r"needs samples of at least 2 classes .* only one "
                                         r"class: 0"):
        MLPClassifier().fit(X[:10], y[:10])
    with pytest.raises(ValueError, match=r"NeuralNetRegressor: training stopped: the loss "
                                         r"became (nan|inf) .* smaller learning rate"), \
            np.errstate(all="ignore"):
        NeuralNetRegressor(TinyNet, lr=1e3, max_epochs=5, random_state=0).fit(X, X[:, 0] * 1e3)


# ---------------------------------------------------------------- NeuralNet wrappers
def test_module_instance_is_copied_not_trained(iris):
    X, y = iris
    start = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    weights = start[0].weight.numpy().copy()
    net = NeuralNetClassifier(start, optimizer=optim.Adam, lr=0.02, max_epochs=30,
                              batch_size=16, random_state=0).fit(X, y)
    np.testing.assert_array_equal(start[0].weight.numpy(), weights)
    assert net.module_ is not start and net.score(X, y) > 0.9
    with pytest.raises(ValueError, match=r"module__ parameters \(hidden\) need module to be a "
                                         r"class or a function"):
        clone(net).set_params(module__hidden=3).fit(X, y)


def test_float64_module_instance_gets_float64_inputs(iris):
    X, y = iris
    net = NeuralNetClassifier(nn.Sequential(nn.Linear(4, 3)).double(), max_epochs=1)
    net.fit(X.astype(np.float32), y)
    assert net.module_[0].weight.dtype == np.float64 and net.predict_proba(X).shape == (150, 3)


def test_criterion_optimizer_and_nonlinearity(iris):
    X, y = iris
    X = StandardScaler().fit_transform(X)

    class LogSoftmaxNet(TinyNet):
        def forward(self, x):
            return nn.functional.log_softmax(self.body(x), dim=1)

    net = NeuralNetClassifier(LogSoftmaxNet, module__hidden=16, criterion=nn.NLLLoss,
                              optimizer=optim.SGD, optimizer__momentum=0.9, lr=0.05,
                              max_epochs=30, batch_size=16, random_state=0).fit(X, y)
    proba = net.predict_proba(X)  # exp of the log-probabilities, as "auto" chooses for NLLLoss
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert isinstance(net.criterion_, nn.NLLLoss) and net.score(X, y) > 0.9
    assert net.optimizer_.param_groups[0]["momentum"] == 0.9

    weighted = NeuralNetClassifier(TinyNet, criterion=nn.CrossEntropyLoss,
                                   criterion__label_smoothing=0.2, max_epochs=1).fit(X, y)
    assert weighted.criterion_.label_smoothing == 0.2
    raw = NeuralNetClassifier(TinyNet, predict_nonlinearity=None, max_epochs=1).fit(X, y)
    assert not np.allclose(raw.predict_proba(X).sum(axis=1), 1.0)  # the logits themselves

    # BCEWithLogitsLoss on 0/1 targets: "auto" turns the logits into probabilities
    labels = np.stack([y == 0, y == 2], axis=1).astype(float)
    multilabel = NeuralNetRegressor(TinyNet, criterion=nn.BCEWithLogitsLoss,
                                    optimizer=optim.Adam, lr=0.05, max_epochs=30,
                                    batch_size=16, random_state=0).fit(X, labels)
    proba = multilabel.predict(X)
    assert proba.shape == (150, 2) and 0 < proba.min() and proba.max() < 1
    assert ((proba > 0.5) == labels).mean() > 0.9


def test_validation_history_and_callbacks(iris):
    X, y = iris
    X = StandardScaler().fit_transform(X)
    stop = cr.train.EarlyStopping(monitor="val_loss", patience=2, verbose=False)
    net = NeuralNetClassifier(TinyNet, module__hidden=16, optimizer=optim.Adam, lr=0.3,
                              max_epochs=200, batch_size=16, validation_fraction=0.2,
                              callbacks=[stop], random_state=0).fit(X, y)
    history = net.history_.history
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history)
    assert len(net.history_.epoch) < 200
    assert stop.stopped_epoch is None  # fit used a copy: the parameter is left as given
    net.partial_fit(X, y)  # one more epoch, numbered on
    assert net.history_.epoch[-1] == len(net.history_.epoch)


def test_images_and_a_wrong_output_width(iris):
    digits = sklearn.datasets.load_digits()
    images = digits.images[:300, None] / 16.0  # (N, 1, 8, 8)

    class SmallCNN(nn.Module):
        def __init__(self, num_classes):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.head = nn.Linear(4 * 4 * 4, num_classes)

        def forward(self, x):
            x = nn.functional.max_pool2d(nn.functional.relu(self.conv(x)), 2)
            return self.head(x.flatten(1))

    net = NeuralNetClassifier(SmallCNN, optimizer=optim.Adam, lr=0.01, max_epochs=10,
                              batch_size=32, random_state=0).fit(images, digits.target[:300])
    assert net.n_features_in_ == 1 and net.score(images, digits.target[:300]) > 0.8

    X, y = iris
    with pytest.raises(ValueError, match=r"the module returned outputs of shape \(\d+, 2\); a "
                                         r"classifier's module must return \(N, 3\)"):
        NeuralNetClassifier(TinyNet, module__out_features=2, max_epochs=1).fit(X, y)
    with pytest.raises(TypeError, match=r"unexpected parameter\(s\) hiden; besides its own"):
        NeuralNetClassifier(TinyNet, hiden=3).fit(X, y)


def test_regressor_with_a_function_module_and_two_targets():
    X, y = make_regression(n_samples=200, n_features=5, n_targets=2, noise=1.0,
                           random_state=0)
    y = y / y.std(axis=0)
    net = NeuralNetRegressor(models.mlp, module__hidden=(32,), optimizer=optim.Adam, lr=0.01,
                             max_epochs=60, batch_size=32, random_state=0).fit(X, y)
    assert net.predict(X).shape == (200, 2) and net.score(X, y) > 0.9
    one = NeuralNetRegressor(models.mlp, module__hidden=(8,), max_epochs=2).fit(X, y[:, 0])
    assert one.predict(X).shape == (200,)


def test_missing_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    for name in [m for m in sys.modules if m.startswith("chainrule.sklearn")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ImportError, match=r'pip install "chainrule\[sklearn\]"'):
        import chainrule.sklearn  # noqa: F401


def test_benchmark_script_runs_in_miniature(monkeypatch, capsys):
    import os
    bench = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         "benchmarks")
    monkeypatch.syspath_prepend(bench)
    import sklearn_mlp
    sklearn_mlp.main(["--datasets", "sonar,ionosphere", "--hidden", "4", "--epochs", "2",
                      "--folds", "2", "--seeds", "1", "--dtypes", "float32"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("MLP (4,), Adam lr 1e-3") and len(lines) == 3 + 4
    assert lines[3].startswith("| sonar (208 x 60) | float32 | scikit-learn | 0.")
    assert lines[6].startswith("| ionosphere (351 x 34) | float32 | chainrule | 0.")
