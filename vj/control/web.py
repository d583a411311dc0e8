"""``vj live --web``: a control page in the browser, served from a thread of its own.

The server (aiohttp) runs its own asyncio event loop in one daemon thread beside the render loop,
and moves nothing but messages:

- **page → show**: one WebSocket per page; each JSON message is checked (size, rate, shape) and
  handed to the same ``ControlRouter`` OSC and MIDI use, so every limit of theirs applies (prompt
  text is cut at ``MAX_TEXT``, values are clamped, unknown names dropped). The render thread only
  ever reads the store's snapshot (lock-free) and drains its action queue: nothing a page sends can
  block or slow it.
- **show → pages**: a store listener (called on whichever thread wrote: OSC, MIDI, keys, another
  page, the render loop) only records the name and wakes the event loop once; the loop reads the
  values back and sends each page what changed, coalesced (latest wins) by a writer task per page,
  so a slow phone never holds up the others. The show's state (song, cue, style, BPM, beat phase)
  is published by the render loop into one attribute and sent at ``STATE_RATE`` per second.
- **preview**: JPEG thumbnails (``vj.output.thumbnail``) as binary WebSocket messages to the pages
  that asked for them, latest wins.

Security: loopback by default (and then the Host header must name the loopback, against DNS
rebinding); any other address needs a token (``?token=`` on the page URL, kept in a same-site
cookie), checked on the page, its assets and the WebSocket: wrong or missing → 403. A WebSocket
whose Origin is not this server's is refused (403) whatever the token.

The page itself (``vj/control/web/``) is plain HTML, CSS and JS built from the parameter table the
server sends on connect (``schema``), so a new parameter appears on it by itself.
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import math
import secrets
import socket
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from vj.control.logs import RateLimitedLog
from vj.control.params import MAX_TEXT, ParamKind, ParamStore
from vj.control.router import ControlRouter
from vj.errors import VjError
from vj.param_table import ACTION_SPECS, ACTIONS, PARAMS, STEP_TARGETS

log = logging.getLogger(__name__)

DEFAULT_WEB_PORT = 8080
#: Where the page's files are (shipped in the package).
STATIC = Path(__file__).resolve().with_name("web")
#: The largest WebSocket message accepted (bytes): a prompt of ``MAX_TEXT`` characters fits.
MAX_MESSAGE = 8 * 1024
#: Messages per second one page may send (a token bucket of ``BURST``); the rest are dropped.
RATE = 120.0
BURST = 240
#: A page that keeps sending past its rate is closed after this many dropped messages.
MAX_DROPPED = 2000
#: Pages at once (more are refused with 503).
MAX_CLIENTS = 32
#: Show state updates per second to each page (the beat light).
STATE_RATE = 30.0
#: Prompts kept in the shared history.
HISTORY = 20
#: The groups in the parameter table's order (docs/osc.md's); a group only a song or generator adds comes after.
GROUP_ORDER = tuple(dict.fromkeys(param.group for param in PARAMS))
#: Parameters the page shows with their own controls rather than as faders.
_OWN_CONTROLS = {"style", "prompt", "prompt_index", "blackout", "freeze"}
_COOKIE = "vj_token"
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "ip6-localhost"}
_TYPES = {"set", "norm", "add", "release", "toggle", "action", "prompt", "preview", "ping", "hello"}


class WebError(VjError):
    """The web server cannot start (port in use, no such address): a message for people."""


def is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def lan_address() -> str:
    """This machine's address on its default route (no packet is sent), else its host name."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            return str(probe.getsockname()[0])
    except OSError:
        return socket.gethostname()


