"""Losses: gradient checks in float64, values and gradients equal to PyTorch's for every
reduction and option, numerical stability, and clear errors."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn

from conftest import seed_from_test_name

RNG = np.random.default_rng(99)


@pytest.fixture(autouse=True)
def _seeded(request):
    global RNG
    RNG = seed_from_test_name(request)
REDUCTIONS = ["none", "mean", "sum"]


def rand(*shape):
    return RNG.standard_normal(shape)


def compare(ours_fn, torch_fn, inputs, grad_of=None, rtol=1e-9, atol=1e-10):
    """Run both functions on the same float64 arrays; compare the loss and the gradients of
    every float input listed in ``grad_of`` (default: the first)."""
    torch = pytest.importorskip("torch")
    grad_of = [0] if grad_of is None else grad_of
    cr_in, t_in = [], []
    for i, a in enumerate(inputs):
        need = i in grad_of
        cr_in.append(None if a is None else cr.tensor(a, requires_grad=need))
        t_in.append(None if a is None else torch.tensor(a, requires_grad=need))
    out_c, out_t = ours_fn(*cr_in), torch_fn(*t_in)
    np.testing.assert_allclose(out_c.numpy(), out_t.detach().numpy(), rtol=rtol, atol=atol)
    g = rand(*out_t.shape)
    out_c.backward(cr.tensor(g))
    out_t.backward(torch.tensor(g))
    for i in grad_of:
        np.testing.assert_allclose(cr_in[i].grad.numpy(), t_in[i].grad.numpy(), rtol=rtol,
                                   atol=atol, err_msg=f"gradient of input {i}")


def gradcheck(fn, *arrays, grad_of=(0,)):
    ts = [cr.tensor(a, requires_grad=(i in grad_of)) for i, a in enumerate(arrays)]
    assert cr.gradcheck(fn, ts)


# ------------------------------------------------------------------- regression
@pytest.mark.parametrize("name,kwargs", [("mse_loss", {}), ("l1_loss", {}),
                                         ("huber_loss", {"delta": 0.7}), ("huber_loss", {}),
                                         ("smooth_l1_loss", {"beta": 0.5}),
                                         ("smooth_l1_loss", {"beta": 0.0})])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses(name, kwargs, reduction):
    torch = pytest.importorskip("torch")
    x, y = rand(4, 3), rand(4, 3)
    x[np.abs(x - y) < 1e-3] += 0.1  # away from the kinks for finite differences
    ours = lambda a, b: getattr(F, name)(a, b, reduction=reduction, **kwargs)
    theirs = lambda a, b: getattr(torch.nn.functional, name)(a, b, reduction=reduction, **kwargs)
    gradcheck(ours, x, y, grad_of=(0, 1))
    compare(ours, theirs, [x, y], grad_of=[0, 1])


def test_regression_loss_modules():
    torch = pytest.importorskip("torch")
    x, y = rand(5, 2), rand(5, 2)
    for ours, theirs in [(nn.MSELoss(), torch.nn.MSELoss()),
                         (nn.L1Loss("sum"), torch.nn.L1Loss(reduction="sum")),
                         (nn.HuberLoss(delta=0.3), torch.nn.HuberLoss(delta=0.3)),
                         (nn.SmoothL1Loss(beta=2.0), torch.nn.SmoothL1Loss(beta=2.0))]:
        compare(ours, theirs, [x, y])


def test_regression_shape_mismatch_is_an_error_not_a_silent_broadcast():
    with pytest.raises(ValueError, match=r"target shape \(4,\) does not match input shape \(4, 1\)"):
        F.mse_loss(cr.zeros(4, 1), cr.zeros(4))
    with pytest.raises(TypeError, match="floating-point"):
        F.l1_loss(cr.zeros(3), cr.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.mse_loss(cr.zeros(3), cr.zeros(3), reduction="avg")


# ---------------------------------------------------------------- binary losses
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_bce(reduction, weighted):
    torch = pytest.importorskip("torch")
    p = 1 / (1 + np.exp(-rand(4, 3)))
    y = RNG.random((4, 3))
    w = RNG.random(3) if weighted else None
    ours = lambda a, b, c: F.binary_cross_entropy(a, b, weight=c, reduction=reduction)
    theirs = lambda a, b, c: torch.nn.functional.binary_cross_entropy(a, b, weight=c, reduction=reduction)
    gradcheck(lambda a, b: ours(a, b, None if w is None else cr.tensor(w)), p, y, grad_of=(0, 1))
    compare(ours, theirs, [p, y, w], grad_of=[0, 1])
    compare(nn.BCELoss(weight=None if w is None else cr.tensor(w), reduction=reduction),
            torch.nn.BCELoss(weight=None if w is None else torch.tensor(w), reduction=reduction),
            [p, y])


def test_bce_clamps_logs_at_the_edges_like_torch():
    torch = pytest.importorskip("torch")
    p = np.array([0.0, 1.0, 1e-50, 0.5])
    y = np.array([1.0, 0.0, 1.0, 1.0])
    compare(lambda a, b: F.binary_cross_entropy(a, b, reduction="none"),
            lambda a, b: torch.nn.functional.binary_cross_entropy(a, b, reduction="none"),
            [p, y], rtol=1e-6)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(cr.tensor([1.5]), cr.tensor([1.0]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted,pos_weighted", [(False, False), (True, False), (False, True),
                                                   (True, True)])
def test_bce_with_logits(reduction, weighted, pos_weighted):
    torch = pytest.importorskip("torch")
    z, y = rand(4, 3) * 3, RNG.random((4, 3))
    w = RNG.random((4, 1)) if weighted else None
    pw = RNG.random(3) * 3 if pos_weighted else None
    ours = lambda a, b, c, d: F.binary_cross_entropy_with_logits(a, b, c, reduction=reduction, pos_weight=d)
    theirs = lambda a, b, c, d: torch.nn.functional.binary_cross_entropy_with_logits(
        a, b, c, reduction=reduction, pos_weight=d)
    grads = [0, 1] + ([3] if pos_weighted else [])
    arrays = [z, y, w, pw]
    ts = [None if a is None else cr.tensor(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
    assert cr.gradcheck(lambda *t: ours(*t), ts)
    compare(ours, theirs, arrays, grad_of=[0, 1])  # PyTorch has no gradient for pos_weight
    module = nn.BCEWithLogitsLoss(weight=None if w is None else cr.tensor(w), reduction=reduction,
                                  pos_weight=None if pw is None else cr.tensor(pw))
    compare(module, torch.nn.BCEWithLogitsLoss(
        weight=None if w is None else torch.tensor(w), reduction=reduction,
        pos_weight=None if pw is None else torch.tensor(pw)), [z, y])


def test_bce_with_logits_is_finite_for_huge_logits():
    torch = pytest.importorskip("torch")
    z = np.array([1e4, -1e4, 800.0, -800.0, 0.0])
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    compare(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction="none"),
            lambda a, b: torch.nn.functional.binary_cross_entropy_with_logits(a, b, reduction="none"),
            [z, y])
    zc = cr.tensor(z.astype(np.float32), requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(zc, cr.tensor(y.astype(np.float32)))
    loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(zc.grad.numpy()))
    with pytest.raises(ValueError, match="pos_weight of shape"):
        F.binary_cross_entropy_with_logits(cr.zeros(2, 3), cr.zeros(2, 3), pos_weight=cr.ones(2))


def test_bce_second_derivatives():
    z = cr.tensor(rand(3, 2), requires_grad=True)
    y = cr.tensor(RNG.random((3, 2)), requires_grad=True)
    pw = cr.tensor(RNG.random(2) + 0.5, requires_grad=True)
    assert cr.gradgradcheck(lambda a, b, c: F.binary_cross_entropy_with_logits(a, b, pos_weight=c,
                                                                             reduction="sum"), (z, y, pw))
    p = cr.tensor(RNG.random((3, 2)) * 0.8 + 0.1, requires_grad=True)
    assert cr.gradgradcheck(lambda a, b: F.binary_cross_entropy(a, b, reduction="sum"), (p, y))


# ----------------------------------------------------------------- cross-entropy
CE_CASES = [
    {},
    {"label_smoothing": 0.2},
    {"weight": True},
    {"weight": True, "label_smoothing": 0.1},
    {"ignore_index": 1},
    {"ignore_index": -100, "ignored": True},
    {"weight": True, "ignore_index": 2, "label_smoothing": 0.3},
]


def _ce_arrays(case, shape):
    n_classes = shape[1]
    x = rand(*shape) * 2
    t = RNG.integers(0, n_classes, (shape[0],) + shape[2:])
    if case.get("ignored"):
        t.reshape(-1)[::3] = -100
    if "ignore_index" in case and case["ignore_index"] >= 0:
        t.reshape(-1)[0] = case["ignore_index"]
    w = RNG.random(n_classes) + 0.2 if case.get("weight") else None
    kwargs = {k: v for k, v in case.items() if k in ("label_smoothing", "ignore_index")}
    return x, t, w, kwargs


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CE_CASES)
@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 2, 2)])
def test_cross_entropy_class_targets_match_torch(case, reduction, shape):
    torch = pytest.importorskip("torch")
    x, t, w, kwargs = _ce_arrays(case, shape)
    ours = lambda a, c: F.cross_entropy(a, cr.tensor(t), weight=c, reduction=reduction, **kwargs)
    theirs = lambda a, c: torch.nn.functional.cross_entropy(a, torch.tensor(t), weight=c,
                                                            reduction=reduction, **kwargs)
    compare(ours, theirs, [x, w])
    compare(nn.CrossEntropyLoss(weight=None if w is None else cr.tensor(w), reduction=reduction, **kwargs),
            torch.nn.CrossEntropyLoss(weight=None if w is None else torch.tensor(w),
                                      reduction=reduction, **kwargs),
            [x, t], grad_of=[0])


@pytest.mark.parametrize("case", CE_CASES)
def test_cross_entropy_gradcheck(case):
    x, t, w, kwargs = _ce_arrays(case, (3, 4, 2))
    wt = None if w is None else cr.tensor(w)
    for reduction in ("none", "mean"):
        gradcheck(lambda a: F.cross_entropy(a, cr.tensor(t), weight=wt, reduction=reduction, **kwargs), x)
    assert cr.gradgradcheck(lambda a: F.cross_entropy(a, cr.tensor(t), weight=wt, **kwargs),
                            cr.tensor(x, requires_grad=True))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("n,ignored", [(1, False), (6, False), (6, True), (7, "some")])
def test_cross_entropy_fused_common_case(reduction, n, ignored):
    """2-D logits, class indices, no weight or smoothing: one fused node, gradchecked, equal
    in value and gradient to the general primitive (reached here through unit class weights)."""
    x = rand(n, 4) * 3
    t = RNG.integers(0, 4, n)
    if ignored == "some":
        t[::2] = -100
    elif ignored:
        t[:] = 7
    kwargs = {"ignore_index": 7} if ignored is True else {}
    ce = lambda a: F.cross_entropy(a, cr.tensor(t), reduction=reduction, **kwargs)
    general = lambda a: F.cross_entropy(a, cr.tensor(t), weight=cr.tensor(np.ones(4)),
                                        reduction=reduction, **kwargs)
    xa, xb = cr.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
    fused, reference = ce(xa), general(xb)
    assert type(fused.grad_fn).__name__ == "ReducedSoftmaxCrossEntropy"
    fused.backward()
    reference.backward()
    if ignored is True and reduction == "mean":       # nothing counted: as in PyTorch, the
        assert np.isnan(fused.item()) and np.isnan(reference.item())   # loss is NaN and
        np.testing.assert_array_equal(xa.grad.numpy(), 0)               # the gradient zero
        np.testing.assert_array_equal(xb.grad.numpy(), 0)
        return
    np.testing.assert_allclose(fused.numpy(), reference.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(xa.grad.numpy(), xb.grad.numpy(), rtol=1e-12, atol=1e-15)
    gradcheck(ce, x)
    assert cr.gradgradcheck(ce, cr.tensor(x, requires_grad=True))
    x32 = cr.tensor(x.astype(np.float32), requires_grad=True)
    ce(x32).backward()
    assert ce(x32).dtype == np.float32 and x32.grad.dtype == np.float32


def test_cross_entropy_fused_case_ignores_bad_rows_and_keeps_its_targets():
    torch = pytest.importorskip("torch")
    x = np.array([[0.5, 1.0, 2.0], [-np.inf, 1.0, 2.0], [-np.inf, -np.inf, 0.0]])
    t = np.array([1, -100, -100])                     # -inf logits in ignored rows
    ours = cr.tensor(x, requires_grad=True)
    loss = F.cross_entropy(ours, t)
    theirs = torch.tensor(x, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(theirs, torch.tensor(t))
    loss.backward()
    expected.backward()
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-12)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)
    # The targets are read at forward: changing the caller's array afterwards changes nothing.
    y = np.array([1, 2, 0])
    a = cr.tensor(np.ones((3, 3)) * [[0.0, 1.0, 2.0]], requires_grad=True)
    loss = F.cross_entropy(a, y)
    y[:] = 0
    loss.backward()
    b = torch.tensor(np.ones((3, 3)) * [[0.0, 1.0, 2.0]], requires_grad=True)
    torch.nn.functional.cross_entropy(b, torch.tensor([1, 2, 0])).backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing,weighted", [(0.0, False), (0.25, False), (0.0, True), (0.1, True)])
def test_cross_entropy_probability_targets(reduction, smoothing, weighted):
    torch = pytest.importorskip("torch")
    x = rand(4, 3, 2)
    q = RNG.random((4, 3, 2))
    q /= q.sum(1, keepdims=True)
    w = RNG.random(3) + 0.5 if weighted else None
    ours = lambda a, b: F.cross_entropy(a, b, weight=None if w is None else cr.tensor(w),
                                        reduction=reduction, label_smoothing=smoothing)
    theirs = lambda a, b: torch.nn.functional.cross_entropy(
        a, b, weight=None if w is None else torch.tensor(w), reduction=reduction,
        label_smoothing=smoothing)
    compare(ours, theirs, [x, q], grad_of=[0, 1])
    gradcheck(ours, x, q, grad_of=(0, 1))
    xt, qt = cr.tensor(x, requires_grad=True), cr.tensor(q, requires_grad=True)
    assert cr.gradgradcheck(lambda a, b: ours(a, b).sum(), (xt, qt))


def test_cross_entropy_unbatched_input():
    torch = pytest.importorskip("torch")
    x = rand(5)
    for target in (np.array(3), RNG.random(5)):
        for reduction in REDUCTIONS:
            compare(lambda a: F.cross_entropy(a, cr.tensor(target), reduction=reduction),
                    lambda a: torch.nn.functional.cross_entropy(a, torch.tensor(target),
                                                                reduction=reduction), [x])


def test_cross_entropy_is_finite_and_exact_for_huge_logits():
    torch = pytest.importorskip("torch")
    x = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4], [-1e4, -1e4, -1e4]])
    t = np.array([1, 2, 0])
    compare(lambda a: F.cross_entropy(a, cr.tensor(t), reduction="none", label_smoothing=0.1),
            lambda a: torch.nn.functional.cross_entropy(a, torch.tensor(t), reduction="none",
                                                        label_smoothing=0.1), [x])
    xc = cr.tensor(x.astype(np.float32), requires_grad=True)
    loss = F.cross_entropy(xc, cr.tensor(t))
    loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(xc.grad.numpy()))
    assert xc.grad.dtype == np.float32


def test_cross_entropy_all_ignored_gives_nan_like_torch():
    torch = pytest.importorskip("torch")
    x, t = rand(2, 3), np.array([-100, -100])
    ours = F.cross_entropy(cr.tensor(x), cr.tensor(t)).item()
    theirs = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t)).item()
    assert np.isnan(ours) and np.isnan(theirs)


def test_cross_entropy_errors_name_shapes_and_values():
    x = cr.zeros(4, 3)
    with pytest.raises(IndexError, match="target value 5 is out of range for 3 classes"):
        F.cross_entropy(x, cr.tensor([0, 1, 5, 2]))
    with pytest.raises(IndexError, match="target value -2"):
        F.cross_entropy(x, cr.tensor([0, 1, -2, 2]))
    with pytest.raises(TypeError, match=r"integer class indices .* shape \(4,\), got dtype float32"):
        F.cross_entropy(x, cr.tensor([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match=r"target shape \(5,\) does not match input shape \(4, 3\)"):
        F.cross_entropy(x, cr.tensor([0, 1, 2, 1, 0]))
    with pytest.raises(ValueError, match=r"must have the input's shape \(4, 3\), got \(4, 2\)"):
        F.cross_entropy(x, cr.zeros(4, 2))
    with pytest.raises(ValueError, match=r"one entry per class, shape \(3,\), got \(2,\)"):
        F.cross_entropy(x, cr.tensor([0, 1, 2, 1]), weight=cr.ones(2))
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(TypeError, match="floating-point logits"):
        F.cross_entropy(cr.tensor([[1, 2]]), cr.tensor([0]))


# ----------------------------------------------------------------------- NLL, KL
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", [{}, {"weight": True}, {"ignore_index": 0},
                                  {"weight": True, "ignore_index": 2}])
@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4)])
def test_nll_loss_matches_torch(reduction, case, shape):
    torch = pytest.importorskip("torch")
    x, t, w, kwargs = _ce_arrays(case, shape)
    kwargs.pop("label_smoothing", None)
    ours = lambda a, c: F.nll_loss(a, cr.tensor(t), weight=c, reduction=reduction, **kwargs)
    theirs = lambda a, c: torch.nn.functional.nll_loss(a, torch.tensor(t), weight=c,
                                                       reduction=reduction, **kwargs)
    compare(ours, theirs, [x, w])
    gradcheck(lambda a: ours(a, None if w is None else cr.tensor(w)), x)
    compare(nn.NLLLoss(weight=None if w is None else cr.tensor(w), reduction=reduction, **kwargs),
            torch.nn.NLLLoss(weight=None if w is None else torch.tensor(w), reduction=reduction,
                             **kwargs), [x, t])


def test_log_softmax_then_nll_equals_cross_entropy():
    x, t = cr.tensor(rand(6, 4), requires_grad=True), cr.tensor(RNG.integers(0, 4, 6))
    a = F.nll_loss(F.log_softmax(x, 1), t)
    b = F.cross_entropy(x, t)
    np.testing.assert_allclose(a.item(), b.item(), rtol=1e-12)
    assert cr.gradgradcheck(lambda z: F.nll_loss(F.log_softmax(z, 1), t), x)


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")  # PyTorch's advice for 'mean'
@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(reduction, log_target):
    torch = pytest.importorskip("torch")
    logp = np.log(RNG.dirichlet(np.ones(4), size=3))
    q = RNG.dirichlet(np.ones(4), size=3)
    q[0, 1] = 0.0  # 0 log 0 counts as 0
    target = np.log(q + 1e-3) if log_target else q
    ours = lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target)
    theirs = lambda a, b: torch.nn.functional.kl_div(a, b, reduction=reduction, log_target=log_target)
    # the target's gradient too where it is smooth (log targets; 0 log 0 has a kink)
    compare(ours, theirs, [logp, target], grad_of=[0, 1] if log_target else [0])
    gradcheck(ours, logp, target, grad_of=(0, 1) if log_target else (0,))
    compare(nn.KLDivLoss(reduction=reduction, log_target=log_target),
            torch.nn.KLDivLoss(reduction=reduction, log_target=log_target), [logp, target])


def test_loss_modules_register_weights_as_buffers():
    ce = nn.CrossEntropyLoss(weight=cr.ones(3))
    assert list(ce.state_dict()) == ["weight"]
    bce = nn.BCEWithLogitsLoss(pos_weight=cr.ones(2))
    assert list(bce.state_dict()) == ["pos_weight"]
    assert list(nn.CrossEntropyLoss().state_dict()) == []
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.KLDivLoss(reduction="avg")
    assert nn.KLDivLoss(reduction="batchmean").reduction == "batchmean"


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_fused_mse_second_order(reduction):
    # mse_loss with a reduction is one fused node; its backward must itself be differentiable.
    x = cr.tensor(rand(3, 4), requires_grad=True)
    y = cr.tensor(rand(3, 4), requires_grad=True)
    assert cr.gradgradcheck(lambda a, b: F.mse_loss(a, b, reduction=reduction), (x, y))
    assert type(F.mse_loss(x, y, reduction=reduction).grad_fn).__name__ == "SquaredErrorSum"


def test_mse_of_empty_is_nan_like_torch():
    assert np.isnan(F.mse_loss(cr.zeros(0), cr.zeros(0)).item())
