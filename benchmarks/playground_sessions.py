"""How responsive the playground stays with many tabs training at once.

Starts ``chainrule playground --no-browser`` in its own process, opens N WebSocket clients
(the tabs), makes each train the same network (spiral, 6-6 tanh, Adam) and measures for a
fixed time:

* frames per second each tab receives (the page redraws on each),
* training steps per second, per tab and in all,
* ping round trips (answered by the server at once, between training slices),
* click latency: from sending "explain" for a weight to receiving its derivation (it waits
  for the tab's current training slice, then derives and checks the gradient).

    python3 benchmarks/playground_sessions.py                  # 1 tab, then 10 tabs
    python3 benchmarks/playground_sessions.py --tabs 1,5,10,20 --seconds 20

Bounded: every client stops after ``--seconds``; the server is stopped at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time

import websockets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NETWORK = {"dataset": "spiral", "hidden": [6, 6], "activation": "tanh", "optimizer": "adam"}


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


async def tab(url: str, seconds: float, results: list) -> None:
    async with websockets.connect(url, max_size=None) as ws:
        async def until(kind):
            while True:
                m = json.loads(await ws.recv())
                if m["type"] == kind:
                    return m
        await until("network")
        await ws.send(json.dumps({"type": "settings", "settings": NETWORK}))
        await until("network")
        await ws.send(json.dumps({"type": "play"}))
        frames, first_steps, last_steps = 0, None, 0
        pings, clicks = [], []
        sent_ping, sent_click = {}, None
        start = time.perf_counter()
        next_ping, next_click = start + 0.25, start + 1.0
        while time.perf_counter() - start < seconds:
            now = time.perf_counter()
            if now >= next_ping:
                pid = len(sent_ping)
                sent_ping[pid] = now
                await ws.send(json.dumps({"type": "ping", "id": pid}))
                next_ping = now + 0.25
            if now >= next_click and sent_click is None:
                sent_click = now
                await ws.send(json.dumps({"type": "explain", "layer": 2, "kind": "weight",
                                          "row": 1, "col": 2}))
                next_click = now + 1.0
            try:
                m = json.loads(await asyncio.wait_for(ws.recv(), timeout=0.05))
            except asyncio.TimeoutError:
                continue
            if m["type"] == "frame":
                frames += 1
                first_steps = m["steps"] if first_steps is None else first_steps
                last_steps = m["steps"]
            elif m["type"] == "pong" and m["id"] in sent_ping:
                pings.append(time.perf_counter() - sent_ping.pop(m["id"]))
            elif m["type"] == "derivation":
                assert m["ok"], m["checks"]
                clicks.append(time.perf_counter() - sent_click)
                sent_click = None
        elapsed = time.perf_counter() - start
        await ws.send(json.dumps({"type": "pause"}))
        results.append({"fps": frames / elapsed,
                        "steps": (last_steps - (first_steps or 0)) / elapsed,
                        "pings": pings, "clicks": clicks})


async def measure(url: str, tabs: int, seconds: float) -> dict:
    results: list = []
    await asyncio.gather(*(tab(url, seconds, results) for _ in range(tabs)))
    pings = [p for r in results for p in r["pings"]]
    clicks = [c for r in results for c in r["clicks"]]
    return {"tabs": tabs, "fps_mean": statistics.mean(r["fps"] for r in results),
            "fps_min": min(r["fps"] for r in results),
            "steps_per_tab": statistics.mean(r["steps"] for r in results),
            "steps_total": sum(r["steps"] for r in results),
            "ping_p50_ms": 1000 * percentile(pings, 0.5), "ping_p95_ms": 1000 * percentile(pings, 0.95),
            "click_p50_ms": 1000 * percentile(clicks, 0.5), "click_p95_ms": 1000 * percentile(clicks, 0.95),
            "click_max_ms": 1000 * max(clicks) if clicks else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tabs", default="1,10", help="comma-separated tab counts")
    parser.add_argument("--seconds", type=float, default=15.0, help="measuring time per count")
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    server = subprocess.Popen([sys.executable, "-m", "chainrule", "playground", "--no-browser"],
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = server.stdout.readline()
        url = line.split()[2].replace("http://", "ws://") + "ws"
        print(f"{'tabs':>4} {'frames/s per tab (mean, min)':>29} {'steps/s per tab':>15} "
              f"{'steps/s all':>11} {'ping p50/p95 ms':>16} {'click p50/p95/max ms':>21}")
        for n in (int(t) for t in args.tabs.split(",")):
            r = asyncio.run(measure(url, n, args.seconds))
            print(f"{r['tabs']:>4} {r['fps_mean']:>20.1f}, {r['fps_min']:>6.1f} "
                  f"{r['steps_per_tab']:>15.0f} {r['steps_total']:>11.0f} "
                  f"{r['ping_p50_ms']:>8.1f}/{r['ping_p95_ms']:<7.1f} "
                  f"{r['click_p50_ms']:>7.0f}/{r['click_p95_ms']:.0f}/{r['click_max_ms']:.0f}",
                  flush=True)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
