"""Suite-wide ordering.

The live tests open GLFW (GLX) windows in this process. Once an EGL standalone context has
existed in a process (every rehearsal and render test makes one), Mesa's GLX answers a later
``glXMakeCurrent`` with BadAccess, and Xlib's default handler exits the process with status 1 and
no report. A show never mixes the two that way round (its window comes first), so the live tests
simply run first.
"""
from __future__ import annotations

from pathlib import Path

import pytest

LIVE = Path(__file__).resolve().parent / "live"


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: 0 if LIVE in Path(str(item.path)).parents else 1)  # stable: order kept within
