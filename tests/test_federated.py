"""chainrule.federated: the splits, weighted averaging, FedAvg's identities with centralised
training, FedProx's proximal term, client sampling, and independence from where and in what
order clients run: in one process, and (marked ``mpi``) on two MPI ranks under mpiexec,
whose run must equal the one-process run exactly."""
import doctest
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
import chainrule.distributed as dist
from chainrule import cli, federated, nn, train
from chainrule.federated import algorithms, clients as client_runners, partition

from conftest import seed_from_test_name

RNG = np.random.default_rng(17)


@pytest.fixture(autouse=True)
def _seeded(request):
    global RNG
    RNG = seed_from_test_name(request)


def test_doctests_pass():
    for module in (federated, partition, algorithms):
        result = doctest.testmod(module, extraglobs={"cr": cr, "np": np})
        assert result.attempted > 0 and result.failed == 0, module.__name__


def assert_a_partition(parts, n):
    joined = np.concatenate(parts)
    assert len(joined) == n and np.array_equal(np.sort(joined), np.arange(n))


def test_iid_partition_deals_near_equal_random_shares():
    parts = federated.iid_partition(103, 10, seed=1)
    assert_a_partition(parts, 103)
    assert {len(p) for p in parts} == {10, 11}
    assert not np.array_equal(parts[0], np.arange(10))                      # shuffled
    assert all(np.array_equal(a, b) for a, b in zip(parts, federated.iid_partition(103, 10, 1)))
    with pytest.raises(ValueError, match="num_clients must be an int >= 1"):
        federated.iid_partition(10, 0)


def test_dirichlet_partition_skews_labels_as_alpha_says():
    labels = np.repeat(np.arange(10), 300)
    def top_share(alpha):
        parts = federated.dirichlet_partition(labels, 10, alpha, seed=3)
        assert_a_partition(parts, labels.size)
        assert min(len(p) for p in parts) >= 10
        counts = federated.label_counts(labels, parts)
        return (counts.max(axis=1) / counts.sum(axis=1)).mean()
    assert top_share(0.1) > 0.6            # most clients hold mostly one class
    assert top_share(1000.0) < 0.15        # close to IID: a tenth each
    a = federated.dirichlet_partition(labels, 5, 0.3, seed=1)
    b = federated.dirichlet_partition(labels, 5, 0.3, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("kwargs,match", [
    (dict(alpha=0.0), "alpha must be a finite number > 0"),
    (dict(num_clients=8, min_size=10), "need 80, there are 40"),
    (dict(alpha=0.001, min_size=13, num_clients=3), "no draw in 1000"),   # whole classes of 10
])
def test_dirichlet_partition_refuses_impossible_requests(kwargs, match):
    args = dict(num_clients=4, alpha=0.5, seed=0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        federated.dirichlet_partition(np.repeat(np.arange(4), 10), **args)


def test_weighted_average_weights_by_samples():
    a = algorithms.ClientResult(0, {"w": np.array([1.0, 2.0], np.float32), "n": np.array(3)}, 1, 0.0)
    b = algorithms.ClientResult(1, {"w": np.array([4.0, 8.0], np.float32), "n": np.array(6)}, 3, 0.0)
    avg = federated.weighted_average([a, b])
    np.testing.assert_allclose(avg["w"], [3.25, 6.5])
    assert avg["w"].dtype == np.float32 and avg["n"] == 5 and avg["n"].dtype == np.array(3).dtype
    with pytest.raises(ValueError, match="client 1 sent entries"):
        federated.weighted_average([a, b._replace(state={"w": b.state["w"]})])


def toy(n=120, features=4):
    X = RNG.standard_normal((n, features)).astype(np.float64)
    y = (X @ np.array([1.0, -2.0, 0.5, 1.0])[:features] > 0).astype(np.int64)
    return X, y


def test_fedavg_with_one_full_batch_step_per_client_is_one_step_of_gradient_descent():
    # Each client's mean loss weighted by its share n_k/n is the whole data's mean loss, so
    # averaging the clients' one-step models is one gradient step on all the data.
    X, y = toy()
    data = cr.data.TensorDataset(X, y)
    parts = federated.dirichlet_partition(y, 3, 0.5, seed=2)
    clients = [cr.data.Subset(data, p) for p in parts]
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2)).double()
    reference = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2)).double()
    reference.load_state_dict(model.state_dict())
    federated.federate(model, clients, rounds=1, batch_size=len(X), lr=0.3, verbose=0)
    opt = cr.optim.SGD(reference.parameters(), lr=0.3)
    nn.CrossEntropyLoss()(reference(cr.tensor(X)), cr.tensor(y)).backward()
    opt.step()
    for (k, ours), (_, theirs) in zip(model.state_dict().items(), reference.state_dict().items()):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-10, atol=1e-12, err_msg=k)


