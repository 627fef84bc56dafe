"""Streaming metrics: fed batch by batch they give the one-shot result on all the data."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import metrics

SEEDS = range(6)


def _batches(rng, n, *arrays):
    """Split arrays along axis 0 at random points (batches of uneven size, some of size 1)."""
    cuts = np.sort(rng.choice(np.arange(1, n), size=min(5, n - 1), replace=False))
    bounds = [0, *cuts.tolist(), n]
    return [tuple(a[lo:hi] for a in arrays) for lo, hi in zip(bounds[:-1], bounds[1:])]


@pytest.mark.parametrize("seed", SEEDS)
def test_accuracy_streams_to_the_one_shot_value(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 5, 70)
    scores = rng.normal(size=(70, 5))
    labels = rng.integers(0, 5, 70)
    for top_k in (1, 2, 4):
        acc = metrics.Accuracy(top_k=top_k)
        for yb, sb in _batches(rng, 70, y, scores):
            acc.update(cr.tensor(yb), cr.tensor(sb))
        assert acc.compute() == metrics.accuracy(y, scores, top_k=top_k)
    acc = metrics.Accuracy()
    for yb, lb in _batches(rng, 70, y, labels):
        acc.update(yb, lb.tolist())
    assert acc.compute() == metrics.accuracy(y, labels)
    acc.reset()
    acc.update([1], [1])
    assert acc.compute() == 1.0


@pytest.mark.parametrize("seed", SEEDS)
def test_confusion_matrix_streams_to_the_one_shot_values(seed):
    rng = np.random.default_rng(seed)
    n_classes = 5
    y = rng.choice([0, 1, 3, 4], 60)          # class 2 never occurs ...
    pred = rng.choice([0, 1, 2, 4], 60)       # ... class 3 is never predicted
    scores = rng.normal(size=(60, n_classes))
    everything = list(range(n_classes))

    from_labels = metrics.ConfusionMatrix(n_classes)
    from_scores = metrics.ConfusionMatrix(n_classes)
    for yb, pb, sb in _batches(rng, 60, y, pred, scores):
        from_labels.update(yb, pb)
        from_scores.update(yb, sb)
    np.testing.assert_array_equal(from_labels.compute(),
                                  metrics.confusion_matrix(y, pred, labels=everything))
    np.testing.assert_array_equal(from_scores.compute(),
                                  metrics.confusion_matrix(y, scores.argmax(1), labels=everything))
    for normalize in ("true", "pred", "all"):
        np.testing.assert_allclose(
            from_labels.compute(normalize=normalize),
            metrics.confusion_matrix(y, pred, labels=everything, normalize=normalize))
    assert from_labels.accuracy() == metrics.accuracy(y, pred)

    for average in (None, "micro", "macro", "weighted"):
        for zero_division in (0.0, 1.0, np.nan):
            streamed = from_labels.precision_recall_fscore_support(
                beta=2.0, average=average, zero_division=zero_division)
            one_shot = metrics.precision_recall_fscore_support(
                y, pred, beta=2.0, labels=everything, average=average,
                zero_division=zero_division)
            for a, b in zip(streamed, one_shot):
                np.testing.assert_array_equal(a, b)
        assert np.array_equal(from_labels.f1_score(average), metrics.f1_score(
            y, pred, labels=everything, average=average))
        assert np.array_equal(from_labels.precision(average), metrics.precision_score(
            y, pred, labels=everything, average=average))
        assert np.array_equal(from_labels.recall(average), metrics.recall_score(
            y, pred, labels=everything, average=average))


@pytest.mark.parametrize("pos_label", [0, 1])
def test_binary_confusion_matrix_matches_binary_average(pos_label):
    rng = np.random.default_rng(7)
    y, pred = rng.integers(0, 2, 30), rng.integers(0, 2, 30)
    cm = metrics.ConfusionMatrix(2)
    for yb, pb in _batches(rng, 30, y, pred):
        cm.update(yb, pb)
    assert cm.f1_score("binary", pos_label=pos_label) == metrics.f1_score(y, pred,
                                                                          pos_label=pos_label)
    assert cm.precision("binary", pos_label=pos_label) == metrics.precision_score(
        y, pred, pos_label=pos_label)


def test_mean_weights_batches_like_one_mean_over_samples():
    rng = np.random.default_rng(0)
    per_sample_loss = rng.random(53)
    mean = metrics.Mean()
    for (chunk,) in _batches(rng, 53, per_sample_loss):
        batch_loss = cr.tensor(chunk.mean())          # what a loss function returns
        mean.update(batch_loss, weight=len(chunk))
    assert mean.compute() == pytest.approx(per_sample_loss.mean(), rel=1e-12)
    elementwise = metrics.Mean()
    elementwise.update(per_sample_loss[:10])
    elementwise.update(per_sample_loss[10:])
    assert elementwise.compute() == pytest.approx(per_sample_loss.mean(), rel=1e-12)
    elementwise.reset()
    with pytest.raises(ValueError, match=r"Mean.compute\(\): no data yet"):
        elementwise.compute()
    with pytest.raises(ValueError, match="weight must be non-negative"):
        elementwise.update(1.0, weight=-1)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(45,), (45, 3)])
def test_regression_metrics_stream_to_the_one_shot_values(seed, shape):
    rng = np.random.default_rng(seed)
    y, p = rng.normal(size=shape), rng.normal(size=shape)
    mse, mae = metrics.MeanSquaredError(), metrics.MeanAbsoluteError()
    for yb, pb in _batches(rng, 45, y, p):
        mse.update(yb, cr.tensor(pb))
        mae.update(yb, pb)
    assert mse.compute() == pytest.approx(metrics.mean_squared_error(y, p), rel=1e-12)
    assert mae.compute() == pytest.approx(metrics.mean_absolute_error(y, p), rel=1e-12)


# Each streaming regression metric and the one-shot function it must equal.
STREAMED = [(metrics.MeanSquaredError, metrics.mean_squared_error),
            (metrics.MeanAbsoluteError, metrics.mean_absolute_error),
            (metrics.RootMeanSquaredError, metrics.root_mean_squared_error),
            (metrics.R2Score, metrics.r2_score),
            (metrics.ExplainedVariance, metrics.explained_variance_score)]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("stream, one_shot", STREAMED, ids=lambda c: getattr(c, "__name__", ""))
def test_every_regression_metric_streams_to_its_one_shot_value_per_target(seed, stream,
                                                                          one_shot):
    rng = np.random.default_rng(seed)
    # Targets far from 0 with a small spread: the sums-of-squares shortcut would lose
    # digits here, the merged moments do not.
    y = 1e4 + rng.normal(size=(60, 3)) * [1.0, 10.0, 0.1]
    p = y + rng.normal(size=(60, 3))
    multioutputs = ["raw_values", "uniform_average", [0.2, 0.3, 0.5]]
    if stream in (metrics.R2Score, metrics.ExplainedVariance):
        multioutputs.append("variance_weighted")
    for multioutput in multioutputs:
        m = stream(multioutput=multioutput)
        for yb, pb in _batches(rng, 60, y, p):
            m.update(cr.tensor(yb), pb)
        np.testing.assert_allclose(m.compute(), one_shot(y, p, multioutput=multioutput),
                                   rtol=1e-9)
    m = stream()
    for yb, pb in _batches(rng, 60, y[:, 0], p[:, 0]):
        m.update(yb, pb)
    assert m.compute() == pytest.approx(one_shot(y[:, 0], p[:, 0]), rel=1e-9)


def test_max_error_streams_per_target_and_matches_the_one_shot_value():
    rng = np.random.default_rng(0)
    y, p = rng.normal(size=(40, 2)), rng.normal(size=(40, 2))
    worst = metrics.MaxError(multioutput="raw_values")
    for yb, pb in _batches(rng, 40, y, p):
        worst.update(yb, pb)
    np.testing.assert_array_equal(worst.compute(), [metrics.max_error(y[:, k], p[:, k])
                                                    for k in range(2)])


def test_streaming_r2_follows_the_one_shot_rules_for_constant_and_tiny_targets():
    r2 = metrics.R2Score(multioutput="raw_values")
    r2.update([[2.0, 1.0], [2.0, 2.0]], [[2.0, 1.0], [1.0, 2.5]])
    r2.update([[2.0, 3.0]], [[2.0, 3.0]])
    np.testing.assert_array_equal(
        r2.compute(), metrics.r2_score([[2.0, 1.0], [2.0, 2.0], [2.0, 3.0]],
                                       [[2.0, 1.0], [1.0, 2.5], [2.0, 3.0]],
                                       multioutput="raw_values"))
    one = metrics.R2Score()
    one.update([1.0], [2.0])
    with pytest.warns(UserWarning, match="fewer than two samples"):
        assert np.isnan(one.compute())


def test_streaming_errors_are_clear():
    with pytest.raises(ValueError, match=r"Accuracy.compute\(\): no data yet"):
        metrics.Accuracy().compute()
    with pytest.raises(ValueError, match="top_k must be a positive int"):
        metrics.Accuracy(top_k=0)
    with pytest.raises(ValueError, match=r"top_k=3 is larger than the number of classes C=2"):
        metrics.Accuracy(top_k=3).update([0, 1], np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"y_true has 2 samples \(shape \(2,\)\) but y_pred has 3"):
        metrics.Accuracy().update([0, 1], [0, 1, 1])
    cm = metrics.ConfusionMatrix(3)
    with pytest.raises(ValueError, match=r"y_pred holds class indices in \[0, 3\], "
                                         r"outside \[0, 3\)"):
        cm.update([0, 1], [0, 3])
    with pytest.raises(ValueError, match=r"scores of shape \(2, 4\) have 4 columns, expected "
                                         r"num_classes=3"):
        cm.update([0, 1], np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"average='binary' needs num_classes=2"):
        cm.update([0, 1], [0, 1])
        cm.f1_score("binary")
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        metrics.ConfusionMatrix(0)
    mse = metrics.MeanSquaredError()
    mse.update(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="this batch has 2 outputs, earlier batches had 3"):
        mse.update(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"MeanAbsoluteError.compute\(\): no data yet"):
        metrics.MeanAbsoluteError().compute()
    with pytest.raises(ValueError, match=r"R2Score.compute\(\): no data yet"):
        metrics.R2Score().compute()
    with pytest.raises(ValueError, match="MaxError: multioutput must be one of"):
        metrics.MaxError(multioutput="variance_weighted")
