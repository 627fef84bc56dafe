"""Differential tests: expressions (operators, methods, chains) against PyTorch on the same
float64 inputs. Every op's own coverage (each declared sample, values, gradients, second
derivatives, dtypes) comes from the op registry: tests/test_op_registry.py.

Each case is one function ``fn(m, *xs)`` written once against a namespace ``m`` that is
either chainrule or PyTorch (torch plus the torch.nn.functional activations), so both
libraries run literally the same expression. Forward values must agree, and so must the
gradients of a random weighting of every floating output. A second table compares
Hessian-vector products (create_graph) for the smooth ops.
"""
from __future__ import annotations

import types
import zlib

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")
F = torch.nn.functional

# torch namespace with chainrule's top-level names: activations and pad live in F.
TORCH = types.SimpleNamespace(**{name: getattr(torch, name) for name in (
    "tensor", "exp", "log", "log1p", "sqrt", "abs", "sign", "sin", "cos", "tanh", "sigmoid",
    "relu", "erf", "maximum", "minimum", "clamp", "where", "matmul", "amax", "amin",
    "logsumexp", "argmax", "argmin", "cat", "stack", "split", "chunk", "gather", "softmax",
    "log_softmax", "sum", "mean", "prod", "flatten", "permute", "transpose", "squeeze",
    "unsqueeze", "flip", "reshape", "any", "all", "max", "min", "var", "std")})
for _name in ("leaky_relu", "elu", "gelu", "softplus", "silu", "pad"):
    setattr(TORCH, _name, getattr(F, _name))

HUGE = np.array([[1e4, -1e4, 0.0, 3.0], [-1e4, -1e4, -1e4, -1e4], [1e4, 1e4 - 2.0, -5.0, 2e3]])


def _array(rng, spec):
    """An input array from a spec: a fixed ndarray, or (shape, domain)."""
    if isinstance(spec, np.ndarray):
        return spec.astype(np.float64)
    shape, domain = spec if isinstance(spec[-1], str) else (spec, "real")
    if domain == "positive":
        return rng.uniform(0.5, 2.5, shape)
    if domain == "unit":
        return rng.uniform(-0.9, 0.9, shape)
    mag = rng.uniform(0.1, 2.0, shape)         # kinks (0 for relu/abs/sign) stay unreached
    return np.where(rng.random(shape) < 0.5, -mag, mag)


def R(*shape):
    return (shape, "real")


def P(*shape):
    return (shape, "positive")


def U(*shape):
    return (shape, "unit")


