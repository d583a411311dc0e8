"""Frame-exact H.264 MP4 recording with the song's audio muxed in, written atomically.

Frame n carries pts n in a 1/fps time base, so the file has exactly the frames written and frame n
shows at n / fps — the same clock the rehearsal renders on. The audio is cut from the song to exactly
the video's length, starting at song time ``audio_start``, and encoded alongside the video so the
two stay interleaved in the file. Everything goes to ``<path>.partial.mp4`` first and is renamed into
place only by a successful ``close()``: a crash never leaves a half-written file posing as a finished one.
"""
from __future__ import annotations

import logging
import os
import queue
import tempfile
import threading
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from vj.errors import VjError
from vj.render.frame import Frame

log = logging.getLogger(__name__)

#: Samples per AAC frame: audio is encoded in chunks of this size (the last one may be shorter).
AAC_FRAME_SAMPLES = 1024
#: Sample rates AAC plays everywhere; other source rates are resampled to 48 kHz.
AAC_RATES = (44100, 48000)
#: A fixed encoder thread count: x264 output depends on it, and same input must give the same file.
ENCODER_THREADS = 2


class OutputError(VjError):
    """The output can't be written: a bad path, an odd frame size, an unreadable audio file."""


def partial_path(path: str | os.PathLike[str]) -> Path:
    """Where a recording is written until ``close()`` renames it to ``path``."""
    path = Path(path)
    return path.with_name(path.name + ".partial.mp4")


def _prepare_destination(path: Path) -> None:
    """Fail before any rendering if ``path`` can never be written (a person reads the message)."""
    if path.is_dir():
        raise OutputError(f"{path}: is a directory; give a file name ending in .mp4")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{path}: cannot create the folder {path.parent}: {exc.strerror or exc}") from None
    # Write a probe file: os.access says yes to root on read-only folders and mounts.
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".vj-probe-"):
            pass
    except OSError as exc:
        raise OutputError(f"{path}: the folder {path.parent} is not writable ({exc.strerror or exc})") from None


class _AudioSource:
    """The song's audio as one stream of stereo float samples at ``rate``, from song time ``start``.

    Song time 0 is the first decoded sample (as in ``vj.audio.decode``). Before the start of the
    file (a negative ``start``) and after its end the source gives silence, so the recording always
    gets exactly the samples it asks for.
    """

    def __init__(self, path: Path, start: float) -> None:
        try:
            self._container = av.open(str(path))
            stream = self._container.streams.audio[0]
        except (OSError, av.FFmpegError, IndexError) as exc:
            raise OutputError(f"{path}: cannot read audio to record: {exc}") from None
        source_rate = stream.codec_context.sample_rate or 48000
        self.rate = source_rate if source_rate in AAC_RATES else 48000
        self._stream = stream
        # Mono is copied to both channels at full level (a mono-to-stereo downmix would lose 3 dB).
        self._mono = stream.codec_context.channels == 1
        self._resampler = av.AudioResampler(format="fltp", layout="mono" if self._mono else "stereo",
                                            rate=self.rate)
        self._chunks = self._decoded_chunks()
        self._buffer = np.zeros((2, 0), dtype=np.float32)
        skip = int(round(start * self.rate))
        self._silence_first = max(0, -skip)
        self._skip = max(0, skip)

    def _decoded_chunks(self) -> Iterator[np.ndarray]:
        for frame in self._container.decode(self._stream):
            frame.pts = None  # song time counts samples, not container timestamps
            for out in self._resampler.resample(frame):
                yield self._stereo(out)
        for out in self._resampler.resample(None):
            yield self._stereo(out)

    def _stereo(self, frame: av.AudioFrame) -> np.ndarray:
        samples = frame.to_ndarray()
        return np.repeat(samples.reshape(1, -1), 2, axis=0) if self._mono else samples.reshape(2, -1)

    def read(self, count: int) -> np.ndarray:
        """The next ``count`` samples, 2×count float32 (silence past either end of the file)."""
        parts = []
        if self._silence_first:
            lead = min(count, self._silence_first)
            parts.append(np.zeros((2, lead), dtype=np.float32))
            self._silence_first -= lead
            count -= lead
        while self._buffer.shape[1] < count + self._skip:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer = np.concatenate([self._buffer, chunk], axis=1)
        if self._skip:
            dropped = min(self._skip, self._buffer.shape[1])
            self._buffer = self._buffer[:, dropped:]
            self._skip -= dropped
        taken = self._buffer[:, :count]
        self._buffer = self._buffer[:, taken.shape[1]:]
        parts.append(taken)
        if taken.shape[1] < count:
            parts.append(np.zeros((2, count - taken.shape[1]), dtype=np.float32))
        return np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)

    def close(self) -> None:
        self._container.close()


