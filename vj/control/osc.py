"""OSC in and out, with python-osc: a UDP server thread that only moves bytes to the router, and
a feedback thread that sends parameter changes and show state to registered clients.

Why not python-osc's stock dispatch: it sleeps on bundles with a future time tag (a packet could
park the server thread for years), recurses into nested bundles without a limit, drops bad
packets silently and finds handlers by compiling a regex per message. Here the dispatcher checks
size, nesting and the allow-list first, dispatches at once (a live control means *now*), logs
bad input rate-limited, and routes by dictionary lookups in ``ControlRouter``.
"""
from __future__ import annotations

import logging
import socket
import struct
import threading
from collections import deque
from typing import Any, Iterable, Sequence

from pythonosc import osc_packet
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_message_builder import build_msg
from pythonosc.osc_server import BlockingOSCUDPServer

from vj.control.logs import RateLimitedLog
from vj.control.params import ParamKind, ParamStore
from vj.control.router import ControlRouter
from vj.errors import VjError

log = logging.getLogger(__name__)

DEFAULT_PORT = 9000
#: Bundles nested deeper than this are dropped unparsed (python-osc would recurse without limit).
MAX_BUNDLE_DEPTH = 8
#: Datagrams longer than this are dropped (socketserver reads at most this many bytes anyway).
MAX_DATAGRAM = 8192
_BUNDLE = b"#bundle\x00"


class OscError(VjError):
    """The OSC server cannot start (port in use, no such interface): a message for people."""


def parse_host_port(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """'host:port' or 'port' → (host, port), for ``--osc-feedback``. Raises ValueError."""
    host, _, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"'{text}' is not host:port (e.g. 192.168.1.20:9001)") from None
    if not 0 < number < 65536:
        raise ValueError(f"'{text}': port must be 1..65535")
    return (host.strip("[]") or default_host), number


def bundle_depth(data: bytes, limit: int = MAX_BUNDLE_DEPTH) -> int:
    """How deeply bundles nest in ``data`` (0: a plain message); stops counting past ``limit``.
    Iterative, so a hostile datagram cannot recurse this thread to death."""
    if not data.startswith(_BUNDLE):
        return 0
    deepest = 0
    stack = [(0, len(data), 1)]
    while stack:
        start, end, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        index = start + 16  # '#bundle\0' + time tag
        while index + 4 <= end:
            (size,) = struct.unpack_from(">i", data, index)
            index += 4
            if size <= 0 or index + size > end:
                break  # malformed: python-osc's parser will reject it
            if data.startswith(_BUNDLE, index):
                stack.append((index, index + size, depth + 1))
            index += size
    return deepest


class _VjDispatcher(Dispatcher):
    """python-osc's Dispatcher with packet handling replaced (see the module docstring)."""

    def __init__(self, server: "OscServer") -> None:
        super().__init__()
        self._vj = server

    def call_handlers_for_packet(self, data: bytes, client_address: tuple[str, int]) -> list:
        return self._vj._handle_packet(data, client_address)


