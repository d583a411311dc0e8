"""Ableton Link: the show's tempo from (or to) a Link session of DJ software, lights and other vj's.

With aalink (GPL-3.0-or-later: the optional extra ``vj[link]``, see docs/live.md on what that
means for redistribution). ``LinkLead`` is polled once a frame on the render thread (no thread of
its own writes the tempo clock):

- when the song's tempo lead is ``link``, the tempo clock takes the session's tempo and beat
  phase, with its bar lines on the session's quantum (set to the song's beats per bar);
- otherwise vj leads: its tempo (detected, tapped, set) is published to the session when it
  changes, so DJ software and lights can follow it.

Start/stop sync (where peers use it): when the session starts playing while vj follows it, the
song starts again from its beginning on that bar (``take_start``: the DJ pressed play on the
track, so ``bar 9`` cues count from there); when it stops, vj plays on at the last tempo on its own
clock (the screen never freezes or blacks out because the music paused) and the HUD says so.

Link's clock is the system's raw monotonic clock (``CLOCK_MONOTONIC_RAW``, microseconds); each
poll measures its offset to ``time.monotonic`` (what the show's clocks use) so a beat read from
the session is placed at the right song time.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any, Callable

from vj.audio.clock import TempoClock, TempoLead
from vj.errors import VjError

log = logging.getLogger(__name__)

#: Session tempos outside this range are clamped (the tempo clock's own limits).
BPM_RANGE = (20.0, 400.0)


class LinkError(VjError):
    """Link cannot start (aalink missing): a message for people."""


def _raw_clock() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC_RAW) if hasattr(time, "CLOCK_MONOTONIC_RAW") else time.monotonic()


def open_link(bpm: float) -> Any:
    """An ``aalink.Link`` session member (enabled). aalink wants a running asyncio loop when a Link
    is made (for ``sync`` futures, which vj does not use): a short-lived one is run for that."""
    try:
        import aalink
    except ImportError:
        raise LinkError("Ableton Link needs aalink (GPL-3.0): pip install 'vj[link]'") from None

    async def make() -> Any:
        return aalink.Link(float(bpm))

    loop = asyncio.new_event_loop()
    try:
        link = loop.run_until_complete(make())
    finally:
        loop.close()
    link.enabled = True
    try:
        link.start_stop_sync_enabled = True
    except Exception:  # an older aalink without start/stop sync
        pass
    return link


class LinkLead:
    """A Link session member, polled once a frame (``poll``).

    link:    an ``aalink.Link`` (None: ``open_link(bpm)``); tests pass their own.
    quantum: beats in Link's bar (the song's ``beats_per_bar`` replaces it at each poll).
    """

    def __init__(self, bpm: float = 120.0, *, link: Any | None = None, now: Callable[[], float] = time.monotonic) -> None:
        self.link = link if link is not None else open_link(bpm)
        self.now = now
        self.peers = 0
        self.tempo = float(bpm)
        self.playing = False
        self.starts = 0                # the session's starts seen while following it
        self._start_pending = False
        self.polls = 0
        self._published: float | None = None
        self._warned_range = False

    def sample(self) -> tuple[float, float, float]:
        """(monotonic time, session beat at it, session tempo): Link's beat read between two raw
        clock readings, placed at their middle on ``time.monotonic``."""
        raw0 = _raw_clock()
        beat = float(self.link.beat)
        raw1 = _raw_clock()
        tempo = float(self.link.tempo)
        offset = time.monotonic() - _raw_clock()
        return (raw0 + raw1) / 2.0 + offset, beat, tempo

    def poll(self, clock: Any, song_time: Callable[[float], float]) -> None:
        """Follow the session (the clock's lead is LINK) or publish the clock's tempo to it."""
        self.polls += 1
        link = self.link
        try:
            self.peers = int(link.num_peers)
            playing = bool(link.playing)
            following = isinstance(clock, TempoClock) and clock.lead is TempoLead.LINK
            if playing != self.playing and self.polls > 1 and following:
                if playing:
                    self.starts += 1
                    self._start_pending = True
                    log.info("Link session started playing: the song starts again on this bar")
                else:
                    log.info("Link session stopped: playing on at %.1f BPM on vj's own clock", self.tempo)
            self.playing = playing
            if not isinstance(clock, TempoClock):
                return
            quantum = float(clock.beats_per_bar)
            if link.quantum != quantum:
                link.quantum = quantum
            if clock.lead is TempoLead.LINK:
                at, beat, tempo = self.sample()
                if not (math.isfinite(beat) and math.isfinite(tempo) and tempo > 0):
                    return
                if not BPM_RANGE[0] <= tempo <= BPM_RANGE[1] and not self._warned_range:
                    log.warning("Link session at %.1f BPM: following at %.0f..%.0f BPM", tempo, *BPM_RANGE)
                    self._warned_range = True
                self.tempo = tempo
                clock.follow(song_time(at), beat, tempo, quantum)
            elif clock.locked:
                self.publish(clock.bpm)
        except Exception as exc:  # a Link that misbehaves must never stop the show
            log.debug("Link poll failed: %s", exc)

    def take_start(self) -> bool:
        """True once after the session started playing while vj followed it."""
        pending, self._start_pending = self._start_pending, False
        return pending

    def publish(self, bpm: float) -> None:
        """Set the session's tempo to ``bpm`` (vj leads), when it changed by more than 0.01 BPM."""
        if self._published is not None and abs(self._published - bpm) < 0.01:
            return
        self.link.tempo = float(bpm)
        self._published = float(bpm)
        self.tempo = float(bpm)

    @property
    def label(self) -> str:
        return f"link, {self.peers} peer{'s' if self.peers != 1 else ''}" + (", playing" if self.playing else ", stopped")

    def close(self) -> None:
        try:
            self.link.enabled = False
        except Exception:
            pass


__all__ = ["BPM_RANGE", "LinkError", "LinkLead", "open_link"]
