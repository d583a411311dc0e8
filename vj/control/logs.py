"""Rate-limited logging for bad control input.

A flood of malformed OSC datagrams or a noisy MIDI cable must not flood the log (or slow the
thread that writes it): the first occurrence of each kind is logged, repeats within ``interval``
seconds are only counted, and the count is reported with the next line of that kind.
"""
from __future__ import annotations

import logging
import threading
import time


class RateLimitedLog:
    """At most one line per ``key`` every ``interval`` seconds, with a count of the ones held back."""

    def __init__(self, logger: logging.Logger, interval: float = 5.0, max_keys: int = 256) -> None:
        self.logger = logger
        self.interval = interval
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self.total = 0

    def __call__(self, key: str, message: str, *args: object, level: int = logging.WARNING) -> bool:
        """Log ``message % args`` under ``key`` unless one was logged recently. Returns True if logged."""
        now = time.monotonic()
        with self._lock:
            self.total += 1
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return False
            if len(self._last) >= self.max_keys and key not in self._last:
                # Keys can come from the network: keep the table bounded.
                self._last.clear()
                self._suppressed.clear()
            self._last[key] = now
            held = self._suppressed.pop(key, 0)
        if held:
            message += f" ({held} more like this in the last {self.interval:g} s)"
        self.logger.log(level, message, *args)
        return True


__all__ = ["RateLimitedLog"]
