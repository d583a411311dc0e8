"""Synthetic frames for the output tests (a module of its own: every test folder has a conftest)."""
from __future__ import annotations

import numpy as np

WIDTH, HEIGHT, FPS, SECONDS = 64, 48, 12, 2.0
SAMPLE_RATE = 44100
TONE_START = 1.0  # seconds of silence before the test tone


def synthetic_frame(index: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A gradient that moves with the frame, the frame number in the red channel (10 levels apart)."""
    x = np.arange(width)[None, :]
    y = np.arange(height)[:, None]
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[..., 0] = (index * 10) % 256
    frame[..., 1] = ((x * 3 + index * 8) % 200 + 20).astype(np.uint8)
    frame[..., 2] = np.broadcast_to((y * 4 + 30).astype(np.uint8), (height, width))
    return frame
