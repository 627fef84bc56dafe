"""The playground's engine side: settings checks, data, sessions, the per-weight derivation
(against PyTorch), the exports (script run, run folder read by ``chainrule evaluate``) and
the server (one WebSocket session per tab, ended with the tab)."""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import weakref

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")   # Starlette's TestClient

from chainrule.playground import settings as S  # noqa: E402
from chainrule.playground.derivation import derive  # noqa: E402
from chainrule.playground.export import script_text, write_run  # noqa: E402
from chainrule.playground.problem import MAX_UPLOAD_BYTES, read_upload  # noqa: E402
from chainrule.playground.session import Session  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def env():
    return dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))


# ------------------------------------------------------------------------ settings
@pytest.mark.parametrize("bad, fragment", [
    ({"lr": 0}, "lr must be > 0"),
    ({"lr": "0.1; import os"}, "lr must be a number"),
    ({"dataset": "../../etc/passwd"}, "dataset must be one of"),
    ({"features": []}, "switch on at least one input"),
    ({"features": ["x1", "__import__('os')"]}, "each feature must be one of"),
    ({"hidden": [4] * 7}, "at most 6"),
    ({"hidden": [9]}, "neurons per layer must be a whole number from 1 to 8"),
    ({"batch_size": 31}, "batch_size must be a whole number from 1 to 30"),
    ({"noise": float("nan")}, "noise must be a number"),
    ({"activation": "softplus"}, "activation must be one of relu, tanh, sigmoid, linear"),
    ({"problem": "regression"}, "for classification"),
    ({"colour": "red"}, "unknown setting 'colour'"),
])
def test_bad_settings_are_refused_with_a_message(bad, fragment):
    with pytest.raises(S.SettingsError, match=None) as info:
        S.parse_settings(bad)
    assert fragment in str(info.value)


def test_settings_keep_a_fixed_feature_order_and_report_what_changed():
    s = S.parse_settings({"features": ["sin(x2)", "x1"], "dataset": "plane",
                          "problem": "regression"})
    assert s.features == ("x1", "sin(x2)")
    session = Session()
    assert session.update_settings({"lr": 0.1})["changed"] == "training"
    assert session.optimizer.param_groups[0]["lr"] == 0.1
    assert session.update_settings({"hidden": [3]})["changed"] == "network"
    assert session.update_settings({"noise": 0.2})["changed"] == "data"
    before = session.settings
    with pytest.raises(S.SettingsError):
        session.update_settings({"hidden": [3], "lr": -1})
    assert session.settings == before   # a refused change changes nothing


# ---------------------------------------------------------------------------- data
def test_every_data_set_splits_and_standardises_on_its_training_points():
    for name in S.DATASETS[:-1]:
        problem = "regression" if name in S.REGRESSION_SETS else "classification"
        session = Session()
        session.update_settings({"dataset": name, "problem": problem, "train_ratio": 0.7,
                                 "noise": 0.1})
        p = session.problem
        assert len(p.train) == 350 and len(p.test) == 150
        assert not set(p.train) & set(p.test)
        np.testing.assert_allclose(p.Z[p.train].mean(0), 0, atol=1e-12)
        np.testing.assert_allclose(p.Z[p.train].std(0), 1, atol=1e-12)
        assert np.abs(p.Z).max() <= p.extent
        if problem == "classification":
            assert set(np.unique(p.y)) == {0.0, 1.0}


