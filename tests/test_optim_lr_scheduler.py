"""Learning-rate schedulers: the same lr (and momentum) sequences as PyTorch's, state_dict round
trips, and argument checks."""
import warnings

import pytest

import chainrule as cr
from chainrule import optim
from chainrule.optim import lr_scheduler

torch = pytest.importorskip("torch")


def make_optimizers(name="SGD", **kwargs):
    """Ours and torch's, each with two parameter groups (lr 0.1 and 0.01)."""
    kwargs = {"SGD": dict(momentum=0.9)}.get(name, {}) | kwargs
    ours = getattr(optim, name)([{"params": [cr.zeros(2, requires_grad=True)]},
                                 {"params": [cr.zeros(1, requires_grad=True)], "lr": 0.01}],
                                lr=0.1, **kwargs)
    theirs = getattr(torch.optim, name)([{"params": [torch.zeros(2, requires_grad=True)]},
                                         {"params": [torch.zeros(1, requires_grad=True)],
                                          "lr": 0.01}], lr=0.1, **kwargs)
    return ours, theirs


def snapshot(scheduler, opt):
    """What a step leaves behind: the reported lrs, the groups' lrs and momenta."""
    groups = opt.param_groups
    return (list(scheduler.get_last_lr()), [g["lr"] for g in groups],
            [g.get("momentum") for g in groups], [tuple(g["betas"]) if "betas" in g else None
                                                  for g in groups])


def run(scheduler, opt, steps, metrics=None, is_torch=False):
    seq = [snapshot(scheduler, opt)]
    for i in range(steps):
        if is_torch:
            opt.step()            # no gradients: only keeps torch's call-order check quiet
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[i])
        seq.append(snapshot(scheduler, opt))
    return seq


# name -> (optimizer name, factory(module, optimizer), steps)
SCHEDULES = {
    "StepLR": ("SGD", lambda m, o: m.StepLR(o, step_size=7, gamma=0.5), 40),
    "StepLR-default-gamma": ("Adam", lambda m, o: m.StepLR(o, 3), 20),
    "MultiStepLR": ("SGD", lambda m, o: m.MultiStepLR(o, milestones=[12, 5, 12, 30], gamma=0.3),
                    40),
    "ExponentialLR": ("SGD", lambda m, o: m.ExponentialLR(o, gamma=0.93), 60),
    "CosineAnnealingLR": ("SGD", lambda m, o: m.CosineAnnealingLR(o, T_max=10, eta_min=1e-3), 65),
    "CosineAnnealingLR-long": ("Adam", lambda m, o: m.CosineAnnealingLR(o, T_max=37), 100),
    "LinearLR-warmup": ("SGD", lambda m, o: m.LinearLR(o, start_factor=0.25, total_iters=8), 20),
    "LinearLR-decay": ("SGD", lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.05,
                                                      total_iters=30), 40),
    "LinearLR-default": ("RMSprop", lambda m, o: m.LinearLR(o), 10),
    "SequentialLR-warmup-cosine": (
        "SGD", lambda m, o: m.SequentialLR(
            o, [m.LinearLR(o, start_factor=0.1, total_iters=5), m.CosineAnnealingLR(o, T_max=20)],
            milestones=[5]), 40),
    "SequentialLR-three": (
        "Adam", lambda m, o: m.SequentialLR(
            o, [m.LinearLR(o, start_factor=0.5, total_iters=4), m.ExponentialLR(o, gamma=0.9),
                m.StepLR(o, step_size=3, gamma=0.5)], milestones=[4, 10]), 30),
    "SequentialLR-multistep": (
        "SGD", lambda m, o: m.SequentialLR(
            o, [m.ExponentialLR(o, gamma=0.8), m.MultiStepLR(o, milestones=[3, 6])],
            milestones=[6]), 20),
    "OneCycleLR-cos-SGD": ("SGD", lambda m, o: m.OneCycleLR(o, max_lr=[1.0, 0.1],
                                                            total_steps=60), 59),
    "OneCycleLR-linear-Adam": (
        "Adam", lambda m, o: m.OneCycleLR(o, max_lr=0.05, epochs=5, steps_per_epoch=9,
                                          anneal_strategy="linear", pct_start=0.25,
                                          base_momentum=0.8, max_momentum=[0.95, 0.9]), 44),
    "OneCycleLR-three-phase": (
        "SGD", lambda m, o: m.OneCycleLR(o, max_lr=0.5, total_steps=50, three_phase=True,
                                         div_factor=10.0, final_div_factor=100.0), 49),
    "OneCycleLR-no-momentum": (
        "Adagrad", lambda m, o: m.OneCycleLR(o, max_lr=0.3, total_steps=30,
                                             cycle_momentum=False), 29),
}

