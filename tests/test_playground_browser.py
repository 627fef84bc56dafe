"""The playground in a real browser (Debian's Chromium, driven by Playwright): pick spiral,
add a layer, train until the test loss falls, click a weight and check the derivation's
numbers against PyTorch's gradient for that batch, step once (animated) and check the
weight moved as derived, export the script and run it, close the tab and see its session
go. CI installs Chromium with apt-get in .ci/run; nothing is downloaded here."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("uvicorn")
torch = pytest.importorskip("torch")
CHROMIUM = "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip(f"no {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

from chainrule.playground.server import bind, make_server, url_of  # noqa: E402
from test_playground import torch_network  # noqa: E402  (tests/ is on sys.path under pytest)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
TEST_LOSS_TARGET = 0.4       # spiral starts near log 2 = 0.69


@pytest.fixture()
def server(tmp_path):
    sock = bind("127.0.0.1", 0)
    srv = make_server(sock, str(tmp_path / "runs"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield url_of(sock), srv.config.app.state.sessions
    srv.should_exit = True
    thread.join(10)


def torch_gradients(session, rows):
    """PyTorch's gradient of every parameter, and of the output z, on the batch ``rows``."""
    model = torch_network(session, torch)
    z = model(torch.from_numpy(session.inputs[rows]))
    z.retain_grad()
    torch.nn.BCEWithLogitsLoss()(z, torch.from_numpy(session.targets[rows])).backward()
    return [p.grad.numpy() for p in model.parameters()], z.grad.numpy()[:, 0]


def until(condition, timeout=300.0, what="the page"):
    """Poll ``condition()`` (selector queries only: the page's CSP forbids evaluated strings).
    The timeout only stops a page that never gets there (a hang), not a slow one: it is
    generous, since CI machines may be loaded."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.03)


def value(page, key):
    return float(page.get_attribute(f"#derivation [data-key={key}]", "data-value"))


def test_spiral_train_click_a_weight_step_export(server, tmp_path):
    url, sessions = server
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        page.wait_for_selector("#edge-1-0-0", state="attached")
        assert len(sessions) == 1
        session = next(iter(sessions.values())).session

        # a setting the server refuses shows its message and changes nothing
        page.click("#feature-0")
        page.wait_for_selector("#feature-0.off")
        page.click("#feature-1")
        page.wait_for_selector("#message:not([hidden])")
        assert "switch on at least one input" in page.text_content("#message")
        page.click("#feature-0")
        page.wait_for_selector("#feature-0.on")

        page.click("#dataset-spiral")
        page.wait_for_selector("#dataset-spiral.active")
        page.click("#add-layer")
        until(lambda: page.text_content("#layer-count") == "3 hidden layers")
        for col, clicks in ((1, 4), (2, 6), (3, 6)):      # widen to 8-8-8
            for _ in range(clicks):
                before = len(page.query_selector_all(f"[id^=node-{col}-]"))
                page.click(f"#neurons-add-{col}")
                until(lambda: len(page.query_selector_all(f"[id^=node-{col}-]")) > before)
        page.select_option("#optimizer", "adam")
        until(lambda: session.settings.optimizer == "adam")
        page.focus("#batch_size")
        page.keyboard.press("End")                             # the slider's maximum, 30
        until(lambda: session.settings.batch_size == 30)
        assert session.settings.hidden == (8, 8, 8) and session.settings.dataset == "spiral"

        page.click("#play")
        until(lambda: float(page.get_attribute("#test-loss", "data-value") or 1) < TEST_LOSS_TARGET,
              timeout=600, what=f"the test loss to fall below {TEST_LOSS_TARGET}")
        page.click("#play")                                    # pause
        page.wait_for_selector("#play:not(.playing)")
        until(lambda: not next(iter(sessions.values())).playing())   # the last slice ends

        page.dispatch_event("#hit-2-3-1", "click")              # weight W2[4,2] (edges overlap)
        page.wait_for_selector("#derivation:not([hidden])")
        assert page.get_attribute("#derivation", "data-name") == "W2[4,2]"
        rows = session.next_batch()
        grads, dz = torch_gradients(session, rows)
        assert value(page, "grad") == pytest.approx(grads[2][3, 1], rel=1e-9, abs=1e-15)
        assert value(page, "grad_engine") == pytest.approx(grads[2][3, 1], rel=1e-9, abs=1e-15)
        assert value(page, "grad_data") == pytest.approx(grads[2][3, 1], rel=1e-9, abs=1e-15)
        assert value(page, "delta_out") == pytest.approx(dz[0], rel=1e-9, abs=1e-15)
        assert "\u2714 Every figure" in page.text_content("#derivation-checks")
        page.click("#derivation-samples button:nth-child(3)")   # the chain for point 3
        page.wait_for_selector("#derivation-samples button.active:nth-child(3)")
        assert value(page, "delta_out") == pytest.approx(dz[2], rel=1e-9, abs=1e-15)
        new = value(page, "new")

        steps = session.total_steps
        page.click("#step")
        page.wait_for_selector(".val.show.fwd")                # forward values on the diagram
        page.wait_for_selector(".val.show.bwd")                # then the deltas
        until(lambda: page.query_selector(".val.show") is None)
        assert session.total_steps == steps + 1
        assert session.linears[1].weight.data[3, 1] == pytest.approx(new, rel=1e-12, abs=1e-15)
        page.wait_for_selector("#derivation-samples button.active")   # refreshed: next batch

        with page.expect_download() as download:
            page.click("#export-script")
        script = tmp_path / "playground_network.py"
        download.value.save_as(script)
        page.close()
        browser.close()
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run = subprocess.run([sys.executable, str(script), "--epochs", "1"], capture_output=True,
                         text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("start: train loss") and "epoch 1:" in run.stdout
    deadline = time.monotonic() + 5
    while sessions and time.monotonic() < deadline:             # the closed tab's session ends
        time.sleep(0.05)
    assert sessions == {}
    assert errors == []
