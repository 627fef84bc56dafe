"""The playground's web server: a Starlette app with one WebSocket per browser tab.

Each tab that connects to ``/ws`` gets its own :class:`~chainrule.playground.session.Session`
(its own data, network and optimiser); the socket closing ends the session and drops it.
Training runs in a worker thread, a short slice at a time, the playing tabs taking turns,
so one tab's training never blocks another tab's clicks: each slice ends with a frame
(losses, weights, heatmaps, gradient flow) sent to its tab.

Messages from the page are JSON objects with a ``type`` among :data:`MESSAGE_TYPES`; their
fields are checked (:mod:`chainrule.playground.settings`) and nothing in them is evaluated
or used as a path. A bad message is answered with ``{"type": "error", "message": ...}``.
The page, its script and its style sheet are files of this package: nothing is fetched
from the internet.
"""
from __future__ import annotations

import asyncio
import json
import math
import os
import secrets
import socket
import threading
import traceback
import webbrowser
from typing import Any, Callable

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from chainrule.playground.derivation import derive
from chainrule.playground.export import script_text, write_run
from chainrule.playground.problem import MAX_UPLOAD_BYTES
from chainrule.playground.session import Session
from chainrule.playground.settings import SettingsError

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
SLICE_SECONDS = 0.04        # training between two frames of a tab playing alone
MIN_SLICE_SECONDS = 0.02    # ... and the shortest turn when many tabs play
MAX_SESSIONS = 64           # tabs served at once; more are refused with a message
MAX_MESSAGE_BYTES = 2 * MAX_UPLOAD_BYTES + 4096   # a CSV upload in its JSON envelope
MESSAGE_TYPES = ("settings", "play", "pause", "step", "reset", "explain", "upload",
                 "export_checkpoint", "ping")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def _finite(obj: Any) -> Any:
    """JSON has no NaN or infinity: send them as null (a diverged loss, for instance)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


class Tab:
    """One connected tab: its session, the lock that orders work on it, its trainer."""

    def __init__(self, websocket: WebSocket, runs_dir: str, training: anyio.CapacityLimiter):
        self.websocket = websocket
        self.runs_dir = runs_dir
        self.training = training
        self.session: Session | None = None
        self.lock = asyncio.Lock()
        self.trainer: asyncio.Task | None = None

    async def run(self, fn: Callable, *args) -> Any:
        """``fn(*args)`` in a worker thread, after any work already queued on this tab."""
        async with self.lock:
            return await anyio.to_thread.run_sync(fn, *args)

    async def send(self, message: dict) -> None:
        text = json.dumps(_finite(message), allow_nan=False)
        try:
            await self.websocket.send_text(text)
        except (RuntimeError, OSError) as e:
            # Starlette raises a RuntimeError (WebSocketDisconnected) to send on a closed
            # socket: the tab went away while we worked; end it as a disconnect.
            raise WebSocketDisconnect(code=1006) from e

    # --------------------------------------------------------------- training
    def playing(self) -> bool:
        return self.trainer is not None and not self.trainer.done()

    async def play(self) -> None:
        if not self.playing():
            self.trainer = asyncio.create_task(self._train())

    async def pause(self) -> None:
        if self.trainer is not None:
            self.trainer.cancel()
            try:
                await self.trainer
            except (asyncio.CancelledError, Exception):
                pass
            self.trainer = None

    async def _train(self) -> None:
        session = self.session
        app = self.websocket.app

        def slice_and_frame(seconds: float) -> dict:
            session.train_for(seconds)
            return session.frame()
        while True:
            # One tab trains at a time, the tabs taking turns: the GIL lets only one thread
            # run Python anyway, and with one trainer the event loop (and every tab's clicks,
            # which do not wait for this turn) gets the GIL back within a few milliseconds.
            # The more tabs play, the shorter each turn, so every tab still redraws often.
            playing = sum(tab.playing() for tab in app.state.sessions.values())
            seconds = max(MIN_SLICE_SECONDS, SLICE_SECONDS / max(1, playing))
            async with self.training:
                frame = await self.run(slice_and_frame, seconds)
            frame["playing"] = True
            await self.send(frame)
            await asyncio.sleep(0)   # let this tab's own messages in between slices

    # --------------------------------------------------------------- messages
    async def handle(self, text: str) -> None:
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            raise SettingsError("a message must be a JSON object") from None
        if not isinstance(message, dict) or message.get("type") not in MESSAGE_TYPES:
            raise SettingsError(f"a message's type must be one of {', '.join(MESSAGE_TYPES)}")
        kind, session = message["type"], self.session
        if kind == "ping":
            await self.send({"type": "pong", "id": message.get("id") if isinstance(
                message.get("id"), (int, float)) else None})
        elif kind == "play":
            await self.play()
        elif kind == "pause":
            await self.pause()
            await self.send({**await self.run(session.frame), "playing": False})
        elif kind == "step":
            await self.pause()
            await self.send(await self.run(session.step))
        elif kind == "reset":
            await self.pause()
            await self.run(session.reset)
            await self.send(await self.run(session.network_message))
        elif kind == "settings":
            result = await self.run(session.update_settings, message.get("settings"))
            if result["changed"] in ("data", "network"):
                was_playing = self.playing()
                await self.pause()
                await self.send(await self.run(session.network_message))
                if was_playing:
                    await self.play()
            else:
                await self.send({"type": "settings_ok", "settings": session.settings.to_dict()})
        elif kind == "explain":
            def explain() -> dict:
                return derive(session, message.get("layer"), message.get("kind"),
                              message.get("row"), message.get("col", 0),
                              message.get("sample", 0))
            await self.send(await self.run(explain))
        elif kind == "upload":
            content, name = message.get("content"), message.get("name")
            if not isinstance(content, str) or not isinstance(name, str):
                raise SettingsError("an upload needs a file name and its text")
            data = content.encode("utf-8")
            if len(data) > MAX_UPLOAD_BYTES:
                raise SettingsError(f"the CSV file is {len(data):,} bytes; the playground "
                                    f"takes at most {MAX_UPLOAD_BYTES:,}")
            await self.pause()
            await self.run(session.upload_csv, data, os.path.basename(name)[:100])
            await self.send(await self.run(session.network_message))
        elif kind == "export_checkpoint":
            folder = await self.run(write_run, session, self.runs_dir)
            await self.send({"type": "exported", "path": folder,
                             "command": f"chainrule evaluate {folder}"})


async def _websocket(websocket: WebSocket) -> None:
    app = websocket.app
    origin = websocket.headers.get("origin")
    # A page from another site must not drive this server (it could fill the disk with
    # exports): browsers always send Origin, and it must be this server's own address.
    if origin is not None and origin != f"http://{websocket.headers.get('host')}":
        await websocket.close(code=1008)
        return
    await websocket.accept()
    sessions: dict[str, Tab] = app.state.sessions
    if len(sessions) >= app.state.max_sessions:
        await websocket.send_text(json.dumps({"type": "error", "fatal": True, "message":
                                              f"the playground is serving {len(sessions)} tabs, "
                                              f"its limit; close one and reload"}))
        await websocket.close()
        return
    if app.state.training is None:   # made here, inside the server's event loop
        app.state.training = anyio.CapacityLimiter(1)
    tab = Tab(websocket, app.state.runs_dir, app.state.training)
    token = secrets.token_urlsafe(18)
    sessions[token] = tab
    try:
        tab.session = await anyio.to_thread.run_sync(Session)
        await tab.send({"type": "hello", "session": token,
                        "limits": {"upload_bytes": MAX_UPLOAD_BYTES}})
        await tab.send(await tab.run(tab.session.network_message))
        while True:
            text = await websocket.receive_text()
            try:
                await tab.handle(text)
            except SettingsError as e:
                await tab.send({"type": "error", "message": str(e)})
            except (WebSocketDisconnect, asyncio.CancelledError):
                raise
            except Exception as e:   # a bug, not the learner's doing: say so, keep serving
                traceback.print_exc()
                await tab.send({"type": "error", "message": f"internal error ({type(e).__name__}: "
                                                           f"{e}); please report it"})
    except WebSocketDisconnect:
        pass
    finally:
        await tab.pause()
        sessions.pop(token, None)
        tab.session = None        # the session's data, model and optimiser go with it


async def _index(request: Request) -> Response:
    return FileResponse(os.path.join(STATIC, "index.html"),
                        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"})


async def _script(request: Request) -> Response:
    tab = request.app.state.sessions.get(request.path_params["token"])
    if tab is None or tab.session is None:
        return PlainTextResponse("no such playground session (is its tab still open?)\n",
                                 status_code=404)
    text = await tab.run(script_text, tab.session)
    return PlainTextResponse(text, media_type="text/x-python", headers={
        "Content-Disposition": 'attachment; filename="playground_network.py"'})


def create_app(runs_dir: str = "runs", max_sessions: int = MAX_SESSIONS,
               allowed_hosts: list[str] | None = None) -> Starlette:
    """The playground app; exported run folders go under ``runs_dir``. With
    ``allowed_hosts``, requests naming any other host are refused (a page on another site
    that points its own name at 127.0.0.1, "DNS rebinding", must not reach the server).

    Example:
        >>> app = create_app("runs")
        >>> sorted(app.state.sessions)
        []
    """
    app = Starlette(routes=[
        Route("/", _index),
        Route("/export/script/{token}", _script),
        WebSocketRoute("/ws", _websocket),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ], middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)]
        if allowed_hosts else None)
    app.state.sessions = {}
    app.state.runs_dir = runs_dir
    app.state.max_sessions = max_sessions
    app.state.training = None
    return app


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket on ``host``:``port`` (port 0: a free one the system picks)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"


def make_server(sock: socket.socket, runs_dir: str = "runs"):
    """A uvicorn server for the app (``server.run(sockets=[sock])`` serves until
    ``server.should_exit`` is set or Ctrl-C)."""
    import uvicorn
    host = sock.getsockname()[0]
    # On this computer only, the page is reached by these names; a --host the user chose
    # (a LAN address, 0.0.0.0) is reached by names we cannot know.
    local = ["127.0.0.1", "localhost"] if host == "127.0.0.1" else None
    config = uvicorn.Config(create_app(runs_dir, allowed_hosts=local), log_level="warning",
                            lifespan="off",
                            ws_max_size=MAX_MESSAGE_BYTES, ws_ping_interval=None)
    return uvicorn.Server(config)


def serve(host: str = "127.0.0.1", port: int = 0, open_browser: bool = True,
          runs_dir: str = "runs") -> None:
    """Serve the playground until Ctrl-C: print its address and open it in the browser."""
    sock = bind(host, port)
    url = url_of(sock)
    print(f"chainrule playground: {url}  (exports go to {os.path.abspath(runs_dir)}; "
          f"Ctrl-C stops it)", flush=True)
    if open_browser:
        threading.Timer(0.3, webbrowser.open, [url]).start()
    make_server(sock, runs_dir).run(sockets=[sock])
