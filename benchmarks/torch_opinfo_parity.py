"""PyTorch's own op test suite (OpInfo) run on chainrule: values, dtypes and gradients.

PyTorch ships its operator database with every install
(``torch.testing._internal.common_methods_invocations.op_db``): for each op, a generator of
sample calls written by PyTorch's developers (``sample_inputs(device, dtype)``), edge cases
included. This script runs every sample on PyTorch and on chainrule's twin of the op, and
compares what comes out.

    python3 benchmarks/torch_opinfo_parity.py                       # every op, summary
    python3 benchmarks/torch_opinfo_parity.py --ops add,sum,sort -v # some ops, every failure
    python3 benchmarks/torch_opinfo_parity.py --json parity.json    # also write the cases

(``op_db`` needs the ``expecttest`` package, in chainrule's test extra.)

**The twin.** An OpInfo is matched by its name, its aliases and its ATen name:
``nn.functional.X`` -> ``chainrule.nn.functional.X``; ``X`` -> ``chainrule.X``, else the Tensor
method ``X`` (dunders such as ``__radd__`` too). Where the OpInfo's op is a small function
written inside PyTorch's test suite (``lambda x, c, y: torch.where(c, x, y)``, ``x.T``), that
function itself runs, with ``torch`` in it standing for ``chainrule``.

**Comparable cases.** A sample is comparable when PyTorch runs it and chainrule can express
every argument: tensors of a dtype chainrule has (bool, the integer types, float16/32/64),
Python numbers, strings, None, dtypes, shapes, and lists/tuples/dicts of these. Complex and
bfloat16 tensors, memory formats, generators, sparse layouts and devices other than the CPU
are not expressible, and such samples are counted apart. A keyword argument chainrule's
function does not take *is* counted (as a failure): the data can be expressed, the feature is
missing. Random ops (``rand_like``, ``dropout`` ...) and ``empty*`` are compared on shape and
dtype only.

**Pass.** The outputs have PyTorch's structure, shapes and dtypes, and values equal within
``torch.testing.assert_close``'s default tolerances for the dtype (float64: rtol 1e-7, atol
1e-7; float32: rtol 1.3e-6, atol 1e-5; integers and bools exactly; NaN equals NaN). For float64
samples of ops PyTorch differentiates, the gradients of a random weighting of the floating
outputs with respect to every input that requires grad must match too (rtol 1e-6, atol 1e-6).
A float32 sample whose values differ beyond that tolerance still passes when chainrule's
values are nowhere further from the exact answer (PyTorch on the same sample in float64) than
PyTorch's own float32 values are at their worst, plus the float32 tolerance: the two then
differ by the order of a long sum (a matmul, a convolution), not by a formula; the summary
says how many passed so.
A failure is one of: chainrule raises (by exception type), a different structure, shape or
dtype, different values, a different or missing gradient.
"""
from __future__ import annotations

import argparse
import collections
import json
import math
import os
import sys
import time
import types
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import chainrule as cr  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402

DTYPES = {"float64": "float64", "float32": "float32", "int64": "int64"}
RANDOM = {"bernoulli", "cauchy", "exponential", "geometric", "log_normal", "normal", "uniform",
          "rand_like", "randn_like", "randint_like", "randn", "rand", "randint", "multinomial",
          "empty", "empty_like", "new_empty", "empty_strided", "new_empty_strided",
          "empty_permuted", "nn.functional.dropout", "nn.functional.dropout2d",
          "nn.functional.dropout3d", "nn.functional.alpha_dropout",
          "nn.functional.feature_alpha_dropout", "nn.functional.rrelu",
          "nn.functional.fractional_max_pool2d", "nn.functional.fractional_max_pool3d"}


class NotExpressible(Exception):
    """A sample argument chainrule has no way to express (complex, a memory format ...)."""


