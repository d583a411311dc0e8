"""One rtmidi input port, read by a thread of ours: rtmidi's own thread never runs Python.

Why not mido's rtmidi input: it hands every message to Python on rtmidi's thread (on JACK, the
client's process thread), and closing the port while messages arrive could hang the process for
good or crash it: reproduced on JACK with a controller sending ~2000 messages a second and both
cores busy (tests/control/test_midi_jack.py). The hung process's main thread waited forever for the
interpreter's lock while no thread held it in Python, and jackd logged that the client's close timed
out: most likely JACK stopped the process thread while it waited for the GIL, which the closing
thread held. Taking the callback away first is no cure: python-rtmidi frees the callback that a
message already on its way is about to call (that crashed within a few dozen closes). MIDI clock
from a DJ's software keeps messages coming all the time, so quitting ``vj live`` would run the race.

Here rtmidi only queues messages (in C++) and our thread polls the queue every ``POLL_SECONDS``
while they come (every ``IDLE_POLL_SECONDS`` once the port has been quiet a while); closing stops
our thread first, then the port.

Timing: each message is stamped with when it arrived, from rtmidi's own delta times within the
batch read (the newest stamped now), so MIDI clock keeps its spacing despite the polling.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from vj.control.logs import RateLimitedLog

log = logging.getLogger(__name__)

#: How often the queue is read while messages come (the most one waits before it reaches the
#: store), and after ``IDLE_AFTER_SECONDS`` without any: each read costs ~20–40 µs of CPU here, so a
#: port read every millisecond costs ~2 % of a core more than mido's input, every 10 ms ~0.4 %.
POLL_SECONDS = 0.001
IDLE_POLL_SECONDS = 0.01
IDLE_AFTER_SECONDS = 2.0
#: rtmidi's queue (messages); a poll every millisecond empties it long before it fills.
QUEUE_SIZE = 4096


class PolledInput:
    """``name`` on rtmidi's ``api`` (e.g. 'UNIX_JACK', 'LINUX_ALSA'; None: rtmidi's default),
    calling ``on_message(mido.Message, arrival monotonic time)`` on this port's own thread.
    Raises OSError when the port cannot be opened (as mido does)."""

    def __init__(self, name: str, on_message: Callable[[Any, float], None], api: str | None = None) -> None:
        import mido
        import rtmidi

        self.name = name
        self._message = mido.Message
        self._on_message = on_message
        rtapi = getattr(rtmidi, f"API_{api}") if api else rtmidi.API_UNSPECIFIED
        self._rt = rtmidi.MidiIn(rtapi=rtapi, queue_size_limit=QUEUE_SIZE)
        try:
            ports = self._rt.get_ports()
            if name not in ports:
                raise OSError(f"unknown port {name!r}")
            self._rt.open_port(ports.index(name))
        except (OSError, RuntimeError, ValueError) as exc:  # rtmidi raises RuntimeError subclasses
            self._rt.delete()
            raise exc if isinstance(exc, OSError) else OSError(str(exc)) from exc
        self._rt.ignore_types(sysex=False, timing=False, active_sense=True)  # clock is wanted, as mido
        self._bad = RateLimitedLog(log)
        self._stop = threading.Event()
        self.closed = False
        self._thread = threading.Thread(target=self._run, name=f"midi in: {name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last = -float("inf")  # when messages last came
        while not self._stop.is_set():
            batch = []
            while True:
                got = self._rt.get_message()
                if got is None:
                    break
                batch.append(got)
            now = time.monotonic()
            if batch:
                last = now
                self._deliver(batch, now)
            time.sleep(POLL_SECONDS if now - last < IDLE_AFTER_SECONDS else IDLE_POLL_SECONDS)

    def _deliver(self, batch: list[tuple[list[int], float]], now: float) -> None:
        """Messages in arrival order; the last arrived about now, each earlier one its rtmidi delta
        before the next."""
        stamps = [now]
        for _, delta in reversed(batch[1:]):
            stamps.append(stamps[-1] - max(0.0, delta))
        for (data, _), stamp in zip(batch, reversed(stamps)):
            try:
                message = self._message.from_bytes(data)
            except ValueError:  # not a whole MIDI message: ignored, as mido does
                continue
            try:
                self._on_message(message, stamp)
            except Exception as exc:  # one bad message must not stop the port's reading
                self._bad("message", "MIDI message from %s failed: %s", self.name, exc, level=logging.ERROR)

    def close(self) -> None:
        """Stop reading, then close the port (no rtmidi thread is in Python by then). Idempotent."""
        if self.closed:
            return
        self.closed = True
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5.0)
        self._rt.close_port()
        self._rt.delete()
