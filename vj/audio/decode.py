"""Decode any common audio file (WAV, FLAC, MP3, OGG, M4A…) to float32 samples with PyAV.

Everything downstream (analysis, recorder, live clock) wants one sample rate and plain numpy
arrays, so decoding and resampling happen here, once, with FFmpeg's resampler. Every failure
becomes an ``AudioError`` that names the file, so the CLI can print it as one line.
"""
from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np

from vj.errors import VjError

logger = logging.getLogger(__name__)


class AudioError(VjError):
    """An audio file that cannot be used: missing, unreadable, or not decodable as audio."""


def decode_audio(path: str | Path, sample_rate: int = 44100) -> np.ndarray:
    """The file as float32 mono samples in -1..1 at ``sample_rate`` Hz (channels averaged).

    Channels are averaged here rather than by FFmpeg's downmix so mono is the plain mean of the
    channels whatever the source layout.
    """
    channels = _decode(Path(path), sample_rate, layout=None)
    mono = channels.mean(axis=0) if channels.shape[0] > 1 else channels[0]
    return np.ascontiguousarray(np.clip(mono, -1.0, 1.0), dtype=np.float32)


def decode_audio_stereo(path: str | Path, sample_rate: int = 44100) -> np.ndarray:
    """The file as float32 samples shaped (2, n) at ``sample_rate`` Hz; mono is duplicated.

    Meant for muxing the song into a rendered video without touching its stereo image.
    """
    return _decode(Path(path), sample_rate, layout="stereo")


def _decode(path: Path, sample_rate: int, layout: str | None) -> np.ndarray:
    """Decode the first audio stream to planar float32 (channels, samples)."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if not path.exists():
        raise AudioError(f"audio file not found: {path}")
    if not path.is_file():
        raise AudioError(f"not an audio file (it is a folder or a device): {path}")
    chunks: list[np.ndarray] = []
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.audio:
                raise AudioError(f"no audio stream in {path}; give a WAV, FLAC, MP3, OGG or M4A file")
            stream = container.streams.audio[0]
            resampler: av.AudioResampler | None = None
            for frame in container.decode(stream):
                if resampler is None:  # built from the first frame: streams may not declare a layout
                    target = layout or _layout_of(frame)
                    resampler = av.AudioResampler(format="fltp", layout=target, rate=sample_rate)
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
            if resampler is not None:
                for out in resampler.resample(None):  # flush the resampler's tail
                    chunks.append(out.to_ndarray())
    except AudioError:
        raise
    except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise AudioError(f"cannot decode {path} as audio ({reason}); "
                         f"is it a WAV, FLAC, MP3, OGG or M4A file?") from None
    if not chunks:
        raise AudioError(f"no audio samples decoded from {path} (empty or damaged file)")
    samples = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    if samples.shape[1] == 0:
        raise AudioError(f"no audio samples decoded from {path} (empty or damaged file)")
    logger.debug("decoded %s: %d channel(s), %d samples at %d Hz", path, samples.shape[0],
                 samples.shape[1], sample_rate)
    return samples


def _layout_of(frame: av.AudioFrame) -> str:
    """The frame's own channel layout (so decoding mono averages the real channels), or a plain
    mono/stereo layout when FFmpeg only knows a channel count."""
    name = frame.layout.name
    if name and "channels" not in name:
        return name
    return "mono" if len(frame.layout.channels) <= 1 else "stereo"


def audio_duration(path: str | Path) -> float | None:
    """The file's length in seconds from its header (no decoding), or None when it does not say
    or cannot be opened: the live show's ``max_f`` comes from it, as the rehearsal's does."""
    try:
        with av.open(str(path)) as container:
            stream = next((s for s in container.streams if s.type == "audio"), None)
            if stream is not None and stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return container.duration / 1_000_000
    except (OSError, av.FFmpegError, StopIteration):
        return None
    return None