# ----------------------------------------------------------------------- the twin
class _TorchStandIn(types.ModuleType):
    """``torch`` inside the test suite's small op functions: chainrule's namespace."""

    def __init__(self):
        super().__init__("torch")
        self.nn = types.SimpleNamespace(functional=F)
        self.Tensor = cr.Tensor

    def __getattr__(self, name):
        try:
            return getattr(cr, name)
        except AttributeError:
            raise AttributeError(f"chainrule has no {name} (torch.{name})") from None


_STAND_IN = _TorchStandIn()


def _lookup(name: str):
    """chainrule's function for a PyTorch op name, or None."""
    if name.startswith("nn.functional."):
        return getattr(F, name[len("nn.functional."):], None)
    where = cr
    parts = name.split(".")
    for part in parts[:-1]:
        where = getattr(where, part, None)
        if where is None:
            return None
    fn = getattr(where, parts[-1], None)
    if fn is not None and callable(fn) and not isinstance(fn, (type, np.dtype)):
        return fn
    if len(parts) == 1:
        method = getattr(cr.Tensor, name, None)
        if isinstance(method, property):
            return lambda x, _name=name: getattr(x, _name)
        if callable(method):
            return method
    return None


def twin(info):
    """The callable that runs ``info``'s samples on chainrule, or None when it has no twin."""
    names = [info.name, *(a.name for a in info.aliases), info.aten_name]
    found = next((fn for fn in map(_lookup, filter(None, names)) if fn is not None), None)
    if found is None:
        return None
    op = info.op
    code_globals = getattr(op, "__globals__", None)
    if code_globals is not None and code_globals.get("__name__", "").startswith("torch.testing"):
        # A function written in the test suite: run its own code with torch -> chainrule.
        return types.FunctionType(op.__code__, {**code_globals, "torch": _STAND_IN},
                                  op.__name__, op.__defaults__, op.__closure__)
    return found


# ------------------------------------------------------------------ sample plumbing
def _np_dtype(torch, dtype):
    mapping = {torch.float64: np.float64, torch.float32: np.float32, torch.float16: np.float16,
               torch.int64: np.int64, torch.int32: np.int32, torch.int16: np.int16,
               torch.int8: np.int8, torch.uint8: np.uint8, torch.bool: np.bool_}
    if dtype not in mapping:
        raise NotExpressible(f"dtype {dtype}")
    return np.dtype(mapping[dtype])


def to_chainrule(torch, obj, made: dict):
    """``obj`` (a sample's input, args or kwargs) with every torch object replaced by
    chainrule's; tensors seen twice map to one tensor (``made``: id -> tensor)."""
    if isinstance(obj, torch.Tensor):
        if id(obj) in made:
            return made[id(obj)]
        if obj.layout != torch.strided or obj.device.type != "cpu":
            raise NotExpressible(f"a {obj.layout} tensor on {obj.device}")
        dtype = _np_dtype(torch, obj.dtype)
        t = cr.tensor(obj.detach().cpu().resolve_neg().resolve_conj().numpy().copy(),
                      dtype=dtype, requires_grad=obj.requires_grad)
        made[id(obj)] = t
        return t
    if isinstance(obj, torch.dtype):
        return _np_dtype(torch, obj)
    if isinstance(obj, torch.Size):
        return tuple(obj)
    if isinstance(obj, torch.device):
        if obj.type != "cpu":
            raise NotExpressible(f"device {obj}")
        return "cpu"
    if isinstance(obj, (torch.memory_format, torch.Generator, torch.layout)):
        raise NotExpressible(type(obj).__name__)
    if isinstance(obj, complex):
        raise NotExpressible("a complex number")
    if isinstance(obj, (list, tuple)):
        out = [to_chainrule(torch, o, made) for o in obj]
        return out if isinstance(obj, list) else tuple(out)
    if isinstance(obj, dict):
        return {k: to_chainrule(torch, v, made) for k, v in obj.items()}
    if obj is None or isinstance(obj, (bool, int, float, str, slice, type(Ellipsis))):
        return obj
    if isinstance(obj, (np.ndarray, np.generic)):
        return obj
    raise NotExpressible(type(obj).__name__)


