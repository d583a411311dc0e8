"""The song's beat grid: a constant tempo and where beat 0 falls.

Cue times (``bar 9``), beat-synced schedules and the beat phase the visuals pulse on all read
this one small value, so it is frozen and pure arithmetic. ``Grid`` is what they read: offline
the analysed ``BeatGrid``, live the ``vj.audio.clock.TempoClock``, whose tempo moves.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@runtime_checkable
class Grid(Protocol):
    """A beat grid as the director, cue times and the visuals read it (times in song seconds)."""

    @property
    def beats_per_bar(self) -> int: ...

    @property
    def seconds_per_beat(self) -> float: ...

    def time_of_beat(self, beat: float) -> float: ...

    def beat_at(self, t: float) -> float: ...

    def bar_at(self, t: float) -> float: ...

    def beat_phase(self, t: float) -> float: ...


@dataclass(frozen=True)
class BeatGrid:
    """A constant-tempo grid.

    bpm:           tempo in beats per minute (> 0).
    offset:        time of beat 0 in seconds (a downbeat, so bar 0 starts there).
    beats_per_bar: beats in one bar.
    """

    bpm: float
    offset: float = 0.0
    beats_per_bar: int = 4

    def __post_init__(self) -> None:
        if not (self.bpm > 0 and math.isfinite(self.bpm)):
            raise ValueError(f"bpm must be a positive number, got {self.bpm}")
        if self.beats_per_bar < 1:
            raise ValueError(f"beats_per_bar must be at least 1, got {self.beats_per_bar}")

    @property
    def seconds_per_beat(self) -> float:
        """Length of one beat in seconds."""
        return 60.0 / self.bpm

    @property
    def seconds_per_bar(self) -> float:
        """Length of one bar in seconds."""
        return self.seconds_per_beat * self.beats_per_bar

    def beat_at(self, t: float) -> float:
        """Beats elapsed at time ``t`` (seconds) since beat 0; negative before it."""
        return (t - self.offset) / self.seconds_per_beat

    def bar_at(self, t: float) -> float:
        """Bars elapsed at time ``t`` (seconds) since beat 0; negative before it."""
        return self.beat_at(t) / self.beats_per_bar

    def time_of_beat(self, beat: float) -> float:
        """Time in seconds of beat number ``beat`` (0 = the grid's beat 0)."""
        return self.offset + beat * self.seconds_per_beat

    def time_of_bar(self, bar: float) -> float:
        """Time in seconds of the start of bar number ``bar`` (0 = the grid's beat 0)."""
        return self.time_of_beat(bar * self.beats_per_bar)

    def beat_phase(self, t: float) -> float:
        """Position inside the current beat at ``t``: 0 on the beat, rising towards 1."""
        beat = self.beat_at(t)
        return beat - math.floor(beat)