# id -> (fn(m, *xs), input specs, differentiable?)
CASES = {
    # ---------------------------------------------------------------- arithmetic
    "add_bcast": (lambda m, a, b: a + b, [R(3, 4), R(4)], True),
    "add_bcast_both": (lambda m, a, b: a + b, [R(2, 1, 4), R(3, 1)], True),
    "sub": (lambda m, a, b: a - b, [R(3, 1), R(1, 4)], True),
    "mul": (lambda m, a, b: a * b, [R(2, 3, 4), R(3, 1)], True),
    "div": (lambda m, a, b: a / b, [R(3, 4), P(4)], True),
    "pow_tensor": (lambda m, a, b: a ** b, [P(3, 4), R(3, 4)], True),
    "pow_scalar": (lambda m, a: a ** 3, [R(3, 4)], True),
    "pow_fraction": (lambda m, a: a ** 1.5, [P(3, 4)], True),
    "pow_negative": (lambda m, a: a ** -2, [P(5)], True),
    "rpow": (lambda m, a: 2.0 ** a, [R(3, 4)], True),
    "radd": (lambda m, a: 1.5 + a, [R(3)], True),
    "rsub": (lambda m, a: 1.5 - a, [R(3)], True),
    "rmul": (lambda m, a: 1.5 * a, [R(3)], True),
    "rdiv": (lambda m, a: 1.5 / a, [P(3)], True),
    "sub_scalar": (lambda m, a: a - 0.5, [R(3)], True),
    "div_scalar": (lambda m, a: a / 4.0, [R(3)], True),
    "neg": (lambda m, a: -a, [R(2, 3)], True),
    "scalar_tensor": (lambda m, a, b: a * b, [R(), R(2, 3)], True),
    # ----------------------------------------------------------------- functions
    "exp": (lambda m, a: m.exp(a), [R(2, 3, 2)], True),
    "log": (lambda m, a: m.log(a), [P(2, 3)], True),
    "log1p": (lambda m, a: m.log1p(a), [U(2, 3)], True),
    "sqrt": (lambda m, a: m.sqrt(a), [P(2, 3)], True),
    "abs": (lambda m, a: m.abs(a), [R(2, 3)], True),
    "sign": (lambda m, a: m.sign(a), [R(2, 3)], False),
    "sin": (lambda m, a: m.sin(a), [R(4)], True),
    "cos": (lambda m, a: m.cos(a), [R(4)], True),
    "tanh": (lambda m, a: m.tanh(a), [R(2, 1, 3, 2)], True),
    "sigmoid": (lambda m, a: m.sigmoid(a), [R(2, 3)], True),
    "relu": (lambda m, a: m.relu(a), [R(2, 3)], True),
    "leaky_relu": (lambda m, a: m.leaky_relu(a, 0.2), [R(2, 3)], True),
    "elu": (lambda m, a: m.elu(a, 0.7), [R(2, 3)], True),
    "gelu": (lambda m, a: m.gelu(a), [R(3, 4)], True),
    "gelu_tanh": (lambda m, a: m.gelu(a, approximate="tanh"), [R(3, 4)], True),
    "silu": (lambda m, a: m.silu(a), [R(3, 4)], True),
    "softplus": (lambda m, a: m.softplus(a), [R(3, 4)], True),
    "softplus_threshold": (lambda m, a: m.softplus(a, beta=2.0, threshold=1.5), [R(4, 5)], True),
    "erf": (lambda m, a: m.erf(a), [R(3, 4)], True),
    "maximum": (lambda m, a, b: m.maximum(a, b), [R(3, 4), R(4)], True),
    "minimum": (lambda m, a, b: m.minimum(a, b), [R(2, 1), R(1, 3)], True),
    "clamp": (lambda m, a: m.clamp(a, -0.5, 1.0), [R(3, 4)], True),
    "clamp_min": (lambda m, a: m.clamp(a, min=0.3), [R(3, 4)], True),
    "clamp_max_method": (lambda m, a: a.clamp(max=0.3), [R(3, 4)], True),
    "where": (lambda m, a, b: m.where(a > 0, a, b), [R(3, 4), R(4)], True),
    "where_scalar": (lambda m, a: m.where(a > 0, a, 0.0), [R(3, 4)], True),
    # ------------------------------------------------------------------- matmul
    "matmul_dot": (lambda m, a, b: a @ b, [R(4), R(4)], True),
    "matmul_vec_mat": (lambda m, a, b: a @ b, [R(4), R(4, 3)], True),
    "matmul_mat_vec": (lambda m, a, b: m.matmul(a, b), [R(3, 4), R(4)], True),
    "matmul_2d": (lambda m, a, b: a @ b, [R(3, 4), R(4, 2)], True),
    "matmul_batched": (lambda m, a, b: a @ b, [R(2, 3, 4), R(2, 4, 5)], True),
    "matmul_broadcast": (lambda m, a, b: a @ b, [R(2, 1, 3, 4), R(5, 4, 2)], True),
    "matmul_vec_batch": (lambda m, a, b: a @ b, [R(4), R(2, 4, 3)], True),
    "matmul_batch_vec": (lambda m, a, b: a @ b, [R(2, 3, 4), R(4)], True),
    # --------------------------------------------------------------- reductions
    "sum_all": (lambda m, a: a.sum(), [R(2, 3, 4)], True),
    "sum_dim": (lambda m, a: m.sum(a, 1), [R(2, 3, 4)], True),
    "sum_tuple_keep": (lambda m, a: a.sum((0, 2), keepdim=True), [R(2, 3, 4)], True),
    "sum_neg": (lambda m, a: a.sum(-1), [R(2, 3, 4)], True),
    "mean_all": (lambda m, a: m.mean(a), [R(2, 3, 4)], True),
    "mean_tuple": (lambda m, a: a.mean((1, -1)), [R(2, 3, 4)], True),
    "mean_keep": (lambda m, a: a.mean(-2, keepdim=True), [R(2, 3, 4)], True),
    "prod_all": (lambda m, a: a.prod(), [R(2, 3)], True),
    "prod_dim": (lambda m, a: m.prod(a, 1), [R(2, 3, 4)], True),
    "prod_keep": (lambda m, a: a.prod(-1, keepdim=True), [R(2, 3, 4)], True),
    "prod_with_zero": (lambda m, a: a.prod(1),
                       [np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 4.0]])], True),
    "amax_tuple": (lambda m, a: m.amax(a, (0, 2)), [R(2, 3, 4)], True),
    "amin_keep": (lambda m, a: m.amin(a, 1, keepdim=True), [R(2, 3, 4)], True),
    "max_all": (lambda m, a: a.max(), [R(3, 4)], True),
    "min_all": (lambda m, a: m.min(a), [R(3, 4)], True),
    "max_dim": (lambda m, a: tuple(a.max(dim=1)), [R(2, 3, 4)], True),
    "min_dim_keep": (lambda m, a: tuple(m.min(a, -1, keepdim=True)), [R(2, 3, 4)], True),
    "var_dim": (lambda m, a: a.var(1), [R(2, 3, 4)], True),
    "var_all": (lambda m, a: m.var(a), [R(2, 3, 4)], True),
    "var_biased": (lambda m, a: a.var((0, 2), correction=0), [R(2, 3, 4)], True),
    "var_keep": (lambda m, a: a.var(-1, keepdim=True), [R(2, 3, 4)], True),
    "std_dim": (lambda m, a: a.std(1), [R(2, 3, 4)], True),
    "std_all": (lambda m, a: m.std(a), [R(2, 3, 4)], True),
    "std_biased_keep": (lambda m, a: a.std(-1, keepdim=True, correction=0), [R(2, 3, 4)], True),
    "norm_all": (lambda m, a: a.norm(), [R(2, 3, 4)], True),
    "norm_1": (lambda m, a: a.norm(1, dim=1), [R(2, 3, 4)], True),
    "norm_3_keep": (lambda m, a: a.norm(3, dim=-1, keepdim=True), [R(2, 3, 4)], True),
    "norm_inf": (lambda m, a: a.norm(float("inf"), dim=(0, 2)), [R(2, 3, 4)], True),
    "logsumexp": (lambda m, a: m.logsumexp(a, 1), [R(2, 3, 4)], True),
    "logsumexp_tuple_keep": (lambda m, a: m.logsumexp(a, (0, 2), keepdim=True), [R(2, 3, 4)], True),
    "logsumexp_huge": (lambda m, a: m.logsumexp(a, 1), [HUGE], True),
    # ------------------------------------------------------- index reductions (no grad)
    "argmax_all": (lambda m, a: m.argmax(a), [R(3, 4)], False),
    "argmax_dim": (lambda m, a: a.argmax(1), [R(3, 4)], False),
    "argmin_keep": (lambda m, a: m.argmin(a, -1, keepdim=True), [R(3, 4)], False),
    "any": (lambda m, a: (a > 1.0).any(), [R(3, 4)], False),
    "any_dim": (lambda m, a: m.any(a > 1.0, 1), [R(3, 4)], False),
    "all_dim": (lambda m, a: (a > -1.5).all(0), [R(3, 4)], False),
    "comparisons": (lambda m, a, b: (a < b, a <= b, a > b, a >= b, a == a, a != b),
                    [R(3, 4), R(4)], False),
    # -------------------------------------------------------------------- shape
    "reshape": (lambda m, a: a.reshape(4, 6), [R(2, 3, 4)], True),
    "view": (lambda m, a: a.view(-1, 2), [R(2, 3, 4)], True),
    "flatten": (lambda m, a: m.flatten(a, 1), [R(2, 3, 2, 2)], True),
    "flatten_mid": (lambda m, a: a.flatten(1, 2), [R(2, 3, 2, 2)], True),
    "transpose": (lambda m, a: m.transpose(a, 0, 2), [R(2, 3, 4)], True),
    "mT": (lambda m, a: a.mT, [R(2, 3, 4)], True),
    "permute": (lambda m, a: a.permute(2, 0, 1), [R(2, 3, 4)], True),
    "permute_neg": (lambda m, a: m.permute(a, (-1, 1, 0, 2)), [R(2, 3, 2, 2)], True),
    "squeeze_all": (lambda m, a: a.squeeze(), [R(2, 1, 3, 1)], True),
    "squeeze_dim": (lambda m, a: m.squeeze(a, 1), [R(2, 1, 3, 1)], True),
    "squeeze_noop": (lambda m, a: a.squeeze(0), [R(2, 1, 3, 1)], True),
    "unsqueeze": (lambda m, a: m.unsqueeze(a, -1), [R(2, 3)], True),
    "expand": (lambda m, a: a.expand(2, 3, 4), [R(3, 1)], True),
    "expand_keep": (lambda m, a: a.expand(-1, 5), [R(3, 1)], True),
    "repeat": (lambda m, a: a.repeat(2, 1, 3), [R(2, 3)], True),
    "flip": (lambda m, a: a.flip(0, 2), [R(2, 3, 4)], True),
    "flip_fn": (lambda m, a: m.flip(a, (-1,)), [R(2, 3, 4)], True),
    # ----------------------------------------------------------------- indexing
    "index_int": (lambda m, a: a[1], [R(3, 4)], True),
    "index_slice": (lambda m, a: a[:, 1:3], [R(3, 4)], True),
    "index_step": (lambda m, a: a[..., ::2], [R(2, 3, 4)], True),
    "index_none": (lambda m, a: a[None, 1], [R(3, 4)], True),
    "index_neg": (lambda m, a: a[-1, -2:], [R(3, 4)], True),
    "index_list_repeats": (lambda m, a: a[[0, 2, 2, 0, 2]], [R(3, 4)], True),
    "index_two_lists": (lambda m, a: a[[0, 1, 1], [2, 3, 2]], [R(3, 4)], True),
    "index_slice_list": (lambda m, a: a[:, [3, 0, 3]], [R(3, 4)], True),
    "index_tensor": (lambda m, a: a[m.tensor([2, 2, 1])], [R(3, 4)], True),
    "index_bool": (lambda m, a: a[a > 0], [R(3, 4)], True),
    "index_bool_rows": (lambda m, a: a[m.tensor([True, False, True])], [R(3, 4)], True),
    # ------------------------------------------------------------------ joining
    "cat": (lambda m, a, b: m.cat([a, b], 1), [R(2, 3), R(2, 2)], True),
    "cat_neg": (lambda m, a, b: m.cat([a, b, a], -1), [R(2, 3, 1), R(2, 3, 2)], True),
    "stack": (lambda m, a, b: m.stack([a, b], 0), [R(2, 3), R(2, 3)], True),
    "stack_neg": (lambda m, a, b: m.stack([a, b, a], -1), [R(2, 3), R(2, 3)], True),
    "split_size": (lambda m, a: tuple(m.split(a, 2, 0)), [R(5, 3)], True),
    "split_sections": (lambda m, a: tuple(a.split([1, 3, 1], 0)), [R(5, 3)], True),
    "split_dim": (lambda m, a: tuple(m.split(a, 2, -1)), [R(3, 5)], True),
    "chunk": (lambda m, a: tuple(m.chunk(a, 3, 1)), [R(2, 5)], True),
    "chunk_even": (lambda m, a: tuple(a.chunk(2, 0)), [R(4, 3)], True),
    "pad_last": (lambda m, a: m.pad(a, (1, 2)), [R(2, 3, 2)], True),
    "pad_two_dims": (lambda m, a: m.pad(a, (0, 1, 2, 0), value=-1.5), [R(2, 3, 2)], True),
    "gather": (lambda m, a: m.gather(a, 1, m.tensor([[0, 0, 2], [1, 2, 1]])), [R(2, 3)], True),
    "gather_dim0": (lambda m, a: a.gather(0, m.tensor([[1, 0, 1], [1, 1, 0]])), [R(2, 3)], True),
    "gather_smaller_index": (lambda m, a: m.gather(a, 1, m.tensor([[0, 1]])), [R(2, 3)], True),
    # ----------------------------------------------------------------- softmax
    "softmax": (lambda m, a: m.softmax(a, -1), [R(2, 3, 4)], True),
    "softmax_dim0": (lambda m, a: a.softmax(0), [R(3, 4)], True),
    "log_softmax": (lambda m, a: m.log_softmax(a, 1), [R(2, 3, 4)], True),
    "log_softmax_method": (lambda m, a: a.log_softmax(-1), [R(3, 4)], True),
    "softmax_huge": (lambda m, a: m.softmax(a, 1), [HUGE], True),
    "log_softmax_huge": (lambda m, a: m.log_softmax(a, 1), [HUGE], True),
    "softmax_huge_dim0": (lambda m, a: m.softmax(a, 0), [HUGE], True),
}


