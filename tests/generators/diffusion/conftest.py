"""Tiny random-weight models, built once per session and loaded through the real loader."""
from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    # The test machines are shared: one thread keeps timings steady and the suite polite.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from vj.generators.diffusion.tiny import build_tiny_pipeline

    root = tmp_path_factory.mktemp("tiny")
    build_tiny_pipeline(root / "model", tiny_vae_folder=root / "taesd")
    return root / "model"


@pytest.fixture(scope="session")
def tiny_taesd(tiny_model) -> Path:
    return tiny_model.parent / "taesd"


@pytest.fixture(scope="session")
def loaded(tiny_model):
    from vj.generators.diffusion.loader import load_model

    return load_model(str(tiny_model), device="cpu")


@pytest.fixture(scope="session")
def tiny_sdxl(tmp_path_factory) -> Path:
    """A tiny random SDXL pipeline (two text encoders, "text_time" UNet) and a tiny TAESDXL beside it."""
    from vj.generators.diffusion.tiny import build_tiny_sdxl_pipeline

    root = tmp_path_factory.mktemp("tiny_sdxl")
    build_tiny_sdxl_pipeline(root / "model", tiny_vae_folder=root / "taesdxl")
    return root / "model"


@pytest.fixture(scope="session")
def tiny_taesdxl(tiny_sdxl) -> Path:
    return tiny_sdxl.parent / "taesdxl"


@pytest.fixture(scope="session")
def loaded_sdxl(tiny_sdxl):
    from vj.generators.diffusion.loader import load_model

    return load_model(str(tiny_sdxl), device="cpu")
