"""The one MP4 recorder, for rehearsals and live shows: H.264 (CRF 18) + AAC, crash-safe while it writes.

**While recording**, the file is ``<path>.partial.mp4``, a *fragmented* MP4: a ``moov`` naming the
codecs, then a ``moof`` + ``mdat`` fragment every half second of video (and at each keyframe, one a
second), each written through to the operating system as it closes, with the audio interleaved in
the same fragments. Killed at any moment (SIGKILL; a power cut once the kernel wrote it out), the
file on disk plays up to its last complete fragment: all but the last second or so (half a second
plus the encoder's delay) of video *and* audio. ``vj recover`` (``vj.output.recover``) turns it into a normal MP4.

**At close** the fragments are remuxed (no re-encode) into a normal MP4 with the ``moov`` first
(faststart) at ``path``, and the partial file goes. An exception inside ``with Recorder(...)`` (or
``abort()``) throws the recording away instead: neither file is left.

Two ways to feed it, one encoder:

* ``write(pixels)`` — synchronous, frame n at pts n (the rehearsal's clock, t = n / fps). With
  ``SongAudio`` the song is cut to exactly the video's length. Same input gives the same file, byte
  for byte (fixed encoder threads, no creation times).
* ``offer(item, when)`` — never blocks (the live display thread): a bounded queue feeds a writer
  thread; a full queue drops the frame and counts it in ``dropped``. Each frame's pts is its slot
  at ``fps`` from its time (``when``, a swap time), so drops leave gaps in time and the video stays
  aligned with ``LiveAudioInput``, which the audio analysis thread feeds as the samples come in.
"""
from __future__ import annotations

import fcntl
import io
import logging
import os
import queue
import tempfile
import threading
from collections import deque
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Protocol

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
#: The one quality setting (rehearsal and live alike).
CRF = 18
AUDIO_BIT_RATE = 192_000
#: A keyframe at least this often (what a player needs to start from, with a fragment at each).
KEYFRAME_SECONDS = 1.0
#: A fragment at least this often (one may start between keyframes): what a crash can cost, plus
#: the encoder's delay (x264 holds about 11 frames).
FRAGMENT_SECONDS = 0.5
#: The muxer while recording: fragmented MP4, each fragment flushed to the file as it closes.
#: ``delay_moov`` writes the moov with the first fragment, once the encoders' start delays are known
#: (else the audio would play 1024 samples late until the final remux).
WRITING_OPTIONS = {"movflags": "frag_keyframe+empty_moov+delay_moov+default_base_moof",
                   "frag_duration": str(int(FRAGMENT_SECONDS * 1_000_000)), "flush_packets": "1"}
#: What ``partial_path`` appends to the final name.
PARTIAL_SUFFIX = ".partial.mp4"


class OutputError(VjError):
    """The output can't be written: a bad path, an odd frame size, an unreadable audio file."""


class NothingToRecover(OutputError):
    """A file that holds no playable recording (not an MP4, or killed before its first fragment)."""


def partial_path(path: str | os.PathLike[str]) -> Path:
    """Where a recording is written until ``close()`` finishes it at ``path``."""
    path = Path(path)
    return path.with_name(path.name + PARTIAL_SUFFIX)


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


# ---- audio sources ----------------------------------------------------------------------------


class AudioSource(Protocol):
    """Where a recording's soundtrack comes from: stereo float32 samples at ``rate``."""

    rate: int

    def begin(self, origin: float) -> None:
        """The recording's first frame is at (monotonic) time ``origin``: audio sample 0 belongs there."""

    def read(self, count: int, overdue: bool) -> np.ndarray | None:
        """The next ``count`` samples (2×count float32), or None if they have not arrived yet and
        the video is not far ahead (``overdue`` False): the recorder asks again after the next frame."""

    def close(self) -> None:
        ...


