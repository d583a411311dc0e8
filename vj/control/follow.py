"""``vj live --follow HOST[:PORT]``: one show on several machines.

A follower subscribes to a leader's OSC feedback (docs/osc.md) and mirrors the leader's song, cue,
style, prompt, blackout and freeze as they change, through its own parameter store and action
queue: its own controllers still override its own parameters (until the leader changes that same
thing again), and it keeps its own output (size, screen, NDI name).

- A thread of its own receives the leader's feedback and only records it; ``apply`` (the render
  thread, once a frame, before the actions are drained) turns what changed into store writes and
  actions, so the frame that applies a change is the one that shows it.
- It subscribes again every second (a leader that restarts knows no subscribers) and pings; a
  leader that stops answering leaves the follower playing on its last state and its own clock,
  and it follows again as soon as the leader answers.
- Tempo: an Ableton Link session when the follower's tempo lead is ``link`` and Link is there;
  else the leader's beat feedback (``/vj/state/beat``, ``/vj/state/bpm``): ``poll`` places the
  follower's grid on the leader's beats, as ``LinkLead.poll`` does on Link's.
"""
from __future__ import annotations

import logging
import math
import socket
import threading
import time
from collections import deque
from typing import Any, Callable

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import build_msg

from vj.control.logs import RateLimitedLog
from vj.control.osc import DEFAULT_PORT, parse_host_port
from vj.control.params import ControlEvent, ParamStore

log = logging.getLogger(__name__)

#: Seconds between subscriptions/pings, and without an answer before the leader counts as gone.
RESUBSCRIBE_SECONDS = 1.0
LEADER_TIMEOUT = 2.5
#: What the follower mirrors: feedback address → the state key it feeds.
MIRRORED = {"/vj/state/song": "song", "/vj/state/cue": "cue", "/vj/state/style": "style",
            "/vj/param/prompt": "prompt", "/vj/param/blackout": "blackout", "/vj/param/freeze": "freeze"}


def parse_leader(text: str) -> tuple[str, int]:
    """'HOST[:PORT]' (the leader's OSC port, 9000 unless given) → (host, port). Raises ValueError."""
    if ":" not in text.strip("[]") or text.endswith("]"):
        return text.strip("[]") or "127.0.0.1", DEFAULT_PORT
    return parse_host_port(text)


