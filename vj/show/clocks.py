"""The show's three clocks: what tells the loop which frame is next and the song time it is for.

- ``FileClock`` (rehearsal): frame n is at t = n / fps, as fast as it renders; deterministic.
- ``PacedFileClock`` (rehearsal with ``--preview``): the same frames and times, but never ahead of
  the song, so what the window shows moves at the song's speed and a controller steers in time.
- ``DisplayClock`` (live): the frame's time is the moment it will reach the screen (the predicted
  swap) on the song's clock, shifted by the latency offset; the loop paces itself on the display.

Every clock reads time through ``now`` (``time.monotonic`` unless a test gives a fake one).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from typing import Any, Callable

log = logging.getLogger(__name__)

Now = Callable[[], float]


@dataclass(frozen=True)
class Tick:
    """One frame to make.

    index:   the frame's number since the clock started (or since the song started, live).
    time:    the song time (s) the frame is for.
    started: the clock's reading when the frame started.
    due:     the clock's reading when it will be seen (the predicted swap; ``started`` offline).
    dt:      song seconds since the previous frame (0 on the first).
    """

    index: int
    time: float
    started: float
    due: float
    dt: float


class FileClock:
    """Frame n at n / fps, ``frames`` of them."""

    def __init__(self, fps: float, frames: int) -> None:
        self.fps, self.frames = float(fps), int(frames)
        self.index = 0
        self._time = 0.0

    def tick(self) -> Tick | None:
        if self.index >= self.frames:
            return None
        t = self.index / self.fps
        tick = Tick(self.index, t, t, t, 0.0 if self.index == 0 else 1.0 / self.fps)
        self.index += 1
        self._time = t
        return tick

    def song_time(self, at: float | None = None) -> float:
        """The song time of an event that arrived at clock reading ``at``: offline, this frame's."""
        return self._time

    def restart(self) -> None:
        """A new song starts from its beginning."""
        self.index = 0

    def restarted(self, tick: Tick) -> Tick:
        """``tick`` again, as the first frame of a song that starts now."""
        self.index, self._time = 1, 0.0
        return replace(tick, index=0, time=0.0, dt=0.0)


