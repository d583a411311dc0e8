"""``vj live --record out.mp4``: what the projector shows, with the input audio, never slowing it.

The display thread only starts a read of the output picture into a pixel buffer and, a frame
later, hands the bytes to a bounded queue; when the queue is full the frame is dropped and
counted (the HUD shows the count). A writer thread converts and encodes. Each frame is stamped
with its presentation time (its slot at the recording's frame rate, from the swap time), so
dropped frames leave gaps in time rather than shifting everything after them: the video stays
aligned with the audio. At the end the captured input (a WAV the analysis thread wrote) is cut
to the video's first frame and muxed in.
"""
from __future__ import annotations

import logging
import math
import queue
import threading
import wave
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from vj.errors import VjError

log = logging.getLogger(__name__)


class LiveRecorder:
    """Records output-size frames at ``fps`` from the display loop (``offer`` each frame)."""

    def __init__(self, path: Path, width: int, height: int, fps: float, *, audio: Any | None = None,
                 wav: Path | None = None, queue_size: int = 6) -> None:
        import av

        self.path = Path(path)
        self.width, self.height, self.fps = width, height, fps
        self.audio, self.wav = audio, wav
        self._video_path = self.path.with_name(f".{self.path.stem}.video.mp4")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._container = av.open(str(self._video_path), "w")
        except (OSError, av.FFmpegError) as exc:
            raise VjError(f"--record {self.path}: cannot write there: {getattr(exc, 'strerror', None) or exc}") from None
        self._stream = self._container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        self._stream.time_base = Fraction(1, 1) / Fraction(fps).limit_denominator(1000)
        self._stream.options = {"preset": "veryfast", "crf": "20"}
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.dropped = 0
        self.written = 0
        self.first_time: float | None = None
        self._next_time: float | None = None
        self._pending: tuple[Any, float] | None = None
        self._buffer: Any = None
        self._last_slot = -1
        self._thread = threading.Thread(target=self._write_loop, name="vj-recorder", daemon=True)
        self._thread.start()

    # ---- display thread ----------------------------------------------------------------------

    def offer(self, target: Any, swap_time: float) -> None:
        """Called after each swap with the output target: keeps one frame per recording interval."""
        if self._pending is not None:  # last frame's read has landed by now: pass the bytes on
            buffer, when = self._pending
            self._pending = None
            try:
                self._queue.put_nowait((buffer.read(), when))
            except queue.Full:
                self.dropped += 1
        if self._next_time is not None and swap_time < self._next_time - 0.25 / self.fps:
            return
        if self.first_time is None:
            self.first_time = swap_time
        self._next_time = (self._next_time or swap_time) + 1.0 / self.fps
        if self._next_time < swap_time:  # the display stalled: skip ahead, don't burst
            self._next_time = swap_time + 1.0 / self.fps
        if self._buffer is None:
            self._buffer = target.ctx.buffer(reserve=self.width * self.height * 4 * 4)
        target.texture.read_into(self._buffer)  # a pixel-buffer read: asynchronous where the driver allows
        self._pending = (self._buffer, swap_time)

    # ---- writer thread -----------------------------------------------------------------------

    def _write_loop(self) -> None:
        import av

        while True:
            item = self._queue.get()
            if item is None:
                return
            raw, when = item
            rgba = np.frombuffer(raw, dtype=np.float32).reshape(self.height, self.width, 4)[::-1, :, :3]
            pixels = (np.clip(rgba, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
            slot = int(round((when - (self.first_time or when)) * self.fps))
            if slot <= self._last_slot:
                slot = self._last_slot + 1
            self._last_slot = slot
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            frame.pts = slot
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
            self.written += 1

    def close(self) -> None:
        """Finish the video, mux the input audio in, and report the drop count."""
        self._queue.put(None)
        self._thread.join(timeout=60)
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        duration = (self._last_slot + 1) / self.fps
        audio = self._aligned_audio(duration)
        _mux(self._video_path, audio, self.path)
        self._video_path.unlink(missing_ok=True)
        if self.wav is not None:
            self.wav.unlink(missing_ok=True)
        if self.dropped:
            log.warning("recording: %d frames dropped (the writer fell behind); %d written to %s",
                        self.dropped, self.written, self.path)
        else:
            log.info("recording: %d frames written to %s", self.written, self.path)

    def abort(self) -> None:
        """Stop without a recording (the show never started): no file is left behind."""
        self._queue.put(None)
        self._thread.join(timeout=10)
        try:
            self._container.close()
        except Exception:  # an encoder with nothing in it may complain on close; the file goes anyway
            log.debug("closing an empty recording", exc_info=True)
        self._video_path.unlink(missing_ok=True)
        if self.wav is not None:
            self.wav.unlink(missing_ok=True)

    def _aligned_audio(self, duration: float) -> tuple[np.ndarray, int] | None:
        """The input audio from the video's first frame, as long as the video (int16 mono)."""
        recorded = self.audio.recorded_input if self.audio is not None else None
        if recorded is None or self.first_time is None:
            return None
        path, start = recorded
        self.audio.stop()  # closes the WAV (the show is over)
        with wave.open(str(path), "rb") as source:
            rate = source.getframerate()
            samples = np.frombuffer(source.readframes(source.getnframes()), dtype=np.int16)
        skip = int(round((self.first_time - start) * rate))
        samples = samples[skip:] if skip >= 0 else np.concatenate((np.zeros(-skip, np.int16), samples))
        length = int(math.ceil(duration * rate))
        if len(samples) < length:
            samples = np.concatenate((samples, np.zeros(length - len(samples), np.int16)))
        return samples[:length], rate


def _mux(video: Path, audio: tuple[np.ndarray, int] | None, output: Path) -> None:
    """Copy the video stream into ``output`` and encode the audio beside it (AAC)."""
    import av

    partial = output.with_name(f".{output.name}.partial")
    with av.open(str(video)) as source, av.open(str(partial), "w", format="mp4") as target:
        in_stream = source.streams.video[0]
        out_video = target.add_stream_from_template(in_stream)
        out_audio = None
        if audio is not None:
            out_audio = target.add_stream("aac", rate=audio[1])
            out_audio.layout = "mono"
        for packet in source.demux(in_stream):
            if packet.dts is None:
                continue
            packet.stream = out_video
            target.mux(packet)
        if out_audio is not None:
            samples, rate = audio
            chunk = 1024
            for start in range(0, len(samples), chunk):
                piece = samples[start:start + chunk]
                frame = av.AudioFrame.from_ndarray(piece[None, :], format="s16", layout="mono")
                frame.sample_rate = rate
                frame.pts = start
                frame.time_base = Fraction(1, rate)
                for packet in out_audio.encode(frame):
                    target.mux(packet)
            for packet in out_audio.encode():
                target.mux(packet)
    partial.replace(output)


__all__ = ["LiveRecorder"]
