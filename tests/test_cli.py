"""The vj command end to end: real setlists, real audio, a real MP4 decoded back."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from vj.show.rehearse import plan_rehearsal, render_rehearsal
from vj.setlist.models import load_setlist

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "setlists" / "demo.yaml"


def vj(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vj", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, timeout=600)


@pytest.fixture()
def demo_copy(tmp_path: Path) -> Path:
    shutil.copy(DEMO, tmp_path / "demo.yaml")
    shutil.copy(REPO / "setlists" / "demo-track.ogg", tmp_path / "demo-track.ogg")
    return tmp_path / "demo.yaml"


def test_help_lists_commands() -> None:
    result = vj("--help")
    assert result.returncode == 0
    for command in ("rehearse", "check", "analyse", "devices", "compile", "midi-learn", "schedule", "import", "draft"):
        assert command in result.stdout
    assert "--seconds" in vj("rehearse", "--help").stdout


def test_check_demo() -> None:
    result = vj("check", str(DEMO))
    assert result.returncode == 0, result.stderr
    assert "ok  demo groove" in result.stdout
    assert "120.0 BPM" in result.stdout


def test_rehearse_writes_frame_exact_mp4_with_audio(tmp_path: Path) -> None:
    out = tmp_path / "out" / "demo.mp4"
    result = vj("rehearse", str(DEMO), "-o", str(out), "--size", "96x64", "--fps", "12", "--seconds", "2.5",
                "--no-progress")
    assert result.returncode == 0, result.stderr
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video)]
        assert (video.codec_context.width, video.codec_context.height) == (96, 64)
        assert video.average_rate == 12
        assert audio.codec_context.name == "aac"
    assert len(frames) == 30                                       # 2.5 s × 12 fps
    assert float(frames[-1].std()) > 5.0                           # a picture, not a flat field
    assert not np.array_equal(frames[0], frames[-1])               # it moves
    with av.open(str(out)) as container:
        audio_seconds = sum(f.samples for f in container.decode(audio=0)) / container.streams.audio[0].rate
    assert abs(audio_seconds - 2.5) < 0.05
    timeline = out.with_suffix(".timeline.png")
    assert timeline.is_file() and timeline.stat().st_size > 10_000
    assert not list(out.parent.glob("*partial*"))


def test_same_setlist_same_frames() -> None:
    setlist = load_setlist(DEMO)
    hashes = []
    for _ in range(2):
        plan = plan_rehearsal(setlist, size=(64, 64), fps=8, seconds=1.5,
                              output=Path("/tmp/vj-determinism.mp4"))
        hashes.append(render_rehearsal(plan, keep_hashes=True).frame_hashes)
    assert len(hashes[0]) == 12 and hashes[0] == hashes[1]


def _assert_user_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_bad_setlists_exit_2_with_place(demo_copy: Path) -> None:
    text = demo_copy.read_text()
    demo_copy.write_text(text.replace("        transition: 2b\n", "        transition: 2b\n        colour: red\n"))
    _assert_user_error(vj("check", str(demo_copy)), f"{demo_copy}:", "unknown field 'colour'")
    demo_copy.write_text(text.replace("0.15*sin(2*pi*t/240)", "0.15*sin(2*pi*t/240"))
    _assert_user_error(vj("rehearse", str(demo_copy), "--no-progress"), "songs[0].camera.angle")
    demo_copy.write_text(text.replace('at: "0:32.0"', 'at: "2:32.0"'))
    _assert_user_error(vj("check", str(demo_copy)), "past the end of the song", ":67:")
    demo_copy.write_text(text.replace("title: vj demo", "title: [vj demo"))
    _assert_user_error(vj("check", str(demo_copy)), "malformed YAML")


def test_missing_and_undecodable_audio(demo_copy: Path) -> None:
    (demo_copy.parent / "demo-track.ogg").unlink()
    _assert_user_error(vj("check", str(demo_copy)), "audio file not found", "songs[0].audio")
    (demo_copy.parent / "demo-track.ogg").write_bytes(b"this is not audio at all" * 100)
    out = demo_copy.parent / "never.mp4"
    _assert_user_error(vj("rehearse", str(demo_copy), "-o", str(out)), "songs[0].audio")
    assert not out.exists()


def test_unwritable_output(demo_copy: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    _assert_user_error(vj("rehearse", str(demo_copy), "-o", str(blocker / "out.mp4"), "--seconds", "1"),
                       "cannot create the folder")
    _assert_user_error(vj("rehearse", str(demo_copy), "-o", str(tmp_path), "--seconds", "1"), "is a directory")


def test_analyse_csv(tmp_path: Path) -> None:
    csv = tmp_path / "events.csv"
    result = vj("analyse", str(REPO / "setlists" / "demo-track.ogg"), "--csv", str(csv))
    assert result.returncode == 0, result.stderr
    rows = csv.read_text().splitlines()
    assert rows[0] == "kind,time,strength,position"
    kinds = {row.split(",")[0] for row in rows[1:]}
    assert kinds == {"onset", "beat", "downbeat"}
    _assert_user_error(vj("analyse", str(tmp_path / "missing.wav")), "missing.wav")


def test_missing_model_weights_name_the_model_and_offer_procedural(demo_copy: Path, tmp_path: Path) -> None:
    text = demo_copy.read_text().replace("model: procedural", "model: someone/not-on-this-machine", 1)
    demo_copy.write_text(text)
    out = tmp_path / "never.mp4"
    result = subprocess.run([sys.executable, "-m", "vj", "rehearse", str(demo_copy), "-o", str(out)],
                            capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
                            env={**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub")})
    assert result.returncode == 2
    assert "someone/not-on-this-machine" in result.stderr and str(tmp_path / "hub") in result.stderr
    assert "--generator procedural" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_check_finds_the_model_weights_or_says_where_it_looked(demo_copy: Path, tmp_path: Path) -> None:
    from vj.depth.tiny import build_tiny_depth_model
    from vj.generators.diffusion.tiny import build_tiny_pipeline

    model = build_tiny_pipeline(tmp_path / "model")
    depth = build_tiny_depth_model(tmp_path / "depth")
    text = demo_copy.read_text().replace("model: procedural", f"model: {model}", 1)
    text = text.replace("depth: plane ", f"depth: model:{depth} ", 1)
    demo_copy.write_text(text)
    result = vj("check", str(demo_copy))
    assert result.returncode == 0, result.stderr
    assert f"ok  model {model}" in result.stdout and f"ok  depth model {depth}" in result.stdout
    demo_copy.write_text(text.replace(f"model:{depth}", "model:someone/no-depth", 1))
    result = vj("check", str(demo_copy))               # a missing depth model: the plane flies instead
    assert result.returncode == 0 and "WARNING demo flight: depth model 'someone/no-depth'" in result.stdout
    demo_copy.write_text(text.replace(f"model: {model}", "model: someone/not-here", 1))
    _assert_user_error(vj("check", str(demo_copy)), "someone/not-here", "model")


def test_rehearse_all_songs_one_mp4_each(tmp_path: Path) -> None:
    out = tmp_path / "set"
    result = vj("rehearse", str(DEMO), "--all", "-o", str(out), "--size", "64x64", "--fps", "8", "--seconds", "1",
                "--no-progress")
    assert result.returncode == 0, result.stderr
    for name in ("demo-demo-groove", "demo-demo-flight"):
        with av.open(str(out / f"{name}.mp4")) as container:
            assert sum(1 for _ in container.decode(video=0)) == 8
        assert (out / f"{name}.timeline.png").is_file()
    _assert_user_error(vj("rehearse", str(DEMO), "--all", "-o", str(tmp_path / "one.mp4")), "names a folder")


def test_check_refuses_an_alias_bomb(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"                   # nine levels of nine aliases: 387 million values
    levels = ["a: &a [" + ", ".join(["lol"] * 9) + "]"]
    levels += [f"{b}: &{b} [" + ", ".join([f"*{a}"] * 9) + "]" for a, b in zip("abcdefgh", "bcdefghi")]
    bomb.write_text("\n".join(levels) + "\n")
    result = subprocess.run([sys.executable, "-m", "vj", "check", str(bomb)], capture_output=True,
                            text=True, cwd=REPO, timeout=20)        # a hang fails here
    _assert_user_error(result, f"{bomb}:", "alias")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
