"""One thread for every compiled call of a generator: its warm-up and all of its frames.

CUDA-graph trees (``torch.compile(mode="reduce-overhead")``) keep their state per thread; on torch
builds before mid-2026 a graph recorded on one thread fails an assertion when it is first replayed
on another. A live show prepares the model on a loader thread and renders on the generator thread,
so the generator runs its device work here instead: the same thread warms up and makes frames,
whoever calls ``prepare`` and ``step``. A hop costs tens of microseconds a frame.

There is one such thread per process (``DeviceThread.shared``): Dynamo reuses a compiled UNet
across generators of the same model class (a song change, a benchmark with several set-ups), so
every generator's compiled calls must land on the same thread, not just each generator's own.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

T = TypeVar("T")


class DeviceThread:
    """Runs callables on one long-lived thread and waits for their result (exceptions re-raised)."""

    def __init__(self, name: str = "vj-diffusion") -> None:
        self._ident: int | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name, initializer=self._started)
        self.run(lambda: None)  # start it now, so ``ident`` is known

    def _started(self) -> None:
        self._ident = threading.get_ident()

    @property
    def ident(self) -> int | None:
        return self._ident

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on the device thread (directly when already on it)."""
        if threading.get_ident() == self._ident:
            return fn(*args, **kwargs)
        return self._executor.submit(fn, *args, **kwargs).result()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    _shared: "DeviceThread | None" = None
    _shared_lock = threading.Lock()

    @classmethod
    def shared(cls) -> "DeviceThread":
        """The process's one device thread (started on first use, never closed by a generator)."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared
