"""NDI® output: what the projector shows as an NDI source (Resolume, OBS, TouchDesigner, vMix),
with cyndilib (the optional extra ``vj[ndi]``, which ships the NDI runtime).

``NdiSink`` is a ``vj.output.sinks.FrameSink``: ``SinkOutput`` reads the frames off the GPU and
calls ``send`` on its own thread, so the render loop never waits for the network. ``send`` hands
the frame to NDI asynchronously (``write_video_async``): NDI compresses and sends it while the next
one is prepared.

With ``audio_rate`` (``--ndi-audio``) the source carries the live input too: stereo (the mono input on
both channels, as the recording has it), float32 planar, at the input's rate (NDI takes any rate: a
hop at another rate, the input reopened at a new one, is resampled to the declared one). The sound is
sent on the sender thread that sends the frames (``SinkOutput``), never from the audio thread: one
thread talks to cyndilib's sender. ``Sender.write_audio`` releases cyndilib's bookkeeping of the last
asynchronous video frame although NDI may still read it; that buffer is written again only after the
next ``write_video_async`` (cyndilib keeps three and takes them in turn), which is the NDI
synchronising event, so the frame NDI reads is never overwritten. Audio is not clocked by NDI: the
input paces it. Every audio frame is ``AUDIO_BLOCK_SECONDS`` long (what is left over waits for the
next hop).

A name already used by a source on this machine is refused before the sender opens (the NDI
runtime would otherwise fail inside cyndilib and take the process down with it).
"""
from __future__ import annotations

import logging
import socket
import time
from fractions import Fraction
from typing import Any

import numpy as np

from vj.errors import VjError

log = logging.getLogger(__name__)

#: Seconds to look for an NDI source of the same name before opening the sender.
NAME_CHECK_SECONDS = 0.5
#: Channels of the sound sent (the mono input on each).
AUDIO_CHANNELS = 2
#: Seconds of sound in each NDI audio frame, about (all frames are the same length: with cyndilib
#: 0.1.3 a frame shorter than its AudioSendFrame's max_num_samples reaches receivers as garbage).
AUDIO_BLOCK_SECONDS = 0.01
#: Samples in an NDI audio frame are a multiple of this: NDI may hand receivers the channels padded
#: (441 samples came with a 1792-byte channel stride), and a receiver that reads them packed
#: (cyndilib 0.1.3's) then gets the second channel shifted; at a multiple of 64 there is no padding.
AUDIO_BLOCK_MULTIPLE = 64
#: The rate declared when the input's is not known yet.
DEFAULT_AUDIO_RATE = 48000


class NdiError(VjError):
    """NDI output cannot start (no cyndilib, the name in use): a message for people."""


def _cyndilib() -> Any:
    try:
        import cyndilib  # noqa: F401
        from cyndilib import audio_frame, finder, sender, video_frame
        from cyndilib.wrapper import ndi_structs
    except ImportError:
        raise NdiError("NDI output needs cyndilib: pip install 'vj[ndi]'") from None
    return finder, sender, video_frame, ndi_structs, audio_frame


def local_source_name(name: str) -> str:
    """How NDI shows a source of this machine: ``HOST (name)``."""
    return f"{socket.gethostname().split('.')[0].upper()} ({name})"


def sources_named(name: str, seconds: float = NAME_CHECK_SECONDS) -> list[str]:
    """NDI sources on this machine called ``name`` (found within ``seconds``)."""
    finder_module = _cyndilib()[0]
    wanted = local_source_name(name).lower()
    finder = finder_module.Finder()
    finder.open()
    try:
        deadline = time.monotonic() + seconds
        while True:
            found = [n for n in finder.get_source_names() if n.lower() == wanted]
            left = deadline - time.monotonic()
            if found or left <= 0:
                return found
            finder.wait_for_sources(min(left, 0.1))
    finally:
        finder.close()


