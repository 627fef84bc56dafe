"""Hand-made features of 2-D points (chainrule.data.features), as the playground uses them."""
from __future__ import annotations

import numpy as np
import pytest

from chainrule.data import expand_features
from chainrule.data.features import FEATURES


def test_every_feature_is_its_formula_in_the_order_asked():
    X = np.array([[0.5, -2.0], [3.0, 0.25]], dtype=np.float32)
    out = expand_features(X, list(FEATURES))
    a, b = X[:, 0].astype(np.float64), X[:, 1].astype(np.float64)
    want = np.stack([a, b, a * a, b * b, a * b, np.sin(a), np.sin(b)], axis=1)
    assert out.dtype == np.float32 and out.shape == (2, 7)
    np.testing.assert_allclose(out, want, rtol=1e-6)
    np.testing.assert_array_equal(expand_features(X, ["x2", "x1"]), X[:, ::-1])
    assert expand_features(np.array([[1, 2]]), ["x1*x2"]).dtype == np.float64


@pytest.mark.parametrize("X, names, match", [
    (np.zeros((3, 3)), ["x1"], r"shape \(n, 2\)"),
    (np.zeros((3, 2)), ["x3"], "unknown"),
    (np.zeros((3, 2)), [], "unknown or no features"),
    (np.zeros((3, 2)), ["x1", "x1"], "repeat"),
])
def test_bad_input_is_refused_with_its_reason(X, names, match):
    with pytest.raises(ValueError, match=match):
        expand_features(X, names)
