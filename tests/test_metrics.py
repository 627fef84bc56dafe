"""cr.metrics one-shot functions against scikit-learn on random inputs (binary and multiclass,
absent classes, ties in scores), plus their error messages."""
import doctest
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import metrics

skm = pytest.importorskip("sklearn.metrics")

SEEDS = range(8)


def _labels(rng, n, n_classes, absent=()):
    """Random labels in range(n_classes) that never take the classes in ``absent``."""
    allowed = [c for c in range(n_classes) if c not in absent]
    return rng.choice(allowed, size=n)


def _close(ours, theirs):
    np.testing.assert_allclose(np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float),
                               rtol=1e-12, atol=1e-12, equal_nan=True)


def test_doctests_pass():
    for module in (metrics.classification, metrics.ranking, metrics.regression,
                   metrics.streaming, metrics):
        result = doctest.testmod(module)
        assert result.failed == 0, module.__name__


# ----------------------------------------------------------------------------- accuracy
@pytest.mark.parametrize("seed", SEEDS)
def test_accuracy_labels_and_argmax_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = _labels(rng, 50, 4)
    pred = _labels(rng, 50, 4)
    assert metrics.accuracy(y, pred) == skm.accuracy_score(y, pred)
    scores = rng.random((50, 4))
    assert metrics.accuracy(y, scores) == skm.accuracy_score(y, scores.argmax(1))
    # Tensors and lists are accepted alike
    assert metrics.accuracy(cr.tensor(y), cr.tensor(scores)) == metrics.accuracy(
        y.tolist(), scores.tolist())


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [2, 3])
def test_top_k_accuracy_matches_sklearn(seed, k):
    rng = np.random.default_rng(seed)
    y = _labels(rng, 60, 5, absent=(seed % 5,))
    scores = rng.normal(size=(60, 5))  # continuous: no ties
    expected = skm.top_k_accuracy_score(y, scores, k=k, labels=range(5))
    assert metrics.accuracy(y, scores, top_k=k) == expected


@pytest.mark.parametrize("seed", SEEDS)
def test_top_k_ties_go_to_the_lower_class_index(seed):
    rng = np.random.default_rng(seed)
    y = _labels(rng, 40, 4)
    scores = rng.integers(0, 3, size=(40, 4)).astype(float)  # many ties
    for k in (1, 2, 3, 4):
        ranked = [sorted(range(4), key=lambda c: (-row[c], c))[:k] for row in scores]
        expected = np.mean([t in top for t, top in zip(y, ranked)])
        assert metrics.accuracy(y, scores, top_k=k) == expected
    assert metrics.accuracy(y, scores) == np.mean(scores.argmax(1) == y)


