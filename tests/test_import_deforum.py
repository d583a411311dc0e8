"""``vj import deforum``: settings files as Deforum writes them → setlists that load and play as Deforum did."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from vj.cli import main
from vj.commands.import_deforum import import_deforum
from vj.director.director import Director
from vj.features import Features
from vj.grid import BeatGrid
from vj.setlist.models import load_setlist

DATA = Path(__file__).resolve().parent / "data"
A1111 = DATA / "deforum_a1111_settings.txt"        # the A1111 extension's defaults, as it saves them
NOTEBOOK = DATA / "deforum_notebook_settings.txt"  # the Colab notebook's, with prompts keyed by max_f


def director_for(path: Path, frames: int, fps: float) -> Director:
    setlist = load_setlist(path)
    return Director(setlist, setlist.songs[0], BeatGrid(bpm=120.0, offset=0.0, beats_per_bar=4), fps,
                    duration=frames / fps)


def test_the_a1111_defaults_come_across(tmp_path: Path) -> None:
    out, text = import_deforum(A1111, tmp_path / "set.yaml")
    settings = json.loads(A1111.read_text())
    setlist = load_setlist(out)
    song = setlist.songs[0]
    assert song.camera.mode == "2d" and setlist.output.fps == 15
    for key in ("zoom", "angle", "translation_x", "translation_y"):
        assert getattr(song.camera, key) == settings[key]           # the original strings
    assert song.camera.fov == settings["fov_schedule"]
    # prompts by frame: 0 is the song's prompt, the others cues at frame / fps, hard switches
    assert song.prompt.startswith("tiny cute bunny")
    assert [(c.at, c.transition) for c in song.cues] == [(2, 0), (4, 0), (6, 0)]
    # --neg honoured: the coconut's negative (and the global one) is its style's
    coconut = song.cues[1]
    assert coconut.prompt == "a beautiful coconut"
    assert setlist.styles[coconut.style].negative == "photo, realistic, nsfw, nude"
    assert setlist.styles[song.style].negative == "nsfw, nude"
    style = setlist.styles[song.style]
    assert style.strength == "0:(0.35)" and style.noise == "0: (0.065)" and style.coherence == 1
    assert style.border == "clamp" and style.steps == 4 and setlist.seed == 0
    for comment in ("# diffusion_cadence: 2", "# seed_behavior: \"iter\"", "# cfg_scale_schedule",
                    "# hybrid_comp_alpha_schedule", "# max_frames: 120"):
        assert comment in text
    # the camera moves as Deforum's zoom schedule: 1.0025+0.002*sin(1.25*3.14*t/30) per frame
    director = director_for(out, 120, 15.0)
    for frame in (0, 7, 33, 119):
        params = director.frame_params(frame, frame / 15.0, Features())
        assert params.camera.zoom == pytest.approx(1.0025 + 0.002 * math.sin(1.25 * 3.14 * frame / 30))
    assert director.frame_params(60, 4.0, Features()).conditioning_to.negative_prompt == "photo, realistic, nsfw, nude"


def test_the_notebook_settings_3d_and_prompts_keyed_by_max_f(tmp_path: Path) -> None:
    out, text = import_deforum(NOTEBOOK, tmp_path / "nb.yaml")
    setlist = load_setlist(out)
    song = setlist.songs[0]
    assert song.camera.mode == "3d" and setlist.seed == 2401383296
    assert song.camera.rotation_3d_y == '0:(0), 100:(1.5), "max_f-1":(0)'
    assert (song.camera.fov, song.camera.near, song.camera.far) == ("0: (40)", "0: (200)", "0: (10000)")
    frames = [round(c.at * 15) for c in song.cues]
    assert frames == [50, 99, 150]                      # "max_f/2" with 200 frames: int(199 / 2)
    assert setlist.styles[song.cues[0].style].negative == "blurry"
    assert setlist.styles["deforum"].strength == "0:(0.35), 100:(0.5)"
    assert setlist.model_settings.sampler == "euler" and "# border: \"wrap\"" in text
    director = director_for(out, 200, 15.0)
    params = director.frame_params(199, 199 / 15, Features())
    assert params.camera.rotation_3d_y == 0.0          # the "max_f-1" key
    assert director.frame_params(5, 5 / 15, Features()).camera.translation_x == pytest.approx(
        10 * math.sin(2 * 3.14 * 5 / 10))


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def good_settings(**changes) -> dict:
    settings = json.loads(A1111.read_text())
    settings.update(changes)
    return settings


@pytest.mark.parametrize("name, content, message", [
    ("broken.txt", '{\n  "zoom": "0:(1)",\n  "fps": 15\n  "max_frames": 10\n}', "broken.txt:4: not JSON: Expecting ','"),
    ("list.txt", "[1, 2]", "list.txt:1: not a Deforum settings file: the JSON is a list"),
    ("other.json", '{"name": "x"}', "not a Deforum settings file: none of animation_prompts"),
    ("latin1.txt", b'{"zoom": "0:(1)", "prompts": {"0": "caf\xe9"}}', "latin1.txt:1: not UTF-8 text (byte 0xe9)"),
])
def test_bad_files_one_message_exit_2_nothing_written(tmp_path: Path, capsys, name, content, message) -> None:
    source = write(tmp_path, name, content)
    out = tmp_path / "out" / "set.yaml"
    assert main(["import", "deforum", str(source), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists() and not any(p.name.endswith(".partial") for p in tmp_path.rglob("*"))


def test_unknown_keys_and_bad_prompt_keys_name_their_line(tmp_path: Path, capsys) -> None:
    settings = good_settings(zoom_typo="0:(1)")
    source = write(tmp_path, "s.txt", json.dumps(settings, indent=4))
    line = source.read_text().splitlines().index('    "zoom_typo": "0:(1)"') + 1
    assert main(["import", "deforum", str(source), "-o", str(tmp_path / "a.yaml")]) == 2
    err = capsys.readouterr().err
    assert f"s.txt:{line}: zoom_typo: not a Deforum setting vj knows" in err and "--keep-unknown" in err
    assert not (tmp_path / "a.yaml").exists()
    assert main(["import", "deforum", str(source), "-o", str(tmp_path / "a.yaml"), "--keep-unknown"]) == 0
    assert '# zoom_typo: "0:(1)"  (not a Deforum setting vj knows)' in (tmp_path / "a.yaml").read_text()
    capsys.readouterr()

    settings = good_settings(prompts={"0": "a", "intro": "b"})
    source = write(tmp_path, "p.txt", json.dumps(settings, indent=4))
    line = source.read_text().splitlines().index('        "intro": "b"') + 1
    assert main(["import", "deforum", str(source), "-o", str(tmp_path / "b.yaml")]) == 2
    err = capsys.readouterr().err
    assert f"p.txt:{line}: prompts['intro']: a prompt's key must be a frame number" in err


def test_a_schedule_vj_cannot_read_is_reported_at_its_setting(tmp_path: Path, capsys) -> None:
    source = write(tmp_path, "z.txt", json.dumps(good_settings(zoom="0:(1.0), 10:(sinn(t))"), indent=4))
    line = source.read_text().splitlines().index('    "zoom": "0:(1.0), 10:(sinn(t))",') + 1
    assert main(["import", "deforum", str(source), "-o", str(tmp_path / "z.yaml")]) == 2
    err = capsys.readouterr().err
    assert f"z.txt:{line}: zoom: " in err and "unknown function 'sinn'" in err
    assert not (tmp_path / "z.yaml").exists()


def test_default_output_beside_the_settings(tmp_path: Path, capsys) -> None:
    source = write(tmp_path, "run_settings.txt", A1111.read_text())
    assert main(["import", "deforum", str(source), "--audio", "song.ogg"]) == 0
    written = tmp_path / "run_settings.yaml"
    assert load_setlist(written).songs[0].audio == "song.ogg"
    assert f"wrote {written}" in capsys.readouterr().out
