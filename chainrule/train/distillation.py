"""Knowledge distillation with ``fit``: a loss function that asks a teacher about each batch.

``fit`` calls ``loss_fn(model(x), y)``; distillation also needs the teacher's logits for the
same ``x``. :class:`Distiller` gets them with a forward hook on the student: whenever the
student runs in training mode with gradients on, the hook runs the teacher (in eval mode,
without a graph) on the same input and keeps its logits beside the student's output. The
loss then pairs them by identity, so it can never distil against another batch's teacher.

Outside training (validation, ``evaluate``) the loss is plain cross-entropy, so
``val_loss`` compares directly with a student trained alone.
"""
from __future__ import annotations

from chainrule.autograd import is_grad_enabled, no_grad
from chainrule.nn import functional as F
from chainrule.nn.module import Module
from chainrule.tensor import Tensor

__all__ = ["Distiller"]


class Distiller:
    """The ``loss_fn`` for ``cr.train.fit(student, ...)`` that distils ``teacher`` into it
    (``F.distillation_loss`` with ``temperature`` and ``alpha``).

    The teacher is put in eval mode and never trained (no gradient reaches it). Call
    :meth:`remove` to take the hook off the student when done.

    Example:
        >>> distiller = cr.train.Distiller(student, teacher, temperature=4.0, alpha=0.9)  # doctest: +SKIP
        >>> cr.train.fit(student, distiller, opt, train_loader, epochs=5)                  # doctest: +SKIP
        >>> distiller.remove()                                                              # doctest: +SKIP
    """

    def __init__(self, student: Module, teacher: Module, temperature: float = 4.0,
                 alpha: float = 0.9):
        for name, m in (("student", student), ("teacher", teacher)):
            if not isinstance(m, Module):
                raise TypeError(f"Distiller: {name} must be a chainrule nn.Module, got "
                                f"{type(m).__name__}")
        if student is teacher:
            raise ValueError("Distiller: the student and the teacher are the same model")
        # Check the settings now, not at the first batch.
        F.distillation_loss(Tensor([[0.0]]), Tensor([[0.0]]), Tensor([0]), temperature, alpha)
        self.student, self.teacher = student, teacher
        self.temperature, self.alpha = temperature, alpha
        teacher.eval()
        self._pending: tuple[Tensor, Tensor] | None = None
        self._handle = student.register_forward_hook(self._ask_teacher)

    def _ask_teacher(self, module: Module, args: tuple, output) -> None:
        if module.training and is_grad_enabled():
            with no_grad():
                self._pending = (output, self.teacher(*args))

    def __call__(self, output: Tensor, target) -> Tensor:
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] is output:
            return F.distillation_loss(output, pending[1], target, self.temperature, self.alpha)
        if self.student.training and is_grad_enabled():
            raise ValueError("Distiller: this output did not come straight from the student's "
                             "forward in training mode, so there are no teacher logits for it; "
                             "pass the student's output to the loss unchanged")
        return F.cross_entropy(output, target)

    def remove(self) -> None:
        """Take the hook off the student (the Distiller no longer sees its batches)."""
        self._handle.remove()