class SongAudio:
    """The song's audio as one stream of stereo float samples at ``rate``, from song time ``start``.

    Song time 0 is the first decoded sample (as in ``vj.audio.decode``). Before the start of the
    file (a negative ``start``) and after its end the source gives silence, so the recording always
    gets exactly the samples it asks for.
    """

    def __init__(self, path: str | os.PathLike[str], start: float = 0.0) -> None:
        path = Path(path)
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

    def begin(self, origin: float) -> None:
        """Song time is the recording's own clock: nothing to align."""

    def read(self, count: int, overdue: bool = True) -> np.ndarray:
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


class LiveAudioInput:
    """The live input as a recording's soundtrack, fed while the show plays.

    The audio analysis thread calls ``write(time_of_first, samples, sample_rate)`` with each hop
    (mono float32, stamped with the monotonic time its first sample was captured); that only
    appends under a lock. The recorder's writer thread places the samples on the recording's
    timeline (sample 0 at the first frame's time, ``begin``): gaps over ``GAP`` seconds (the input
    was lost) become silence, smaller differences are clock jitter and are ignored. When the video is
    ``WAIT`` seconds ahead of what has come in, the recorder writes silence instead of waiting on.
    """

    GAP = 0.05
    WAIT = 0.5
    #: Seconds of input kept from before the first frame (it may be captured before its frame shows).
    KEEP = 2.0
    #: Hops held at most (about a minute of input): a writer that stopped reading can't eat memory.
    MAX_CHUNKS = 16384

    def __init__(self, sample_rate: int | None = None) -> None:
        self.rate = int(sample_rate) if sample_rate in AAC_RATES else 48000
        self._lock = threading.Lock()
        self._incoming: deque[tuple[float, np.ndarray, int]] = deque(maxlen=self.MAX_CHUNKS)
        self._origin: float | None = None
        self._buffer = np.zeros(0, dtype=np.float32)  # samples from index _next on
        self._next = 0
        self._placed = False
        self.received = 0
        self.closed = False

    def write(self, time_of_first: float, samples: np.ndarray, sample_rate: int) -> None:
        """One hop of input (any thread; never waits on the recorder)."""
        if self.closed:
            return
        chunk = np.array(samples, dtype=np.float32, copy=True).reshape(-1)
        with self._lock:
            self._incoming.append((float(time_of_first), chunk, int(sample_rate)))
            if self._origin is None:
                while self._incoming and self._incoming[0][0] < time_of_first - self.KEEP:
                    self._incoming.popleft()
        self.received += len(chunk)

    def begin(self, origin: float) -> None:
        self._origin = origin

    def read(self, count: int, overdue: bool) -> np.ndarray | None:
        self._absorb()
        if len(self._buffer) < count:
            if not overdue:
                return None
            self._buffer = np.concatenate((self._buffer, np.zeros(count - len(self._buffer), np.float32)))
        taken, self._buffer = self._buffer[:count], self._buffer[count:]
        self._next += count
        return np.ascontiguousarray(np.broadcast_to(taken, (2, count)), dtype=np.float32)

    def _absorb(self) -> None:
        """Move what came in onto the recording's timeline."""
        if self._origin is None:
            return
        with self._lock:
            chunks = list(self._incoming)
            self._incoming.clear()
        for when, samples, rate in chunks:
            if rate != self.rate and rate > 0:  # an input reopened at another rate: resample (linear)
                length = max(1, int(round(len(samples) * self.rate / rate)))
                samples = np.interp(np.arange(length) * (rate / self.rate), np.arange(len(samples)),
                                    samples).astype(np.float32)
            start = int(round((when - self._origin) * self.rate))
            end = self._next + len(self._buffer)
            tolerance = int(self.GAP * self.rate) if self._placed else 0
            if start > end + tolerance:  # the input was lost for a while: silence in between
                self._buffer = np.concatenate((self._buffer, np.zeros(start - end, np.float32)))
            elif start < end - tolerance:  # already written (or before the first frame): drop the overlap
                samples = samples[end - start:]
            if len(samples):
                self._buffer = np.concatenate((self._buffer, samples))
                self._placed = True

    def close(self) -> None:
        self.closed = True


# ---- the recorder -----------------------------------------------------------------------------


