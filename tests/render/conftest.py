"""One headless GL context for the render tests (real GL through EGL; Mesa llvmpipe works)."""
from __future__ import annotations

import moderngl
import pytest

from vj.render.gl import create_headless_context


@pytest.fixture(scope="session")
def gl() -> moderngl.Context:
    ctx = create_headless_context()
    yield ctx
    ctx.release()
