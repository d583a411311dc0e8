"""Shared fixtures for the output tests: synthetic frames and a WAV written with the stdlib."""
from __future__ import annotations

import sys
import wave
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from output_synth import FPS, SAMPLE_RATE, SECONDS, TONE_START, synthetic_frame  # noqa: E402,F401


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
