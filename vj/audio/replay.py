"""The live analysis replayed over a file: what ``vj live`` would decide, and when.

Live mode hears the room hop by hop and can only use the past. Running the same analysers over a
song, hop by hop, shows a VJ what the live tracker will do on it before the gig (``vj analyse
--live``) and lets the live path be scored against annotations (``tools/bench_sync.py``).
Every decision carries the stream time at which it was made.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from vj.audio.analysis import AnalysisSettings, HopAnalyser
from vj.audio.beats import LiveBeat, LiveBeatTracker, tempo_of


@dataclass(frozen=True)
class LiveOnset:
    """An onset as the live detector decided it (stream seconds)."""

    time: float
    decided_at: float
    strength: float


@dataclass(frozen=True)
class LiveReplay:
    """Every live decision over a file, in the order they were made."""

    onsets: list[LiveOnset]
    beats: list[LiveBeat]
    duration: float

    @property
    def beat_times(self) -> np.ndarray:
        return np.array([b.time for b in self.beats], dtype=np.float64)

    @property
    def downbeat_times(self) -> np.ndarray:
        return np.array([b.time for b in self.beats if b.position == 1], dtype=np.float64)

    @property
    def onset_times(self) -> np.ndarray:
        return np.array([o.time for o in self.onsets], dtype=np.float64)

    def bpm_after(self, seconds: float = 10.0) -> float:
        """The tempo of the beats decided after ``seconds`` (the tracker has locked by then), or 0."""
        times = self.beat_times
        return tempo_of(times[times >= seconds])


def replay_live(samples: np.ndarray, sample_rate: int, *, hop: int = 256, onset_method: str | None = None,
                beats_per_bar: int | None = None, bpm: float | None = None,
                analysis: AnalysisSettings | None = None,
                progress: Callable[[int, int], None] | None = None) -> LiveReplay:
    """Run the live onset detector and beat tracker over ``samples`` (float32 mono) hop by hop;
    ``progress(seconds done, seconds in all)`` is called about once a second of audio."""
    from vj.audio.live import live_analysis_settings

    analyser = HopAnalyser(live_analysis_settings(analysis, sample_rate, hop, onset_method), beats=False)
    tracker = LiveBeatTracker(int(sample_rate), beats_per_bar=beats_per_bar, bpm=bpm)
    samples = np.asarray(samples, dtype=np.float32)
    onsets: list[LiveOnset] = []
    beats: list[LiveBeat] = []
    total = int(len(samples) / sample_rate)
    every = max(1, int(sample_rate // hop))
    for number, start in enumerate(range(0, len(samples) - hop + 1, hop)):
        if progress is not None and number % every == 0:
            progress(int(start / sample_rate), total)
        chunk = samples[start:start + hop]
        decided_at = (start + hop) / sample_rate
        result = analyser.process(chunk)
        if result.is_onset:
            onsets.append(LiveOnset(result.onset_time, decided_at, float(result.onset_strength)))
        beats.extend(tracker.push(chunk))
    if progress is not None:
        progress(total, total)
    return LiveReplay(onsets=onsets, beats=beats, duration=len(samples) / sample_rate)