def _leaves(obj) -> list:
    """Every tensor inside ``obj`` (nested lists, tuples, dicts), in order."""
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _leaves(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _leaves(o)]
    return [obj] if hasattr(obj, "requires_grad") else []


def _flat(obj) -> list:
    if isinstance(obj, (list, tuple)):
        return [x for o in obj for x in _flat(o)]
    return [obj]


def _structure(obj):
    if isinstance(obj, (list, tuple)):
        return [_structure(o) for o in obj]
    return "tensor" if hasattr(obj, "shape") and not isinstance(obj, np.generic) else "scalar"


# --------------------------------------------------------------------- comparing
TOL = {np.dtype(np.float64): (1e-7, 1e-7), np.dtype(np.float32): (1.3e-6, 1e-5),
       np.dtype(np.float16): (1e-3, 1e-5)}
GRAD_TOL = (1e-6, 1e-6)


class Mismatch(Exception):
    """chainrule ran and gave something else; the message says what (the failure's group)."""


def _values(x):
    if hasattr(x, "detach"):
        return x.detach().numpy()
    if isinstance(x, cr.Tensor):
        return x.numpy()
    return np.asarray(x)


def compare_outputs(torch, ours, theirs, shape_only: bool) -> None:
    if _structure(theirs) != _structure(ours):
        raise Mismatch("structure")
    for a, b in zip(_flat(ours), _flat(theirs)):
        if isinstance(b, torch.Tensor):
            if not isinstance(a, cr.Tensor):
                raise Mismatch("structure")
            if tuple(a.shape) != tuple(b.shape):
                raise Mismatch("shape")
            if a.dtype != _np_dtype(torch, b.dtype):
                raise Mismatch("dtype")
            if shape_only:
                continue
            _close(a.numpy(), b.detach().numpy(), "values")
        elif not shape_only:
            va, vb = _values(a), _values(b)
            if type(b) is bool and not isinstance(a, (bool, np.bool_)):
                raise Mismatch("dtype")
            _close(np.asarray(va), np.asarray(vb), "values")


def _close(a: np.ndarray, b: np.ndarray, what: str, tol=None) -> None:
    if a.shape != b.shape:
        raise Mismatch("shape")
    if b.dtype.kind in "fc":
        rtol, atol = tol or TOL.get(b.dtype, (1e-7, 1e-7))
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        same = np.isclose(a64, b64, rtol=rtol, atol=atol, equal_nan=True)
        if not same.all():
            raise Mismatch(what)
    elif not np.array_equal(a, b):
        raise Mismatch(what)


def _widened(torch, obj):
    """The sample's float32 tensors as float64 (for the exact answer)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().double() if obj.dtype == torch.float32 else obj
    if isinstance(obj, (list, tuple)):
        return type(obj)(_widened(torch, o) for o in obj)
    if isinstance(obj, dict):
        return {k: _widened(torch, v) for k, v in obj.items()}
    return obj


def float32_rounding(torch, info, sample, ours, theirs) -> bool:
    """True when no float32 output entry of chainrule's is further from the exact answer
    (PyTorch on the sample in float64) than PyTorch's worst entry of that output, plus the
    float32 tolerance;
    every other output must still match PyTorch's as ``compare_outputs`` requires."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exact = info(_widened(torch, sample.input), *_widened(torch, list(sample.args)),
                         **_widened(torch, dict(sample.kwargs)))
    except Exception:
        return False
    rtol, atol = TOL[np.dtype(np.float32)]
    flat_exact = _flat(exact)
    if len(flat_exact) != len(_flat(theirs)):
        return False
    for a, b, r in zip(_flat(ours), _flat(theirs), flat_exact):
        if not (isinstance(b, torch.Tensor) and b.dtype == torch.float32):
            try:
                compare_outputs(torch, a, b, False)
            except Mismatch:
                return False
            continue
        ours64, theirs64 = a.numpy().astype(np.float64), b.detach().numpy().astype(np.float64)
        exact64 = r.detach().numpy().astype(np.float64)
        if exact64.shape != ours64.shape:
            return False
        ours_error, their_error = np.abs(ours64 - exact64), np.abs(theirs64 - exact64)
        # PyTorch's worst float32 error on this output is the rounding its sums allow
        worst = np.nanmax(their_error) if their_error.size else 0.0
        near = ours_error <= worst + atol + rtol * np.abs(exact64)
        if not (near | (np.isnan(ours64) & np.isnan(theirs64))).all():
            return False
    return True


