"""Shared fixtures for the audio tests: synthesised tracks and real files written with PyAV."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audio_synth import Synth, music, write_audio  # noqa: E402


@pytest.fixture(scope="session")
def groove() -> Synth:
    """Drums + bass + pad, 120 BPM, 8 bars (busier from bar 5)."""
    return music(120.0, 8, seed=1)


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audio")


@pytest.fixture(scope="session")
def groove_file(audio_dir: Path, groove: Synth) -> Path:
    return write_audio(audio_dir / "groove.wav", groove.samples)
