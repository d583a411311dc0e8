"""The level the beat network hears: every song brought to the same loudness first.

BeatNet's features are log-compressed magnitudes (``log10(1 + x)``), so the network hears a quiet
input differently from a loud one, and badly: on the GTZAN development clips (−31 to −10 dBFS RMS
as they are) offline beat F fell from 0.84 to 0.79 with the input 20 dB quieter and to 0.73 with it
30 dB quieter, tempo right from 0.88 to 0.74 and 0.64. At a gig the level depends on the mixer's
send and the interface's gain, so the network hears the music at ``TARGET_DB``: offline the whole
song is scaled once (``song_gain``); live a slow gain rider (``LevelRider``) does the same from the
past alone. The live fast onset detector, whose threshold floor and silence gate are absolute,
hears through a rider of its own (vj/audio/live_onsets.py).

The level is that of the loud parts: the 90th percentile of 0.4 s block RMS offline, a peak
follower of the block RMS with a slow release live. Blocks quieter than ``GATE_DB`` (silence, the
room between songs) do not count, and the gain never exceeds ``MAX_GAIN_DB``, so a near-silent
input is not lifted into the network's range as noise.
"""
from __future__ import annotations

import numpy as np

#: The loud parts' RMS level the network hears (dBFS). −9 to −18 dBFS scored alike on the
#: development clips (beat F 0.84–0.86, tempo right 0.82–0.88).
TARGET_DB = -15.0
#: Blocks quieter than this (dBFS RMS) are not music to measure.
GATE_DB = -50.0
#: The most the level is raised (dB); it may be lowered without limit.
MAX_GAIN_DB = 30.0
#: Length of a level-measuring block (seconds).
BLOCK_SECONDS = 0.4
#: Live: the peak follower falls by half (−6 dB) over this many seconds of quieter music.
RELEASE_SECONDS = 10.0
#: Offline: the percentile of the block levels taken as the song's level.
PERCENTILE = 90.0


def _gain_for(level: float) -> float:
    """The gain that brings RMS ``level`` to ``TARGET_DB`` (at most ``MAX_GAIN_DB``)."""
    return float(min(10 ** (TARGET_DB / 20) / max(level, 1e-12), 10 ** (MAX_GAIN_DB / 20)))


def song_gain(samples: np.ndarray, sample_rate: int) -> float:
    """The one gain for a whole song: its loud parts (``PERCENTILE`` of the block RMS above the
    gate) brought to ``TARGET_DB``; 1 when no block reaches the gate."""
    samples = np.asarray(samples, dtype=np.float64).ravel()
    if len(samples) == 0:
        return 1.0
    size = min(len(samples), max(1, int(round(BLOCK_SECONDS * sample_rate))))  # a short clip is one block
    count = len(samples) // size
    rms = np.sqrt(np.mean(samples[:count * size].reshape(count, size) ** 2, axis=1))
    loud = rms[rms > 10 ** (GATE_DB / 20)]
    return _gain_for(float(np.percentile(loud, PERCENTILE))) if len(loud) else 1.0


class LevelRider:
    """Live: push samples, get them back at the network's level, from the past alone.

    After each block the level is the larger of the block's RMS and the previous level released
    a little (halving over ``RELEASE_SECONDS``); blocks below the gate leave it as it was. The gain
    moves to its new value in a straight line across the next block, so the features see no step.
    Until a block above the gate has been heard the gain is 1 (the first 0.4 s of a stream).
    """

    def __init__(self, sample_rate: int) -> None:
        self._size = max(1, int(round(BLOCK_SECONDS * sample_rate)))
        self._release = 0.5 ** (BLOCK_SECONDS / RELEASE_SECONDS)
        self._level: float | None = None
        self._energy = 0.0  # sum of squares of the current block so far
        self._filled = 0  # samples of the current block so far
        self._gain = 1.0  # gain at the start of the current block
        self._target = 1.0  # gain at its end
        self.gain = 1.0  #: the gain applied to the last sample pushed

    def push(self, samples: np.ndarray) -> np.ndarray:
        """The samples scaled (float32), the gain ramping within each block."""
        samples = np.asarray(samples, dtype=np.float32).ravel()
        out = np.empty_like(samples)
        done = 0
        while done < len(samples):
            take = min(len(samples) - done, self._size - self._filled)
            chunk = samples[done:done + take]
            where = (self._filled + np.arange(1, take + 1)) / self._size
            ramp = self._gain + (self._target - self._gain) * where
            out[done:done + take] = chunk * ramp
            self.gain = float(ramp[-1])
            self._energy += float(np.dot(chunk.astype(np.float64), chunk))
            self._filled += take
            done += take
            if self._filled == self._size:
                self._end_block()
        return out

    def _end_block(self) -> None:
        rms = float(np.sqrt(self._energy / self._size))
        self._energy, self._filled = 0.0, 0
        self._gain = self._target
        if rms > 10 ** (GATE_DB / 20):
            self._level = rms if self._level is None else max(rms, self._level * self._release)
            self._target = _gain_for(self._level)
