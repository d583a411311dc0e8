"""Shared fixtures for the 3D camera tests: a GL context, a textured image, synthetic depth maps."""
from __future__ import annotations

import numpy as np
import pytest

SIZE = 96


@pytest.fixture(scope="session")
def gl_ctx():
    from vj.render.gl import GLUnavailableError, create_headless_context

    try:
        ctx = create_headless_context()
    except GLUnavailableError as exc:
        pytest.fail(str(exc))
    yield ctx
    ctx.release()


@pytest.fixture(scope="session")
def reproject_pass(gl_ctx):
    from vj.render.reproject import ReprojectPass

    rp = ReprojectPass(gl_ctx)
    yield rp
    rp.release()


def textured(width: int = SIZE, height: int = SIZE) -> np.ndarray:
    """Smooth but busy colour texture: every error shows, bilinear sampling stays accurate."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64) / width
    return np.stack([0.5 + 0.5 * np.sin(2 * np.pi * (3 * xs) + 1.0),
                     0.5 + 0.5 * np.sin(2 * np.pi * (4 * ys)),
                     0.5 + 0.5 * np.sin(2 * np.pi * 2.5 * (xs + ys))], axis=-1).astype(np.float32)


def depth_maps(width: int = SIZE, height: int = SIZE) -> dict[str, np.ndarray]:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    u = (xs + 0.5) / width
    return {
        "plane": np.full((height, width), 400.0, dtype=np.float32),
        "slanted": (300.0 + 500.0 * u).astype(np.float32),
        "two_planes": np.where(u < 0.5, 300.0, 900.0).astype(np.float32),
    }


@pytest.fixture(scope="session")
def image() -> np.ndarray:
    return textured()


@pytest.fixture(scope="session")
def depths() -> dict[str, np.ndarray]:
    return depth_maps()


@pytest.fixture(autouse=True)
def _gl_current(request):
    """Make the session's GL context current for each test that uses it: a test that creates and
    releases a context of its own (a whole rehearsal, say) leaves none current on this thread."""
    if "gl_ctx" in request.fixturenames:
        request.getfixturevalue("gl_ctx").__enter__()
    yield