def _outputs(result) -> list:
    return list(result) if isinstance(result, (tuple, list)) else [result]


def _run(m, fn, arrays, weights_seed, differentiable):
    """Forward values, and the gradients of sum_k <w_k, out_k> over the floating outputs."""
    is_torch = m is TORCH
    xs = [torch.tensor(a, dtype=torch.float64, requires_grad=differentiable) if is_torch
          else cr.tensor(a, requires_grad=differentiable) for a in arrays]
    outs = _outputs(fn(m, *xs))
    values = [o.detach().numpy() if is_torch else o.numpy() for o in outs]
    grads = None
    if differentiable:
        rng = np.random.default_rng(weights_seed)
        total = None
        for o, v in zip(outs, values):
            if v.dtype.kind != "f":
                continue      # index and boolean outputs carry no gradient
            term = (o * m.tensor(rng.standard_normal(v.shape))).sum()
            total = term if total is None else total + term
        total.backward()
        grads = [np.zeros(a.shape) if x.grad is None else
                 (x.grad.numpy() if is_torch else x.grad.numpy()) for x, a in zip(xs, arrays)]
    return values, grads


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_torch(case):
    fn, specs, differentiable = CASES[case]
    rng = np.random.default_rng(zlib.crc32(case.encode()))
    arrays = [_array(rng, s) for s in specs]
    cr_values, cr_grads = _run(cr, fn, arrays, 7, differentiable)
    t_values, t_grads = _run(TORCH, fn, arrays, 7, differentiable)
    assert len(cr_values) == len(t_values)
    for k, (a, b) in enumerate(zip(cr_values, t_values)):
        assert a.shape == b.shape, f"output {k}: shape {a.shape} vs torch {b.shape}"
        if b.dtype.kind in "iub":
            np.testing.assert_array_equal(a, b, err_msg=f"output {k}")
        else:
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=f"output {k}")
    if differentiable:
        for k, (a, b) in enumerate(zip(cr_grads, t_grads)):
            assert np.all(np.isfinite(a)), f"input {k}: non-finite gradient"
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=f"gradient of input {k}")


