"""NDI output: a real NDI receiver in this process gets what the live show (and a previewed
rehearsal) shows, at the output size, changing as the show changes; a name in use is refused."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

from rig import SETLIST, NdiReceiver, ndi_config_dir, need, run_live

ndi_config_dir()   # before the NDI runtime loads
need("cyndilib", "ndi")

from vj.errors import VjError  # noqa: E402
from vj.output.ndi import NdiError, NdiSink, ndi_output  # noqa: E402
from vj.render.window import Action  # noqa: E402
from vj.setlist.models import load_setlist  # noqa: E402


@pytest.fixture
def setlist(tmp_path):
    path = tmp_path / "set.yaml"
    path.write_text(SETLIST)
    return load_setlist(path)


def _name(tag: str) -> str:
    return f"vj-test-{tag}-{os.getpid()}-{time.monotonic_ns() % 100000}"


def test_the_live_show_reaches_an_ndi_receiver_at_its_size_and_changes_with_the_show(setlist):
    name = _name("live")
    output = ndi_output(name, setlist.output.width, setlist.output.height, float(setlist.output.fps))
    receiver = NdiReceiver(name)
    seen: dict = {}

    def script(show, record, display):
        # each frame waits a little in real time so NDI (its own threads) can deliver
        time.sleep(0.01)
        frame = receiver.frame()
        if frame is None:
            return
        seen.setdefault("size", frame.shape)
        if "lit" not in seen and show.showing and frame[..., :3].max() > 40:
            seen["lit"] = frame[..., :3].astype(float).mean()
            seen["first"] = frame
            seen["lit_at"] = record.index
        elif "lit" in seen and "moved" not in seen and np.abs(frame.astype(int) - seen["first"]).mean() > 1:
            seen["moved"] = True                       # the picture changes as the show plays
            display.inject(Action.BLACKOUT)
            seen["blackout_at"] = record.index
        elif "blackout_at" in seen and "dark" not in seen and frame[..., :3].max() < 12:
            seen["dark"] = record.index - seen["blackout_at"]
            display.inject(Action.QUIT)
            display.inject(Action.QUIT)

    try:
        show, in_time = run_live(setlist, script, extra_outputs=[output])
    finally:
        receiver.close()
    assert in_time, f"the NDI picture never went through lit → changing → black: {sorted(seen)}"
    assert seen["size"] == (setlist.output.height, setlist.output.width, 4)
    assert seen["lit"] > 20 and seen["dark"] >= 1
    assert output.sent >= 3 and output.failed is None


def test_a_name_already_in_use_is_a_clear_message_and_nothing_crashes():
    name = _name("dup")
    first = NdiSink(name, 64, 48, 30.0)
    try:
        with pytest.raises(NdiError, match="already") as caught:
            NdiSink(name, 64, 48, 30.0)
        assert isinstance(caught.value, VjError) and name in str(caught.value)
    finally:
        first.close()


def test_vj_rehearse_preview_ndi_sends_the_preview_to_a_receiver(xvfb_display, tmp_path):
    """The CLI end to end: `vj rehearse --preview --ndi NAME` in its own process, a receiver here."""
    import subprocess
    import sys
    from pathlib import Path

    from processes import stop_process

    name = _name("rehearse")
    demo = Path(__file__).resolve().parents[2] / "setlists" / "demo.yaml"
    process = subprocess.Popen([sys.executable, "-m", "vj", "rehearse", str(demo), "--preview", "--ndi", name,
                                "--size", "128x96", "--fps", "12", "--seconds", "8", "--no-progress", "--osc-port", "0",
                                "-o", str(tmp_path / "out.mp4")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=dict(os.environ), cwd=tmp_path)
    frames = []
    try:
        receiver = NdiReceiver(name, timeout=60.0)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and process.poll() is None and len(frames) < 40:
                frame = receiver.frame()
                if frame is not None and frame[..., :3].max() > 20:
                    frames.append(frame)
                time.sleep(0.05)
        finally:
            receiver.close()
        output, _ = process.communicate(timeout=60)
    finally:
        stop_process(process)
    assert process.returncode == 0, output[-2000:]
    assert len(frames) >= 5, f"{len(frames)} frames came"
    assert all(f.shape == (96, 128, 4) for f in frames)
    assert max(np.abs(a.astype(int) - b).mean() for a, b in zip(frames, frames[1:])) > 1   # it plays
