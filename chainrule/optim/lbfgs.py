"""L-BFGS: quasi-Newton steps from a short history of gradient differences, with an optional
strong-Wolfe line search (Nocedal & Wright, Numerical Optimization, algorithms 7.4 and 3.5-3.6;
the same procedure as ``torch.optim.LBFGS``, itself after minFunc)."""
from __future__ import annotations

import copy
import math
from typing import Any, Callable

import numpy as np

from chainrule.autograd import enable_grad
from chainrule.optim.optimizer import Optimizer, ParamsT, _check_at_least
from chainrule.tensor import mark_changed

__all__ = ["LBFGS"]


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2, clipped
    to ``bounds`` (the interval itself by default); the midpoint if the cubic has none."""
    lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square >= 0:
        d2 = math.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, lo), hi)
    return (lo + hi) / 2.0


def _strong_wolfe(obj_func: Callable, x, t, d, f, g, gtd, c1=1e-4, c2=0.9,
                  tolerance_change=1e-9, max_ls=25):
    """A step t along d satisfying the strong Wolfe conditions: sufficient decrease
    f(x + t d) <= f + c1 t gtd, and curvature |g(x + t d) . d| <= -c2 gtd. First bracket
    such a step, then zoom in by cubic interpolation. Returns (f, g, t, evaluations)."""
    d_norm = np.abs(d).max()
    g = g.copy()
    f_new, g_new = obj_func(x, t, d)
    evals = 1
    gtd_new = g_new.dot(d)
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        # extrapolate: a cubic step between 1.01 t and 10 t
        min_step, max_step = t + 0.01 * (t - t_prev), t * 10
        previous = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                               bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = previous, f_new, g_new.copy(), gtd_new
        f_new, g_new = obj_func(x, t, d)
        evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom: shrink the bracket until a point satisfies the conditions
    insufficient_progress = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0],
                               bracket[1], bracket_f[1], bracket_gtd[1])
        # a point too near the bracket's ends makes little progress: move it 10% inside
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insufficient_progress or t >= max(bracket) or t <= min(bracket):
                t = max(bracket) - eps if abs(t - max(bracket)) < abs(t - min(bracket)) \
                    else min(bracket) + eps
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False
        f_new, g_new = obj_func(x, t, d)
        evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low]:
            bracket[high], bracket_f[high] = t, f_new
            bracket_g[high], bracket_gtd[high] = g_new.copy(), gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low] = t, f_new
            bracket_g[low], bracket_gtd[low] = g_new.copy(), gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evals


class LBFGS(Optimizer):
    r"""L-BFGS (PyTorch's ``torch.optim.LBFGS``, same procedure and state).

    Each ``step(closure)`` runs up to ``max_iter`` iterations. Each takes the direction
    d = -H g, where H, the inverse Hessian, is approximated from the last ``history_size``
    pairs s = (step taken), y = (change of gradient) by the two-loop recursion, scaled by
    y.s / y.y; then moves t d with t = lr (the first step of all: min(1, 1/|g|_1) lr), or the t
    a strong-Wolfe line search finds (``line_search_fn="strong_wolfe"``). It stops early when
    the gradient is below ``tolerance_grad``, or the step or the change of the loss below
    ``tolerance_change``, or after ``max_eval`` evaluations of the closure.

    All parameters form one vector; only one parameter group is allowed. The closure must
    clear the gradients, compute the loss, call ``backward`` and return the loss.

    Args:
        params: the parameters to optimise (one group).
        lr: step length (default 1).
        max_iter: iterations per ``step`` (default 20).
        max_eval: closure evaluations per ``step`` (default max_iter * 5 // 4).
        tolerance_grad: stop when max |g| is at most this (default 1e-7).
        tolerance_change: stop when the step or the loss changes less (default 1e-9).
        history_size: number of (s, y) pairs kept (default 100).
        line_search_fn: None or "strong_wolfe".

    Example:
        >>> import chainrule as cr
        >>> w = cr.tensor([1.5, -0.5], requires_grad=True)
        >>> opt = cr.optim.LBFGS([w], line_search_fn="strong_wolfe")
        >>> def closure():
        ...     opt.zero_grad()
        ...     loss = ((w - 3.0) ** 2).sum()
        ...     loss.backward()
        ...     return loss
        >>> loss = opt.step(closure)
    """

    def __init__(self, params: ParamsT, lr: float = 1, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None):
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                                      tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change,
                                      history_size=history_size, line_search_fn=line_search_fn))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        _check_at_least("lr", group["lr"], 0.0)
        for key in ("max_iter", "max_eval", "history_size"):
            if not isinstance(group[key], (int, np.integer)) or group[key] < 1:
                raise ValueError(f"Invalid {key} value: {key}={group[key]!r} (expected a "
                                 f"positive int)")
        if group["line_search_fn"] not in (None, "strong_wolfe"):
            raise ValueError(f"Invalid line_search_fn value: {group['line_search_fn']!r} "
                             f"(expected None or 'strong_wolfe')")

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    # ------------------------------------------------------------ flat vectors
    def _flat_grad(self) -> np.ndarray:
        parts = []
        for p in self._params:
            g = p.grad
            parts.append(np.zeros(p.data.size, p.data.dtype) if g is None
                         else np.asarray(getattr(g, "data", g)).reshape(-1))
        return np.concatenate(parts)

    def _add_to_params(self, step_size, update: np.ndarray) -> None:
        offset = 0
        for p in self._params:
            n = p.data.size
            p.data += (update[offset:offset + n] * step_size).reshape(p.data.shape).astype(
                p.data.dtype, copy=False)
            offset += n
        mark_changed(self._params)

    def _set_params(self, values: list[np.ndarray]) -> None:
        for p, v in zip(self._params, values):
            np.copyto(p.data, v)
        mark_changed(self._params)

    def _evaluate(self, closure: Callable) -> float:
        with enable_grad():
            return float(closure())

    def _directional_evaluate(self, closure, x, t, d):
        self._add_to_params(t, d)
        loss = self._evaluate(closure)
        flat_grad = self._flat_grad()
        self._set_params(x)
        return loss, flat_grad

    # -------------------------------------------------------------------- step
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Run up to ``max_iter`` L-BFGS iterations; returns the closure's first loss."""
        if closure is None:
            raise TypeError("LBFGS.step needs a closure that recomputes the loss (it evaluates "
                            "the loss several times per step)")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]
        # the optimiser's state is global; it lives in the first parameter's entry (as in
        # PyTorch, so state_dict and load_state_dict need nothing special)
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if np.abs(flat_grad).max() <= tolerance_grad:
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        h_diag = state.get("H_diag")
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:                  # steepest descent to start
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                h_diag = 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = y.dot(s)
                if ys > 1e-10:                          # keep the pair (curvature is positive)
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / y.dot(y)              # scale of the initial inverse Hessian
                # two-loop recursion: d = -H g
                if "al" not in state:
                    state["al"] = [None] * history_size
                al = state["al"]
                q = -flat_grad
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = old_stps[i].dot(q) * ro[i]
                    q = q - old_dirs[i] * al[i]
                d = r = q * h_diag
                for i in range(len(old_dirs)):
                    be_i = old_dirs[i].dot(r) * ro[i]
                    r = r + old_stps[i] * (al[i] - be_i)
                d = r
            prev_flat_grad = flat_grad.copy()
            prev_loss = loss

            t = min(1.0, 1.0 / np.abs(flat_grad).sum()) * lr if state["n_iter"] == 1 else lr
            gtd = flat_grad.dot(d)
            if gtd > -tolerance_change:                 # not a descent direction any more
                break

            evals = 0
            if group["line_search_fn"] is not None:
                x_init = [p.data.copy() for p in self._params]
                loss, flat_grad, t, evals = _strong_wolfe(
                    lambda x, t_, d_: self._directional_evaluate(closure, x, t_, d_),
                    x_init, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals)
                self._add_to_params(t, d)
                optimal = np.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_to_params(t, d)
                optimal = False
                if n_iter != max_iter:          # (the last iteration's loss is not needed)
                    loss = self._evaluate(closure)
                    flat_grad = self._flat_grad()
                    optimal = np.abs(flat_grad).max() <= tolerance_grad
                    evals = 1
            current_evals += evals
            state["func_evals"] += evals

            if n_iter == max_iter or current_evals >= max_eval or optimal:
                break
            if np.abs(d * t).max() <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
                break

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=h_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss

    @staticmethod
    def _restore_state_value(param: Any, index: int, key: str, value: Any) -> Any:
        """LBFGS's state is flat vectors and lists of them, not arrays shaped like a
        parameter: copied as they are."""
        return copy.deepcopy(value)