def test_accuracy_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"y_true has 3 samples \(shape \(3,\)\) but y_pred has 2"):
        metrics.accuracy([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match=r"top_k=4 is larger than the number of classes C=3 "
                                         r"in scores of shape \(2, 3\)"):
        metrics.accuracy([0, 1], np.zeros((2, 3)), top_k=4)
    with pytest.raises(ValueError, match=r"y_true must be 1-D class labels of shape \(N,\), "
                                         r"got shape \(2, 2\)"):
        metrics.accuracy(np.zeros((2, 2)), [0, 1])
    with pytest.raises(ValueError, match=r"y_pred must be labels of shape \(N,\) or scores of "
                                         r"shape \(N, C\), got shape \(2, 2, 2\)"):
        metrics.accuracy([0, 1], np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match=r"top_k=2 needs scores of shape \(N, C\)"):
        metrics.accuracy([0, 1], [0, 1], top_k=2)
    with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
        metrics.accuracy([0, 5], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="fractional values"):
        metrics.accuracy([0, 1], [0.2, 0.9])
    with pytest.raises(ValueError, match="empty"):
        metrics.accuracy([], [])
    with pytest.raises(ValueError, match="NaN"):
        metrics.accuracy([0], [[np.nan, 1.0]])


# ---------------------------------------------------------------------- confusion matrix
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("normalize", [None, "true", "pred", "all"])
def test_confusion_matrix_matches_sklearn(seed, normalize):
    rng = np.random.default_rng(seed)
    y = _labels(rng, 40, 5, absent=(1,))
    pred = _labels(rng, 40, 5, absent=(1, 3))
    ours = metrics.confusion_matrix(y, pred, normalize=normalize)
    theirs = skm.confusion_matrix(y, pred, normalize=normalize)
    assert ours.dtype == theirs.dtype
    _close(ours, theirs)
    # labels: a superset with an absent class, reordered, and a subset that drops samples
    for labels in ([4, 3, 2, 1, 0], [2, 0], [0, 1, 2, 3, 4, 7]):
        _close(metrics.confusion_matrix(y, pred, labels=labels, normalize=normalize),
               skm.confusion_matrix(y, pred, labels=labels, normalize=normalize))


def test_confusion_matrix_string_labels_and_errors():
    y = ["cat", "dog", "dog", "bird"]
    pred = ["cat", "cat", "dog", "bird"]
    _close(metrics.confusion_matrix(y, pred), skm.confusion_matrix(y, pred))
    _close(metrics.confusion_matrix(y, pred, labels=["dog", "cat"]),
           skm.confusion_matrix(y, pred, labels=["dog", "cat"]))
    with pytest.raises(ValueError, match="none of labels"):
        metrics.confusion_matrix([0, 1], [0, 1], labels=[5])
    with pytest.raises(ValueError, match="cannot mix string and number labels"):
        metrics.confusion_matrix(["a", "b"], [0, 1])
    with pytest.raises(ValueError, match="normalize must be"):
        metrics.confusion_matrix([0, 1], [0, 1], normalize="rows")
    with pytest.raises(ValueError, match=r"y_pred has shape \(2, 2\); pass predicted labels"):
        metrics.confusion_matrix([0, 1], np.eye(2))


# ------------------------------------------------------------ precision / recall / F-beta
@pytest.mark.parametrize("seed", SEEDS[:3])
@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("zero_division", [0.0, 1.0, np.nan])
def test_prfs_multiclass_matches_sklearn(seed, average, zero_division):
    rng = np.random.default_rng(seed)
    # class 2 never occurs in y_true, class 3 is never predicted: both divide 0 by 0
    y = _labels(rng, 30, 5, absent=(2,))
    pred = _labels(rng, 30, 5, absent=(3,))
    for labels in (None, [0, 1, 2, 3, 4, 6], [4, 1]):
        for beta in (0.5, 2.0):
            ours = metrics.precision_recall_fscore_support(
                y, pred, beta=beta, labels=labels, average=average, zero_division=zero_division)
            theirs = skm.precision_recall_fscore_support(
                y, pred, beta=beta, labels=labels, average=average, zero_division=zero_division)
            for a, b in zip(ours, theirs):
                if b is None:
                    assert a is None
                else:
                    _close(a, b)
        kwargs = dict(labels=labels, average=average, zero_division=zero_division)
        p, r, f, _ = skm.precision_recall_fscore_support(y, pred, **kwargs)
        _close(metrics.precision_score(y, pred, **kwargs), p)
        _close(metrics.recall_score(y, pred, **kwargs), r)
        _close(metrics.f1_score(y, pred, **kwargs), f)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("pos_label", [0, 1])
def test_prf_binary_matches_sklearn(seed, pos_label):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 25)
    pred = rng.integers(0, 2, 25)
    for fn in ("precision_score", "recall_score", "f1_score"):
        _close(getattr(metrics, fn)(y, pred, pos_label=pos_label),
               getattr(skm, fn)(y, pred, pos_label=pos_label, zero_division=0.0))
    # degenerate: the positive class never occurs nor is predicted -> zero_division
    zeros = np.zeros(5, dtype=int)
    for zd in (0.0, 1.0):
        _close(metrics.f1_score(zeros, zeros, zero_division=zd),
               skm.f1_score(zeros, zeros, zero_division=zd))


