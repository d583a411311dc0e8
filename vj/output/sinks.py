"""Frame sinks: what the projector shows, handed to another program (NDI today; Spout, Syphon or a
v4l2loopback camera would each be one small module with the same ``FrameSink`` interface).

``SinkOutput`` is the show loop's side, shared by every sink. It never waits for the sink:

1. after the stage has drawn the frame, the picture (an output-size float texture) is blitted into
   an RGBA8 framebuffer and a read of it into a pixel buffer is started (asynchronous where the
   driver allows), as the live recorder does (``vj.output.live_record``);
2. a frame later, when the read has landed, the bytes go to the sender thread's one slot:
   the latest frame wins, and a frame the sender had not taken yet is dropped and counted;
3. the sender thread flips the rows top-down and calls ``sink.send``, which may take as long as
   the network makes it: the render thread never waits for it.

A sink that sends sound too (``audio_rate`` set, ``send_audio``: NDI with ``--ndi-audio``) gets the
live input from ``SinkOutput.audio_input``, a tap of ``LiveAudio.record_input``: the analysis thread
only appends each hop to a bounded buffer (``AUDIO_SECONDS``; when the sender is that far behind, the
oldest samples are dropped and counted), and the same sender thread that sends the frames sends the
sound, before each frame or as soon as it comes when no frame is waiting. One thread talks to the
sink, so the sink needs no locking of its own.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any, Protocol

import numpy as np

from vj.render.gl import LaterReadback

log = logging.getLogger(__name__)

#: Seconds of input audio held for the sender at most (more and the oldest is dropped).
AUDIO_SECONDS = 0.5


class FrameSink(Protocol):
    """Where frames go. ``send`` runs on the sender thread with H×W×4 uint8 RGBA, top row first."""

    label: str

    def send(self, rgba: np.ndarray) -> None: ...
    def close(self) -> None: ...


class AudioSink(FrameSink, Protocol):
    """A frame sink that sends sound too. ``audio_rate``: the rate it sends at (None: no sound);
    ``send_audio`` runs on the sender thread with the hops that came in, ``[(mono float32, rate)]``."""

    audio_rate: int | None

    def send_audio(self, chunks: list[tuple[np.ndarray, int]]) -> None: ...


class SinkAudioInput:
    """The live input's tap into a ``SinkOutput`` (``LiveAudio.record_input`` calls ``write``)."""

    def __init__(self, output: SinkOutput) -> None:
        self._output = output

    def write(self, time_of_first: float, samples: np.ndarray, sample_rate: int) -> None:
        """One hop of input (the analysis thread; never waits on the sender)."""
        self._output._queue_audio(np.array(samples, dtype=np.float32, copy=True).reshape(-1), int(sample_rate))


class InputTaps:
    """Several taps of the live input as one (the recording's soundtrack and ``--ndi-audio``): each
    hop goes to each; one that fails is left out and the others go on."""

    def __init__(self, taps: list[Any] | None = None) -> None:
        self.taps = list(taps or [])

    def add(self, tap: Any) -> None:
        if tap is not None:
            self.taps.append(tap)

    def __bool__(self) -> bool:
        return bool(self.taps)

    def write(self, time_of_first: float, samples: np.ndarray, sample_rate: int) -> None:
        for tap in list(self.taps):
            try:
                tap.write(time_of_first, samples, sample_rate)
            except Exception as exc:  # the show goes on, and so do the other taps
                log.error("%s stops getting the input audio: %s", type(tap).__name__, exc)
                self.taps.remove(tap)


