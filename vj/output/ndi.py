"""NDI® output: what the projector shows as an NDI source (Resolume, OBS, TouchDesigner, vMix),
with cyndilib (the optional extra ``vj[ndi]``, which ships the NDI runtime).

``NdiSink`` is a ``vj.output.sinks.FrameSink``: ``SinkOutput`` reads the frames off the GPU and
calls ``send`` on its own thread, so the render loop never waits for the network. ``send`` hands
the frame to NDI asynchronously (``write_video_async``): NDI compresses and sends it while the next
one is prepared.

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


class NdiError(VjError):
    """NDI output cannot start (no cyndilib, the name in use): a message for people."""


def _cyndilib() -> Any:
    try:
        import cyndilib  # noqa: F401
        from cyndilib import finder, sender, video_frame
        from cyndilib.wrapper import ndi_structs
    except ImportError:
        raise NdiError("NDI output needs cyndilib: pip install 'vj[ndi]'") from None
    return finder, sender, video_frame, ndi_structs


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
    declares (the show's display rate: the show paces the frames, NDI does not clock them)."""

    def __init__(self, name: str, width: int, height: int, fps: float) -> None:
        if not name or not name.strip():
            raise NdiError("--ndi needs a source name")
        _, sender_module, video_module, structs = _cyndilib()
        if sources_named(name):
            raise NdiError(f"--ndi {name}: an NDI source '{local_source_name(name)}' is already on this machine; "
                           "choose another name")
        self.label = f"NDI {name}"
        self.width, self.height = width, height
        frame = video_module.VideoSendFrame()
        frame.set_resolution(width, height)
        frame.set_fourcc(structs.FourCC.RGBA)
        frame.set_frame_rate(Fraction(fps).limit_denominator(1001))
        self._sender = sender_module.Sender(name, clock_video=False)
        self._sender.set_video_frame(frame)
        self._sender.open()
        self.source_name = self._sender.name
        log.info("NDI output '%s' (%dx%d)", self.source_name, width, height)

    def send(self, rgba: np.ndarray) -> None:
        self._sender.write_video_async(rgba.reshape(-1))

    def connections(self) -> int:
        return int(self._sender.get_num_connections(0.0))

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()
            self._sender = None


def ndi_output(name: str, width: int, height: int, fps: float) -> Any:
    """The show loop's output for ``--ndi NAME`` (a ``SinkOutput`` over an ``NdiSink``)."""
    from vj.output.sinks import SinkOutput

    return SinkOutput(NdiSink(name, width, height, fps), width, height)


__all__ = ["NAME_CHECK_SECONDS", "NdiError", "NdiSink", "local_source_name", "ndi_output", "sources_named"]
