"""NDI output: a real NDI receiver in this process gets what the live show (and a previewed
rehearsal) shows, at the output size, changing as the show changes; a name in use is refused."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

from rig import SETLIST, NdiReceiver, find_ndi_source, ndi_config_dir, need, run_live

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


class _AudioReceiver:
    """A plain NDI receiver of the source's sound (no frame sync: the frames as they were sent), on
    its own thread; the pictures come to an ``NdiReceiver`` alongside."""

    def __init__(self, name: str, timeout: float = 10.0) -> None:
        import threading

        from cyndilib.audio_frame import AudioRecvFrame
        from cyndilib.audio_reference import AudioReference
        from cyndilib.receiver import Receiver

        self.finder, source = find_ndi_source(name, timeout)
        self.receiver = Receiver()
        self.audio = AudioRecvFrame()
        self.audio.reference_level = AudioReference.dBFS_smpte   # 1.0: full scale, as vj sends
        self.receiver.set_audio_frame(self.audio)
        self.receiver.set_source(source)
        self.blocks: list[np.ndarray] = []
        self.formats: set[tuple[int, int]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from cyndilib.receiver import ReceiveFrameType

        while not self._stop.is_set():
            # a short wait, then a pause: cyndilib holds the GIL while it waits, which stalls the show
            if self.receiver.receive(ReceiveFrameType.recv_audio, 5) & ReceiveFrameType.recv_audio:
                while self.audio.get_buffer_depth():
                    data, _ = self.audio.get_read_data()
                    self.formats.add((int(self.audio.sample_rate), int(self.audio.num_channels)))
                    self.blocks.append(np.array(data, dtype=np.float32))
            time.sleep(0.002)

    def sound(self) -> np.ndarray:
        blocks = list(self.blocks)
        return np.concatenate(blocks, axis=1) if blocks else np.zeros((2, 0), np.float32)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.receiver.get_performance_data()
        self.stats = dict(self.receiver.audio_stats)   # what NDI delivered (cyndilib's buffer may skip some)
        try:
            self.receiver.disconnect()
        finally:
            self.finder.close()


def test_ndi_audio_the_input_fed_as_it_comes_reaches_a_receiver_with_the_pictures(setlist):
    """``--ndi-audio``: a 440 Hz tone fed into the sink's audio entry point from another thread, as
    the analysis thread feeds it, in hops that do not divide NDI's frames, comes out of a real
    receiver at its rate, in stereo, at its level and pitch, while the show's pictures come too."""
    import threading

    rate, hop, level = 44100, 512, 0.5
    name = _name("audio")
    output = ndi_output(name, setlist.output.width, setlist.output.height, float(setlist.output.fps), audio_rate=rate)
    assert output.audio_input is not None
    receiver = _AudioReceiver(name)
    pictures = NdiReceiver(name)
    lit: list[np.ndarray] = []
    stop = threading.Event()

    def feed():   # the audio thread: a hop every hop's length, never waiting on the sender
        sent, started = 0, time.monotonic()
        while not stop.is_set():
            t = (np.arange(hop) + sent) / rate
            output.audio_input.write(time.monotonic(), (level * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32),
                                     rate)
            sent += hop
            time.sleep(max(0.0, started + sent / rate - time.monotonic()))

    feeder = threading.Thread(target=feed, daemon=True)

    def script(show, record, display):
        time.sleep(0.01)
        frame = pictures.frame()
        if frame is not None and frame[..., :3].max() > 40:
            lit.append(frame)
        if len(lit) >= 3 and receiver.sound().shape[-1] >= rate // 3:   # a third of a second of sound, and pictures
            display.inject(Action.QUIT)
            display.inject(Action.QUIT)

    feeder.start()
    try:
        _, in_time = run_live(setlist, script, extra_outputs=[output], seconds_real=20.0)
    finally:
        stop.set()
        feeder.join(timeout=2)
        receiver.close()
        pictures.close()
    sound = receiver.sound()
    assert in_time, (f"{sound.shape} of sound ({output.audio_sent} sent, {output.audio_dropped} dropped; NDI: "
                     f"{receiver.stats}) and {len(lit)} pictures came")
    assert receiver.formats == {(rate, 2)}
    assert lit[-1].shape == (setlist.output.height, setlist.output.width, 4)
    assert np.array_equal(sound[0], sound[1])                         # the mono input on both channels
    # each NDI audio frame is a piece of the tone: its level and pitch, not noise (cyndilib's receive
    # buffer skips whole frames now and then, so the pieces are checked one by one)
    block = output.sink.audio_block
    t = np.arange(block) / rate
    basis = np.stack([np.sin(2 * np.pi * 440.0 * t), np.cos(2 * np.pi * 440.0 * t)], axis=1)
    pieces = sound[0, :sound.shape[1] // block * block].reshape(-1, block)[2:]
    for piece in pieces:
        fit, *_ = np.linalg.lstsq(basis, piece, rcond=None)
        assert np.hypot(*fit) == pytest.approx(level, rel=0.05)
        assert np.sqrt(np.mean((basis @ fit - piece) ** 2)) < 0.02 * level
    assert output.audio_failed is None and output.failed is None and output.audio_sent >= rate // 3
    assert receiver.stats["frames_dropped"] == 0 and receiver.stats["frames_total"] * output.sink.audio_block >= rate // 3


def test_ndi_audio_at_another_rate_is_resampled_and_a_sender_far_behind_drops_the_oldest_sound():
    from vj.output.ndi import resample
    from vj.output.sinks import AUDIO_SECONDS, SinkOutput

    tone = np.sin(2 * np.pi * 100 * np.arange(4800) / 48000).astype(np.float32)
    again = resample(tone, 48000, 44100)
    assert len(again) == 4410 and again.dtype == np.float32
    assert np.allclose(again, np.sin(2 * np.pi * 100 * np.arange(4410) / 44100), atol=1e-3)
    assert resample(tone, 48000, 48000) is not None and len(resample(tone, 48000, 48000)) == 4800

    class Stuck:   # a sink whose network hangs: the audio thread must not wait for it
        label, audio_rate = "stuck", 48000

        def __init__(self):
            self.release = __import__("threading").Event()
            self.batches: list[int] = []

        def send(self, rgba):
            pass

        def send_audio(self, chunks):
            self.release.wait(5)
            self.batches.append(sum(len(c) for c, _ in chunks))

        def close(self):
            pass

    sink = Stuck()
    output = SinkOutput(sink, 8, 8)
    started = time.perf_counter()
    for _ in range(400):   # 4 s of 10 ms hops at once
        output.audio_input.write(0.0, np.zeros(480, np.float32), 48000)
    assert time.perf_counter() - started < 0.5
    sink.release.set()
    output.close()
    assert output.audio_dropped > 0
    assert output.audio_sent + output.audio_dropped == 400 * 480
    assert sum(sink.batches) == output.audio_sent
    assert max(sink.batches) <= AUDIO_SECONDS * 48000   # what waits for a stuck sender: the newest half second


def test_ndi_audio_needs_ndi_and_the_input():
    import argparse

    from vj.commands.live import open_sinks

    with pytest.raises(VjError, match="--ndi NAME"):
        open_sinks(argparse.Namespace(ndi=None, ndi_audio=True, display_rate=None), None)
    with pytest.raises(VjError, match="--no-audio"):
        open_sinks(argparse.Namespace(ndi="x", ndi_audio=True, display_rate=None), None, audio=None)