class _UdpServer(BlockingOSCUDPServer):
    """One thread, messages handled in arrival order (lowest latency; no thread per datagram)."""

    max_packet_size = MAX_DATAGRAM

    def __init__(self, address: tuple[str, int], dispatcher: Dispatcher, owner: "OscServer") -> None:
        self._owner = owner
        super().__init__(address, dispatcher)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return self._owner._accept(request[0], client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver would print a traceback to stderr; one rate-limited log line instead.
        self._owner.bad("server-error", "OSC packet from %s failed in the server", client_address, level=logging.ERROR)


class OscFeedback:
    """Sends parameter changes and show state to registered OSC clients, from its own thread.

    Writers (the store's listener, ``publish_state`` from the render loop) only append to a
    deque; the sender thread coalesces by address (latest wins) and sends at most ``rate``
    batches per second, so a fader flood or a 144 Hz beat phase costs the network ~30 packets/s.
    """

    def __init__(self, store: ParamStore, clients: Iterable[tuple[str, int]] = (), rate: float = 30.0) -> None:
        self.store = store
        self.rate = rate
        self._clients: tuple[tuple[str, int], ...] = tuple(dict.fromkeys(clients))
        self._pending: deque[tuple[str, tuple[Any, ...]]] = deque(maxlen=8192)
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()   # a discrete change (cue, song, style, a switch) goes out at once
        self._shown: dict[str, Any] = {}
        self.bad = RateLimitedLog(log)
        self.sent = 0

    @property
    def clients(self) -> tuple[tuple[str, int], ...]:
        return self._clients

    def add_client(self, host: str, port: int) -> None:
        if (host, port) not in self._clients:
            self._clients = self._clients + ((host, port),)
            log.info("OSC feedback to %s:%d", host, port)

    def remove_client(self, host: str, port: int) -> None:
        self._clients = tuple(c for c in self._clients if c != (host, port))

    def start(self) -> None:
        if self._thread is not None:
            return
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._stop.clear()
        self.store.add_listener(self._on_change)
        self._thread = threading.Thread(target=self._run, name="vj-osc-feedback", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self.store.remove_listener(self._on_change)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=2.0)
        self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    # ---- producers (any thread; never block) ------------------------------------------------

    def _on_change(self, name: str, value: Any, source: str) -> None:
        if self._clients:
            self._pending.append((name, ()))  # the value is read back from the store when sending
            if name in self.store and self.store.spec(name).kind is not ParamKind.FLOAT:
                self._wake.set()

    def refresh(self) -> None:
        """Send every parameter (a tablet that just connected wants all its faders placed)."""
        for name in self.store.specs:
            self._pending.append((name, ()))

    def publish_state(self, *, cue: int | None = None, cue_label: str | None = None, prompt: str | None = None,
                      bpm: float | None = None, beat: float | None = None, beat_phase: float | None = None,
                      bar: int | None = None, song: str | None = None, style: str | None = None,
                      link_peers: int | None = None) -> None:
        """Show state for the clients (called by the live loop, each frame if it likes)."""
        if not self._clients:
            return
        push = self._pending.append
        if cue is not None:
            push(("/vj/state/cue", (int(cue), cue_label or "")))
        if prompt is not None:
            push(("/vj/state/prompt", (str(prompt)[:500],)))
        if bpm is not None:
            push(("/vj/state/bpm", (float(bpm),)))
        if beat is not None:
            push(("/vj/state/beat", (int(beat), float(beat_phase or 0.0))))
        if bar is not None:
            push(("/vj/state/bar", (int(bar),)))
        if song is not None:
            push(("/vj/state/song", (str(song),)))
        if style is not None:
            push(("/vj/state/style", (str(style),)))
        if link_peers is not None:
            push(("/vj/state/link_peers", (int(link_peers),)))
        changed = (cue, song, style) != self._shown.get("discrete", (cue, song, style))
        self._shown["discrete"] = (cue, song, style)
        if changed:
            self._wake.set()

    # ---- the sender thread ------------------------------------------------------------------

    def _run(self) -> None:
        interval = 1.0 / max(self.rate, 1.0)
        while not self._stop.is_set():
            self._wake.wait(interval)
            self._wake.clear()
            if self._pending:
                self.flush()

    def flush(self) -> None:
        """Send what is pending now (the thread calls this; tests may too)."""
        batch: dict[str, tuple[Any, ...]] = {}
        while True:
            try:
                key, args = self._pending.popleft()
            except IndexError:
                break
            batch[key] = args
        clients = self._clients
        if not batch or not clients or self._socket is None:
            return
        for key, args in batch.items():
            for address, values in (self._param_messages(key) if not key.startswith("/") else ((key, args),)):
                try:
                    data = build_msg(address, list(values)).dgram
                except Exception as exc:  # a value python-osc cannot encode: skip it, keep the rest
                    self.bad(f"encode-{key}", "cannot encode OSC feedback %s: %s", address, exc)
                    continue
                for client in clients:
                    try:
                        self._socket.sendto(data, client)
                        self.sent += 1
                    except OSError as exc:  # client gone or unreachable: UDP, try again next time
                        self.bad(f"send-{client}", "OSC feedback to %s:%d failed: %s", client[0], client[1], exc)

    def _param_messages(self, name: str) -> list[tuple[str, tuple[Any, ...]]]:
        store = self.store
        if name not in store:
            return []
        spec = store.spec(name)
        value = store.value(name)
        base = f"/vj/param/{name}"
        if spec.kind is ParamKind.TEXT:
            return [(base, (value or "",))]
        if value is None:
            return []
        if spec.kind is ParamKind.BOOL:
            return [(base, (int(bool(value)),))]
        if spec.kind is ParamKind.CHOICE:
            return [(base, (str(value),)), (base + "/normalized", (float(spec.to_normalised(value)),))]
        number = int(value) if spec.kind is ParamKind.INT else float(value)
        return [(base, (number,)), (base + "/normalized", (float(spec.to_normalised(value)),))]


class OscServer:
    """The OSC control server: ``start()`` binds and runs a daemon thread, ``stop()`` joins it.

    host:      interface to bind (127.0.0.1 unless the show is steered from another machine).
    port:      UDP port (0: any free one; see ``address`` after start).
    allow:     client IPs allowed to control the show (None: anyone who can reach the port).
    feedback:  (host, port) pairs that receive parameter changes and show state.
    """

    def __init__(self, store: ParamStore, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 allow: Sequence[str] | None = None, feedback: Iterable[tuple[str, int]] = (), *,
                 router: ControlRouter | None = None, feedback_rate: float = 30.0) -> None:
        self.store = store
        self.host, self.port = host, port
        self.allow = frozenset(allow) if allow is not None else None
        self.router = router or ControlRouter(store)
        self.feedback = OscFeedback(store, feedback, feedback_rate)
        self.bad = RateLimitedLog(log)
        self._server: _UdpServer | None = None
        self._thread: threading.Thread | None = None
        self.received = 0
        self.rejected = 0

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) actually bound."""
        if self._server is None:
            return self.host, self.port
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        if self._thread is not None:
            return
        try:
            self._server = _UdpServer((self.host, self.port), _VjDispatcher(self), self)
        except OSError as exc:
            raise OscError(f"cannot listen for OSC on {self.host}:{self.port}: {exc.strerror or exc}; "
                           "choose another --osc-port or --osc-host") from None
        self.feedback.start()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="vj-osc-server", daemon=True)
        self._thread.start()
        host, port = self.address
        log.info("OSC control on %s:%d%s", host, port, "" if self.allow is None else
                 f" (clients: {', '.join(sorted(self.allow))})")

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._server.server_close()
        self._server = None
        self._thread = None
        self.feedback.stop()

    def __enter__(self) -> "OscServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def publish_state(self, **state: Any) -> None:
        """See ``OscFeedback.publish_state``: cue, cue_label, prompt, bpm, beat, beat_phase, bar, song, style."""
        self.feedback.publish_state(**state)

    # ---- packet path (server thread) --------------------------------------------------------

    def _accept(self, data: bytes, client: Any) -> bool:
        if self.allow is not None and client[0] not in self.allow:
            self.rejected += 1
            self.bad(f"deny-{client[0]}", "OSC from %s refused (not in the allow list)", client[0])
            return False
        if data[:1] not in (b"/", b"#"):
            self.rejected += 1
            self.bad("not-osc", "a datagram from %s is not OSC: dropped", client[0])
            return False
        return True

    def _handle_packet(self, data: bytes, client: tuple[str, int]) -> list:
        self.received += 1
        if len(data) >= MAX_DATAGRAM:
            self.bad("too-long", "an OSC datagram of %d bytes or more from %s: dropped", MAX_DATAGRAM, client[0])
            return []
        if bundle_depth(data) > MAX_BUNDLE_DEPTH:
            self.bad("deep-bundle", "an OSC bundle from %s nests deeper than %d: dropped", client[0],
                     MAX_BUNDLE_DEPTH)
            return []
        try:
            packet = osc_packet.OscPacket(data)
        except osc_packet.ParseError as exc:
            self.bad("malformed", "malformed OSC datagram from %s: %s", client[0], str(exc)[:120])
            return []
        except Exception as exc:  # python-osc may fail in other ways on hostile bytes
            self.bad("parse-failed", "unreadable OSC datagram from %s: %s", client[0], type(exc).__name__)
            return []
        replies: list = []
        source = f"osc:{client[0]}"
        for timed in packet.messages:  # time tags ignored on purpose: a live control means now
            message = timed.message
            address = message.address
            if address == "/vj/ping":
                replies.append(("/vj/pong", list(message.params[:1])))
            elif address.startswith("/vj/feedback/"):
                self._feedback_request(address, list(message.params), client)
            else:
                self.router.osc(address, message.params, source)
        return replies

    def _feedback_request(self, address: str, params: list, client: tuple[str, int]) -> None:
        """``/vj/feedback/subscribe [port]``, ``/vj/feedback/unsubscribe [port]``, ``/vj/feedback/refresh``."""
        port = client[1]
        if params and isinstance(params[0], int) and 0 < params[0] < 65536:
            port = params[0]
        if address == "/vj/feedback/subscribe":
            self.feedback.add_client(client[0], port)
            self.feedback.refresh()
        elif address == "/vj/feedback/unsubscribe":
            self.feedback.remove_client(client[0], port)
        elif address == "/vj/feedback/refresh":
            self.feedback.refresh()
        else:
            self.bad("unknown-feedback", "unknown OSC address %r from %s", address[:80], client[0])


__all__ = ["OscServer", "OscFeedback", "OscError", "parse_host_port", "bundle_depth", "DEFAULT_PORT"]