def schema(store: ParamStore) -> dict[str, Any]:
    """What the page builds itself from: every parameter (grouped as the docs group them) and
    every action, with the show's current choices (styles) and song prompts."""
    params = []
    for spec in store.specs.values():
        params.append({
            "name": spec.name, "kind": spec.kind.value, "min": _finite(spec.minimum), "max": _finite(spec.maximum),
            "default": _jsonable(spec.default), "unit": spec.unit, "group": spec.group, "doc": spec.doc,
            "choices": list(spec.choices), "follows_setlist": spec.follows_setlist,
            "own": spec.name in _OWN_CONTROLS,
        })
    order = {name: index for index, name in enumerate(GROUP_ORDER)}
    groups = sorted(dict.fromkeys(p["group"] for p in params), key=lambda g: (order.get(g, len(order)), g))
    actions = [{"name": a.name, "doc": a.doc, "needs_value": a.needs_value} for a in ACTION_SPECS]
    return {"params": params, "groups": groups, "actions": actions, "max_text": MAX_TEXT,
            "prompts": list(store.prompts)}


def values(store: ParamStore, names: Any = None) -> dict[str, Any]:
    """Current values (glide targets; None: follows the setlist, unset)."""
    specs = store.specs
    result = {}
    for name in (specs if names is None else names):
        if name in specs:
            result[name] = _jsonable(store.value(name)) if store.is_set(name) or not specs[name].follows_setlist \
                else None
    return result


def _finite(number: Any) -> Any:
    return float(number) if isinstance(number, (int, float)) and math.isfinite(number) else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


