"""``vj rehearse --preview``: the rehearsal shown in a real GLFW window (Xvfb), steered over real
OSC, stopped from the keyboard with the frames so far kept as a finished MP4."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import av
import numpy as np
from pythonosc.udp_client import SimpleUDPClient

REPO = Path(__file__).resolve().parents[2]


def test_preview_shows_frames_obeys_osc_and_stops_keeping_what_is_done(xvfb_display, tmp_path):
    from vj.control.surface import ControlSurface, add_control_arguments
    from vj.render.window import Action
    from vj.show.preview import RehearsalPreview
    from vj.show.rehearse import plan_rehearsal, render_rehearsal
    from vj.setlist.models import load_setlist

    setlist = load_setlist(REPO / "setlists" / "demo.yaml")
    plan = plan_rehearsal(setlist, output=tmp_path / "preview.mp4", size=(128, 96), fps=12, seconds=6.0)
    parser = argparse.ArgumentParser()
    add_control_arguments(parser)
    surface = ControlSurface.from_args(parser.parse_args(["--osc-port", "0"]))
    surface.configure(setlist, plan.song)
    surface.start()
    preview = RehearsalPreview("vj preview test", (plan.width, plan.height), plan.director, surface)
    screenshots: dict[int, np.ndarray] = {}

    draw = preview.write

    def write(texture, params, tick) -> bool:
        if params.index == 20:
            preview.window.inject(Action.QUIT)   # as if Esc was pressed while frame 20 rendered
        carry_on = draw(texture, params, tick)
        screenshots[params.index] = preview.window.screenshot()  # the front buffer after the swap
        if params.index == 10:
            SimpleUDPClient(*surface.osc.address).send_message("/vj/blackout", 1)
            deadline = time.monotonic() + 5.0
            while not preview.store.snapshot()["blackout"]:
                assert time.monotonic() < deadline, "the OSC blackout never arrived"
                time.sleep(0.005)
        return carry_on

    preview.write = write
    try:
        result = render_rehearsal(plan, preview=preview)
    finally:
        preview.release()
        surface.stop()

    assert result.frames == 21 and result.seconds == 21 / 12     # stopped after frame 20, kept it
    with av.open(str(result.output)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    with av.open(str(result.output)) as container:
        audio = sum(f.samples for f in container.decode(audio=0)) / container.streams.audio[0].rate
    assert len(frames) == 21 and abs(audio - 21 / 12) < 0.05
    assert all(frames[i].mean() > 20 for i in range(10))             # pictures before the blackout
    assert all(frames[i].max() < 8 for i in range(12, 21))            # black after it (H.264 noise aside)
    assert screenshots[5].mean() > 20 and screenshots[15].max() < 8   # and the window showed the same
    assert result.timeline.is_file()
