"""``vj live --record out.mp4``: what the projector shows, with the input audio, never slowing it.

This is the GL side only; the encoding is the one recorder's (``vj.output.recorder.Recorder``,
the rehearsal's too). After each swap the display thread starts a read of the output picture into
a pixel buffer and, a frame later when it has landed, offers the bytes to the recorder, which
queues them (dropping and counting when its writer falls behind) and stamps each frame with its
slot at the recording's rate from the swap time. The input audio reaches the recorder as it comes
in (``LiveAudioInput``, fed by the analysis thread), so the file on disk is playable, sound and
picture, up to its last second or two whatever happens to the process.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from vj.render.gl import LaterReadback

from vj.output.recorder import LiveAudioInput, Recorder

log = logging.getLogger(__name__)


class LiveRecorder:
    """Records output-size frames at ``fps`` from the display loop (``offer`` each frame)."""

    def __init__(self, path: Path, width: int, height: int, fps: float, *, audio: LiveAudioInput | None = None,
                 queue_size: int = 6) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.recorder = Recorder(path, width, height, fps, audio=audio, queue_size=queue_size,
                                 convert=self._pixels)
        self.path = self.recorder.path
        self._next_time: float | None = None
        self._readback = LaterReadback(width, height)
        self._started_at = 0.0

    @property
    def dropped(self) -> int:
        """Frames the writer could not take (the HUD shows it)."""
        return self.recorder.dropped

    # ---- display thread ----------------------------------------------------------------------

    def offer(self, target: Any, swap_time: float) -> None:
        """Called after each swap with the output target: keeps one frame per recording interval."""
        self._hand_on()
        if self._next_time is not None and swap_time < self._next_time - 0.25 / self.fps:
            return
        self._next_time = (self._next_time or swap_time) + 1.0 / self.fps
        if self._next_time < swap_time:  # the display stalled: skip ahead, don't burst
            self._next_time = swap_time + 1.0 / self.fps
        self._readback.start(target.texture)   # its bytes are handed on next frame
        self._started_at = swap_time

    def _hand_on(self) -> None:
        """The last frame's read has landed by now: pass the bytes on."""
        raw = self._readback.take()
        if raw is not None:
            self.recorder.offer(raw, self._started_at)

    def _pixels(self, raw: bytes) -> np.ndarray:
        """RGBA8 rows bottom-up (GL) → H×W×3 uint8 top-down (on the writer thread)."""
        rgba = np.frombuffer(raw, dtype=np.uint8).reshape(self.height, self.width, 4)[::-1, :, :3]
        return np.ascontiguousarray(rgba)

    # ---- the end ----------------------------------------------------------------------------

    def close(self) -> None:
        """Finish the recording (the last frame too) and report the drop count."""
        try:
            self._hand_on()
        except Exception as exc:  # a GL context already gone: the recording ends a frame early
            log.debug("recording: the last frame's read failed: %s", exc)
        self._readback.release()
        recorder = self.recorder
        recorder.close()
        if recorder.dropped:
            log.warning("recording: %d frames dropped (the writer fell behind); %d written to %s",
                        recorder.dropped, recorder.frame_count, self.path)
        else:
            log.info("recording: %d frames written to %s", recorder.frame_count, self.path)

    def abort(self) -> None:
        """Stop without a recording (the show never started): no file is left behind."""
        self._readback.release()
        self.recorder.abort()



__all__ = ["LiveRecorder"]
