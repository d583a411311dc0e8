"""``vj draft``: sections found on synthesised songs with known changes and on the demo track; the
written setlist loads, validates and rehearses; too short / too quiet songs still get a plain setlist."""
from __future__ import annotations

import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from vj.cli import main
from vj.commands.draft import draft
from vj.setlist.models import load_setlist

REPO = Path(__file__).resolve().parent.parent
RATE = 22050
BEAT = 0.5   # 120 BPM


def tone(freq: float, length: float, decay: float | None = None) -> np.ndarray:
    t = np.arange(int(length * RATE)) / RATE
    env = np.exp(-t / decay) if decay else np.minimum(1.0, t / 0.02) * np.minimum(1.0, (length - t) / 0.05)
    return np.sin(2 * np.pi * freq * t) * env


def write_song(path: Path, plan: str, bars_each: int = 8, level: float = 0.5, seed: int = 3) -> Path:
    """A, B, C... sections of ``bars_each`` bars over one backbeat: A = a pad on A minor; B = a
    brighter pad on E major with sixteenth hats; C = a low drone with eighth hats."""
    rng = np.random.default_rng(seed)
    bar_len = 4 * BEAT
    total = len(plan) * bars_each * bar_len + 1.0
    out = np.zeros(int(total * RATE))
    kick = tone(55, 0.3, 0.08)
    hat = rng.standard_normal(int(0.05 * RATE)) * np.exp(-np.arange(int(0.05 * RATE)) / (0.01 * RATE))
    chords = {"A": [220.0, 261.6, 329.6], "B": [329.6, 415.3, 493.9], "C": [98.0, 146.8]}

    def add(sound: np.ndarray, at: float, gain: float) -> None:
        start = int(at * RATE)
        end = min(len(out), start + len(sound))
        out[start:end] += gain * sound[:end - start]

    snare = rng.standard_normal(int(0.15 * RATE)) * np.exp(-np.arange(int(0.15 * RATE)) / (0.04 * RATE))
    for n, kind in enumerate(plan):
        for bar in range(bars_each):
            start = (n * bars_each + bar) * bar_len
            for freq in chords[kind]:
                add(tone(freq, bar_len), start, 0.15 if kind != "B" else 0.2)
            for beat in range(4):   # the same backbeat everywhere: kick on 1 and 3, snare on 2 and 4
                t = start + beat * BEAT
                add(kick if beat in (0, 2) else snare, t, 1.0 if beat == 0 else 0.7)
                if kind == "B":     # B: busy sixteenth hats
                    for k in range(4):
                        add(hat, t + k * BEAT / 4, 0.25)
                elif kind == "C":   # C: eighth hats
                    for k in range(2):
                        add(hat, t + k * BEAT / 2, 0.2)
    out = out / np.abs(out).max() * level
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(RATE)
        handle.writeframes((out * 32767).astype("<i2").tobytes())
    return path


def section_bars(path: Path) -> list[tuple[int, str]]:
    """(bar, style) of the song's start and each section cue, read from the written setlist."""
    song = load_setlist(path).songs[0]
    return [(1, song.style)] + [(int(c.at.split()[1]), c.style) for c in song.cues]


def test_sections_of_a_synthesised_aba_song(tmp_path: Path) -> None:
    song = write_song(tmp_path / "aba.wav", "ABA")
    out, text = draft(song, tmp_path / "aba.yaml")
    found = section_bars(out)
    assert [bar for bar, _ in found] == [1, 9, 17]
    assert found[0][1] == found[2][1] != found[1][1]      # A returns with its style
    assert "section A again" in text and "bar   9" in text
    setlist = load_setlist(out)
    assert setlist.songs[0].bpm == pytest.approx(120, abs=1.0) and setlist.songs[0].beats_per_bar == 4


def test_sections_of_abcb_and_the_camera_changes_at_each(tmp_path: Path) -> None:
    song = write_song(tmp_path / "abcb.wav", "ABCB")
    out, text = draft(song, tmp_path / "abcb.yaml")
    found = section_bars(out)
    assert [bar for bar, _ in found] == [1, 9, 17, 25]
    styles = [style for _, style in found]
    assert styles[1] == styles[3] and len(set(styles)) == 3
    camera = load_setlist(out).songs[0].camera
    assert camera.zoom.count("bar:(") == 3 and "8bar:" in camera.zoom and "24bar:" in camera.zoom


def test_the_demo_tracks_change_at_bar_9_and_the_draft_rehearses(tmp_path: Path) -> None:
    shutil.copy(REPO / "setlists" / "demo-track.ogg", tmp_path / "demo-track.ogg")
    lrc = tmp_path / "demo.lrc"
    lrc.write_text("[00:02.00]Stars are turning\n[00:17.00]Here comes the beat\n")
    assert main(["draft", str(tmp_path / "demo-track.ogg"), "--lyrics", str(lrc),
                 "-o", str(tmp_path / "demo.yaml")]) == 0
    setlist = load_setlist(tmp_path / "demo.yaml")
    song = setlist.songs[0]
    assert [c.at for c in song.cues] == ["bar 9"]
    assert song.lyrics == "demo.lrc" and all(c.prompt is None for c in song.cues)
    from vj.show.rehearse import plan_rehearsal, render_rehearsal
    from vj.show.generators import make_generator

    plan = plan_rehearsal(setlist, None, tmp_path / "demo.mp4", (64, 64), 6.0, 2.0)
    result = render_rehearsal(plan, make_generator(setlist, name="procedural"))
    assert result.frames == 12 and result.output.is_file()
    starts = [t for t, *_ in plan.director.lyric_cues]      # each on the next beat (snap: beat)
    assert len(starts) == 2 and 2.0 <= starts[0] < 2.5 and 17.0 <= starts[1] < 17.5


def test_too_short_and_too_quiet_get_a_plain_setlist(tmp_path: Path) -> None:
    short = write_song(tmp_path / "short.wav", "A", bars_each=3)
    out, text = draft(short, tmp_path / "short.yaml")
    assert "# Could not: too short to find sections" in text and load_setlist(out).songs[0].cues == []
    quiet = write_song(tmp_path / "quiet.wav", "AB", level=0.001)
    out, text = draft(quiet, tmp_path / "quiet.yaml")
    assert "# Could not: too quiet to find sections" in text and load_setlist(out).songs[0].cues == []


def test_bad_input_exit_2_and_nothing_written(tmp_path: Path, capsys) -> None:
    assert main(["draft", str(tmp_path / "nope.wav")]) == 2
    assert "audio file not found" in capsys.readouterr().err
    song = write_song(tmp_path / "s.wav", "A", bars_each=2)
    (tmp_path / "bad.lrc").write_text("no tags at all\n")
    assert main(["draft", str(song), "--lyrics", str(tmp_path / "bad.lrc"), "-o", str(tmp_path / "s.yaml")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'bad.lrc'}:1: --lyrics: no time tags" in err and err.count("\n") == 1
    assert not (tmp_path / "s.yaml").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad.lrc", "s.wav"]
