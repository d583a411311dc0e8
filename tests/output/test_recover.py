"""Crash safety end to end: a real ``vj rehearse`` killed with SIGKILL leaves a file that plays (video
and audio up to within 2 s of the kill); ``vj recover`` and the next ``vj rehearse`` finish it."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
from output_synth import HEIGHT, WIDTH, synthetic_frame
from processes import kill_hard, make_sure_gone

from vj.output.recorder import Recorder, partial_path
from vj.output.recover import recover_unfinished

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "setlists" / "demo.yaml"
FPS = 24  # the demo's
#: What the recorder logs (debug) after each half second of video it has taken in.
WRITTEN = re.compile(r"recording .*: (\d+) frames written")
EVERY = FPS // 2


def vj_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "vj", *args]


def vj_env() -> dict[str, str]:
    """This checkout's vj, whatever is installed."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


class Reader:
    """Collects a process's stderr lines as they come."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line)

    def written(self) -> int:
        """Frames the recorder said it had taken in, last time it said."""
        counts = [int(m.group(1)) for line in list(self.lines) if (m := WRITTEN.search(line))]
        return counts[-1] if counts else 0

    def join(self) -> None:
        self._thread.join(timeout=10)


def run_until_killed(command: list[str], frames: int, cwd: Path, timeout: float = 120) -> int:
    """Start ``command``, SIGKILL it once its recorder has taken ``frames`` frames in; returns the
    most it said it had taken in (at the kill it had taken in fewer than that + ``EVERY``). It is
    stopped (SIGSTOP) first, so that every line it wrote is read before it dies."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=vj_env(), cwd=cwd)
    reader = Reader(process.stderr)
    try:
        deadline = time.monotonic() + timeout
        while reader.written() < frames:
            assert process.poll() is None, "".join(reader.lines)[-3000:]
            assert time.monotonic() < deadline, "".join(reader.lines)[-3000:]
            time.sleep(0.02)
        kill_hard(process)
    finally:
        make_sure_gone(process)
    reader.join()
    return reader.written()


def decode(path: Path) -> tuple[list[int], float, float]:
    """(video pts, video seconds, audio seconds) as a player would read them."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        rate = video.average_rate
        pts = [frame.pts for frame in container.decode(video)]
    with av.open(str(path)) as container:
        audio = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(audio))
        audio_seconds = samples / audio.codec_context.sample_rate
    return pts, len(pts) / float(rate), audio_seconds


def boxes(path: Path) -> list[str]:
    data, names, at = path.read_bytes(), [], 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        names.append(data[at + 4:at + 8].decode("latin-1"))
        if size < 8:
            break
        at += size
    return names


def test_a_killed_rehearsal_plays_to_within_two_seconds_and_is_recovered(tmp_path):
    out = tmp_path / "renders" / "take.mp4"
    command = vj_command("-v", "rehearse", str(DEMO), "--song", "demo groove", "--size", "128x128",
                         "--generator", "procedural", "--no-progress", "-o", str(out))
    said = run_until_killed(command, frames=5 * FPS, cwd=tmp_path)
    partial = partial_path(out)
    assert partial.is_file() and not out.exists()

    # 1. The remains play as they are: video up to within 2 s of the kill, the audio as long.
    pts, video_seconds, audio_seconds = decode(partial)
    taken_in = said + EVERY  # at most, at the kill
    assert taken_in - 2 * FPS <= len(pts) <= taken_in, (len(pts), said)
    assert pts == list(range(len(pts)))
    assert abs(audio_seconds - video_seconds) < 0.15, (audio_seconds, video_seconds)

    # 2. vj recover finishes a copy into a normal MP4, at its final name.
    manual = tmp_path / "manual"
    manual.mkdir()
    shutil.copy(partial, manual / partial.name)
    result = subprocess.run(vj_command("recover", str(manual / partial.name)), capture_output=True, text=True,
                            env=vj_env(), timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1 and f"{manual / 'take.mp4'} ({len(pts)} frames" in result.stdout
    finished = manual / "take.mp4"
    assert sorted(p.name for p in manual.iterdir()) == ["take.mp4"]
    names = boxes(finished)
    assert "moof" not in names and names.index("moov") < names.index("mdat"), names
    assert decode(finished)[0] == pts
    assert abs(decode(finished)[2] - video_seconds) < 0.15

    # 3. The next rehearsal to the same folder finishes the other copy first, beside its own output.
    result = subprocess.run(vj_command("rehearse", str(DEMO), "--song", "demo groove", "--size", "64x64",
                                       "--seconds", "1", "--generator", "procedural", "--no-progress", "-o", str(out)),
                            capture_output=True, text=True, env=vj_env(), timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    recovered = out.with_name("take.recovered.mp4")
    assert f"recovered an unfinished recording: {partial} -> {recovered}" in result.stderr
    assert not partial.exists()
    assert decode(recovered)[0] == pts
    assert len(decode(out)[0]) == FPS  # and its own take is there as asked


def test_recover_refuses_a_file_that_is_no_recording_in_one_line(tmp_path):
    junk = tmp_path / "junk.mp4.partial.mp4"
    junk.write_bytes(b"not a video at all " * 200)
    for target in (junk, tmp_path / "missing.mp4"):
        result = subprocess.run(vj_command("recover", str(target)), capture_output=True, text=True, env=vj_env(),
                                timeout=60)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and str(target) in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and not result.stdout
    assert junk.read_bytes().startswith(b"not a video")  # left as it was


def test_a_recording_still_being_written_is_left_alone(tmp_path):
    recorder = Recorder(tmp_path / "busy.mp4", WIDTH, HEIGHT, FPS)
    try:
        for index in range(2 * FPS):
            recorder.write(synthetic_frame(index))
        assert recover_unfinished(tmp_path) == []
        result = subprocess.run(vj_command("recover", str(recorder.partial)), capture_output=True, text=True,
                                env=vj_env(), timeout=60)
        assert result.returncode == 2 and "still being recorded" in result.stderr
        assert recorder.partial.exists() and not recorder.path.exists()
    finally:
        path = recorder.close()
    assert len(decode_frames(path)) == 2 * FPS


def test_startup_removes_a_partial_killed_before_its_first_fragment(tmp_path, caplog):
    empty = tmp_path / "early.mp4.partial.mp4"
    empty.write_bytes(b"\0\0\0\x1cftypisom" + bytes(16))  # all a run killed in its first second leaves
    assert recover_unfinished(tmp_path) == []
    assert not empty.exists() and "killed before any of it was saved" in caplog.text


def decode_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