def test_prf_default_zero_division_is_zero_without_warning():
    y, pred = [0, 0, 1, 1], [0, 0, 0, 0]  # class 1 never predicted
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = metrics.precision_score(y, pred)
        macro = metrics.precision_score(y, pred, average="macro")
    assert p == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert macro == skm.precision_score(y, pred, average="macro")


def test_prf_string_labels_and_bool_labels():
    y = np.array(["spam", "ham", "spam", "spam", "ham"])
    pred = np.array(["spam", "spam", "ham", "spam", "ham"])
    _close(metrics.f1_score(y, pred, pos_label="spam"), skm.f1_score(y, pred, pos_label="spam"))
    _close(metrics.recall_score(y, pred, average=None), skm.recall_score(y, pred, average=None))
    yb, pb = np.array([True, False, True, True]), np.array([True, True, False, True])
    _close(metrics.precision_score(yb, pb), skm.precision_score(yb, pb))


def test_prf_errors():
    with pytest.raises(ValueError, match=r"average='binary' needs at most 2 distinct labels, "
                                         r"but y_true and y_pred hold 3: \[0, 1, 2\]"):
        metrics.f1_score([0, 1, 2], [0, 1, 1])
    with pytest.raises(ValueError, match=r"pos_label=2 is not one of the labels \[0, 1\]"):
        metrics.recall_score([0, 1], [1, 1], pos_label=2)
    with pytest.raises(ValueError, match="average must be one of"):
        metrics.f1_score([0, 1], [0, 1], average="samples")
    with pytest.raises(ValueError, match="zero_division must be 0, 1 or nan"):
        metrics.f1_score([0, 1], [0, 1], zero_division="warn")
    with pytest.raises(ValueError, match=r"y_true has 2 samples \(shape \(2,\)\) but y_pred has 3"):
        metrics.precision_recall_fscore_support([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="labels must not repeat"):
        metrics.f1_score([0, 1], [0, 1], labels=[0, 0], average="macro")


@pytest.mark.parametrize("seed", SEEDS[:4])
def test_classification_report_numbers_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = _labels(rng, 40, 4, absent=(3,))
    pred = _labels(rng, 40, 4)
    names = ["ant", "bee", "cat", "dog"]
    ours = metrics.classification_report(y, pred, target_names=names, output_dict=True)
    theirs = skm.classification_report(y, pred, target_names=names, output_dict=True,
                                       zero_division=0.0)
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        if isinstance(value, dict):
            for field, number in value.items():
                _close(ours[key][field], number)
        else:
            _close(ours[key], value)
    # with a label subset, 'accuracy' becomes 'micro avg', as in scikit-learn
    sub = metrics.classification_report(y, pred, labels=[0, 1], output_dict=True)
    assert "micro avg" in sub and "accuracy" not in sub
    _close(sub["micro avg"]["f1-score"],
           skm.classification_report(y, pred, labels=[0, 1], output_dict=True,
                                     zero_division=0.0)["micro avg"]["f1-score"])


def test_classification_report_text():
    text = metrics.classification_report([0, 1, 1, 2], [0, 1, 2, 2], digits=3,
                                         target_names=["a", "b", "c"])
    lines = text.splitlines()
    assert lines[0].split() == ["class", "precision", "recall", "f1-score", "support"]
    assert lines[1].split() == ["a", "1.000", "1.000", "1.000", "1"]
    assert lines[2].split() == ["b", "1.000", "0.500", "0.667", "2"]
    assert lines[5].split() == ["accuracy", "0.750", "4"]
    assert lines[6].split() == ["macro", "avg", "0.833", "0.833", "0.778", "4"]
    with pytest.raises(ValueError, match=r"target_names has 2 names but there are 3 labels"):
        metrics.classification_report([0, 1, 2], [0, 1, 2], target_names=["a", "b"])


# --------------------------------------------------------------------- curves and areas
def _binary_case(rng, n=40, tie_decimals=1):
    y = rng.integers(0, 2, n)
    scores = np.round(rng.random(n), tie_decimals)  # rounding makes many ties
    return y, scores


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("drop_intermediate", [True, False])
def test_roc_curve_matches_sklearn(seed, drop_intermediate):
    rng = np.random.default_rng(seed)
    for decimals in (1, 6):
        y, scores = _binary_case(rng, tie_decimals=decimals)
        ours = metrics.roc_curve(y, scores, drop_intermediate=drop_intermediate)
        theirs = skm.roc_curve(y, scores, drop_intermediate=drop_intermediate)
        for a, b in zip(ours, theirs):
            assert a.shape == b.shape
            _close(a, b)
    # labels in {-1, 1}, and an explicit pos_label
    ypm = np.where(y == 1, 1, -1)
    for a, b in zip(metrics.roc_curve(ypm, scores), skm.roc_curve(ypm, scores)):
        _close(a, b)
    for a, b in zip(metrics.roc_curve(y + 3, scores, pos_label=3),
                    skm.roc_curve(y + 3, scores, pos_label=3)):
        _close(a, b)


@pytest.mark.parametrize("seed", SEEDS)
def test_roc_auc_binary_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    y, scores = _binary_case(rng)
    _close(metrics.roc_auc_score(y, scores), skm.roc_auc_score(y, scores))
    words = np.where(y == 1, "yes", "no")
    _close(metrics.roc_auc_score(words, scores), skm.roc_auc_score(words, scores))
    _close(metrics.roc_auc_score(cr.tensor(y), cr.tensor(scores)), skm.roc_auc_score(y, scores))


def _probabilities(rng, n, n_classes, decimals=None):
    logits = rng.normal(size=(n, n_classes))
    if decimals is not None:
        logits = np.round(logits, decimals)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("average", ["macro", "weighted", "micro", None])
def test_roc_auc_multiclass_ovr_matches_sklearn(seed, average):
    rng = np.random.default_rng(seed)
    y = _labels(rng, 60, 4)
    y[:4] = [0, 1, 2, 3]  # every class present
    probs = _probabilities(rng, 60, 4, decimals=0)
    _close(metrics.roc_auc_score(y, probs, average=average),
           skm.roc_auc_score(y, probs, average=average, multi_class="ovr"))
    names = np.array(["a", "b", "c", "d"])[y]
    _close(metrics.roc_auc_score(names, probs, average=average, labels=["a", "b", "c", "d"]),
           skm.roc_auc_score(names, probs, average=average, multi_class="ovr",
                             labels=["a", "b", "c", "d"]))


def test_roc_auc_undefined_cases_warn_and_give_nan_like_sklearn():
    with pytest.warns(UserWarning, match="only one class"):
        assert np.isnan(metrics.roc_auc_score([1, 1, 1], [0.2, 0.5, 0.9]))
    with pytest.warns(UserWarning, match="no negative samples"):
        fpr, tpr, _ = metrics.roc_curve([1, 1], [0.3, 0.6])
    assert np.all(np.isnan(fpr))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _close(tpr, skm.roc_curve([1, 1], [0.3, 0.6])[1])
        # a labelled class absent from y_true: NaN for that class, NaN macro average
        probs = _probabilities(np.random.default_rng(0), 6, 3)
        _close(metrics.roc_auc_score([0, 1, 0, 1, 1, 0], probs, labels=[0, 1, 2], average=None),
               skm.roc_auc_score([0, 1, 0, 1, 1, 0], probs, labels=[0, 1, 2], average=None,
                                 multi_class="ovr"))


def test_roc_auc_errors():
    with pytest.raises(ValueError, match=r"y_true holds 3 classes \[0, 1, 2\] but y_score has "
                                         r"4 columns \(shape \(3, 4\)\)"):
        metrics.roc_auc_score([0, 1, 2], np.full((3, 4), 0.25))
    with pytest.raises(ValueError, match="summing to 1; apply softmax first"):
        metrics.roc_auc_score([0, 1, 2], np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"y_true holds 3 classes, so y_score must be "
                                         r"probabilities of shape \(N, C\), got shape \(3,\)"):
        metrics.roc_auc_score([0, 1, 2], [0.1, 0.5, 0.7])
    with pytest.raises(ValueError, match=r"y_true takes values \[1, 2\] and pos_label is not "
                                         r"given"):
        metrics.roc_curve([1, 2, 2], [0.1, 0.5, 0.7])
    with pytest.raises(ValueError, match=r"labels \[7\] that are not in labels"):
        metrics.roc_auc_score([0, 1, 7], np.full((3, 3), 1 / 3), labels=[0, 1, 2])
    with pytest.raises(ValueError, match="y_score contains NaN or infinity"):
        metrics.roc_auc_score([0, 1], [np.nan, 0.3])
    with pytest.raises(ValueError, match=r"y_true has 2 samples \(shape \(2,\)\) but y_score "
                                         r"has 3"):
        metrics.roc_curve([0, 1], [0.1, 0.2, 0.3])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("drop_intermediate", [False, True])
def test_precision_recall_curve_matches_sklearn(seed, drop_intermediate):
    rng = np.random.default_rng(seed)
    for decimals in (1, 6):
        y, scores = _binary_case(rng, tie_decimals=decimals)
        ours = metrics.precision_recall_curve(y, scores, drop_intermediate=drop_intermediate)
        theirs = skm.precision_recall_curve(y, scores, drop_intermediate=drop_intermediate)
        for a, b in zip(ours, theirs):
            assert a.shape == b.shape
            _close(a, b)


@pytest.mark.parametrize("seed", SEEDS)
def test_average_precision_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    y, scores = _binary_case(rng)
    _close(metrics.average_precision_score(y, scores), skm.average_precision_score(y, scores))
    _close(metrics.average_precision_score(y, scores, pos_label=0),
           skm.average_precision_score(y, scores, pos_label=0))
    y3 = _labels(rng, 50, 3)
    y3[:3] = [0, 1, 2]
    probs = _probabilities(rng, 50, 3, decimals=0)
    for average in ("macro", "weighted", "micro", None):
        _close(metrics.average_precision_score(y3, probs, average=average),
               skm.average_precision_score(y3, probs, average=average))


def test_no_positive_samples_warns_like_sklearn():
    with pytest.warns(UserWarning, match="no positive samples"):
        ours = metrics.average_precision_score([0, 0, 0], [0.1, 0.4, 0.2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _close(ours, skm.average_precision_score([0, 0, 0], [0.1, 0.4, 0.2]))


def test_auc_matches_sklearn_and_checks_order():
    x, y = np.array([0.0, 0.2, 0.2, 0.7, 1.0]), np.array([0.0, 0.5, 0.6, 0.9, 1.0])
    _close(metrics.auc(x, y), skm.auc(x, y))
    _close(metrics.auc(x[::-1], y[::-1]), skm.auc(x[::-1], y[::-1]))
    with pytest.raises(ValueError, match="neither increasing nor decreasing"):
        metrics.auc([0.0, 1.0, 0.5], [0.0, 1.0, 1.0])


# --------------------------------------------------------------------------- regression
@pytest.mark.parametrize("seed", SEEDS)
def test_regression_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    y1, p1 = rng.normal(size=30), rng.normal(size=30)
    y2, p2 = rng.normal(size=(30, 3)), rng.normal(size=(30, 3))
    weights = [0.2, 0.3, 0.5]
    for ours, theirs in ((metrics.mean_squared_error, skm.mean_squared_error),
                         (metrics.mean_absolute_error, skm.mean_absolute_error),
                         (metrics.root_mean_squared_error, skm.root_mean_squared_error),
                         (metrics.r2_score, skm.r2_score),
                         (metrics.explained_variance_score, skm.explained_variance_score)):
        _close(ours(y1, p1), theirs(y1, p1))
        _close(ours(y2, p2), theirs(y2, p2))
        _close(ours(y2, p2, multioutput="raw_values"), theirs(y2, p2, multioutput="raw_values"))
        _close(ours(y2, p2, multioutput=weights), theirs(y2, p2, multioutput=weights))
        _close(ours(cr.tensor(y1), cr.tensor(p1.astype(np.float32))),
               theirs(y1, p1.astype(np.float32).astype(np.float64)))
    for ours, theirs in ((metrics.r2_score, skm.r2_score),
                         (metrics.explained_variance_score, skm.explained_variance_score)):
        _close(ours(y2, p2, multioutput="variance_weighted"),
               theirs(y2, p2, multioutput="variance_weighted"))
    _close(metrics.max_error(y1, p1), skm.max_error(y1, p1))
    _close(metrics.max_error(y2[:, :1], p2[:, :1]), skm.max_error(y2[:, :1], p2[:, :1]))


@pytest.mark.parametrize("name", ["r2_score", "explained_variance_score"])
def test_constant_targets_follow_sklearn(name):
    ours, theirs = getattr(metrics, name), getattr(skm, name)
    constant = np.array([[2.0, 1.0], [2.0, 2.0], [2.0, 3.0]])
    guesses = np.array([[2.0, 1.0], [2.0, 2.5], [2.0, 3.0]])
    wrong = np.array([[1.0, 1.0], [2.0, 2.5], [2.0, 3.0]])
    for pred in (guesses, wrong):
        for multioutput in ("raw_values", "uniform_average", "variance_weighted"):
            for force_finite in (True, False):
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    _close(ours(constant, pred, multioutput=multioutput,
                                force_finite=force_finite),
                           theirs(constant, pred, multioutput=multioutput,
                                  force_finite=force_finite))
    # An offset that is the same everywhere costs R^2 but not the explained variance.
    _close(ours([1.0, 2.0, 4.0], [2.0, 3.0, 5.0]), theirs([1.0, 2.0, 4.0], [2.0, 3.0, 5.0]))


def test_r2_of_one_sample_is_nan_with_a_warning():
    with pytest.warns(UserWarning, match="fewer than two samples"):
        assert np.isnan(metrics.r2_score([1.0], [2.0]))


def test_regression_errors():
    with pytest.raises(ValueError, match=r"y_true has 3 samples \(shape \(3,\)\) but y_pred has 2"):
        metrics.mean_squared_error([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"y_true \(shape \(2, 2\)\) and y_pred \(shape \(2, 3\)\)"
                                         r" have different numbers of outputs"):
        metrics.mean_absolute_error(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"must have shape \(N,\) or \(N, K\), got shape "
                                         r"\(2, 2, 2\)"):
        metrics.r2_score(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="multioutput must be one of"):
        metrics.mean_squared_error([1.0, 2.0], [1.0, 2.0], multioutput="median")
    with pytest.raises(ValueError, match=r"multioutput weights have shape \(3,\), expected one "
                                         r"per output: \(2,\)"):
        metrics.mean_squared_error(np.zeros((2, 2)), np.zeros((2, 2)), multioutput=[1, 1, 1])
    with pytest.raises(ValueError, match=r"max_error: takes one output, got 2 .*per column"):
        metrics.max_error(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="multioutput must be one of"):
        metrics.explained_variance_score([1.0, 2.0], [1.0, 2.0], multioutput="median")
