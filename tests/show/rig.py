"""Helpers for the rig tests (NDI, Link, follow mode): the NDI discovery config these machines need,
and an in-process NDI receiver."""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

NDI_CONFIG = {"ndi": {"networks": {"ips": "127.0.0.1", "discovery": ""}, "multicast": {"send": {"enable": False}}}}


def ndi_config_dir() -> str:
    """A folder holding ``ndi-config.v1.json`` that lists the loopback address (NDI discovery on a
    machine without multicast), set as ``NDI_CONFIG_DIR`` before the NDI runtime loads. Child
    processes inherit it."""
    if "NDI_CONFIG_DIR" not in os.environ:
        folder = Path(tempfile.mkdtemp(prefix="vj-ndi-"))
        (folder / "ndi-config.v1.json").write_text(json.dumps(NDI_CONFIG))
        os.environ["NDI_CONFIG_DIR"] = str(folder)
    return os.environ["NDI_CONFIG_DIR"]


def need(module: str, extra: str):
    """The optional extra's module, or a skip saying how to install it."""
    return pytest.importorskip(module, reason=f"needs {module}: pip install 'vj[{extra}]' (make setup installs it)")


def find_ndi_source(name: str, timeout: float = 10.0):
    """(an open cyndilib Finder, the source) of this machine's NDI source ``name``."""
    from cyndilib.finder import Finder

    from vj.output.ndi import local_source_name

    finder = Finder()
    finder.open()
    wanted = local_source_name(name)
    deadline = time.monotonic() + timeout
    while wanted not in finder.get_source_names():
        if time.monotonic() > deadline:
            raise AssertionError(f"no NDI source {wanted} (found {finder.get_source_names()})")
        finder.wait_for_sources(0.1)
    return finder, finder.get_source(wanted)


class NdiReceiver:
    """An NDI receiver in this process for the source ``HOST (name)``; ``frame()`` is the latest
    picture as H×W×4 uint8 (or None before one came)."""

    def __init__(self, name: str, timeout: float = 10.0) -> None:
        from cyndilib.receiver import Receiver
        from cyndilib.video_frame import VideoFrameSync
        from cyndilib.wrapper.ndi_recv import RecvBandwidth, RecvColorFormat

        self.finder, source = find_ndi_source(name, timeout)
        self.receiver = Receiver(color_format=RecvColorFormat.RGBX_RGBA, bandwidth=RecvBandwidth.highest)
        self.video = VideoFrameSync()
        self.receiver.frame_sync.set_video_frame(self.video)
        self.receiver.set_source(source)

    def frame(self) -> np.ndarray | None:
        self.receiver.frame_sync.capture_video()
        width, height = self.video.get_resolution()
        data = self.video.get_array()
        if not width or not height or data.size != width * height * 4:
            return None
        return data.reshape(height, width, 4).copy()

    def close(self) -> None:
        try:
            self.receiver.disconnect()
        finally:
            self.finder.close()


# ---- an in-process live show on a fake clock (as tests/show/test_live_loop.py runs it) ----------

SETLIST = """\
title: rig test
output: {width: 96, height: 64, fps: 24}
model: procedural
songs:
  - name: first
    bpm: 120
    tempo_lead: setlist
    camera: {zoom: "1.02", angle: "0.5"}
"""


class FakeClock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def run_live(setlist, script, *, fps: float = 60.0, seconds_real: float = 30.0, now=None, states=None,
             make_generator=None, **show_options):
    """Play ``setlist`` on a headless display, one display period a frame on a fake clock (or on
    ``now``); ``script(show, record, display)`` runs each frame. Returns (show, finished in time)."""
    from vj.generators.procedural import ProceduralGenerator
    from vj.render.window import Action, HeadlessDisplay
    from vj.show.live import LiveOptions, LiveShow, build_song_states

    clock = now or FakeClock()
    display = HeadlessDisplay((128, 96), now=clock)
    deadline = time.monotonic() + seconds_real

    def on_frame(show, record):
        if isinstance(clock, FakeClock):
            clock.t += 1.0 / fps
        script(show, record, display)
        if time.monotonic() > deadline:
            display.inject(Action.QUIT)
            display.inject(Action.QUIT)

    show = LiveShow(setlist, states or build_song_states(setlist), display, audio=None,
                    make_generator=make_generator or ProceduralGenerator, options=LiveOptions(display_rate=fps, keep_frame_log=True),
                    now=clock, **show_options)
    show.on_frame = on_frame
    try:
        assert show.run() == 0
    finally:
        display.close()
    return show, time.monotonic() < deadline