class NdiSink:
    """An NDI sender of ``width``×``height`` RGBA frames called ``name``. ``fps`` is the rate it
    declares (the show's display rate: the show paces the frames, NDI does not clock them).
    ``audio_rate``: also send sound at this rate (``send_audio``); None: pictures only."""

    def __init__(self, name: str, width: int, height: int, fps: float, audio_rate: int | None = None) -> None:
        if not name or not name.strip():
            raise NdiError("--ndi needs a source name")
        _, sender_module, video_module, structs, audio_module = _cyndilib()
        if sources_named(name):
            raise NdiError(f"--ndi {name}: an NDI source '{local_source_name(name)}' is already on this machine; "
                           "choose another name")
        self.label = f"NDI {name}"
        self.width, self.height = width, height
        frame = video_module.VideoSendFrame()
        frame.set_resolution(width, height)
        frame.set_fourcc(structs.FourCC.RGBA)
        frame.set_frame_rate(Fraction(fps).limit_denominator(1001))
        self._sender = sender_module.Sender(name, clock_video=False, clock_audio=False)
        self._sender.set_video_frame(frame)
        self.audio_rate = int(audio_rate) if audio_rate else None
        self.audio_channels = AUDIO_CHANNELS if self.audio_rate else 0
        blocks = max(1, round((self.audio_rate or 0) * AUDIO_BLOCK_SECONDS / AUDIO_BLOCK_MULTIPLE))
        self.audio_block = blocks * AUDIO_BLOCK_MULTIPLE
        self._carry = np.zeros(0, dtype=np.float32)
        if self.audio_rate:
            from cyndilib.audio_reference import AudioReference

            sound = audio_module.AudioSendFrame(max_num_samples=self.audio_block)
            sound.sample_rate = self.audio_rate
            sound.num_channels = AUDIO_CHANNELS
            sound.reference_level = AudioReference.dBFS_smpte   # the input's 1.0 is full scale
            self._sender.set_audio_frame(sound)
        self._sender.open()
        self.source_name = self._sender.name
        log.info("NDI output '%s' (%dx%d%s)", self.source_name, width, height,
                 f", audio {self.audio_rate} Hz" if self.audio_rate else "")

    def send(self, rgba: np.ndarray) -> None:
        self._sender.write_video_async(rgba.reshape(-1))

    def send_audio(self, chunks: list[tuple[np.ndarray, int]]) -> None:
        """The input's hops (mono float32 and their rate) as NDI audio frames (the sender thread)."""
        if not self.audio_rate or not chunks:
            return
        samples = np.concatenate([self._carry, *(resample(c, rate, self.audio_rate) for c, rate in chunks)])
        size = self.audio_block
        whole = len(samples) // size * size
        for start in range(0, whole, size):
            block = samples[start:start + size]
            self._sender.write_audio(np.ascontiguousarray(np.broadcast_to(block, (AUDIO_CHANNELS, size))))
        self._carry = samples[whole:].copy()

    def connections(self) -> int:
        return int(self._sender.get_num_connections(0.0))

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()
            self._sender = None


def resample(samples: np.ndarray, rate: int, to: int) -> np.ndarray:
    """``samples`` at ``rate`` as float32 at ``to`` (linear; unchanged when the rates match)."""
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    if rate == to or not len(samples) or rate <= 0:
        return samples
    count = max(1, round(len(samples) * to / rate))
    where = np.arange(count, dtype=np.float64) * (rate / to)
    return np.interp(where, np.arange(len(samples)), samples).astype(np.float32)


def ndi_output(name: str, width: int, height: int, fps: float, audio_rate: int | None = None) -> Any:
    """The show loop's output for ``--ndi NAME`` (a ``SinkOutput`` over an ``NdiSink``); with
    ``audio_rate`` its ``audio_input`` takes the live input (``--ndi-audio``)."""
    from vj.output.sinks import SinkOutput

    return SinkOutput(NdiSink(name, width, height, fps, audio_rate=audio_rate), width, height)


__all__ = ["AUDIO_BLOCK_MULTIPLE", "AUDIO_BLOCK_SECONDS", "AUDIO_CHANNELS", "DEFAULT_AUDIO_RATE",
           "NAME_CHECK_SECONDS", "NdiError", "NdiSink", "local_source_name", "ndi_output", "resample",
           "sources_named"]
