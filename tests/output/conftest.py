"""Shared fixtures for the output tests: synthetic frames and a WAV written with the stdlib."""
from __future__ import annotations

import sys
import wave
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

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


@pytest.fixture(scope="session")
def frames() -> list[np.ndarray]:
    return [synthetic_frame(i) for i in range(int(SECONDS * FPS))]


@pytest.fixture(scope="session")
def tone_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s of mono 16-bit audio: silence, then a 440 Hz tone from TONE_START on."""
    path = tmp_path_factory.mktemp("audio") / "tone.wav"
    t = np.arange(int(SAMPLE_RATE * 4.0)) / SAMPLE_RATE
    signal = 0.5 * np.sin(2 * np.pi * 440.0 * t) * (t >= TONE_START)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((signal * 32767).astype("<i2").tobytes())
    return path