class _FinishOnExit:
    """``with`` a recorder: a clean exit finishes the file (``close``), an exception throws it
    away (``abort``). Both recorders define the two."""

    def __enter__(self):  # -> the recorder itself
        return self

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        if exc_type is None:
            self.close()  # type: ignore[attr-defined]
        else:
            self.abort()  # type: ignore[attr-defined]


class VideoRecorder(_FinishOnExit):
    """Writes frames pushed one at a time to an H.264 MP4 (yuv420p, CRF 18) at a fixed fps.

    ``width`` and ``height`` must be even (yuv420p halves the colour planes); odd sizes raise
    ``OutputError`` rather than silently padding or cropping the picture. With ``audio_path`` the
    song's audio from ``audio_start`` seconds is muxed in as AAC, cut to frame_count / fps exactly.
    Use as a context manager: an exception inside aborts, leaving neither ``path`` nor the partial file.
    ``write`` may be called from any one thread (not several at once).
    """

    def __init__(self, path: str | os.PathLike[str], width: int, height: int, fps: float,
                 audio_path: str | os.PathLike[str] | None = None, audio_start: float = 0.0) -> None:
        self.path = Path(path)
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise OutputError(f"{self.path}: frame size {width}x{height} must be positive and even "
                              f"for H.264 yuv420p; choose e.g. {width + width % 2}x{height + height % 2}")
        if fps <= 0:
            raise OutputError(f"{self.path}: fps must be positive, got {fps}")
        self.width, self.height = int(width), int(height)
        self.fps = Fraction(fps).limit_denominator(1001)
        self.frame_count = 0
        self.partial = partial_path(self.path)
        _prepare_destination(self.path)
        self._audio = _AudioSource(Path(audio_path), audio_start) if audio_path is not None else None
        try:  # the muxer opens its file only at the first packet; prove it writable now
            self.partial.open("wb").close()
        except OSError as exc:
            if self._audio:
                self._audio.close()
            raise OutputError(f"{self.path}: cannot write {self.partial}: {exc.strerror or exc}") from None
        try:
            self._container = av.open(str(self.partial), mode="w", format="mp4",
                                      options={"movflags": "+faststart",
                                               # the file's video time base is 1/fps: pts n = frame n
                                               "video_track_timescale": str(self.fps.numerator)})
        except (OSError, av.FFmpegError) as exc:
            if self._audio:
                self._audio.close()
            self._remove_partial()
            raise OutputError(f"{self.path}: cannot write {self.partial}: {exc}") from None
        self._closed = False
        try:
            self._open_streams()
        except Exception:
            self.abort()
            raise

    def _open_streams(self) -> None:
        # No creation times in the metadata: equal input must give an equal file.
        self._container.metadata.clear()
        video = self._container.add_stream("libx264", rate=self.fps)
        video.width, video.height, video.pix_fmt = self.width, self.height, "yuv420p"
        video.time_base = 1 / self.fps
        video.codec_context.time_base = 1 / self.fps
        video.codec_context.thread_count = ENCODER_THREADS
        video.options = {"crf": "18", "preset": "veryfast"}
        self._video = video
        self._audio_stream = None
        self._audio_written = 0
        if self._audio is not None:
            audio = self._container.add_stream("aac", rate=self._audio.rate)
            audio.layout = "stereo"
            audio.bit_rate = 192_000
            audio.time_base = Fraction(1, self._audio.rate)
            self._audio_stream = audio

    # ---- writing ------------------------------------------------------------------------------
    def write(self, frame: Frame | np.ndarray) -> None:
        """Encode the next frame (a ``Frame`` or H×W×3 uint8); it shows at frame_count / fps."""
        if self._closed:
            raise OutputError(f"{self.path}: write after close")
        pixels = frame.to_uint8() if isinstance(frame, Frame) else frame
        if pixels.shape != (self.height, self.width, 3) or pixels.dtype != np.uint8:
            raise OutputError(f"{self.path}: frame must be {self.height}x{self.width}x3 uint8, "
                              f"got {pixels.shape} {pixels.dtype}")
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
        video_frame = video_frame.reformat(format="yuv420p")
        video_frame.pts = self.frame_count
        video_frame.time_base = 1 / self.fps  # the stream's own time base is the muxer's to choose
        self._container.mux(self._video.encode(video_frame))
        self.frame_count += 1
        self._write_audio(final=False)

    def _audio_target(self) -> int:
        """Samples of audio that belong with the frames written so far."""
        assert self._audio is not None
        return int(round(self.frame_count / self.fps * self._audio.rate))

    def _write_audio(self, final: bool) -> None:
        """Encode audio up to the video's current end (whole AAC frames, or all of it when final)."""
        if self._audio is None or self._audio_stream is None:
            return
        target = self._audio_target()
        while target - self._audio_written >= AAC_FRAME_SAMPLES or (final and target > self._audio_written):
            count = min(AAC_FRAME_SAMPLES, target - self._audio_written)
            audio_frame = av.AudioFrame.from_ndarray(self._audio.read(count), format="fltp", layout="stereo")
            audio_frame.sample_rate = self._audio.rate
            audio_frame.pts = self._audio_written
            audio_frame.time_base = Fraction(1, self._audio.rate)
            self._container.mux(self._audio_stream.encode(audio_frame))
            self._audio_written += count

    # ---- finishing ----------------------------------------------------------------------------
    def close(self) -> Path:
        """Flush the encoders, finish the file and rename it into place; returns ``path``."""
        if self._closed:
            return self.path
        if self.frame_count == 0:  # an empty MP4 would only pose as a recording
            self.abort()
            raise OutputError(f"{self.path}: no frames were written; nothing recorded")
        try:
            self._write_audio(final=True)
            self._container.mux(self._video.encode(None))
            if self._audio_stream is not None:
                self._container.mux(self._audio_stream.encode(None))
            self._container.close()
        except Exception:
            self.abort()
            raise
        self._closed = True
        if self._audio is not None:
            self._audio.close()
        try:
            os.replace(self.partial, self.path)
        except OSError as exc:
            self._remove_partial()
            raise OutputError(f"{self.path}: cannot move the finished recording into place: "
                              f"{exc.strerror or exc}") from None
        log.debug("recorded %s: %d frames at %s fps", self.path, self.frame_count, self.fps)
        return self.path

    def abort(self) -> None:
        """Stop without a result: the partial file is removed and ``path`` is left untouched."""
        if not self._closed:
            self._closed = True
            try:
                self._container.close()
            except Exception as exc:  # the file is being thrown away; its trailer doesn't matter
                log.debug("closing aborted recording %s: %s", self.partial, exc)
            if self._audio is not None:
                self._audio.close()
        self._remove_partial()

    def _remove_partial(self) -> None:
        try:
            self.partial.unlink()
        except FileNotFoundError:
            pass