def test_csv_upload_is_read_checked_and_capped():
    rows = "x1,x2,label\n" + "\n".join(f"{i % 7},{i % 5},{'red' if i % 2 else 'blue'}"
                                       for i in range(40))
    up = read_upload(rows.encode(), "mine.csv", "classification")
    assert up.class_names == ["blue", "red"] and up.X.shape == (40, 2)
    session = Session()
    session.upload_csv(rows.encode(), "mine.csv")
    assert session.settings.dataset == "csv" and session.problem.class_names == ["blue", "red"]
    with pytest.raises(S.SettingsError, match="at most"):
        read_upload(b"1,2,0\n" * (MAX_UPLOAD_BYTES // 6 + 1), "big.csv", "classification")
    with pytest.raises(S.SettingsError, match="3: x1, x2 and the label"):
        read_upload(b"1,2,3,0\n" * 20, "wide.csv", "classification")
    with pytest.raises(S.SettingsError, match="exactly 2 classes"):
        read_upload("".join(f"{i},{i},{i % 3}\n" for i in range(30)).encode(), "three.csv",
                    "classification")
    with pytest.raises(S.SettingsError, match="numeric labels"):
        read_upload(rows.encode(), "mine.csv", "regression")
    with pytest.raises(S.SettingsError, match="line 3"):
        read_upload(b"1,2,0\n3,4,1\n5,x,0\n" * 5, "bad.csv", "classification")
    with pytest.raises(S.SettingsError, match="upload first"):
        Session().update_settings({"dataset": "csv"})


# -------------------------------------------------------------------------- training
def test_a_2_3_1_network_learns_xor():
    session = Session()
    session.update_settings({"dataset": "xor", "hidden": [3], "activation": "tanh",
                             "optimizer": "adam", "lr": 0.03})
    start = session.data_loss(session.problem.test)
    for _ in range(40 * session.steps_per_epoch):
        session.train_step()
    assert session.epoch == 40
    assert session.data_loss(session.problem.test) < 0.2 < start
    frame = session.frame()
    assert len(frame["heatmaps"]["hidden"]) == 1 and len(frame["heatmaps"]["hidden"][0]) == 3
    assert frame["flow"]["status"] in ("healthy", "vanishing", "exploding")
    assert [layer["name"] for layer in frame["flow"]["layers"]] == ["W1", "W2"]


# ------------------------------------------------------------- derivation vs PyTorch
def torch_network(session, torch):
    """The session's network in PyTorch (float64), with its current weights."""
    layers = []
    for k, lin in enumerate(session.linears):
        t = torch.nn.Linear(lin.in_features, lin.out_features).double()
        with torch.no_grad():
            t.weight.copy_(torch.from_numpy(lin.weight.numpy()))
            t.bias.copy_(torch.from_numpy(lin.bias.numpy()))
        layers.append(t)
        if k < len(session.linears) - 1:
            layers.append({"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid,
                           "linear": torch.nn.Identity}[session.settings.activation]())
    return torch.nn.Sequential(*layers)


def _torch_twin(session, torch):
    """The session's network, loss, regulariser and optimiser in PyTorch."""
    s = session.settings
    model = torch_network(session, torch)
    opt = (torch.optim.Adam(model.parameters(), lr=s.lr) if s.optimizer == "adam" else
           torch.optim.SGD(model.parameters(), lr=s.lr,
                           momentum=S.MOMENTUM if s.optimizer == "momentum" else 0.0))
    loss_fn = (torch.nn.BCEWithLogitsLoss() if s.problem == "classification"
               else torch.nn.MSELoss())

    def step(rows):
        x = torch.from_numpy(session.inputs[rows])
        y = torch.from_numpy(session.targets[rows])
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        weights = [m.weight for m in model if isinstance(m, torch.nn.Linear)]
        if s.regularization == "l1":
            loss = loss + s.reg_rate * sum(w.abs().sum() for w in weights)
        elif s.regularization == "l2":
            loss = loss + s.reg_rate * 0.5 * sum((w * w).sum() for w in weights)
        loss.backward()
        grads = [p.grad.detach().numpy().copy() for p in model.parameters()]
        opt.step()
        return grads, [p.detach().numpy().copy() for p in model.parameters()]
    return step


@pytest.mark.parametrize("optimizer, regularization, activation, problem", [
    ("sgd", "none", "tanh", "classification"),
    ("momentum", "l2", "relu", "classification"),
    ("adam", "l1", "sigmoid", "classification"),
    ("adam", "l2", "linear", "regression"),
])
def test_derivation_gives_pytorchs_gradient_and_update(optimizer, regularization, activation,
                                                       problem):
    torch = pytest.importorskip("torch")
    session = Session()
    session.update_settings({
        "dataset": "spiral" if problem == "classification" else "bumps", "problem": problem,
        "hidden": [4, 3], "activation": activation, "optimizer": optimizer,
        "regularization": regularization, "reg_rate": 0.01, "lr": 0.05, "batch_size": 7})
    torch_step = _torch_twin(session, torch)
    for _ in range(5):   # build up momentum / Adam state on both sides, batch for batch
        torch_step(session.next_batch())
        session.train_step()
    rows = session.next_batch()
    targets = [(1, "weight", 2, 1), (2, "bias", 1, 0), (2, "weight", 0, 3), (3, "weight", 0, 2),
               (3, "bias", 0, 0)]
    derivations = [derive(session, *t, sample=3) for t in targets]
    grads, params = torch_step(rows)
    session.step()
    for (layer, kind, row, col), d in zip(targets, derivations):
        k = 2 * (layer - 1) + (kind == "bias")
        index = (row, col) if kind == "weight" else (row,)
        assert d["ok"] and d["trace_checked"] > 10
        assert d["grad"] == pytest.approx(grads[k][index], rel=1e-9, abs=1e-14)
        assert d["new"] == pytest.approx(params[k][index], rel=1e-9, abs=1e-14)
        now = getattr(session.linears[layer - 1], kind).numpy()[index]
        assert d["new"] == pytest.approx(now, rel=1e-12, abs=1e-15)   # the step did just that
        assert d["batch"] == [int(i) for i in rows]
        keys = {r.get("key") for sec in d["sections"] for r in sec.get("rows", [])}
        assert {"grad", "grad_engine", "new", "new_engine", "delta_out"} <= keys


def test_derivation_refuses_what_the_network_does_not_have():
    session = Session()   # 2 -> 4 -> 2 -> 1
    for args, fragment in [((0, "weight", 0, 0), "layer must be 1 to 3"),
                           ((1, "weight", 4, 0), "row must be 0 to 3"),
                           ((1, "weight", 0, 2), "col must be 0 to 1"),
                           ((1, "gain", 0, 0), "kind must be weight or bias"),
                           ((1, "weight", 0, 0, 10), "sample must be 0 to 9")]:
        with pytest.raises(S.SettingsError, match=fragment):
            derive(session, *args)


# ---------------------------------------------------------------------------- exports
def test_exported_script_rebuilds_the_network_and_trains_on(tmp_path):
    session = Session()
    session.update_settings({"dataset": "moons", "features": ["x1", "x2", "x1*x2"],
                             "hidden": [5], "regularization": "l2", "reg_rate": 0.003,
                             "optimizer": "momentum"})
    session.train_for(0.2)
    path = tmp_path / "net.py"
    path.write_text(script_text(session))
    out = subprocess.run([sys.executable, str(path), "--epochs", "2"], capture_output=True,
                         text=True, env=env(), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    first = out.stdout.splitlines()[0]
    assert first == (f"start: train loss {session.data_loss(session.problem.train):.4f}, "
                     f"test loss {session.data_loss(session.problem.test):.4f}")
    assert out.stdout.count("epoch ") == 2


@pytest.mark.parametrize("dataset, problem", [("circle", "classification"),
                                              ("plane", "regression")])
def test_exported_run_folder_is_read_by_chainrule_evaluate(tmp_path, dataset, problem):
    session = Session()
    session.update_settings({"dataset": dataset, "problem": problem, "optimizer": "adam",
                             "features": ["x1", "x2", "x1^2", "x2^2"]})
    for _ in range(2 * session.steps_per_epoch + 3):   # two epochs and a bit
        session.train_step()
    folder = write_run(session, str(tmp_path / "runs"))
    assert sorted(os.listdir(folder)) == sorted(
        ["config.json", "last.ckpt", "history.csv", "history.json", f"{dataset}.csv",
         f"{dataset}-test.csv"])
    config = json.loads(open(os.path.join(folder, "config.json")).read())
    assert config["data"]["preprocessing"]["features"] == ["x1", "x2", "x1^2", "x2^2"]
    out = subprocess.run([sys.executable, "-m", "chainrule", "evaluate", folder],
                         capture_output=True, text=True, env=env(), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    import re
    # classification prints "loss ...", regression "mse ..." (its loss) first
    shown = float(re.search(r"^(?:loss|mse) ([0-9.]+)", out.stdout, re.M).group(1))
    # the run's model is rebuilt in float32: the same loss to its precision and the 4 digits
    assert shown == pytest.approx(session.data_loss(session.problem.test), abs=2e-4)
    assert f"test split ({len(session.problem.test)} samples)" in out.stdout


# ----------------------------------------------------------------------------- server
@pytest.fixture()
def client(tmp_path):
    from starlette.testclient import TestClient
    from chainrule.playground.server import create_app
    app = create_app(str(tmp_path / "runs"))
    with TestClient(app) as c:
        yield app, c


def receive(ws, kind):
    while True:
        m = json.loads(ws.receive_text())
        if m["type"] == kind:
            return m
        assert m["type"] != "error", m


def test_a_tab_gets_its_own_session_and_closing_it_frees_the_session(client):
    app, c = client
    page = c.get("/")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    assert c.get("/static/app.js").status_code == 200
    with c.websocket_connect("/ws") as ws, c.websocket_connect("/ws") as other:
        hello = receive(ws, "hello")
        net = receive(ws, "network")
        assert net["sizes"] == [2, 4, 2, 1] and receive(other, "network")
        assert len(app.state.sessions) == 2
        ref = weakref.ref(app.state.sessions[hello["session"]].session)
        ws.send_text(json.dumps({"type": "settings", "settings": {"hidden": [3] * 7}}))
        assert "at most 6" in receive_error(ws)
        ws.send_text(json.dumps({"type": "settings", "settings": {"dataset": "xor"}}))
        assert receive(ws, "network")["settings"]["dataset"] == "xor"
        ws.send_text(json.dumps({"type": "explain", "layer": 1, "kind": "weight", "row": 0,
                                 "col": 1}))
        d = receive(ws, "derivation")
        assert d["ok"] and d["name"] == "W1[1,2]"
        ws.send_text(json.dumps({"type": "play"}))
        frames = [receive(ws, "frame") for _ in range(3)]
        assert frames[-1]["steps"] > frames[0]["steps"] > 0
        ws.send_text(json.dumps({"type": "step"}))
        step = receive(ws, "step")
        assert len(step["animation"]["forward"]) == 4
        script = c.get(f"/export/script/{hello['session']}")
        assert script.status_code == 200 and "import chainrule" in script.text
        ws.send_text(json.dumps({"type": "export_checkpoint"}))
        exported = receive(ws, "exported")
        assert os.path.isfile(os.path.join(exported["path"], "last.ckpt"))
        for bad in ("not json", json.dumps({"type": "exec", "code": "1"}), json.dumps([1])):
            ws.send_text(bad)
            assert "message" in receive_error(ws)
        ws.send_text(json.dumps({"type": "upload", "name": "x.csv",
                                 "content": "1,2,0\n" * (MAX_UPLOAD_BYTES // 6 + 1)}))
        assert "at most" in receive_error(ws)
    assert app.state.sessions == {}
    gc.collect()
    assert ref() is None   # nothing holds the closed tab's session any more
    assert c.get(f"/export/script/{hello['session']}").status_code == 404


def receive_error(ws):
    while True:
        m = json.loads(ws.receive_text())
        if m["type"] == "error":
            return m["message"]


def test_a_page_from_another_site_cannot_open_a_session(client):
    from starlette.websockets import WebSocketDisconnect
    app, c = client
    with pytest.raises(WebSocketDisconnect):
        with c.websocket_connect("/ws", headers={"origin": "http://evil.example"}) as ws:
            ws.receive_text()
    assert app.state.sessions == {}


# ------------------------------------------------------------------- the command
def test_chainrule_playground_serves_on_a_free_local_port_until_interrupted(tmp_path):
    import signal
    import urllib.request
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", "playground", "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(),
                            cwd=tmp_path)
    try:
        line = proc.stdout.readline()
        assert line.startswith("chainrule playground: http://127.0.0.1:"), line
        url = line.split()[2]
        with urllib.request.urlopen(url, timeout=10) as page:
            assert b"chainrule playground" in page.read()
        with urllib.request.urlopen(url + "static/app.js", timeout=10) as script:
            assert b"WebSocket" in script.read()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    bad = subprocess.run([sys.executable, "-m", "chainrule", "playground", "--port", "70000"],
                         capture_output=True, text=True, env=env(), cwd=tmp_path)
    assert bad.returncode == 1 and bad.stderr.startswith("chainrule: error: --port must be")


def test_docstring_examples_run():
    import doctest
    import chainrule as cr
    from chainrule.playground import server, session, settings
    for module in (settings, session, server):
        result = doctest.testmod(module, extraglobs={"cr": cr})
        assert result.failed == 0 and result.attempted > 0, module.__name__


def test_a_name_pointed_at_this_computer_by_another_site_is_refused(tmp_path):
    from starlette.testclient import TestClient
    from chainrule.playground.server import create_app
    app = create_app(str(tmp_path), allowed_hosts=["127.0.0.1", "localhost"])
    assert TestClient(app, base_url="http://127.0.0.1:8765").get("/").status_code == 200
    assert TestClient(app, base_url="http://evil.example:8765").get("/").status_code == 400