def test_one_client_is_centralised_training_with_the_same_shuffle():
    X, y = toy()
    data = cr.data.TensorDataset(X, y)
    model = nn.Sequential(nn.Linear(4, 2)).double()
    reference = nn.Sequential(nn.Linear(4, 2)).double()
    reference.load_state_dict(model.state_dict())
    federated.federate(model, [data], rounds=2, local_epochs=2, batch_size=16, lr=0.1,
                       seed=5, verbose=0)
    for round in (1, 2):          # a fresh optimiser and a (seed, round, client) shuffle each round
        loader = cr.data.DataLoader(data, batch_size=16, shuffle=True,
                                    generator=np.random.default_rng([5, round, 0]))
        cr.train.fit(reference, nn.CrossEntropyLoss(), cr.optim.SGD(reference.parameters(), lr=0.1),
                     loader, 2, metrics=(), verbose=0)
    for (k, ours), (_, theirs) in zip(model.state_dict().items(), reference.state_dict().items()):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12, err_msg=k)


def test_fedprox_adds_the_proximal_gradient_and_with_mu_zero_is_fedavg():
    model = nn.Linear(3, 2).double()
    global_state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    with cr.no_grad():
        model.weight.data += 0.5
    loss = federated.FedProx(mu=0.2).local_loss(lambda out, t: out.sum() * 0, model, global_state)
    loss(model(cr.zeros(1, 3).double()), None).backward()
    np.testing.assert_allclose(model.weight.grad.numpy(), 0.2 * 0.5 * np.ones((2, 3)))
    assert np.all(model.bias.grad.numpy() == 0)
    X, y = toy()
    data = cr.data.TensorDataset(X, y)
    clients = [cr.data.Subset(data, p) for p in federated.iid_partition(len(y), 4)]
    states = []
    for strategy in (federated.FedAvg(), federated.FedProx(mu=0.0), federated.FedProx(mu=1.0)):
        cr.manual_seed(0)
        m = nn.Linear(4, 2).double()
        federated.federate(m, clients, 2, strategy, batch_size=8, lr=0.1, verbose=0)
        states.append(m.weight.numpy().copy())
    np.testing.assert_array_equal(states[0], states[1])
    assert not np.allclose(states[0], states[2])


def test_client_sampling_and_learning(capsys):
    X, y = toy(400)
    data = cr.data.TensorDataset(X.astype(np.float32), y)
    clients = [cr.data.Subset(data, p) for p in federated.dirichlet_partition(y, 10, 1.0, seed=0)]
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    val = cr.data.DataLoader(data, batch_size=200)
    history = federated.federate(model, clients, 8, federated.FedAvg(fraction=0.3), lr=0.2,
                                 local_epochs=3, batch_size=16, val_loader=val, verbose=1)
    assert history["clients"] == [3.0] * 8
    assert history["val_accuracy"][-1] > 0.9 and history["val_accuracy"][-1] > history["val_accuracy"][0]
    assert sorted(history.keys()) == ["clients", "loss", "val_accuracy", "val_loss"]
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 8 and lines[0].startswith("round 1/8: clients [")


def test_results_do_not_depend_on_the_order_clients_run_in():
    # What an MPI runner relies on: a client's update is a function of (state, client, round).
    class Reversed(federated.SequentialClients):
        def run(self, trainer, global_state, clients, round):
            return list(reversed([trainer.train(c, global_state, round) for c in reversed(clients)]))

    X, y = toy()
    data = cr.data.TensorDataset(X, y)
    clients = [cr.data.Subset(data, p) for p in federated.iid_partition(len(y), 5)]
    weights = []
    for runner in (None, Reversed()):
        cr.manual_seed(1)
        model = nn.Linear(4, 2).double()
        federated.federate(model, clients, 3, federated.FedAvg(fraction=0.6), batch_size=8,
                           runner=runner, verbose=0)
        weights.append(model.weight.numpy().copy())
    np.testing.assert_array_equal(weights[0], weights[1])