# --------------------------------------------------------------- second order
# id -> (fn(m, x), input spec): Hessian-vector products through create_graph
SECOND_ORDER = {
    "tanh": (lambda m, a: m.tanh(a) * a, R(2, 3)),
    "sigmoid": (lambda m, a: m.sigmoid(a) ** 2, R(2, 3)),
    "gelu": (lambda m, a: m.gelu(a), R(2, 3)),
    "gelu_tanh": (lambda m, a: m.gelu(a, approximate="tanh"), R(2, 3)),
    "softplus": (lambda m, a: m.softplus(a, beta=2.0), R(2, 3)),
    "elu": (lambda m, a: m.elu(a, 0.5) * a, R(2, 3)),
    "log_exp_sqrt": (lambda m, a: m.log(a) * m.exp(a) + m.sqrt(a), P(2, 3)),
    "pow": (lambda m, a: a ** 2.5, P(2, 3)),
    "softmax": (lambda m, a: m.softmax(a, -1), R(2, 4)),
    "log_softmax": (lambda m, a: m.log_softmax(a, 0), R(3, 4)),
    "logsumexp": (lambda m, a: m.logsumexp(a, 1), R(3, 4)),
    "norm": (lambda m, a: a.norm(dim=1), R(3, 4)),
    "norm_3": (lambda m, a: a.norm(3, dim=0), R(3, 4)),
    "prod": (lambda m, a: a.prod(1), R(3, 4)),
    "var": (lambda m, a: a.var(1), R(3, 4)),
    "std": (lambda m, a: a.std(0), R(3, 4)),
    "matmul": (lambda m, a: a @ a.mT, R(2, 3, 4)),
    "gather_sq": (lambda m, a: m.gather(a * a, 1, m.tensor([[0, 0], [2, 1], [3, 3]])), R(3, 4)),
    "index_sq": (lambda m, a: (a * a)[[0, 2, 2]], R(3, 4)),
}


@pytest.mark.parametrize("case", sorted(SECOND_ORDER))
def test_second_derivatives_match_torch(case):
    fn, spec = SECOND_ORDER[case]
    rng = np.random.default_rng(zlib.crc32(case.encode()))
    x0 = _array(rng, spec)
    results = []
    for m in (cr, TORCH):
        grad = cr.grad if m is cr else torch.autograd.grad
        x = m.tensor(x0, requires_grad=True) if m is cr else torch.tensor(x0, requires_grad=True)
        out = fn(m, x)
        w = m.tensor(np.random.default_rng(3).standard_normal(tuple(out.shape)))
        v = m.tensor(np.random.default_rng(4).standard_normal(x0.shape))
        (g,) = grad((out * w).sum(), x, create_graph=True)
        (hv,) = grad((g * v).sum(), x)
        results.append((g.detach().numpy(), hv.detach().numpy()))
    (g_cr, hv_cr), (g_t, hv_t) = results
    np.testing.assert_allclose(g_cr, g_t, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(hv_cr, hv_t, rtol=1e-8, atol=1e-10)
