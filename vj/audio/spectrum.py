"""The magnitude spectrum of each hop: the last ``win`` samples, Hann-windowed (periodic), FFT.

The same frames and window as aubio's phase vocoder (``aubio.pvoc``), whose magnitudes these
match to float32 precision (tests/audio/test_spectrum.py), in numpy: vj's own analysis needs no
GPL code. aubio stays an optional extra for its onset methods and tempo tracker."""
from __future__ import annotations

import numpy as np


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
        return np.abs(np.fft.rfft(frame * self.window)).astype(np.float32)


__all__ = ["HopSpectrum"]
