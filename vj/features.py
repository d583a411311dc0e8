"""The audio features that drive a frame: one small frozen record per moment of the song.

Offline they come from the whole-track analysis at time t; live from the analysis thread.
Every value is normalised so that schedules and mappings read the same in every song.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, fields
from typing import Sequence

import numpy as np

#: The onset impulse of ``Features.onset``, the same in rehearsal and live: rise (s), decay time constant (s).
ONSET_ATTACK, ONSET_RELEASE = 0.01, 0.25
#: Events older than the attack plus this many release constants no longer count (e^-8 < 0.04 %).
ENVELOPE_HORIZON = 8.0


@dataclass(frozen=True)
class Features:
    """Audio features at one moment.

    onset:      onset impulse shaped by the default attack/release envelope, 0..1 (1 on a hit).
    low, mid, high: band energies, normalised per track, 0..1.
    rms:        loudness, normalised per track, 0..1.
    perc, harm: percussive and harmonic energy, normalised per track, 0..1.
    beat:       beats elapsed since beat 0 of the song's grid (float, may be negative before it).
    bar:        bars elapsed (beat / beats_per_bar).
    beat_phase: position inside the current beat, 0..1 (0 on the beat).
    bpm:        tempo in beats per minute.
    """

    onset: float = 0.0
    low: float = 0.0
    mid: float = 0.0
    high: float = 0.0
    rms: float = 0.0
    perc: float = 0.0
    harm: float = 0.0
    beat: float = 0.0
    bar: float = 0.0
    beat_phase: float = 0.0
    bpm: float = 120.0

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


#: The feature names a schedule expression or reactivity mapping may read.
AUDIO_SOURCES = ("onset", "low", "mid", "high", "rms", "perc", "harm", "beat_phase")


def impulse_envelope(times: Sequence[float], strengths: Sequence[float], t: float,
                     attack: float = ONSET_ATTACK, release: float = ONSET_RELEASE) -> float:
    """The impulse envelope at ``t`` (s), 0..1: the sum over past events of strength × shape(t − tᵢ),
    shape rising linearly over ``attack`` s, then decaying exponentially with time constant
    ``release`` s. ``times`` in order: a numpy array (the whole track) or a list (appended live),
    so rehearsal and live shape an onset with the very same arithmetic."""
    attack, release = max(float(attack), 0.0), max(float(release), 1e-4)
    start = t - (attack + ENVELOPE_HORIZON * release)
    if isinstance(times, np.ndarray):
        lo, hi = int(np.searchsorted(times, start, side="left")), int(np.searchsorted(times, t, side="right"))
    else:
        lo, hi = bisect.bisect_left(times, start), bisect.bisect_right(times, t)
    if hi <= lo:
        return 0.0
    age = t - np.asarray(times[lo:hi], dtype=np.float64)
    rise = np.clip(age / attack, 0.0, 1.0) if attack > 0 else np.ones_like(age)
    decay = np.exp(-np.maximum(age - attack, 0.0) / release)
    value = float(np.sum(np.asarray(strengths[lo:hi], dtype=np.float64) * rise * decay))
    return min(max(value, 0.0), 1.0)
