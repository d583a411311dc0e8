"""`vj live` end to end: the CLI's checks before any window, the real audio path into a running
show, device loss mid-show, and a recording decoded back."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from vj.cli import main
from vj.render import window as window_module

REPO = Path(__file__).resolve().parents[2]

SMALL = """\
title: small
output: {width: 128, height: 96, fps: 24}
model: procedural
songs:
  - name: clicks
    bpm: 120
    cue_mode: bars
    reactivity:
      - {name: kick, source: onset, target: zoom, amount: 0.05}
    cues:
      - {at: bar 2, prompt: "a second thing"}
"""


def _no_window(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a window was opened")

    monkeypatch.setattr(window_module, "OutputWindow", refuse)


def test_a_setlist_that_fails_validation_never_opens_a_window(tmp_path, monkeypatch, capsys):
    _no_window(monkeypatch)
    bad = tmp_path / "bad.yaml"
    bad.write_text(SMALL.replace("cue_mode: bars", "cue_mode: sometimes"))
    assert main(["live", str(bad), "--windowed", "--no-audio"]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:7" in err and "cue_mode" in err and "Traceback" not in err


def test_a_cue_that_fails_to_compile_never_opens_a_window(tmp_path, monkeypatch, capsys):
    _no_window(monkeypatch)
    bad = tmp_path / "bad.yaml"
    bad.write_text(SMALL.replace("at: bar 2", "at: bar zero"))
    assert main(["live", str(bad), "--windowed", "--no-audio"]) == 2
    assert "bad.yaml" in capsys.readouterr().err


def test_an_unknown_input_lists_the_inputs_and_exits_2(jack_server, tmp_path, monkeypatch, capsys):
    _no_window(monkeypatch)
    path = tmp_path / "set.yaml"
    path.write_text(SMALL)
    assert main(["live", str(path), "--windowed", "--no-osc", "--input", "Focusrite 18i20"]) == 2
    err = capsys.readouterr().err
    assert "Focusrite 18i20" in err and "available inputs" in err and "system" in err


def test_an_unknown_monitor_lists_the_monitors_and_exits_2(xvfb_display, tmp_path, capsys):
    path = tmp_path / "set.yaml"
    path.write_text(SMALL)
    assert main(["live", str(path), "--screen", "HDMI-9", "--no-audio", "--no-osc"]) == 2
    err = capsys.readouterr().err
    assert "HDMI-9" in err and "available monitors" in err and "[0]" in err


def test_devices_lists_inputs_midi_and_monitors(jack_server, xvfb_display, capsys):
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "Audio inputs" in out and "system (JACK Audio Connection Kit" in out
    assert "MIDI inputs" in out and "Monitors" in out and "[0]" in out


def test_the_show_keeps_rendering_on_the_internal_clock_when_the_feed_dies(jack_server, click_feeder,
                                                                          xvfb_display, tmp_path):
    from vj.audio.live import LiveAudio, LiveAudioSettings
    from vj.generators.procedural import ProceduralGenerator
    from vj.show.live import LiveOptions, LiveShow, build_song_states
    from vj.render.window import OutputWindow
    from vj.setlist.models import load_setlist

    path = tmp_path / "set.yaml"
    path.write_text(SMALL)
    setlist = load_setlist(path)
    audio = LiveAudio(LiveAudioSettings(device="system", silent_after=0.5))
    audio.start()
    window = OutputWindow("vj test", (256, 192))
    killed = {}

    def on_frame(show, record) -> None:
        if "at" not in killed and record.started - show.song_start > 2.0:
            click_feeder.kill()
            killed["at"] = time.monotonic()

    try:
        show = LiveShow(setlist, build_song_states(setlist), window, audio=audio, make_generator=ProceduralGenerator,
                        options=LiveOptions(quit_after=4.5, keep_frame_log=True, display_rate=30.0))
        show.on_frame = on_frame
        show.run()
    finally:
        audio.stop()
        window.close()
    frames = list(show.frame_log)
    onsets = [hop for record in frames for hop in record.onsets]
    assert len(onsets) >= 3, "clicks reached the show as onsets"
    assert all(hop.onset_time < killed["at"] + 0.1 for hop in onsets)
    after = [r for r in frames if r.swap > killed["at"]]
    gaps = np.diff([r.swap for r in after])
    assert len(after) > 10 and gaps.max() < 0.5, "the display kept going after the feed died"
    beats = [r.beat for r in after]
    assert beats[-1] - beats[0] > 2 * (after[-1].swap - after[0].swap) * 0.9  # 120 BPM from the clock
    assert show.worker.frames > 5


def test_vj_live_demo_end_to_end_with_a_recording(jack_server, click_feeder, xvfb_display, tmp_path):
    import av

    output = tmp_path / "live.mp4"
    env = dict(os.environ)
    result = subprocess.run([sys.executable, "-m", "vj", "live", str(REPO / "setlists" / "demo.yaml"), "--windowed",
                             "--window-size", "320x240", "--quit-after", "3", "--input", "system", "--hud",
                             "--osc-port", "0",
                             "--record", str(output)],
                            capture_output=True, text=True, timeout=90, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    with av.open(str(output)) as container:
        video = container.streams.video[0]
        assert container.streams.audio, "the input audio is muxed in"
        assert (video.width, video.height) == (512, 512)
        frames = sum(1 for _ in container.decode(video=0))
        duration = float(container.duration / av.time_base)
    assert frames > 3
    assert duration > 1.5 and duration < 4.0, duration
    assert sorted(p.name for p in tmp_path.iterdir() if "live" in p.name) == ["live.mp4"]  # no partial left


def test_an_unwritable_recording_fails_before_any_window(tmp_path, monkeypatch, capsys):
    _no_window(monkeypatch)
    path = tmp_path / "set.yaml"
    path.write_text(SMALL)
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    assert main(["live", str(path), "--windowed", "--no-audio", "--no-osc", "--record", str(blocked / "out.mp4")]) == 2
    err = capsys.readouterr().err
    assert "--record" in err and "out.mp4" in err


def test_vj_live_flies_the_3d_demo_song(xvfb_display, tmp_path):
    """The 3D song live: the generator reprojects, the display re-applies the flight between
    generator frames (a plane homography), and the picture keeps moving, never black or NaN."""
    import av

    output = tmp_path / "flight.mp4"
    result = subprocess.run([sys.executable, "-m", "vj", "live", str(REPO / "setlists" / "demo.yaml"),
                             "--song", "demo flight", "--windowed", "--window-size", "256x256", "--quit-after", "3",
                             "--no-audio", "--no-osc", "--record", str(output)],
                            capture_output=True, text=True, timeout=90, env=dict(os.environ), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    with av.open(str(output)) as container:
        frames = [f.to_ndarray(format="rgb24").astype(np.float32) for f in container.decode(video=0)]
    first = next(i for i, f in enumerate(frames) if f.mean() > 10)  # black only until the first generator frame
    shown = frames[first:]
    assert len(shown) > 5 and first < len(frames) // 2
    assert all(f.mean() > 10 for f in shown)
    changes = [np.abs(a - b).mean() for a, b in zip(shown, shown[1:])]
    assert min(changes) > 0.5, changes   # every shown frame differs from the one before: it flies