def compare_gradients(torch, info, sample, ours, theirs, our_leaves, their_leaves) -> None:
    process = sample.output_process_fn_grad
    try:
        their_out = [o for o in _flat(process(theirs))
                     if isinstance(o, torch.Tensor) and o.requires_grad]
    except Exception:
        return                                      # no gradient to compare
    pairs = [(l, t) for l, t in zip(our_leaves, their_leaves) if t.requires_grad]
    if not their_out or not pairs:
        return
    try:
        our_out = [o for o in _flat(process(ours))
                   if isinstance(o, cr.Tensor) and o.dtype.kind == "f"]
    except Exception:
        raise Mismatch("output_process_fn_grad fails on chainrule's output") from None
    if len(our_out) != len(their_out):
        raise Mismatch("gradient missing")
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(tuple(o.shape)) for o in their_out]
    their_grads = torch.autograd.grad(their_out, [t for _, t in pairs],
                                      [torch.tensor(w, dtype=o.dtype)
                                       for w, o in zip(weights, their_out)], allow_unused=True)
    differentiable = [o for o in our_out if o.requires_grad]
    if len(differentiable) != len(our_out):
        raise Mismatch("gradient missing")
    try:
        our_grads = cr.grad(our_out, [l for l, _ in pairs],
                            [cr.tensor(w.astype(o.dtype)) for w, o in zip(weights, our_out)],
                            allow_unused=True)
    except Exception as e:
        raise Mismatch(f"backward raises {type(e).__name__}") from None
    for (leaf, _), g_ours, g_theirs in zip(pairs, our_grads, their_grads):
        a = np.zeros(leaf.shape) if g_ours is None else g_ours.numpy()
        # force: PyTorch hands some zero gradients as a lazy ZeroTensor (sgn at 0)
        b = np.zeros(tuple(leaf.shape)) if g_theirs is None else g_theirs.numpy(force=True)
        _close(np.asarray(a, np.float64), np.asarray(b, np.float64), "gradient", GRAD_TOL)


# ------------------------------------------------------------------------- running
Case = collections.namedtuple("Case", "op variant dtype index outcome detail")


def _reason(e: Exception) -> str:
    message = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {message[:150]}"


def run_sample(torch, info, fn, sample, dtype: str):
    """One sample: ("pass" | "not comparable" | "torch refuses" | failure group, detail)."""
    made: dict = {}
    try:
        args = to_chainrule(torch, [sample.input, *sample.args], made)
        kwargs = to_chainrule(torch, sample.kwargs, made)
    except NotExpressible as e:
        return "not comparable", str(e)
    our_leaves = [made[id(t)] for t in _leaves([sample.input, sample.args, sample.kwargs])
                  if id(t) in made]
    their_leaves = [t for t in _leaves([sample.input, sample.args, sample.kwargs])]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = info(sample.input, *sample.args, **sample.kwargs)
    except Exception as e:
        return "torch refuses", _reason(e)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            ours = fn(*args, **kwargs)
    except Exception as e:
        return f"raises {type(e).__name__}", _reason(e)
    shape_only = info.name in RANDOM
    try:
        compare_outputs(torch, ours, theirs, shape_only)
        if dtype == "float64" and info.supports_autograd and not shape_only:
            with np.errstate(all="ignore"):
                compare_gradients(torch, info, sample, ours, theirs, our_leaves, their_leaves)
    except Mismatch as e:
        if str(e) == "values" and dtype == "float32" and \
                float32_rounding(torch, info, sample, ours, theirs):
            return "pass", "float32 rounding"
        return f"wrong {e}" if not str(e).startswith(("gradient missing", "backward", "output")) \
            else str(e), ""
    except Exception as e:
        return f"raises {type(e).__name__}", "comparing: " + _reason(e)
    return "pass", ""


