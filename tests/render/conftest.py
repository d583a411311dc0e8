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


@pytest.fixture(autouse=True)
def _gl_current(request):
    """Make the session's GL context current for each test that uses it (another test may have
    made and released a context of its own, leaving none current on this thread)."""
    if "gl" in request.fixturenames:
        request.getfixturevalue("gl").__enter__()
    yield
