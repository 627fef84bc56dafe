"""Distillation: F.distillation_loss / nn.DistillationLoss against the same formula in
PyTorch (values and gradients), its gradient check, and cr.train.Distiller with fit."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn

from conftest import seed_from_test_name

RNG = np.random.default_rng(11)


@pytest.fixture(autouse=True)
def _seeded(request):
    global RNG
    RNG = seed_from_test_name(request)


def torch_distillation(torch, s, t, y, T, alpha, reduction):
    """Hinton's loss written the way the PyTorch tutorials write it."""
    tf = torch.nn.functional
    soft = tf.kl_div(tf.log_softmax(s / T, 1), tf.softmax(t / T, 1), reduction="none").sum(1)
    loss = alpha * T * T * soft + (1 - alpha) * tf.cross_entropy(s, y, reduction="none")
    return {"mean": loss.mean(), "sum": loss.sum(), "none": loss}[reduction]


@pytest.mark.parametrize("T,alpha", [(1.0, 0.5), (4.0, 0.9), (8.0, 1.0), (2.0, 0.0)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_distillation_loss_matches_torch(torch, T, alpha, reduction):
    s = RNG.standard_normal((6, 5)) * 3
    t = RNG.standard_normal((6, 5)) * 3
    y = RNG.integers(0, 5, 6)
    ours_s = cr.tensor(s, requires_grad=True)
    theirs_s = torch.tensor(s, requires_grad=True)
    ours = F.distillation_loss(ours_s, cr.tensor(t), cr.tensor(y), T, alpha, reduction)
    theirs = torch_distillation(torch, theirs_s, torch.tensor(t), torch.tensor(y), T, alpha,
                                reduction)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = RNG.standard_normal(ours.shape)
    ours.backward(cr.tensor(g))
    theirs.backward(torch.tensor(g))
    np.testing.assert_allclose(ours_s.grad.data, theirs_s.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert cr.gradcheck(lambda a: F.distillation_loss(a, cr.tensor(t), cr.tensor(y), T, alpha,
                                                      reduction), cr.tensor(s, requires_grad=True))


def test_the_module_and_the_soft_gradient_formula():
    s = cr.tensor(RNG.standard_normal((4, 3)), requires_grad=True)
    t = cr.tensor(RNG.standard_normal((4, 3)), requires_grad=True)
    y = cr.tensor(RNG.integers(0, 3, 4))
    criterion = nn.DistillationLoss(temperature=3.0, alpha=1.0)
    criterion(s, t, y).backward()
    T = 3.0
    expected = (cr.softmax(s.detach() / T, 1).data - cr.softmax(t.detach() / T, 1).data) * T / 4
    np.testing.assert_allclose(s.grad.data, expected, rtol=1e-10)
    assert t.grad is None                                    # the teacher is not trained
    assert "temperature=3.0" in repr(criterion)
    # identical logits: no soft loss at all
    assert abs(F.distillation_loss(s, s, y, 2.0, 1.0).item()) < 1e-12


@pytest.mark.parametrize("kwargs,match", [
    (dict(temperature=0.0), "temperature must be a finite number > 0"),
    (dict(alpha=1.5), r"alpha \(the soft term's weight\) must be in \[0, 1\]"),
    (dict(reduction="batchmean"), "reduction must be one of"),
])
def test_distillation_loss_refuses_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        F.distillation_loss(cr.zeros(2, 3), cr.zeros(2, 3), cr.tensor([0, 1]), **kwargs)
    with pytest.raises(ValueError, match=r"got \(2, 3\) and \(2, 4\)"):
        F.distillation_loss(cr.zeros(2, 3), cr.zeros(2, 4), cr.tensor([0, 1]))


def toy_problem(n=256):
    X = RNG.standard_normal((n, 6)).astype(np.float32)
    y = (X[:, :3].sum(1) > 0).astype(np.int64) + (X[:, 3] > 1).astype(np.int64)
    return X, y


def test_distiller_trains_the_student_towards_the_teacher_with_fit():
    X, y = toy_problem()
    loader = cr.data.DataLoader(cr.data.TensorDataset(X, y), batch_size=32, shuffle=True)
    teacher = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 3))
    cr.train.fit(teacher, nn.CrossEntropyLoss(), cr.optim.Adam(teacher.parameters(), lr=0.02),
                 loader, 8, verbose=0)
    teacher_before = {k: v.data.copy() for k, v in teacher.state_dict().items()}
    student = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    teacher.train()          # the Distiller must not rely on the caller: it uses eval mode
    distiller = cr.train.Distiller(student, teacher, temperature=4.0, alpha=1.0)
    assert not teacher.training
    val = cr.data.DataLoader(cr.data.TensorDataset(X, y), batch_size=128)
    history = cr.train.fit(student, distiller, cr.optim.Adam(student.parameters(), lr=0.02),
                           loader, 10, val_loader=val, verbose=0)
    # alpha=1: the student learns from the teacher alone, and agrees with it
    agree = (cr.train.predict(student, X).argmax(1) == cr.train.predict(teacher, X).argmax(1))
    assert agree.mean() > 0.9
    assert history["loss"][-1] < history["loss"][0]
    # validation loss is the plain cross-entropy
    ce = cr.train.evaluate(student, val, nn.CrossEntropyLoss())["loss"]
    assert history["val_loss"][-1] == pytest.approx(ce, rel=1e-6)
    for k, v in teacher.state_dict().items():
        np.testing.assert_array_equal(v.data, teacher_before[k])
    distiller.remove()


def test_distiller_refuses_outputs_it_has_not_seen_and_bad_models():
    teacher, student = nn.Linear(4, 3), nn.Linear(4, 3)
    distiller = cr.train.Distiller(student, teacher)
    y = cr.tensor([0, 1])
    out = student(cr.randn(2, 4))
    with pytest.raises(ValueError, match="did not come straight from the student's forward"):
        distiller(out * 2, y)
    out = student(cr.randn(2, 4))
    assert distiller(out, y).requires_grad
    student.eval()
    with cr.no_grad():
        plain = distiller(student(cr.randn(2, 4)), y)        # evaluation: cross-entropy
    assert plain.ndim == 0
    with pytest.raises(ValueError, match="the same model"):
        cr.train.Distiller(student, student)
    with pytest.raises(TypeError, match="teacher must be a chainrule nn.Module"):
        cr.train.Distiller(student, lambda x: x)
    with pytest.raises(ValueError, match="temperature"):
        cr.train.Distiller(student, teacher, temperature=-1.0)
