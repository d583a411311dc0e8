"""The audio features that drive a frame: one small frozen record per moment of the song.

Offline they come from the whole-track analysis at time t; live from the analysis thread.
Every value is normalised so that schedules and mappings read the same in every song.
"""
from __future__ import annotations

from dataclasses import dataclass, fields


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