class BackgroundRecorder(_FinishOnExit):
    """A ``VideoRecorder`` fed from a bounded queue by a worker thread, for the live loop.

    ``write`` never blocks: when the encoder falls behind and the queue is full, the frame is
    dropped and counted in ``dropped``. The worker fills each gap by repeating the last frame it
    encoded, so the video keeps the wall-clock length (and stays in sync with the audio).
    """

    def __init__(self, recorder: VideoRecorder, max_queue: int = 8) -> None:
        self.recorder = recorder
        self.dropped = 0
        self._queue: queue.Queue[tuple[int, np.ndarray] | None] = queue.Queue(maxsize=max_queue)
        self._submitted = 0
        self._error: BaseException | None = None
        self._last: np.ndarray | None = None
        self._thread = threading.Thread(target=self._run, name="vj-recorder", daemon=True)
        self._thread.start()

    def write(self, frame: Frame | np.ndarray) -> bool:
        """Queue a frame for encoding; returns False if it was dropped (queue full or recorder failed)."""
        index = self._submitted
        self._submitted += 1
        if self._error is not None:
            self.dropped += 1
            return False
        pixels = frame.to_uint8() if isinstance(frame, Frame) else np.array(frame, dtype=np.uint8, copy=True)
        try:
            self._queue.put_nowait((index, pixels))
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            index, pixels = item
            try:
                self._fill_to(index)
                self.recorder.write(pixels)
            except BaseException as exc:  # handed to the caller by close()
                self._error = exc
                return
            self._last = pixels

    def _fill_to(self, index: int) -> None:
        """Repeat the last encoded frame over dropped ones so the next frame lands at its own time."""
        while self._last is not None and self.recorder.frame_count < index:
            self.recorder.write(self._last)

    def close(self) -> Path:
        """Encode what is queued, fill trailing drops, finish the file; raises the worker's error."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            self.recorder.abort()
            raise OutputError(f"{self.recorder.path}: recording failed: {self._error}") from self._error
        if self._submitted and self.recorder.frame_count == 0:
            self.recorder.abort()
            raise OutputError(f"{self.recorder.path}: every frame was dropped")
        self._fill_to(self._submitted)
        return self.recorder.close()

    def abort(self) -> None:
        """Stop the worker and throw the recording away."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(None)
        self._thread.join()
        self.recorder.abort()

