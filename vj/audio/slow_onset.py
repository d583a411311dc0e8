"""The live path's second onset detector: causal SuperFlux for attacks that are not percussive.

``FastOnset`` (vj/audio/fast_onset.py) decides within a hop of a drum hit, but a bowed, sung, blown
or legato note rises over tens of milliseconds with little broadband energy, and its flux never
clears the fast detector's threshold. This detector runs the offline detection function
(``vj.audio.onsets``: log-filtered spectrum, 3-band maximum filter, flux against ``mu`` frames
back) one frame a hop, and picks peaks causally:

- a frame is a peak when it is the maximum of the last ``pre_max`` s and of the ``post`` hops after
  it (so it decides ``post`` hops after the peak of the flux, not at the first frame that rises),
- at least ``threshold`` above the mean flux of the ``pre_avg`` s before it, and at least ``ratio``
  times that mean (steady noise, once its level is normalised, has flux peaks of up to ~2.4 times
  its mean; 2.5 keeps it quiet and costs 2 points of soft F on the Böck clips against 2.0).

Level: offline scales each file by its loudest part; live cannot see the whole file, so the spectrum
is scaled by a running peak of the input (instant attack, ``level_release_s`` release, never more
than ``max_gain``), this hop included: a sound fading in from silence keeps its level on that scale
and reads as no onset, where a scale from before the hop would amplify each new hop's rise. The gain
is at most ``MAX_GAIN_DB`` (30 dB), as for the beat network: at most 3 (10 dB) scored alike on the
Böck clips at their own level, but with the input 20 dB down it lost soft onset F 0.754 → 0.595.

The onset is placed at the centre of the window whose flux peaked (on the Böck clips, a median of
5 ms before the annotated onset). Nothing is decided until a full window has been heard.
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np

from vj.audio.level import MAX_GAIN_DB
from vj.audio.onsets import OnsetSettings, diff_frames, frame_size, log_filterbank

#: The most the running-peak normalisation lifts a quiet input (as vj/audio/level.py).
MAX_GAIN = 10 ** (MAX_GAIN_DB / 20)

#: Flux above the recent mean that counts as an onset. Higher than offline's 0.85 because the live
#: level is the running peak, not the 99.9th percentile, so the same sound reads a little quieter.
DEFAULT_THRESHOLD = 1.1
#: ... and at least this many times that mean: steady noise has flux peaks of up to ~2.4 times its
#: mean, which the additive margin alone lets through once the level is normalised.
DEFAULT_RATIO = 2.5
#: Spectrum, bands and flux as offline; peak picking with SuperFlux's own 10 ms maximum and 150 ms
#: mean behind the peak (offline's 100 ms mean scored 0.889 / 0.750 live against 0.884 / 0.761: the
#: fast path finds the hats that a long mean hides).
LIVE_SETTINGS = OnsetSettings(pre_max=0.01, pre_avg=0.15, threshold=DEFAULT_THRESHOLD)


class SlowOnset:
    """Streaming detector: ``process(samples)`` once per hop, in order; returns (fire, time, flux),
    ``time`` in samples before the end of this hop where the onset is placed (NaN when none)."""

    def __init__(self, *, hop: int, sample_rate: int, threshold: float = DEFAULT_THRESHOLD,
                 post: int = 1, level_release_s: float = 10.0, max_gain: float = MAX_GAIN, silence_db: float = -60.0,
                 ratio: float = DEFAULT_RATIO,
                 settings: OnsetSettings = LIVE_SETTINGS) -> None:
        self.hop, self.sample_rate, self.threshold = hop, sample_rate, float(threshold)
        self.frame = frame_size(sample_rate, settings.frame_seconds)
        self._window = np.hanning(self.frame + 2)[1:-1]
        bank = log_filterbank(self.frame, sample_rate, settings.bands_per_octave, settings.fmin, settings.fmax)
        # sparse: each FFT bin feeds at most two bands, so a bincount is ~50× cheaper than the matmul
        self._bins, self._bands = np.nonzero(bank)
        self._weights = bank[self._bins, self._bands]
        self._band_count = bank.shape[1]
        self._buffer = np.zeros(self.frame, dtype=np.float64)
        self._mu = diff_frames(self.frame, hop, settings.diff_ratio)
        self._past: deque[np.ndarray] = deque(maxlen=self._mu)
        fps = sample_rate / hop
        self._post = max(0, int(post))
        self._pre_max = max(1, round(settings.pre_max * fps))
        self._odf: deque[float] = deque(maxlen=max(2, round(settings.pre_avg * fps)) + self._post + 1)
        self._level = 0.0
        self._release = math.exp(-hop / (level_release_s * sample_rate))
        self._min_level = 1.0 / max_gain
        self._max_bands = settings.max_bands
        self._silence = 10.0 ** (silence_db / 20.0)
        self._ratio = float(ratio)
        self._heard = 0  # samples so far: nothing is decided until a full window has been heard

    def set_threshold(self, threshold: float, ratio: float | None = None) -> None:
        """Flux above the recent mean that counts as an onset, and the least ratio of the two
        (lower: softer onsets)."""
        self.threshold = max(0.0, float(threshold))
        if ratio is not None:
            self._ratio = max(0.0, float(ratio))

    def _flux(self, samples: np.ndarray) -> float:
        buffer = self._buffer
        n = len(samples)
        if n >= len(buffer):
            buffer[:] = samples[-len(buffer):]
        elif n:
            buffer[:-n] = buffer[n:]
            buffer[-n:] = samples
        self._heard += n
        self._level = max(self._level * self._release, float(np.max(np.abs(samples))) if n else 0.0)
        scale = 1.0 / max(self._level, self._min_level)
        magnitude = np.abs(np.fft.rfft(buffer * self._window))
        spectrum = np.bincount(self._bands, weights=magnitude[self._bins] * self._weights,
                               minlength=self._band_count)
        current = np.log10(1.0 + scale * spectrum)
        reference = current
        for _ in range(self._max_bands // 2):  # maximum over the neighbouring bands (3: one each side)
            wider = reference.copy()
            np.maximum(wider[1:], reference[:-1], out=wider[1:])
            np.maximum(wider[:-1], reference[1:], out=wider[:-1])
            reference = wider
        flux = 0.0
        if len(self._past) == self._mu:
            rise = current - self._past[0]
            flux = float(rise[rise > 0].sum())
        self._past.append(reference)
        return flux

    def process(self, samples: np.ndarray) -> tuple[bool, float, float]:
        flux = self._flux(np.asarray(samples, dtype=np.float64))
        odf = self._odf
        odf.append(flux)
        size = len(odf)
        centre = size - 1 - self._post  # the frame being decided
        if centre < 1 or self._heard < self.frame + (self._mu + self._post) * self.hop:
            return False, math.nan, flux
        values = list(odf)
        candidate = values[centre]
        if candidate <= 0.0 or candidate < max(values[max(0, centre - self._pre_max):]):
            return False, math.nan, flux
        mean = sum(values[:centre]) / centre
        if candidate < mean + self.threshold or candidate < self._ratio * mean:
            return False, math.nan, flux
        if math.sqrt(float(np.mean(self._buffer[-self.frame // 2:] ** 2))) < self._silence:
            return False, math.nan, flux
        # the window of frame ``centre`` ended ``post`` hops ago; place the onset at its centre
        return True, self._post * self.hop + self.frame / 2, candidate


__all__ = ["DEFAULT_RATIO", "DEFAULT_THRESHOLD", "SlowOnset"]