class _FinishOnExit:
    """``with`` a recorder: a clean exit finishes the file (``close``), an exception throws it
    away (``abort``)."""

    def __enter__(self):  # -> the recorder itself
        return self

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        if exc_type is None:
            self.close()  # type: ignore[attr-defined]
        else:
            self.abort()  # type: ignore[attr-defined]


class Recorder(_FinishOnExit):
    """Writes frames to an H.264 MP4 (yuv420p, CRF 18) at a fixed fps, with audio from ``audio``.

    ``width`` and ``height`` must be even (yuv420p halves the colour planes); odd sizes raise
    ``OutputError`` rather than silently padding or cropping the picture. The recorder owns
    ``audio`` (it closes it). ``write`` may be called from any one thread; ``offer`` from another,
    but not both on one recording. ``convert`` turns what ``offer`` is given into H×W×3 uint8 on the
    writer thread (default: a ``Frame`` or an array as it is).
    """

    def __init__(self, path: str | os.PathLike[str], width: int, height: int, fps: float, *,
                 audio: AudioSource | None = None, queue_size: int = 6,
                 convert: Callable[[Any], np.ndarray] | None = None) -> None:
        self.path = Path(path)
        self._audio = audio
        try:
            self._check(width, height, fps)
            self.width, self.height = int(width), int(height)
            self.fps = Fraction(fps).limit_denominator(1001)
            _prepare_destination(self.path)
            self.partial = partial_path(self.path)
            self._lock_fd = _lock_for_writing(self.path, self.partial)
        except BaseException:
            if audio is not None:
                audio.close()
            raise
        self.frame_count = 0
        self.dropped = 0
        self.first_time: float | None = None
        self._closed = False
        self._error: BaseException | None = None
        self._last_pts = -1
        self._pts_in: deque[int] = deque()  # pts sent to the encoder and not out of it yet
        self._video_end = 0  # frames (pts + 1) the encoder has given back: audio is written up to here
        self._audio_written = 0
        self._convert = convert or _to_pixels
        self._queue: queue.Queue[tuple[Any, float] | None] = queue.Queue(maxsize=max(1, queue_size))
        self._thread: threading.Thread | None = None
        try:
            self._container = av.open(str(self.partial), mode="w", format="mp4", options={
                **WRITING_OPTIONS,
                # the file's video time base is 1/fps: pts n = frame n
                "video_track_timescale": str(self.fps.numerator)})
        except (OSError, av.FFmpegError) as exc:
            self._release(remove=True)
            self._close_audio()
            raise OutputError(f"{self.path}: cannot write {self.partial}: {exc}") from None
        try:
            self._open_streams()
        except Exception:
            self.abort()
            raise

    def _check(self, width: int, height: int, fps: float) -> None:
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise OutputError(f"{self.path}: frame size {width}x{height} must be positive and even "
                              f"for H.264 yuv420p; choose e.g. {width + width % 2}x{height + height % 2}")
        if fps <= 0:
            raise OutputError(f"{self.path}: fps must be positive, got {fps}")

    def _open_streams(self) -> None:
        # No creation times in the metadata: equal input must give an equal file.
        self._container.metadata.clear()
        video = self._container.add_stream("libx264", rate=self.fps)
        video.width, video.height, video.pix_fmt = self.width, self.height, "yuv420p"
        video.time_base = 1 / self.fps
        video.codec_context.time_base = 1 / self.fps
        video.codec_context.thread_count = ENCODER_THREADS
        video.codec_context.gop_size = max(1, int(round(self.fps * KEYFRAME_SECONDS)))
        video.options = {"crf": str(CRF), "preset": "veryfast"}
        self._video = video
        self._audio_stream = None
        if self._audio is not None:
            audio = self._container.add_stream("aac", rate=self._audio.rate)
            audio.layout = "stereo"
            audio.bit_rate = AUDIO_BIT_RATE
            audio.time_base = Fraction(1, self._audio.rate)
            self._audio_stream = audio

    # ---- writing (one thread) -------------------------------------------------------------------
    def write(self, frame: Frame | np.ndarray, pts: int | None = None) -> None:
        """Encode a frame (a ``Frame`` or H×W×3 uint8) at ``pts`` (default: the next; shows at pts / fps)."""
        if self._closed:
            raise OutputError(f"{self.path}: write after close")
        pixels = frame.to_uint8() if isinstance(frame, Frame) else frame
        if pixels.shape != (self.height, self.width, 3) or pixels.dtype != np.uint8:
            raise OutputError(f"{self.path}: frame must be {self.height}x{self.width}x3 uint8, "
                              f"got {pixels.shape} {pixels.dtype}")
        pts = self._last_pts + 1 if pts is None else int(pts)
        if pts <= self._last_pts:
            raise OutputError(f"{self.path}: frame pts {pts} is not after the last ({self._last_pts})")
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
        video_frame = video_frame.reformat(format="yuv420p")
        video_frame.pts = pts
        video_frame.time_base = 1 / self.fps  # the stream's own time base is the muxer's to choose
        self._pts_in.append(pts)
        self._last_pts = pts
        self._mux_video(self._video.encode(video_frame))
        self.frame_count += 1
        self._write_audio(final=False)
        if self.frame_count % max(1, int(round(self.fps * FRAGMENT_SECONDS))) == 0:
            log.debug("recording %s: %d frames written (%.1f s)", self.partial, self.frame_count,
                      (pts + 1) / self.fps)

    def _mux_video(self, packets: list[av.Packet]) -> None:
        for _ in packets:  # packets leave in decode order, which is the order the frames went in
            self._video_end = self._pts_in.popleft() + 1
        self._container.mux(packets)

    def _write_audio(self, final: bool) -> None:
        """Encode audio up to the video the encoder has given back (whole AAC frames, all of it
        when final), so both streams reach each fragment together."""
        if self._audio is None or self._audio_stream is None:
            return
        rate = self._audio.rate
        target = int(round(self._video_end / self.fps * rate))
        while target > self._audio_written:
            count = min(AAC_FRAME_SAMPLES, target - self._audio_written)
            if count < AAC_FRAME_SAMPLES and not final:
                return
            overdue = final or target - (self._audio_written + count) >= LiveAudioInput.WAIT * rate
            samples = self._audio.read(count, overdue)
            if samples is None:
                return
            audio_frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
            audio_frame.sample_rate = rate
            audio_frame.pts = self._audio_written
            audio_frame.time_base = Fraction(1, rate)
            self._container.mux(self._audio_stream.encode(audio_frame))
            self._audio_written += count

    # ---- offering (the live display thread; never blocks) -----------------------------------------
    def offer(self, item: Any, when: float) -> bool:
        """Queue a frame shown at (monotonic) time ``when`` for the writer thread; returns False if it
        was dropped (the queue is full, or the recording failed)."""
        if self._closed or self._error is not None:
            self.dropped += 1
            return False
        if self.first_time is None:
            self.first_time = when
            if self._audio is not None:
                self._audio.begin(when)
            self._thread = threading.Thread(target=self._write_loop, name="vj-recorder", daemon=True)
            self._thread.start()
        try:
            self._queue.put_nowait((item, when))
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def _write_loop(self) -> None:
        while True:
            entry = self._queue.get()
            if entry is None:
                return
            item, when = entry
            # Its slot at the recording's rate; a late frame never lands on an earlier one's.
            slot = max(int(round((when - (self.first_time or when)) * float(self.fps))), self._last_pts + 1)
            try:
                self.write(self._convert(item), pts=slot)
            except BaseException as exc:  # handed on by close(); the show goes on without a recording
                self._error = exc
                log.error("recording %s failed: %s; frames from now on are dropped", self.path, exc)
                return

    def _stop_thread(self, drain: bool = False) -> None:
        """Let the writer encode what is queued (or throw it away: ``drain``) and end."""
        if self._thread is None:
            return
        while self._thread.is_alive():
            if drain:
                while not self._queue.empty():
                    self._queue.get_nowait()
            try:
                self._queue.put(None, timeout=0.1)
                break
            except queue.Full:  # a writer that failed reads no more; one still writing makes room
                continue
        self._thread.join()
        self._thread = None

    # ---- finishing ----------------------------------------------------------------------------
    def close(self) -> Path:
        """Flush the encoders, finish the file and remux it into place at ``path``; returns ``path``."""
        if self._closed:
            return self.path
        self._stop_thread()
        if self.frame_count == 0:  # an empty MP4 would only pose as a recording
            self.abort()
            raise OutputError(f"{self.path}: no frames were written; nothing recorded")
        try:
            self._mux_video(self._video.encode(None))
            self._video_end = self._last_pts + 1
            self._write_audio(final=True)
            if self._audio_stream is not None:
                self._container.mux(self._audio_stream.encode(None))
            self._container.close()
        except Exception as exc:  # a full disk, say: what reached it is still a playable recording
            self._closed = True
            self._close_audio()
            self._release(remove=False)
            raise OutputError(f"{self.path}: cannot finish the recording ({exc}); what was written "
                              f"stays in {self.partial} (vj recover finishes it)") from None
        self._closed = True
        self._close_audio()
        try:
            finalise(self.partial, self.path)
        except OutputError as exc:
            self._release(remove=False)
            raise OutputError(f"{exc}; the recording stays in {self.partial} (vj recover finishes it)") from None
        self._release(remove=False)
        log.debug("recorded %s: %d frames at %s fps", self.path, self.frame_count, self.fps)
        if self._error is not None:
            raise OutputError(f"{self.path}: recording failed after {self.frame_count} frames "
                              f"(kept those): {self._error}") from self._error
        return self.path

    def abort(self) -> None:
        """Stop without a result: the partial file is removed and ``path`` is left untouched."""
        self._stop_thread(drain=True)
        if not self._closed:
            self._closed = True
            try:
                self._container.close()
            except Exception as exc:  # the file is being thrown away; its trailer doesn't matter
                log.debug("closing aborted recording %s: %s", self.partial, exc)
            self._close_audio()
        self._release(remove=True)

    def _close_audio(self) -> None:
        if self._audio is not None:
            self._audio.close()
            self._audio = None

    def _release(self, remove: bool) -> None:
        """Remove the partial file (``remove``) and let go of its lock."""
        if remove:
            try:
                self.partial.unlink()
            except FileNotFoundError:
                pass
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _to_pixels(item: Any) -> np.ndarray:
    return item.to_uint8() if isinstance(item, Frame) else np.asarray(item)


