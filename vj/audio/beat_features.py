"""The beat network's input: a log-filtered spectrogram and its positive difference, 50 frames a second.

The beat and downbeat network (``vj/audio/beat_model.py``) was trained by BeatNet's authors on
madmom's features, so these are madmom's, computed the same way with numpy alone: 22,050 Hz mono,
1411-sample Hann frames centred every 441 samples (20 ms), magnitude spectrum, 24 triangular bands
per octave from 30 Hz to 17 kHz (normalised, duplicate bands merged), log10(1 + x), and the
half-wave rectified difference to the previous frame. A frame is 136 band values + 136 differences.

``BeatFeatures.stream`` produces the same frames live, one per 441 new samples; since a frame is
centred, its last sample is 705 samples (32 ms) after its time, which is the live tracker's
minimum delay.
"""
from __future__ import annotations

import numpy as np
from scipy import fft

SAMPLE_RATE = 22050
HOP = 441  # 20 ms: 50 frames a second
FRAME = 1411  # 64 ms
FPS = SAMPLE_RATE / HOP
BANDS_PER_OCTAVE = 24
FMIN, FMAX, FREF = 30.0, 17000.0, 440.0


def _log_frequencies() -> np.ndarray:
    left = np.floor(np.log2(FMIN / FREF) * BANDS_PER_OCTAVE)
    right = np.ceil(np.log2(FMAX / FREF) * BANDS_PER_OCTAVE)
    frequencies = FREF * 2.0 ** (np.arange(left, right) / BANDS_PER_OCTAVE)
    frequencies = frequencies[np.searchsorted(frequencies, FMIN):]
    return frequencies[:np.searchsorted(frequencies, FMAX, "right")]


def _filterbank() -> np.ndarray:
    """(fft bins, bands) triangular filters, each summing to 1, on madmom's bin frequencies."""
    num_bins = FRAME >> 1
    bin_frequencies = np.fft.fftfreq(num_bins * 2, 1.0 / SAMPLE_RATE)[:num_bins]
    frequencies = _log_frequencies()
    indices = np.clip(bin_frequencies.searchsorted(frequencies), 1, num_bins - 1)
    left, right = bin_frequencies[indices - 1], bin_frequencies[indices]
    indices = np.unique(indices - (frequencies - left < right - frequencies))
    bands = []
    for start, centre, stop in zip(indices[:-2], indices[1:-1], indices[2:]):
        if stop - start < 2:
            centre, stop = start, start + 1
        shape = np.zeros(stop - start)
        shape[:centre - start] = np.linspace(0, 1, centre - start, endpoint=False)
        shape[centre - start:] = np.linspace(1, 0, stop - centre, endpoint=False)
        bands.append((start, shape / shape.sum()))
    bank = np.zeros((num_bins, len(bands)), dtype=np.float32)
    for k, (start, shape) in enumerate(bands):
        stop = min(start + len(shape), num_bins)
        bank[start:stop, k] = shape[:stop - start]
    return bank


FILTERBANK = _filterbank()
NUM_BANDS = FILTERBANK.shape[1]
NUM_FEATURES = 2 * NUM_BANDS
_WINDOW = np.hanning(FRAME).astype(np.float32)


def _bands(frames: np.ndarray) -> np.ndarray:
    """(n, FRAME) samples → (n, bands) log10(1 + filtered magnitude)."""
    spectrum = np.abs(fft.rfft(frames * _WINDOW, axis=1))[:, : FRAME >> 1]  # scipy: float32 throughout
    return np.log10(1.0 + spectrum @ FILTERBANK)


def beat_features(samples: np.ndarray) -> np.ndarray:
    """(frames, 272) features of a whole 22,050 Hz mono signal; frame i is centred at i × 20 ms."""
    samples = np.asarray(samples, dtype=np.float32).ravel()
    count = max(1, int(np.ceil(len(samples) / HOP)))
    half = FRAME // 2
    padded = np.zeros(count * HOP + FRAME, dtype=np.float32)
    padded[half:half + len(samples)] = samples
    bands = np.empty((count, NUM_BANDS), dtype=np.float32)
    for start in range(0, count, 2048):  # in blocks: bounded memory on long songs
        stop = min(count, start + 2048)
        view = np.lib.stride_tricks.sliding_window_view(padded[start * HOP: (stop - 1) * HOP + FRAME], FRAME)[::HOP]
        bands[start:stop] = _bands(view)
    diff = np.zeros_like(bands)
    diff[1:] = np.maximum(bands[1:] - bands[:-1], 0.0)
    return np.hstack([bands, diff])


class BeatFeatures:
    """Streaming features: push 22,050 Hz samples, get every frame whose window is complete.

    The first frame is centred on sample 0 (its first half is silence), exactly as ``beat_features``
    frames a file, so live and offline give the network the same input.
    """

    def __init__(self) -> None:
        self._buffer = np.zeros(FRAME // 2, dtype=np.float32)  # the silence before sample 0
        self._previous = np.zeros(NUM_BANDS, dtype=np.float32)
        self._first = True
        self.frames = 0  # frames produced so far; the next one is centred at frames × HOP samples

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Add samples; return the (n, 272) frames completed by them (n may be 0)."""
        self._buffer = np.concatenate([self._buffer, np.asarray(samples, dtype=np.float32).ravel()])
        ready = (len(self._buffer) - FRAME) // HOP + 1 if len(self._buffer) >= FRAME else 0
        if ready <= 0:
            return np.zeros((0, NUM_FEATURES), dtype=np.float32)
        view = np.lib.stride_tricks.sliding_window_view(self._buffer[: (ready - 1) * HOP + FRAME], FRAME)[::HOP]
        bands = _bands(view)
        self._buffer = self._buffer[ready * HOP:]
        previous = np.vstack([self._previous[None, :], bands[:-1]])
        diff = np.maximum(bands - previous, 0.0)
        if self._first:
            diff[0] = 0.0
            self._first = False
        self._previous = bands[-1]
        self.frames += ready
        return np.hstack([bands, diff])