def test_distributed_clients_in_a_group_of_one_are_the_sequential_run():
    # Integer buffers (BatchNorm's num_batches_tracked), float32 weights, momentum and the
    # proximal term all travel through the runner's float64 rows unchanged.
    X, y = toy(200)
    data = cr.data.TensorDataset(X.astype(np.float32), y)
    clients = [cr.data.Subset(data, p) for p in federated.iid_partition(len(y), 5, seed=2)]
    states = []
    dist.destroy_process_group()
    with pytest.raises(ValueError, match="DistributedClients: no process group.*init_process_group"):
        federated.DistributedClients()
    dist.init_process_group("mpi")            # no launcher: a group of one
    try:
        for runner in (None, federated.DistributedClients()):
            cr.manual_seed(4)
            model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
            history = federated.federate(model, clients, 3, federated.FedProx(0.1, fraction=0.6),
                                         batch_size=16, momentum=0.5, runner=runner, verbose=0)
            states.append((history["loss"], model.state_dict()))
    finally:
        dist.destroy_process_group()
    assert states[0][0] == states[1][0]
    for key, value in states[0][1].items():
        assert value.dtype == states[1][1][key].dtype
        np.testing.assert_array_equal(value.numpy(), states[1][1][key].numpy(), err_msg=key)
    assert int(states[1][1]["1.num_batches_tracked"].numpy()) > 0


def test_state_rows_round_trip_exactly():
    state = {"w": RNG.standard_normal((3, 4)).astype(np.float32), "n": np.array(2**40 + 3),
             "d": RNG.standard_normal(5)}
    layout = [(k, v.shape, v.dtype) for k, v in state.items()]
    row = client_runners._flat([state], layout)[0]
    back = client_runners._unflat(row, layout)
    for key, value in state.items():
        assert back[key].dtype == value.dtype
        np.testing.assert_array_equal(back[key], value)


@pytest.mark.parametrize("call,match", [
    (lambda m, c: federated.federate(m, c, 0), "rounds must be an int >= 1"),
    (lambda m, c: federated.federate(m, c, 1, federated.FedAvg(fraction=0)), "fraction must be in"),
    (lambda m, c: federated.federate(m, c, 1, federated.FedProx(mu=-1)), "mu must be a finite"),
    (lambda m, c: federated.federate(m, c, 1, lr=0), "lr must be > 0"),
    (lambda m, c: federated.federate(m, [], 1), "no client datasets"),
])
def test_bad_settings_are_named(call, match):
    X, y = toy(20)
    with pytest.raises(ValueError, match=match):
        call(nn.Linear(4, 2), [cr.data.TensorDataset(X, y)])


# ==================================================================== a real MPI job
def _mpiexec() -> str | None:
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return beside if os.path.exists(beside) else shutil.which("mpiexec")


@pytest.mark.mpi
def test_the_command_on_two_ranks_equals_the_one_process_run(tmp_path, capsys):
    """``mpiexec -n 2 chainrule federate`` (client c on rank c mod 2: five clients drawn
    three a round, so the ranks train unequal shares) ends with the same history, the same
    best model and the same test result as the command in one process, and rank 0 alone
    prints and writes."""
    pytest.importorskip("mpi4py")
    launcher = _mpiexec()
    if launcher is None:
        pytest.skip("mpiexec not found (pip install 'chainrule[mpi]')")
    options = ["federate", "--data", "moons", "--clients", "5", "--fraction", "0.6", "--rounds",
               "3", "--hidden", "16", "--lr", "0.1", "--momentum", "0.5", "--algorithm",
               "fedprox", "--mu", "0.1", "--seed", "3"]
    assert cli.main(options + ["--out", str(tmp_path / "one"), "--quiet"]) == 0
    capsys.readouterr()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    job = subprocess.run([launcher, "-n", "2", sys.executable, "-m", "chainrule", *options,
                          "--out", str(tmp_path / "two")], capture_output=True, text=True,
                         timeout=180, env=env, cwd=str(tmp_path))
    assert job.returncode == 0, job.stdout + job.stderr
    assert "client c on rank c mod 2" in job.stdout
    assert job.stdout.count("round 1/3") == 1 and job.stdout.count("test set") == 1
    one, two = tmp_path / "one", tmp_path / "two"
    assert json.loads((two / "config.json").read_text())["federated"]["world_size"] == 2
    assert not (two / ".chainrule.lock").exists()       # rank 0 held the folder, and let go
    for name in ("history.json", "test_metrics.json"):
        assert json.loads((one / name).read_text()) == json.loads((two / name).read_text()), name
    best = [train.read_checkpoint(run / "best.ckpt") for run in (one, two)]
    assert best[0]["epoch"] == best[1]["epoch"]
    for key, value in best[0]["model"].items():
        np.testing.assert_array_equal(value, best[1]["model"][key], err_msg=key)
