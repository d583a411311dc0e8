"""Live onsets from two causal detectors, merged: ``fast`` for hits, ``slow`` for soft attacks.

- ``FastOnset`` (vj/audio/fast_onset.py) decides on a drum hit's hop or the next; it is reported
  the moment it fires, so the percussive latency is what it was before the slow path existed.
- ``SlowOnset`` (vj/audio/slow_onset.py) is causal SuperFlux: it finds bowed, sung, blown and
  legato attacks the fast one misses. On the Böck clips its decisions come a median 37 ms
  (p10-p90 24-52 ms) after the annotated onset, the fast path's 6 ms (-3 to 13 ms).

Merging, without double triggers: a slow onset waits ``hold`` hops for the fast path to claim the
same attack (the fast path's placement is the sharper one), and an onset from either path is
dropped when it is placed within ``merge_seconds`` of the last onset reported (a hit that the fast
path has already reported reaches the slow path's peak picker a few hops later, placed near the
same time). Re-trigger guard: while
the fast detector is still inside the attack it reported (its flux has not yet fallen back under its
threshold), the slow path's detections are the same smeared attack and are dropped too. (On the
Böck clips, 63 of the 118 false onsets of the merged path lie within 100 ms of a true one, 28 of 42
for the fast path alone; guards that also drop an onset within 100 ms of the last one unless its flux
reaches 0.5-1× the last one's changed F by at most 0.003, so there are none.)

Level: the fast detector's threshold floor and silence gate are absolute, so it hears the input
through ``LevelRider`` (vj/audio/level.py), the loud parts at −15 dBFS; the slow one normalises
its spectrum by its own running peak. With the input 20 dB down, live onset F fell from 0.884 /
0.761 (mixes / soft) to 0.799 / 0.486 without either; with both it is 0.889 / 0.768 (0.888 / 0.754
at the clips' own level).

Strength: the fast path's flux, and the slow path's flux times ``SLOW_STRENGTH_SCALE``, which puts
the two on one scale (consumers such as the live loop divide by a running peak).
"""
from __future__ import annotations

import math

import numpy as np

from vj.audio.fast_onset import DEFAULT_THRESHOLD as FAST_DEFAULT_THRESHOLD
from vj.audio.fast_onset import FastOnset
from vj.audio.level import LevelRider
from vj.audio.slow_onset import DEFAULT_RATIO as SLOW_DEFAULT_RATIO
from vj.audio.slow_onset import DEFAULT_THRESHOLD as SLOW_DEFAULT_THRESHOLD
from vj.audio.slow_onset import SlowOnset

#: Slow-path flux (log10 units over ~200 bands) to fast-path flux (natural-log units over ~500 bins):
#: with it, the median strength of slow onsets matches the fast ones' on the Böck clips (≈12.5).
SLOW_STRENGTH_SCALE = 4.0


class LiveOnsets:
    """``process(magnitude, samples)`` once per hop; returns (is_onset, offset, strength, source):
    ``offset`` in samples from the start of this hop (negative: earlier; NaN when none), ``source``
    ``"fast"``, ``"slow"`` or ``""``."""

    def __init__(self, *, hop: int, win: int, sample_rate: int, threshold: float = FAST_DEFAULT_THRESHOLD,
                 slow: bool = True, slow_threshold: float = SLOW_DEFAULT_THRESHOLD,
                 merge_seconds: float = 0.05, minioi_seconds: float = 0.05, silence_db: float = -60.0,
                 guard: bool = True, hold: int = 2, slow_ratio: float = SLOW_DEFAULT_RATIO) -> None:
        self.hop = hop
        self._level = LevelRider(sample_rate)
        self.fast = FastOnset(hop=hop, win=win, sample_rate=sample_rate, threshold=threshold,
                              minioi_seconds=minioi_seconds, silence_db=silence_db)
        self.slow = (SlowOnset(hop=hop, sample_rate=sample_rate, threshold=slow_threshold, silence_db=silence_db,
                               ratio=slow_ratio)
                     if slow else None)
        self._slow_threshold, self._slow_ratio = slow_threshold, slow_ratio
        if self.slow is not None and threshold != FAST_DEFAULT_THRESHOLD:
            self.set_threshold(threshold)
        self._merge = merge_seconds * sample_rate
        self._guard = guard
        self._hold = hold  # hops a slow onset waits for the fast path to claim the same attack
        self._pending: tuple[float, float, int] | None = None  # (position, strength, release hop)
        self._hops = 0
        self._last = -math.inf  # sample position of the last reported onset

    def set_threshold(self, threshold: float) -> None:
        """The fast path's 0..1 sensitivity. The slow path follows it: below the default its margin
        over the mean flux scales with it (its ratio to the mean stays, which keeps noise floors
        quiet); above, both scale with its square, so that a setting for clear hits only (1.0)
        leaves soft attacks to the fast path's judgement."""
        self.fast.set_threshold(threshold)
        if self.slow is not None:
            factor = threshold / FAST_DEFAULT_THRESHOLD
            if factor <= 1.0:
                self.slow.set_threshold(self._slow_threshold * factor, self._slow_ratio)
            else:
                self.slow.set_threshold(self._slow_threshold * factor ** 2, self._slow_ratio * factor ** 2)

    def process(self, magnitude: np.ndarray, samples: np.ndarray) -> tuple[bool, float, float, str]:
        start = self._hops * self.hop
        self._hops += 1
        heard = self._level.push(samples)  # the fast path's floor and gate are absolute: one level
        fired, offset, flux = self.fast.process(magnitude * np.float32(self._level.gain), heard)  # decides on its own
        if self.slow is not None:
            slow_fired, back, slow_flux = self.slow.process(samples)
            if slow_fired and not (self._guard and not self.fast.armed):
                position = start + self.hop - back
                if position - self._last >= self._merge and self._pending is None:
                    self._pending = (position, slow_flux * SLOW_STRENGTH_SCALE, self._hops + self._hold)
        if fired and start + offset - self._last >= self._merge:
            position = start + offset
            if self._pending is not None and abs(self._pending[0] - position) < self._merge:
                self._pending = None  # the same attack: the fast path's placement is the sharper one
            self._last = position
            return True, offset, flux, "fast"
        if self._pending is not None and self._hops >= self._pending[2]:
            position, strength, _ = self._pending
            self._pending = None
            if position - self._last >= self._merge:
                self._last = position
                return True, position - start, strength, "slow"
        return False, math.nan, flux, ""


__all__ = ["SLOW_STRENGTH_SCALE", "LiveOnsets"]
