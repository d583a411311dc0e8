"""Setlist validation: every bad input names file, line and field."""
from __future__ import annotations

from pathlib import Path

import pytest

from vj.errors import SetlistError
from vj.setlist.prompts import parse_prompt, wrap_prompt
from vj.setlist.models import advance_rule, load_setlist

REPO = Path(__file__).resolve().parent.parent

GOOD = """\
title: test set
output: {width: 256, height: 128, fps: 12}
styles:
  calm:
    prefix: "a painting of "
    strength: 0.4
  loud:
    strength: "0:(0.5), 4b:(0.7)"
songs:
  - name: one
    audio: one.wav
    style: calm
    cues:
      - at: b5
        style: loud
        prompt: ["storm:0.7", "paper birds:0.3"]
      - at: bar 3
        sequence: [a, b, c]
        advance: 2 onsets
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "set.yaml"
    path.write_text(text)
    return path


def test_demo_setlist_loads() -> None:
    setlist = load_setlist(REPO / "setlists" / "demo.yaml")
    assert setlist.songs[0].name == "demo groove"
    assert setlist.audio_path(setlist.songs[0]) == REPO / "setlists" / "demo-track.ogg"
    assert set(setlist.styles) == {"nebula", "ink", "storm"}


def test_good_setlist(tmp_path: Path) -> None:
    setlist = load_setlist(write(tmp_path, GOOD))
    assert setlist.output.width == 256 and setlist.output.fps == 12
    song = setlist.song("ONE")
    assert song.cues[0].prompt == ["storm:0.7", "paper birds:0.3"]
    assert advance_rule(song.cues[1].advance) == (2.0, "onset")
    assert setlist.styles["loud"].strength == "0:(0.5), 4b:(0.7)"


@pytest.mark.parametrize("text, line, field, words", [
    (GOOD.replace("fps: 12", "fps: twelve"), 2, "output.fps", "number"),
    (GOOD.replace("    strength: 0.4\n", "    strenght: 0.4\n"), 6, "styles.calm.strenght", "unknown field"),
    (GOOD.replace("        style: loud\n", "        style: lound\n"), 15, "songs[0].cues[0].style", "unknown style 'lound'"),
    (GOOD.replace("advance: 2 onsets", "advance: sometimes"), 19, "songs[0].cues[1].advance", "advance rule"),
    (GOOD.replace("width: 256", "width: 250"), 2, "output.width", "multiple of 8"),
    (GOOD.replace("  - name: one\n", "  - nam: one\n"), 10, "songs[0].nam", "unknown field 'nam'"),
    (GOOD + "    bpm: -3\n", 20, "songs[0].bpm", "greater than"),
])
def test_bad_fields_are_located(tmp_path: Path, text: str, line: int, field: str, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SetlistError) as caught:
        load_setlist(path)
    error = caught.value
    assert error.file == str(path)
    assert error.line == line, str(error)
    assert error.field is not None and error.field.startswith(field), str(error)
    assert words in str(error)
    assert str(error).startswith(f"{path}:{line}:")


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "songs:\n  - name: a\n    audio: [unclosed\n")
    with pytest.raises(SetlistError) as caught:
        load_setlist(path)
    assert "malformed YAML" in str(caught.value)
    assert caught.value.line is not None and caught.value.line >= 3


def test_duplicate_key_and_empty_and_missing(tmp_path: Path) -> None:
    with pytest.raises(SetlistError, match="duplicate key 'title'"):
        load_setlist(write(tmp_path, "title: a\ntitle: b\nsongs: []\n"))
    with pytest.raises(SetlistError, match="empty"):
        load_setlist(write(tmp_path, ""))
    with pytest.raises(SetlistError, match="file not found"):
        load_setlist(tmp_path / "nope.yaml")
    with pytest.raises(SetlistError, match="songs"):
        load_setlist(write(tmp_path, "title: only a title\n"))


def test_unknown_song_lists_names(tmp_path: Path) -> None:
    setlist = load_setlist(write(tmp_path, GOOD))
    with pytest.raises(SetlistError, match="the setlist has: one"):
        setlist.song("two")


def test_weighted_prompts() -> None:
    assert parse_prompt("storm") == (("storm", 1.0),)
    assert parse_prompt(["storm:0.7", "paper birds:0.3"]) == (("storm", 0.7), ("paper birds", 0.3))
    assert parse_prompt("ratio 16:9 sky") == (("ratio 16:9 sky", 1.0),)
    with pytest.raises(ValueError):
        parse_prompt([])
    with pytest.raises(ValueError):
        parse_prompt("storm:-1")
    assert wrap_prompt((("x", 2.0),), "a ", " b") == (("a x b", 2.0),)


def test_the_documented_full_example_is_a_valid_setlist(tmp_path: Path) -> None:
    """docs/setlist.md's full example must load and compile (cues, schedules, expressions)."""
    import re

    from vj.grid import BeatGrid
    from vj.director.director import Director

    docs = (Path(__file__).resolve().parent.parent / "docs" / "setlist.md").read_text()
    example = re.search(r"```yaml\n(.*?)```", docs, re.DOTALL).group(1)
    path = tmp_path / "example.yaml"
    path.write_text(example)
    setlist = load_setlist(path)
    for song in setlist.songs:
        Director(setlist, song, BeatGrid(bpm=song.bpm or 120.0, offset=0.0, beats_per_bar=song.meter),
                 setlist.output.fps, duration=60.0)


def test_the_setlist_models_name_the_parameter_tables_numbers() -> None:
    """Camera, Style and Post fields are the table's scheduled frame values (vj.param_table), with
    the same defaults; the setlist's bpm and seed ranges are the parameters' own."""
    from vj.param_table import FRAME_VALUES, PARAM
    from vj.setlist.models import CAMERA_FIELDS, POST_FIELDS, STYLE_NUMBER_FIELDS, Camera, Cue, Post, Song, Style

    models = {"camera": Camera(), "frame": Style(), "style": Style(), "post": Post()}
    for value in FRAME_VALUES:
        if not value.scheduled:
            continue
        model = models[value.part]
        assert value.name in type(model).model_fields, (value.part, value.name)
        assert getattr(model, value.name) == value.default, value.name
    numbers = {name for name, info in Camera.model_fields.items() if info.annotation is not str
               and name not in ("mode", "interpolation", "depth")}
    assert numbers == set(CAMERA_FIELDS)
    assert set(Post.model_fields) == set(POST_FIELDS)
    assert set(STYLE_NUMBER_FIELDS) <= set(Style.model_fields)

    bpm, seed = PARAM["bpm"], PARAM["seed"]
    with pytest.raises(ValueError):
        Song(name="x", bpm=bpm.minimum)
    with pytest.raises(ValueError):
        Song(name="x", bpm=bpm.maximum)
    assert Song(name="x", bpm=(bpm.minimum + bpm.maximum) / 2).bpm is not None
    for model in (Style, Cue):
        extra = {"at": 0} if model is Cue else {}
        assert model(seed=seed.maximum, **extra).seed == seed.maximum
        with pytest.raises(ValueError):
            model(seed=seed.maximum + 1, **extra)
