"""The control page's preview: a small JPEG of what the projector shows, a few times a second,
never slowing the render.

An output of the show loop (``write(picture, params, tick)``), like the live recorder: on the
render thread it only draws the output picture into a small RGBA8 framebuffer (a box-filtered
downscale on the GPU, one draw call) and starts a read of it into a pixel buffer; a frame later,
when the read has landed, it hands the bytes to its encoder thread, which flips, JPEG-encodes
(Pillow) and passes the JPEG to ``sink``. Nothing is done while ``active()`` is False (no page
wants a preview), and a frame is skipped rather than queued when the encoder is still busy.

``timings`` keeps the render-thread seconds of each ``write`` that did work (the benchmark's
figure for the preview's cost on the render thread).
"""
from __future__ import annotations

import io
import logging
import threading
import time
from collections import deque
from typing import Any, Callable

import numpy as np

log = logging.getLogger(__name__)

#: Default preview width in pixels and frames per second.
PREVIEW_WIDTH = 320
PREVIEW_FPS = 5.0


class ThumbnailStream:
    """Preview JPEGs of the output picture for ``sink(jpeg_bytes)`` (called on the encoder thread)."""

    def __init__(self, sink: Callable[[bytes], None], *, fps: float = PREVIEW_FPS, width: int = PREVIEW_WIDTH,
                 quality: int = 70, active: Callable[[], bool] = lambda: True,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.sink, self.fps, self.width, self.quality = sink, fps, width, quality
        self.active, self.now = active, now
        self.timings: deque[float] = deque(maxlen=10000)
        self.sent = 0
        self.skipped = 0
        self._ctx: Any = None
        self._program: Any = None
        self._texture: Any = None
        self._framebuffer: Any = None
        self._buffer: Any = None
        self._size: tuple[int, int] = (0, 0)
        self._pending = False
        self._next = 0.0
        self._job: tuple[bytes, tuple[int, int]] | None = None
        self._job_ready = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._encode_loop, name="vj-thumbnail", daemon=True)
        self._thread.start()

    # ---- render thread ------------------------------------------------------------------------

    def write(self, picture: Any, params: Any, tick: Any) -> bool:
        started = time.perf_counter()
        did = False
        if self._pending:   # last interval's read has landed: hand the bytes on
            self._pending = False
            did = True
            with self._job_ready:
                if self._job is None:
                    self._job = (self._buffer.read(), self._size)
                    self._job_ready.notify()
                else:
                    self.skipped += 1
        now = self.now()
        if now >= self._next and self.active():
            self._next = max(self._next + 1.0 / self.fps, now)
            self._draw(picture)
            did = True
        if did:
            self.timings.append(time.perf_counter() - started)
        return True

    def _draw(self, picture: Any) -> None:
        ctx = picture.ctx
        width, height = picture.size
        size = (self.width, max(2, int(round(self.width * height / max(width, 1) / 2)) * 2))
        if ctx is not self._ctx or size != self._size:
            self._release()
            from vj.render.gl import Program

            self._ctx, self._size = ctx, size
            self._program = Program(ctx, "thumbnail")
            self._texture = ctx.texture(size, 4, dtype="f1")
            self._framebuffer = ctx.framebuffer(color_attachments=[self._texture])
            self._buffer = ctx.buffer(reserve=size[0] * size[1] * 4)
        self._program.set("u_target_size", size)
        self._program.bind("u_source", picture)
        self._program.draw(self._framebuffer)
        self._framebuffer.read_into(self._buffer, components=4)   # into a pixel buffer: no wait here
        self._pending = True

    # ---- encoder thread -----------------------------------------------------------------------

    def _encode_loop(self) -> None:
        from PIL import Image

        while True:
            with self._job_ready:
                while self._job is None and not self._closed:
                    self._job_ready.wait()
                if self._job is None:
                    return
                raw, (width, height) = self._job
            try:
                rgba = np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 4)[::-1, :, :3]
                out = io.BytesIO()
                Image.fromarray(np.ascontiguousarray(rgba)).save(out, format="JPEG", quality=self.quality)
                self.sink(out.getvalue())
                self.sent += 1
            except Exception as exc:  # the preview is a nicety: never take the show down with it
                log.debug("preview frame failed: %s", exc)
            finally:
                with self._job_ready:
                    self._job = None

    # ---- the end ------------------------------------------------------------------------------

    def close(self, failed: bool = False) -> None:
        with self._job_ready:
            self._closed = True
            self._job_ready.notify()
        self._thread.join(2.0)
        self._release()

    def _release(self) -> None:
        for item in (self._program, self._framebuffer, self._texture, self._buffer):
            if item is not None:
                try:
                    item.release()
                except Exception:  # its context is gone with the window
                    pass
        self._program = self._framebuffer = self._texture = self._buffer = None
        self._ctx = None
        self._pending = False


__all__ = ["ThumbnailStream", "PREVIEW_WIDTH", "PREVIEW_FPS"]
