"""Helpers shared by the control tests (a module name of its own: tests/show has a conftest too)."""
from __future__ import annotations

import time
from typing import Callable

JACK_BACKEND = "mido.backends.rtmidi/UNIX_JACK"


def wait_for(predicate: Callable[[], bool], timeout: float = 3.0, what: "str | Callable[[], str]" = "a condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.005)
    raise AssertionError(f"timed out after {timeout} s waiting for {what() if callable(what) else what}")
