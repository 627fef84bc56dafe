"""scikit-learn estimators trained by chainrule.

* :class:`MLPClassifier` / :class:`MLPRegressor`: scikit-learn's own MLP interface and
  training rules (``hidden_layer_sizes``, ``solver``, ``alpha``, ``early_stopping``, ...);
* :class:`NeuralNetClassifier` / :class:`NeuralNetRegressor`: any ``cr.nn.Module`` as an
  estimator (skorch's idea), configured with ``module__``/``optimizer__``/``criterion__``
  prefixed parameters.

All four pass scikit-learn's estimator checks (but for one, explained in docs/sklearn.md:
float32 predictions of a subset may differ in the last bits), so they work in ``Pipeline``,
``GridSearchCV`` and ``cross_val_score``, take pandas DataFrames, and pickle for
scikit-learn's own use (joblib's worker processes, model persistence). Pickling is your choice for your own
files: unpickling runs code, so load only pickles you made. ``cr.load`` never unpickles; to
share a fitted network, save its weights with
``cr.io.save_safetensors(estimator.module_.state_dict(), path)``.

``fit`` seeds chainrule's global generator from ``random_state`` while it trains and puts
the caller's generator state back afterwards, so ``random_state=0`` fits the same model
every time (fit estimators in processes, not threads, to run them in parallel).

    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import cross_val_score
    >>> from chainrule.sklearn import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier((16,), learning_rate_init=0.01, max_iter=200, random_state=0)
    >>> bool(cross_val_score(clf, X, y, cv=3).mean() > 0.9)
    True
"""
try:
    import sklearn  # noqa: F401
except ImportError as err:
    raise ImportError('chainrule.sklearn needs scikit-learn: pip install "chainrule[sklearn]"') \
        from err

from chainrule.sklearn.mlp import MLPClassifier, MLPRegressor
from chainrule.sklearn.neural_net import NeuralNetClassifier, NeuralNetRegressor

__all__ = ["MLPClassifier", "MLPRegressor", "NeuralNetClassifier", "NeuralNetRegressor"]
