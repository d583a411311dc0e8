"""The magnitude spectrum of each hop: the last ``win`` samples, Hann-windowed (periodic), FFT (scipy's, in float32).

The same frames and window as aubio's phase vocoder (``aubio.pvoc``), whose magnitudes these
match to float32 precision (tests/audio/test_spectrum.py), in numpy: vj's own analysis needs no
GPL code. aubio stays an optional extra for its onset methods and tempo tracker."""
from __future__ import annotations

import numpy as np
from scipy import fft


class HopSpectrum:
    """Feed ``hop`` samples at a time; each call returns the ``win // 2 + 1`` magnitudes (float32)
    of the window that ends with them (zeros before the stream's start)."""

    def __init__(self, win: int, hop: int) -> None:
        if not 0 < hop <= win:
            raise ValueError(f"need 0 < hop <= win, got hop={hop} win={win}")
        self.win, self.hop = win, hop
        self.window = (0.5 * (1.0 - np.cos(2.0 * np.pi * np.arange(win) / win))).astype(np.float32)
        self._frame = np.zeros(win, dtype=np.float32)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        frame, hop = self._frame, self.hop
        frame[:-hop] = frame[hop:]
        frame[-hop:] = samples
        return np.abs(fft.rfft(frame * self.window))

    def frames(self, samples: np.ndarray, count: int) -> np.ndarray:
        """(count, win // 2 + 1) magnitudes of the first ``count`` hops of a whole signal at once:
        row i is what the i-th call would return (scipy's FFT gives the same numbers one row or
        many at a time). Leaves this object's own stream untouched."""
        signal = np.concatenate([np.zeros(self.win - self.hop, np.float32), np.asarray(samples, np.float32)])
        needed = (count - 1) * self.hop + self.win
        if len(signal) < needed:
            signal = np.concatenate([signal, np.zeros(needed - len(signal), np.float32)])
        windows = np.lib.stride_tricks.sliding_window_view(signal[:needed], self.win)[::self.hop]
        out = np.empty((count, self.win // 2 + 1), dtype=np.float32)
        for start in range(0, count, 2048):  # bounded memory on long songs
            out[start:start + 2048] = np.abs(fft.rfft(windows[start:start + 2048] * self.window, axis=1))
        return out


__all__ = ["HopSpectrum"]