def _lock_for_writing(path: Path, partial: Path) -> int:
    """Create (and empty) ``partial``, holding an exclusive lock on it for as long as it is written.

    The lock is the kernel's (``flock``): it goes when the process does, however it dies, so a
    partial file nobody holds is an unfinished recording, and one held is still being written."""
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write {partial}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise OutputError(f"{path}: another vj is recording to {partial} right now") from None
    os.ftruncate(fd, 0)
    return fd


# ---- finishing a fragmented recording -----------------------------------------------------------


class Finished(NamedTuple):
    output: Path
    frames: int
    seconds: float


def finalise(source: Path, output: Path) -> Finished:
    """Remux the fragmented (possibly cut-off) recording ``source`` into a faststart MP4 at
    ``output``, packets as they are; ``source`` is removed (unless it is ``output``).

    A fragment the crash cut short is kept up to its last whole packet. Raises
    ``NothingToRecover`` when ``source`` holds no video frame at all."""
    source, output = Path(source), Path(output)
    temporary = output.with_name(f".{output.name}.finishing")
    try:
        frames, seconds = _remux(source, temporary)
        os.replace(temporary, output)
    except BaseException as exc:
        temporary.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OutputError(f"{output}: cannot write the finished recording: {exc.strerror or exc}") from None
        raise
    if source != output:
        source.unlink(missing_ok=True)
    return Finished(output, frames, seconds)