def run(ops: list[str] | None, dtypes: list[str], verbose: bool):
    import torch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.testing._internal.common_methods_invocations import op_db
    torch.manual_seed(0)
    cases: list[Case] = []
    with_twin, without_twin = set(), set()
    for info in op_db:
        if ops and info.name not in ops:
            continue
        fn = twin(info)
        if fn is None:
            without_twin.add(info.name)
            continue
        with_twin.add(info.name)
        supported = info.supported_dtypes("cpu")
        for dtype in dtypes:
            tdtype = getattr(torch, dtype)
            if tdtype not in supported:
                continue
            grad = dtype == "float64" and info.supports_autograd
            try:
                samples = list(info.sample_inputs("cpu", tdtype, requires_grad=grad))
            except Exception as e:
                cases.append(Case(info.name, info.variant_test_name, dtype, -1,
                                  "torch refuses", "sample_inputs: " + _reason(e)))
                continue
            for k, sample in enumerate(samples):
                outcome, detail = run_sample(torch, info, fn, sample, dtype)
                cases.append(Case(info.name, info.variant_test_name, dtype, k, outcome, detail))
    return cases, with_twin, without_twin


def report(cases, with_twin, without_twin, verbose: bool) -> dict:
    comparable = [c for c in cases if c.outcome not in ("not comparable", "torch refuses")]
    passed = [c for c in comparable if c.outcome == "pass"]
    failures = collections.defaultdict(list)
    for c in comparable:
        if c.outcome != "pass":
            failures[c.outcome].append(c)
    share = len(passed) / len(comparable) if comparable else math.nan
    print(f"OpInfo entries with a chainrule twin: {len(with_twin)} ops "
          f"({len(without_twin)} without)")
    print(f"samples: {len(cases)}; comparable: {len(comparable)}; "
          f"passing: {len(passed)} ({100 * share:.1f}%), of which "
          f"{sum(c.detail == 'float32 rounding' for c in passed)} within float32 rounding of the "
          f"exact answer")
    print(f"not comparable: {sum(c.outcome == 'not comparable' for c in cases)}; "
          f"PyTorch refuses: {sum(c.outcome == 'torch refuses' for c in cases)}")
    for outcome, group in sorted(failures.items(), key=lambda kv: -len(kv[1])):
        by_op = collections.Counter(c.op + (f"[{c.variant}]" if c.variant else "") for c in group)
        print(f"\n{outcome}: {len(group)} cases in {len(by_op)} ops")
        print("   " + ", ".join(f"{op} ({n})" for op, n in by_op.most_common()))
        if verbose:
            for c in group:
                print(f"     {c.op}[{c.variant}] {c.dtype} #{c.index}: {c.detail}")
    return {"ops_with_twin": sorted(with_twin), "ops_without_twin": sorted(without_twin),
            "comparable": len(comparable), "passing": len(passed),
            "cases": [c._asdict() for c in cases]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", help="comma-separated OpInfo names (default: all)")
    parser.add_argument("--dtypes", default="float64,float32,int64",
                        help="sample dtypes to run (default: float64,float32,int64)")
    parser.add_argument("--json", help="write every case to this JSON file")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every failure")
    args = parser.parse_args(argv)
    ops = set(args.ops.split(",")) if args.ops else None
    dtypes = [DTYPES[d] for d in args.dtypes.split(",")]
    start = time.perf_counter()
    cases, with_twin, without_twin = run(ops, dtypes, args.verbose)
    summary = report(cases, with_twin, without_twin, args.verbose)
    print(f"\n({time.perf_counter() - start:.0f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
