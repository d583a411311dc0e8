"""`vj live --record` killed mid-show (SIGKILL): the recording on disk plays, picture and the input's
sound, up to within 2 s of the kill, and `vj recover` finishes it into a normal MP4.

The show runs for real: Xvfb for the window, JACK's dummy driver as the sound card, a click track
played into the input (tests/show/conftest.py)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
from processes import kill_hard, make_sure_gone

REPO = Path(__file__).resolve().parents[2]
FPS = 24
SETLIST = f"""\
title: recorded
output: {{width: 128, height: 96, fps: {FPS}}}
model: procedural
songs:
  - name: clicks
    bpm: 120
"""
#: The recorder's debug line each half second of video it has taken in: frames, seconds of timeline.
WRITTEN = re.compile(r"recording .*: (\d+) frames written \(([\d.]+) s\)")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


def test_a_killed_live_recording_plays_with_its_sound_and_is_recovered(jack_server, click_feeder, xvfb_display,
                                                                        tmp_path):
    setlist = tmp_path / "set.yaml"
    setlist.write_text(SETLIST)
    output = tmp_path / "gig.mp4"
    process = subprocess.Popen(
        [sys.executable, "-m", "vj", "-v", "live", str(setlist), "--windowed", "--window-size", "256x192",
         "--input", "system", "--no-osc", "--quit-after", "60", "--record", str(output)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env(), cwd=tmp_path)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
    reader.start()

    def said() -> float:
        found = [float(m.group(2)) for line in list(lines) if (m := WRITTEN.search(line))]
        return found[-1] if found else 0.0

    try:
        deadline = time.monotonic() + 60
        while said() < 4.0:
            assert process.poll() is None and time.monotonic() < deadline, "".join(lines)[-3000:]
            time.sleep(0.02)
        kill_hard(process)
    finally:
        make_sure_gone(process)
    reader.join(timeout=10)
    recorded = said() + 0.5  # at most this much of the show's timeline had reached the recorder
    partial = output.with_name(output.name + ".partial.mp4")
    assert partial.is_file() and not output.exists()

    def decode(path: Path) -> tuple[float, np.ndarray, int]:
        with av.open(str(path)) as container:
            video = container.streams.video[0]
            pts = [frame.pts for frame in container.decode(video)]
            video_seconds = (pts[-1] + 1) * float(video.time_base)
        with av.open(str(path)) as container:
            audio = container.streams.audio[0]
            samples = np.concatenate([f.to_ndarray().reshape(2, -1)[0] for f in container.decode(audio)])
            return video_seconds, samples, audio.codec_context.sample_rate

    # The remains as they are: video to within 2 s of the kill, the input's sound as long, clicks in it.
    video_seconds, samples, rate = decode(partial)
    assert recorded - 2.0 <= video_seconds <= recorded, (video_seconds, recorded)
    # (the audio ends a little before: the muxer interleaves by decode time, which runs 2 frames behind)
    assert abs(len(samples) / rate - video_seconds) < 0.3, (len(samples) / rate, video_seconds)
    window = rate // 100
    peaks = np.abs(samples[: len(samples) // window * window]).reshape(-1, window).max(axis=1)
    clicks = np.flatnonzero(np.diff((peaks > 0.1).astype(int)) == 1)
    assert len(clicks) >= 2 * video_seconds, "the click track (4 a second) is in the recording"

    result = subprocess.run([sys.executable, "-m", "vj", "recover", str(partial)], capture_output=True, text=True,
                            env=_env(), timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("recovered "), result.stderr
    assert not partial.exists()
    finished_seconds, finished_samples, _ = decode(output)
    assert finished_seconds == video_seconds and abs(len(finished_samples) - len(samples)) <= 2048
    data = output.read_bytes()
    assert b"moof" not in data and data.index(b"moov") < data.index(b"mdat")