def _playable_length(file: Any) -> int:
    """Bytes of ``file`` up to its last whole top-level box (a cut-off ``mdat`` counts: its whole
    packets play), without a ``moof`` left with no data after it: what a kill mid-write leaves."""
    file.seek(0, os.SEEK_END)
    size = file.tell()
    at, boxes = 0, []
    while at + 8 <= size:
        file.seek(at)
        header = file.read(16)
        length, kind = int.from_bytes(header[:4], "big"), header[4:8]
        if length == 1 and len(header) == 16:
            length = int.from_bytes(header[8:16], "big")
        elif length == 0:
            length = size - at
        if length < 8:
            break
        if at + length > size:
            if kind == b"mdat":
                boxes.append((kind, at))
                at = size
            break
        boxes.append((kind, at))
        at += length
    if boxes and boxes[-1][0] == b"moof":
        at = boxes[-1][1]
    return min(at, size)


class _Prefix(io.RawIOBase):
    """The first ``length`` bytes of a file, read-only (the demuxer never sees a cut-off box)."""

    def __init__(self, file: Any, length: int) -> None:
        self._file, self._length = file, length
        self._file.seek(0)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._file.tell()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_END:
            offset, whence = self._length + offset, os.SEEK_SET
        return self._file.seek(offset, whence)

    def readinto(self, buffer: Any) -> int:
        room = max(0, self._length - self._file.tell())
        view = memoryview(buffer)[:room]
        return self._file.readinto(view) if room else 0