METRICS = [1.0, 0.9, 0.95, 0.95, 0.95, 0.9, 0.8, 0.8, 0.8, 0.8, 0.7999, 0.8, 0.85, 0.9, 0.5,
           0.5, 0.5, 0.5, 0.5, 0.5, 0.49, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
PLATEAUS = {
    "ReduceLROnPlateau-min-rel": dict(patience=2),
    "ReduceLROnPlateau-min-abs-cooldown": dict(patience=1, threshold=0.05, threshold_mode="abs",
                                               cooldown=2, factor=0.5),
    "ReduceLROnPlateau-max-rel": dict(mode="max", patience=1, factor=0.3, min_lr=[0.02, 0.001]),
    "ReduceLROnPlateau-max-abs-eps": dict(mode="max", patience=0, threshold_mode="abs",
                                          factor=0.5, min_lr=0.004, eps=1e-3),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_matches_torch(name):
    opt_name, factory, steps = SCHEDULES[name]
    ours, theirs = make_optimizers(opt_name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = run(factory(torch.optim.lr_scheduler, theirs), theirs, steps, is_torch=True)
    got = run(factory(lr_scheduler, ours), ours, steps)
    assert got == expected


@pytest.mark.parametrize("name", list(PLATEAUS))
def test_reduce_lr_on_plateau_matches_torch(name):
    kwargs = PLATEAUS[name]
    metrics = [-m for m in METRICS] if kwargs.get("mode") == "max" else METRICS
    ours, theirs = make_optimizers("SGD")
    expected = run(torch.optim.lr_scheduler.ReduceLROnPlateau(theirs, **kwargs), theirs,
                   len(metrics), metrics, is_torch=True)
    got = run(lr_scheduler.ReduceLROnPlateau(ours, **kwargs), ours, len(metrics),
              [cr.tensor(m) for m in metrics])      # a scalar Tensor is a fine metric too
    assert got == expected
    assert len({tuple(s[1]) for s in got}) > 2     # the rate was actually reduced, twice or more


@pytest.mark.parametrize("name", list(SCHEDULES) + list(PLATEAUS))
def test_state_dict_round_trip(name):
    """Save part-way (after 12 steps at most), rebuild, load, continue: the same sequence as without the break."""
    if name in PLATEAUS:
        opt_name = "SGD"
        factory = lambda m, o: m.ReduceLROnPlateau(o, **PLATEAUS[name])  # noqa: E731
        steps = len(METRICS)
        metrics = METRICS
    else:
        opt_name, factory, steps = SCHEDULES[name]
        metrics = None
    first = min(12, steps // 2)
    ours, _ = make_optimizers(opt_name)
    reference = run(factory(lr_scheduler, ours), ours, steps, metrics)

    opt1, _ = make_optimizers(opt_name)
    sched1 = factory(lr_scheduler, opt1)
    start = run(sched1, opt1, first, metrics)
    saved_sched, saved_opt = sched1.state_dict(), opt1.state_dict()
    assert "optimizer" not in saved_sched

    opt2, _ = make_optimizers(opt_name)
    sched2 = factory(lr_scheduler, opt2)
    sched2.load_state_dict(saved_sched)
    opt2.load_state_dict(saved_opt)
    rest = run(sched2, opt2, steps - first, None if metrics is None else metrics[first:])
    assert start + rest[1:] == reference


def test_scheduler_sets_the_rate_the_optimizer_uses():
    w = cr.tensor([1.0], requires_grad=True)
    opt = optim.SGD([w], lr=1.0)
    sched = lr_scheduler.MultiStepLR(opt, milestones=[1], gamma=0.0)
    sched.step()
    assert opt.param_groups[0]["lr"] == 0.0 and opt.param_groups[0]["initial_lr"] == 1.0
    (w * w).sum().backward()
    opt.step()
    assert w.numpy()[0] == 1.0


def test_one_cycle_refuses_to_step_past_total_steps():
    ours, theirs = make_optimizers("SGD")
    sched = lr_scheduler.OneCycleLR(ours, max_lr=0.1, total_steps=5)
    sched_t = torch.optim.lr_scheduler.OneCycleLR(theirs, max_lr=0.1, total_steps=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(5):
            sched.step()
            theirs.step()
            sched_t.step()
        with pytest.raises(ValueError):
            sched_t.step()
    with pytest.raises(ValueError, match="total_steps=5"):
        sched.step()


def test_resuming_with_last_epoch_needs_initial_lr():
    ours, _ = make_optimizers("SGD")
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(ours, step_size=2, last_epoch=3)


def test_get_last_lr_is_a_copy():
    ours, _ = make_optimizers("SGD")
    sched = lr_scheduler.ExponentialLR(ours, gamma=0.5)
    sched.get_last_lr()[0] = 123.0
    assert sched.get_last_lr() == [0.1, 0.01]


BAD = [
    (lambda o: lr_scheduler.StepLR(o, step_size=0), "step_size=0"),
    (lambda o: lr_scheduler.MultiStepLR(o, milestones=[2.5]), "milestones"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=0), "T_max=0"),
    (lambda o: lr_scheduler.LinearLR(o, start_factor=0.0), "start_factor=0.0"),
    (lambda o: lr_scheduler.LinearLR(o, end_factor=1.5), "end_factor=1.5"),
    (lambda o: lr_scheduler.LinearLR(o, total_iters=0), "total_iters=0"),
    (lambda o: lr_scheduler.SequentialLR(o, [], milestones=[]), "at least one"),
    (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.ExponentialLR(o, 0.9)], milestones=[3]),
     "1 schedulers and 1 milestones"),
    (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.ReduceLROnPlateau(o)], milestones=[]),
     "ReduceLROnPlateau"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1), "total_steps"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=-3), "total_steps=-3"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=[0.1], total_steps=10), "max_lr.*1 values.*2"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=1.5),
     "pct_start=1.5"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=10, anneal_strategy="exp"),
     "anneal_strategy='exp'"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), "factor=1.0"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="middle"), "mode='middle'"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, threshold_mode="pct"), "threshold_mode='pct'"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=-1), "patience=-1"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, min_lr=[0.1, 0.2, 0.3]), "min_lr.*3 values"),
]