class SinkOutput:
    """An ``Output`` of the show loop (``write``/``close``) that feeds one ``FrameSink``.

    sent / dropped: frames handed to the sink / frames replaced by a newer one before it could.
    send_cost:      seconds the render thread spent in the last ``write`` (the benchmark reads it).
    audio_input:    the live input's way in, when the sink sends sound (else None);
    audio_sent / audio_dropped: samples handed to the sink / dropped because the sender fell behind.
    """

    def __init__(self, sink: FrameSink, width: int, height: int) -> None:
        self.sink, self.width, self.height = sink, width, height
        self.sent = 0
        self.dropped = 0
        self.failed: str | None = None
        self.send_cost = 0.0
        self._readback = LaterReadback(width, height)
        self._slot: bytes | None = None
        self._wake = threading.Condition()
        self._stopping = False
        rate = getattr(sink, "audio_rate", None)
        self.audio_input = SinkAudioInput(self) if rate else None
        self.audio_sent = 0
        self.audio_dropped = 0
        self.audio_failed: str | None = None
        self._audio: deque[tuple[np.ndarray, int]] = deque()
        self._audio_held = 0
        self._audio_limit = int(AUDIO_SECONDS * rate) if rate else 0
        self._thread = threading.Thread(target=self._run, name=f"vj-sink-{sink.label}", daemon=True)
        self._thread.start()

    # ---- render thread ---------------------------------------------------------------------------

    def write(self, picture: Any, params: Any = None, tick: Any = None) -> bool:
        started = time.perf_counter()
        self._hand_on()
        self._readback.start(picture)   # read next frame: the render thread never waits for it
        self.send_cost = time.perf_counter() - started
        return True

    def _hand_on(self) -> None:
        """The last frame's read has landed by now: its bytes to the sender (latest wins)."""
        raw = self._readback.take()
        if raw is None:
            return
        with self._wake:
            if self._slot is not None:
                self.dropped += 1
            self._slot = raw
            self._wake.notify()

    # ---- audio thread ----------------------------------------------------------------------------

    def _queue_audio(self, samples: np.ndarray, rate: int) -> None:
        if self.audio_failed is not None or self.failed is not None or not len(samples):
            return
        with self._wake:
            self._audio.append((samples, rate))
            self._audio_held += len(samples)
            while self._audio_held > self._audio_limit and len(self._audio) > 1:   # behind: the oldest go
                old, _ = self._audio.popleft()
                self._audio_held -= len(old)
                self.audio_dropped += len(old)
            self._wake.notify()

    # ---- sender thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._slot is None and not self._audio and not self._stopping:
                    self._wake.wait()
                if self._slot is None and not self._audio:
                    return
                raw, self._slot = self._slot, None
                sound = list(self._audio)
                self._audio.clear()
                self._audio_held = 0
            if sound:
                self._send_audio(sound)
            if raw is None:
                continue
            rows = np.frombuffer(raw, dtype=np.uint8).reshape(self.height, self.width, 4)[::-1]
            try:
                self.sink.send(np.ascontiguousarray(rows))
                self.sent += 1
            except Exception as exc:  # a sink that fails stops sending; the show goes on
                self.failed = f"{type(exc).__name__}: {exc}"
                log.error("%s output stopped: %s", self.sink.label, self.failed)
                return

    def _send_audio(self, sound: list[tuple[np.ndarray, int]]) -> None:
        if self.audio_failed is not None:
            return
        try:
            self.sink.send_audio(sound)  # type: ignore[attr-defined]
            self.audio_sent += sum(len(samples) for samples, _ in sound)
        except Exception as exc:  # the sound stops; the picture goes on
            self.audio_failed = f"{type(exc).__name__}: {exc}"
            log.error("%s audio stopped: %s", self.sink.label, self.audio_failed)

    # ---- the end -----------------------------------------------------------------------------

    def close(self, failed: bool = False) -> None:
        try:
            self._hand_on()
        except Exception as exc:  # the GL context is gone with the window: a frame short
            log.debug("%s: the last frame's read failed: %s", self.sink.label, exc)
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout=2.0)
        self._readback.release()
        self.sink.close()
        if self.dropped:
            log.info("%s: %d frames sent, %d dropped (the sender fell behind)", self.sink.label, self.sent,
                     self.dropped)
        if self.audio_dropped:
            log.info("%s: %d audio samples sent, %d dropped (the sender fell behind)", self.sink.label,
                     self.audio_sent, self.audio_dropped)


__all__ = ["AUDIO_SECONDS", "AudioSink", "FrameSink", "InputTaps", "SinkAudioInput", "SinkOutput"]