def local_address_towards(leader: tuple[str, int]) -> str:
    """This machine's address on the interface that reaches ``leader`` (the feedback socket
    listens there only: loopback for a leader on this machine). Raises OSError (no route, no
    such host)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(leader)   # UDP: chooses the route, sends nothing
        return str(probe.getsockname()[0])


class Follower:
    """Follows the vj at ``leader`` (host, port) into ``store``.

    listen: the local address to receive feedback on (default: the one on the route to the leader).
    """

    def __init__(self, store: ParamStore, leader: tuple[str, int], *, listen: str | None = None,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.store, self.leader, self.now = store, leader, now
        host = listen or local_address_towards(leader)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind((host, 0))
        self._socket.settimeout(0.2)
        self.port = self._socket.getsockname()[1]
        self._changes: deque[tuple[str, Any, float]] = deque(maxlen=256)
        self._leader_state: dict[str, Any] = {}
        self._beat: deque[tuple[float, float, float]] = deque(maxlen=64)   # (arrival, beat, bpm)
        self.bpm: float | None = None
        self.last_heard = -math.inf
        self.connected = False
        self.applied = 0
        self.bad = RateLimitedLog(log)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._receive, name="vj-follow-recv", daemon=True),
                         threading.Thread(target=self._keep_subscribed, name="vj-follow-sub", daemon=True)]

    # ---- threads ----------------------------------------------------------------------------

    def start(self) -> None:
        for thread in self._threads:
            thread.start()
        log.info("following the vj at %s:%d (feedback to port %d)", *self.leader, self.port)

    def stop(self) -> None:
        self._stop.set()
        try:
            self._send("/vj/feedback/unsubscribe", [self.port])
        except OSError:
            pass
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=1.0)
        self._socket.close()

    def _send(self, address: str, args: list) -> None:
        self._socket.sendto(build_msg(address, args).dgram, self.leader)

    def _keep_subscribed(self) -> None:
        warned = False
        while not self._stop.is_set():
            try:
                self._send("/vj/feedback/subscribe", [self.port])
                self._send("/vj/ping", ["follow"])
            except OSError as exc:
                self.bad("send", "cannot reach the leader %s:%d: %s", *self.leader, exc)
            silent = self.now() - self.last_heard
            if self.connected and silent > LEADER_TIMEOUT:
                self.connected = False
                log.warning("the leader %s:%d stopped answering: playing on, on its last state", *self.leader)
            elif not self.connected and not warned and silent > LEADER_TIMEOUT and self.last_heard == -math.inf:
                warned = True
                log.warning("no vj answers at %s:%d (nothing there, or not a vj): playing on our own, "
                            "and still asking", *self.leader)
            self._stop.wait(RESUBSCRIBE_SECONDS)

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data, _ = self._socket.recvfrom(8192)
            except socket.timeout:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            arrival = self.now()
            try:
                message = OscMessage(data)
                params = list(message.params)
            except Exception:
                self.bad("garbage", "a datagram from the leader is not OSC: dropped")
                continue
            if not self.connected:
                log.info("following the leader %s:%d", *self.leader)
            self.connected, self.last_heard = True, arrival
            try:
                self._record(message.address, params, arrival)
            except Exception as exc:  # nothing the leader (or anyone) sends ends this thread
                self.bad("record", "the leader's %s could not be read: %s", message.address[:60], exc)

    def _record(self, address: str, params: list, arrival: float) -> None:
        key = MIRRORED.get(address)
        if address == "/vj/state/beat" and len(params) >= 2:
            try:
                beat = float(params[0]) + float(params[1])
            except (TypeError, ValueError):
                return
            if self.bpm and math.isfinite(beat):
                self._beat.append((arrival, beat, self.bpm))
            return
        if address == "/vj/state/bpm" and params:
            try:
                bpm = float(params[0])
            except (TypeError, ValueError):
                return
            if 20.0 <= bpm <= 400.0:
                if self.bpm is None or abs(bpm - self.bpm) > 1e-3:
                    self._beat.clear()   # a new tempo: beats before it mislead
                self.bpm = bpm
            return
        if key is None or not params:
            return
        try:
            value: Any = int(params[0]) if key == "cue" else params[0]
        except (TypeError, ValueError):
            self.bad(f"bad-{key}", "the leader's %s %r is not usable: ignored", key, params[0])
            return
        if self._leader_state.get(key, object()) != value:
            self._leader_state[key] = value
            self._changes.append((key, value, arrival))

    # ---- render thread ----------------------------------------------------------------------

    def apply(self, show: Any) -> int:
        """Turn what the leader changed since the last frame into this show's writes and actions
        (the frame's actions are drained after this). Returns how many were applied."""
        count = 0
        while self._changes:
            key, value, arrival = self._changes.popleft()
            try:
                self._apply_one(show, key, value, arrival)
                count += 1
            except (KeyError, ValueError) as exc:
                self.bad(f"apply-{key}", "cannot mirror the leader's %s %r: %s", key, value, exc)
        self.applied += count
        return count

    def _apply_one(self, show: Any, key: str, value: Any, arrival: float) -> None:
        store = self.store
        if key == "song":
            if str(value) != show.songs.current.song.name:
                store.actions.put(ControlEvent("song", str(value), "follow", arrival))
        elif key == "cue":
            director = show.songs.current.director
            if director.cue_index_at(show.clock.song_time(self.now())) != int(value):
                store.actions.put(ControlEvent("cue", int(value), "follow", arrival))
        elif key == "style":
            if value:   # a leader without a style sends an empty name: nothing to mirror
                store.set("style", str(value), source="follow")
        elif key == "prompt":
            if value:
                store.set("prompt", str(value), source="follow")
            else:
                store.release("prompt", source="follow")
        elif key in ("blackout", "freeze"):
            store.set(key, bool(value), source="follow")

    def poll(self, clock: Any, song_time: Callable[[float], float]) -> None:
        """The tempo lead's side: place ``clock`` on the leader's beats (when its lead is ``link``:
        an external timeline). The leader's beat feedback comes late by a varying delay; the
        earliest-looking of the recent readings (the least delayed) is taken."""
        if not self._beat or not hasattr(clock, "follow"):
            return
        now = self.now()
        beats = [(arrival, beat, bpm) for arrival, beat, bpm in self._beat if now - arrival < 2.0]
        if not beats:
            return    # the leader is gone: the clock runs on at its last tempo and phase
        bpm = beats[-1][2]
        spb = 60.0 / bpm
        # each reading's beat 0 in monotonic time; a later arrival (more delay) puts it later
        origin = min(arrival - beat * spb for arrival, beat, _ in beats)
        clock.follow(song_time(now), (now - origin) / spb, bpm)

    @property
    def label(self) -> str:
        return f"following {self.leader[0]}:{self.leader[1]}" + ("" if self.connected else " (no answer)")

    @property
    def peers(self) -> int:
        return 1 if self.connected else 0

    def close(self) -> None:
        self.stop()


__all__ = ["Follower", "LEADER_TIMEOUT", "MIRRORED", "parse_leader"]