@pytest.mark.parametrize("make,message", BAD, ids=[m for _, m in BAD])
def test_bad_arguments_are_named(make, message):
    ours, _ = make_optimizers("SGD")
    with pytest.raises(ValueError, match=message):
        make(ours)


def test_bad_optimizer_and_foreign_scheduler():
    with pytest.raises(TypeError, match="Optimizer"):
        lr_scheduler.StepLR(object(), step_size=2)
    ours, _ = make_optimizers("SGD")
    other, _ = make_optimizers("SGD")
    with pytest.raises(ValueError, match="same optimizer"):
        lr_scheduler.SequentialLR(ours, [lr_scheduler.ExponentialLR(ours, 0.9),
                                         lr_scheduler.ExponentialLR(other, 0.9)], milestones=[2])
    adagrad, _ = make_optimizers("Adagrad")
    with pytest.raises(ValueError, match="momentum or betas"):
        lr_scheduler.OneCycleLR(adagrad, max_lr=0.1, total_steps=10)


def test_reduce_lr_on_plateau_respects_min_lr_after_new_group():
    ours, _ = make_optimizers("SGD")
    sched = lr_scheduler.ReduceLROnPlateau(ours, patience=0, min_lr=[0.05, 0.001])
    ours.add_param_group({"params": [cr.zeros(1, requires_grad=True)]})
    sched.step(1.0)
    with pytest.raises(RuntimeError, match="3 parameter groups.*2 values"):
        sched.step(2.0)


def test_learning_rates_are_python_floats():
    # Plain Python floats, ready for logging and JSON.
    ours, _ = make_optimizers("Adam")
    sched = lr_scheduler.CosineAnnealingLR(ours, T_max=5)
    sched.step()
    assert all(type(lr) is float for lr in sched.get_last_lr())
    assert all(type(g["lr"]) is float for g in ours.param_groups)