class PacedFileClock(FileClock):
    """A file clock that waits for the song: frame n is made no earlier than start + n / fps."""

    def __init__(self, fps: float, frames: int, now: Now = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(fps, frames)
        self.now, self.sleep = now, sleep
        self._start: float | None = None

    def tick(self) -> Tick | None:
        if self._start is None:
            self._start = self.now()
        wait = self._start + self.index / self.fps - self.now()
        if wait > 0:
            self.sleep(wait)
        return super().tick()


class FramePacer:
    """Predicts swap times, starts each frame as late as it safely can, and paces the loop itself
    when swaps don't wait for the display.

    With working vsync the swap blocks until the vertical blank, so swaps land on a grid of
    ``period``. Where the platform ignores vsync (Xvfb, some compositors) swaps return at once;
    the pacer then holds each swap until its slot on the same grid, so timing is the same either way.

    Late start: a frame that starts right after the previous swap and then waits for its slot
    shows inputs a whole period old. ``wait_to_start`` sleeps first, until the slot minus the
    frame's recent worst work time and a margin, so onsets that arrive in the meantime still make
    this frame (the "late latching" of VR compositors). A frame that overruns just takes the next slot.
    """

    #: Seconds kept in hand beyond the frame's recent worst work time.
    MARGIN = 0.002

    def __init__(self, rate: float, late_start: bool = True, now: Now = time.monotonic) -> None:
        self.period = 1.0 / rate
        self.late_start = late_start
        self.now = now
        self.render_estimate = 0.3 * self.period
        self.render_peak = 0.5 * self.period
        self.last_swap: float | None = None
        self.manual = False
        self._quick_swaps = 0

    def wait_to_start(self) -> None:
        """Sleep until the latest moment the next frame can start and still make its slot."""
        if not self.late_start or self.last_swap is None:
            return
        self.sleep_until(self.last_swap + self.period - self.render_peak - self.MARGIN)

    def predict(self, now: float) -> float:
        """When the frame started at ``now`` will be swapped."""
        earliest = now + self.render_estimate
        if self.last_swap is None:
            return earliest
        slots = max(1, math.ceil((earliest - self.last_swap) / self.period - 1e-3))
        return self.last_swap + slots * self.period

    def hold_until(self, target: float) -> None:
        """Manual pacing: sleep until just before ``target`` (the swap itself takes a moment)."""
        if self.manual:
            self.sleep_until(target - 0.0003)

    def swapped(self, started: float, finished: float, called: float, returned: float) -> None:
        """Learn from one frame: its work took ``finished - started`` (not counting any hold);
        a swap that returns at once means vsync is not waiting for us."""
        work = min(finished - started, self.period * 3)
        self.render_estimate = 0.9 * self.render_estimate + 0.1 * work
        self.render_peak = max(work, self.render_peak * 0.98, self.render_estimate)
        if returned - called < 0.2 * self.period:
            self._quick_swaps += 1
            if self._quick_swaps > 20 and not self.manual:
                log.info("swaps don't wait for vsync here; pacing the display at %.1f Hz", 1 / self.period)
                self.manual = True
        else:
            self._quick_swaps = 0
        self.last_swap = returned

    def sleep_until(self, target: float) -> None:
        """Coarse sleeps, then a short spin for the last bit (a fake clock returns at once)."""
        if self.now is not time.monotonic:
            return
        while True:
            left = target - time.monotonic()
            if left <= 0.0002:
                return
            time.sleep(left - 0.0005 if left > 0.0015 else 0.0)


class DisplayClock:
    """Live: each frame is for the moment it will be seen, on the song's clock.

    ``offset`` gives the latency offset (s, positive: visuals earlier) each frame, to calibrate a
    projector's own delay. Song time never runs backwards (the director wants it in order), even
    when the offset is moved back. ``until``: seconds after which the show ends (None: never)."""

    def __init__(self, rate: float, offset: Callable[[], float] = lambda: 0.0, now: Now = time.monotonic,
                 until: float | None = None) -> None:
        self.pacer = FramePacer(rate, now=now)
        self.now = now
        self.until = None if until is None else now() + until   # the show ends then (soundchecks, tests)
        self.offset = offset
        self.current_offset = 0.0
        self.song_start = now()
        self.index = 0
        self._previous: float | None = None

    def tick(self) -> Tick | None:
        if self.until is not None and self.now() >= self.until:
            return None
        self.pacer.wait_to_start()
        started = self.now()
        self.current_offset = float(self.offset())
        due = self.pacer.predict(started)
        t = due - self.song_start + self.current_offset
        if self._previous is not None:
            t = max(t, self._previous)
        tick = Tick(self.index, t, started, due, 0.0 if self._previous is None else t - self._previous)
        self._previous = t
        self.index += 1
        return tick

    def song_time(self, at: float | None = None) -> float:
        """The song time of clock reading ``at`` (now when None), without the latency offset."""
        return (self.now() if at is None else at) - self.song_start

    def restart(self) -> None:
        """A new song: its time starts now."""
        self.song_start = self.now()
        self._previous = None

    def restarted(self, tick: Tick) -> Tick:
        """``tick`` again, as the first frame of a song that started at ``restart``: its time
        is the swap's on the new song's clock (the director wants time in order from there)."""
        t = max(tick.due - self.song_start + self.current_offset, 0.0)
        self._previous = t
        return replace(tick, time=t, dt=0.0)

    def swap(self, display: Any, tick: Tick) -> float:
        """Hold the swap until the frame's slot (where vsync doesn't), swap, learn; the swap time."""
        finished = self.now()
        self.pacer.hold_until(tick.due)
        called = self.now()
        swapped = display.swap()
        self.pacer.swapped(tick.started, finished, called, swapped)
        return swapped


__all__ = ["DisplayClock", "FileClock", "FramePacer", "PacedFileClock", "Tick"]