def _remux(source: Path, target: Path) -> tuple[int, float]:
    try:
        file = open(source, "rb")
    except OSError as exc:
        raise OutputError(f"{source}: cannot read it: {exc.strerror or exc}") from None
    with file:
        try:
            reader = av.open(_Prefix(file, _playable_length(file)), format="mp4")
        except (OSError, av.FFmpegError) as exc:
            raise NothingToRecover(f"{source}: not a recording vj can finish "
                                   f"({getattr(exc, 'strerror', None) or exc})") from None
        return _remux_from(reader, source, target)


def _remux_from(reader: Any, source: Path, target: Path) -> tuple[int, float]:
    with reader:
        videos = [s for s in reader.streams if s.type == "video"]
        if not videos:
            raise NothingToRecover(f"{source}: holds no video to recover")
        keep = videos[:1] + [s for s in reader.streams if s.type == "audio"][:1]
        writer = av.open(str(target), mode="w", format="mp4", options={
            "movflags": "+faststart", "video_track_timescale": str(videos[0].time_base.denominator)})
        try:
            writer.metadata.clear()
            outputs = {s.index: writer.add_stream_from_template(s) for s in keep}
            frames, end = _copy_packets(reader, keep, outputs, writer)
            if not frames:
                raise NothingToRecover(f"{source}: holds no complete video frame (it ended before its "
                                       f"first fragment was written)")
        except BaseException:
            try:
                writer.close()
            except Exception:  # the file is thrown away
                pass
            raise
        try:
            writer.close()
        except (OSError, av.FFmpegError) as exc:
            raise OutputError(f"{target}: cannot finish the recording: {exc}") from None
    return frames, end


def _copy_packets(reader: Any, keep: list, outputs: dict, writer: Any) -> tuple[int, float]:
    """Copy packets until the file ends, or until a stream's packets stop being whole (a cut-off
    fragment): then that stream stops there. Returns (video frames, video seconds)."""
    video = keep[0]
    frames, end = 0, 0.0
    stopped: set[int] = set()
    packets = reader.demux(keep)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except (OSError, av.FFmpegError) as exc:  # the cut-off end of a killed recording
            log.debug("recovering %s: stopped at %s", reader.name, exc)
            break
        index = packet.stream.index
        if packet.dts is None or index in stopped:
            continue
        if packet.is_corrupt or packet.size == 0:
            stopped.add(index)
            continue
        if index == video.index:
            frames += 1
            end = max(end, float((packet.pts + (packet.duration or 1)) * packet.time_base))
        packet.stream = outputs[index]
        try:
            writer.mux(packet)
        except (OSError, av.FFmpegError) as exc:
            raise OutputError(f"{writer.name}: cannot write the finished recording: {exc}") from None
    return frames, end