class _Bucket:
    """A token bucket: ``take()`` is False when the page sends faster than ``rate``."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = float(burst)
        self.last = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class _Client:
    """One open page: what to send it next (coalesced) and the task that sends it."""

    def __init__(self, ws: Any, peer: str) -> None:
        self.ws, self.peer = ws, peer
        self.replies: deque[str] = deque(maxlen=64)
        self.values: dict[str, Any] = {}
        self.state: dict[str, Any] | None = None
        self.preview: bytes | None = None
        self.wants_preview = False
        self.wake = asyncio.Event()
        self.bucket = _Bucket(RATE, BURST)
        self.dropped = 0

    def push(self) -> None:
        self.wake.set()


class WebServer:
    """The control page's server: ``start()`` binds and runs the thread, ``stop()`` joins it.

    host, port:  where to listen (port 0: any free one; see ``port`` after start).
    token:       required on every request (None or "": none on loopback, a new random one on
                 any other address).
    """

    def __init__(self, store: ParamStore, router: ControlRouter | None = None, *, host: str = "127.0.0.1",
                 port: int = DEFAULT_WEB_PORT, token: str | None = None) -> None:
        self.store = store
        self.router = router or ControlRouter(store)
        self.host, self.port = host, port
        if not token:   # loopback: none needed; any other address: never without one
            token = "" if is_loopback(host) else secrets.token_urlsafe(18)
        self.token = token
        self.bad = RateLimitedLog(log)
        self.history: deque[str] = deque(maxlen=HISTORY)
        self.received = 0
        self.rejected = 0
        self.applied = 0
        self._clients: set[_Client] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: Any = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._changed: set[str] = set()
        self._change_lock = threading.Lock()
        self._wake_pending = False
        self._state: dict[str, Any] = {}
        self._state_version = 0
        self._stopping: asyncio.Event | None = None
        self.preview_wanted = False

    # ---- the thread ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name="vj-web", daemon=True)
        self._thread.start()
        self._ready.wait(10.0)
        if self._error is not None or not self._ready.is_set():
            error, self._error = self._error, None
            self._thread.join(2.0)
            self._thread = None
            reason = getattr(error, "strerror", None) or error or "it did not start in time"
            raise WebError(f"cannot serve the control page on {self.host}:{self.port}: {reason}; "
                           "choose another --web port or --web-host") from None
        self.store.add_listener(self._on_change)
        log.info("control page on %s", self.url)

    def stop(self) -> None:
        if self._thread is None:
            return
        self.store.remove_listener(self._on_change)
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            try:
                loop.call_soon_threadsafe(stopping.set)
            except RuntimeError:  # the loop has closed already
                pass
        self._thread.join(5.0)
        self._thread = None

    def __enter__(self) -> "WebServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The page's address for people (the LAN address when bound to all interfaces)."""
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = lan_address()
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    def announce(self, out: Any = None) -> None:
        """Print the page's URL (and, for a LAN address, a QR code of it) for the performer."""
        out = out or sys.stderr
        out.write(f"vj: control page: {self.url}\n")
        if self.token:
            try:
                import segno
            except ImportError:
                return
            try:
                segno.make(self.url, error="l").terminal(out=out, compact=True)
            except Exception as exc:  # a terminal that cannot take the block characters
                log.debug("no QR code: %s", exc)
        out.flush()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()
                self._loop = None

    async def _serve(self) -> None:
        from aiohttp import web

        app = web.Application(client_max_size=MAX_MESSAGE, middlewares=[self._guard])
        app.router.add_get("/", self._page)
        app.router.add_get("/ws", self._websocket)
        app.router.add_get("/{name:[a-z]+\\.(?:js|css)}", self._asset)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        self._stopping = asyncio.Event()
        try:
            await site.start()
            addresses = self._runner.addresses
            if addresses:
                self.port = int(addresses[0][1])
            self._ready.set()
            ticker = asyncio.ensure_future(self._tick())
            await self._stopping.wait()
            ticker.cancel()
            closing = [client.ws.close() for client in list(self._clients)]
            if closing:   # a page that does not answer the close is not waited for long
                await asyncio.wait(map(asyncio.ensure_future, closing), timeout=1.0)
        finally:
            await self._runner.cleanup()

    # ---- HTTP ---------------------------------------------------------------------------------

    def _authorised(self, request: Any) -> bool:
        try:
            host = urlsplit("//" + (request.host or "")).hostname or ""
        except ValueError:
            return False
        if not self.token:
            return is_loopback(host)   # loopback only, and no DNS-rebinding name either
        given = request.query.get("token") or request.cookies.get(_COOKIE) or ""
        return hmac.compare_digest(given.encode(), self.token.encode())

    @property
    def _guard(self) -> Any:
        from aiohttp import web

        @web.middleware
        async def guard(request: Any, handler: Any) -> Any:
            if not self._authorised(request):
                self.rejected += 1
                self.bad(f"deny-{request.remote}", "control page request from %s refused (no or wrong token)",
                         request.remote)
                return web.Response(status=403, text="403: this control page needs the token vj printed at start\n")
            response = await handler(request)
            if getattr(response, "prepared", False):   # a WebSocket, answered already
                return response
            if self.token and request.query.get("token"):
                response.set_cookie(_COOKIE, self.token, httponly=True, samesite="Strict")
            response.headers.setdefault("Cache-Control", "no-store")
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("Content-Security-Policy",
                                        "default-src 'self'; img-src 'self' blob: data:; "
                                        f"connect-src 'self' ws://{request.host} wss://{request.host}")
            return response

        return guard

    async def _page(self, request: Any) -> Any:
        from aiohttp import web

        return web.Response(body=(STATIC / "index.html").read_bytes(), content_type="text/html", charset="utf-8")

    async def _asset(self, request: Any) -> Any:
        from aiohttp import web

        name = request.match_info["name"]
        path = STATIC / name
        if not path.is_file():
            raise web.HTTPNotFound()
        kind = "application/javascript" if name.endswith(".js") else "text/css"
        return web.Response(body=path.read_bytes(), content_type=kind, charset="utf-8")

    def _origin_ok(self, request: Any) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return True   # not a browser: the token (or the loopback) is the check
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc.lower() == (request.host or "").lower()

    async def _websocket(self, request: Any) -> Any:
        from aiohttp import WSMsgType, web

        if not self._origin_ok(request):
            self.rejected += 1
            self.bad("origin", "control page WebSocket from origin %r refused", request.headers.get("Origin", "")[:80])
            return web.Response(status=403, text="403: cross-origin WebSocket refused\n")
        if len(self._clients) >= MAX_CLIENTS:
            return web.Response(status=503, text="503: too many control pages open\n")
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE, heartbeat=10.0, compress=False)
        await ws.prepare(request)
        client = _Client(ws, str(request.remote))
        self._clients.add(client)
        client.replies.append(self._hello())
        client.push()
        writer = asyncio.ensure_future(self._writer(client))
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._receive(client, message.data)
                elif message.type == WSMsgType.BINARY:
                    self._reject(client, "binary")
                elif message.type == WSMsgType.ERROR:
                    break
                if client.dropped > MAX_DROPPED:
                    self.bad(f"flood-{client.peer}", "control page %s keeps flooding: closed", client.peer)
                    break
        finally:
            self._clients.discard(client)
            self._update_preview_wanted()
            writer.cancel()
            if not ws.closed:
                await ws.close()
        return ws

    # ---- page → show --------------------------------------------------------------------------

    def _reject(self, client: _Client, why: str) -> None:
        self.rejected += 1
        client.dropped += 1
        self.bad(f"bad-{why}", "control page message from %s dropped: %s", client.peer, why)

    def _receive(self, client: _Client, data: str) -> None:
        self.received += 1
        if not client.bucket.take():
            return self._reject(client, "too many messages")
        try:
            message = json.loads(data)
        except (ValueError, RecursionError):
            return self._reject(client, "not JSON")
        if not isinstance(message, dict) or message.get("t") not in _TYPES:
            return self._reject(client, "not a control message")
        kind = message["t"]
        name = message.get("name")
        value = message.get("value")
        if name is not None and (not isinstance(name, str) or len(name) > 64):
            return self._reject(client, "bad name")
        if isinstance(value, (dict, list)):
            return self._reject(client, "bad value")
        if kind == "ping":
            pong = {"t": "pong", "id": message.get("id") if isinstance(message.get("id"), (int, float, str)) else None}
            client.replies.append(json.dumps(pong))
            return client.push()
        if kind == "hello":
            client.replies.append(self._hello())
            return client.push()
        if kind == "preview":
            client.wants_preview = bool(message.get("on"))
            return self._update_preview_wanted()
        if kind == "prompt":
            text = message.get("text")
            if not isinstance(text, str):
                return self._reject(client, "prompt needs text")
            ok = self.router.apply("prompt", text[:MAX_TEXT], "set", "web")
        elif not isinstance(name, str):
            return self._reject(client, f"{kind} needs a name")
        elif kind == "action":
            if name not in ACTIONS and name not in STEP_TARGETS:
                return self._reject(client, "unknown action")
            ok = self.router.apply(name, value, "trigger" if value is None else "set", "web")
        elif name not in self.store:
            return self._reject(client, "unknown parameter")
        elif kind in ("release", "toggle"):
            ok = self.router.apply(name, None, kind, "web")
        else:
            how = {"set": "set", "norm": "normalised", "add": "add"}[kind]
            if self.store.spec(name).kind is ParamKind.TEXT and not isinstance(value, str):
                return self._reject(client, "text parameter needs text")
            ok = self.router.apply(name, value, how, "web")
        if ok:
            self.applied += 1
        else:
            client.dropped += 1

    # ---- show → pages -------------------------------------------------------------------------

    def _on_change(self, name: str, value: Any, source: str) -> None:
        """The store's listener (any thread): note the name, wake the loop once."""
        with self._change_lock:
            self._changed.add(name)
            if self._wake_pending:
                return
            self._wake_pending = True
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._flush_changes)
            except RuntimeError:  # closing
                pass

    def _flush_changes(self) -> None:
        with self._change_lock:
            names, self._changed = self._changed, set()
            self._wake_pending = False
        if "prompt" in names:
            prompt = self.store.value("prompt")
            if isinstance(prompt, str) and prompt and (not self.history or self.history[-1] != prompt):
                if prompt in self.history:
                    self.history.remove(prompt)
                self.history.append(prompt)
        if not self._clients:
            return
        update = values(self.store, names)
        for client in self._clients:
            client.values.update(update)
            if "prompt" in names:
                client.replies.append(json.dumps({"t": "history", "prompts": list(self.history)}))
            client.push()

    def publish_state(self, *, cue: int | None = None, cue_label: str | None = None, prompt: str | None = None,
                      bpm: float | None = None, beat: float | None = None, beat_phase: float | None = None,
                      bar: int | None = None, song: str | None = None, style: str | None = None) -> None:
        """The show's state (the render loop calls this each frame): one attribute swapped, sent
        from the server's thread at ``STATE_RATE``."""
        state = {"cue": cue, "cue_label": cue_label, "prompt": prompt, "bpm": bpm, "beat": beat,
                 "beat_phase": beat_phase, "bar": bar, "song": song, "style": style}
        self._state = {k: v for k, v in state.items() if v is not None}
        self._state_version += 1

    def offer_preview(self, jpeg: bytes) -> None:
        """A preview JPEG (any thread): sent to the pages that asked, latest wins."""
        loop = self._loop
        if loop is not None and self.preview_wanted:
            try:
                loop.call_soon_threadsafe(self._send_preview, jpeg)
            except RuntimeError:
                pass

    def _send_preview(self, jpeg: bytes) -> None:
        for client in self._clients:
            if client.wants_preview:
                client.preview = jpeg
                client.push()

    def _update_preview_wanted(self) -> None:
        self.preview_wanted = any(client.wants_preview for client in self._clients)

    async def _tick(self) -> None:
        """State at ``STATE_RATE``; a new schema when the store's table changed (a new song)."""
        sent_version, specs, prompts = 0, self.store.specs, self.store.prompts  # 0: nothing published yet
        while True:
            await asyncio.sleep(1.0 / STATE_RATE)
            if not self._clients:
                continue
            if self.store.specs is not specs or self.store.prompts is not prompts:
                specs, prompts = self.store.specs, self.store.prompts
                hello = self._hello()
                for client in self._clients:
                    client.replies.append(hello)
                    client.push()
            if self._state_version != sent_version:
                sent_version = self._state_version
                state = dict(self._state)
                state["wall"] = time.time()
                for client in self._clients:
                    client.state = state
                    client.push()

    def _hello(self) -> str:
        return json.dumps({"t": "schema", **schema(self.store), "values": values(self.store),
                           "history": list(self.history), "state": self._state})

    async def _writer(self, client: _Client) -> None:
        ws = client.ws
        try:
            while not ws.closed:
                await client.wake.wait()
                client.wake.clear()
                while client.replies:
                    await ws.send_str(client.replies.popleft())
                if client.values:
                    update, client.values = client.values, {}
                    await ws.send_str(json.dumps({"t": "values", "values": update}))
                if client.state is not None:
                    state, client.state = client.state, None
                    await ws.send_str(json.dumps({"t": "state", **state}))
                if client.preview is not None:
                    jpeg, client.preview = client.preview, None
                    await ws.send_bytes(jpeg)
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass
        except Exception as exc:  # a page gone mid-send: nothing else to do for it
            self.bad("send", "control page send failed: %s", exc)

    # ---- the preview output -------------------------------------------------------------------

    def thumbnail_output(self, **options: Any) -> Any:
        """An output of the show loop that feeds the pages' preview (``vj.output.thumbnail``)."""
        from vj.output.thumbnail import ThumbnailStream

        return ThumbnailStream(self.offer_preview, active=lambda: self.preview_wanted, **options)

    @property
    def clients(self) -> int:
        return len(self._clients)


__all__ = ["WebServer", "WebError", "DEFAULT_WEB_PORT", "MAX_MESSAGE", "schema", "values", "is_loopback"]
