"""The line-tracking YAML reader: anchors, aliases and merge keys load; alias bombs, self-referring
aliases and unreadable tags are refused with the file and line named."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml

from vj.control.mapping import MappingError, load_mapping
from vj.errors import SetlistError
from vj.setlist.models import load_setlist
from vj.setlist.source import load_yaml_with_lines


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """``levels`` nested levels of ``width`` aliases each: width**levels values in under 400 bytes."""
    names = "abcdefghijklmnopqrstuvwxyz"
    lines = [f"{names[0]}: &{names[0]} [" + ",".join(["lol"] * width) + "]"]
    for level in range(1, levels):
        lines.append(f"{names[level]}: &{names[level]} [" + ",".join([f"*{names[level - 1]}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_anchors_and_aliases_load(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text("base: &base {x: 1, y: [2, 3]}\n"
                    "copy: *base\n"
                    "many: [*base, *base]\n")
    data, lines = load_yaml_with_lines(path)
    assert data["copy"] == data["base"] == {"x": 1, "y": [2, 3]}
    assert data["many"] == [data["base"]] * 2
    assert data["copy"] is not data["base"]            # plain data: no shared objects
    assert lines[("copy",)] == 2 and lines[("many",)] == 3


MERGED_STYLES = """\
title: merged
styles:
  calm: &calm
    prefix: "a painting of "
    strength: 0.4
  loud:
    <<: *calm
    strength: 0.8
    guidance: 2
songs:
  - {name: one, audio: one.wav, style: loud}
"""


def test_merge_keys_load_as_pyyaml_does(tmp_path: Path) -> None:
    path = tmp_path / "set.yaml"
    path.write_text(MERGED_STYLES)
    setlist = load_setlist(path)
    loud = setlist.styles["loud"]
    assert (loud.prefix, loud.strength, loud.guidance) == ("a painting of ", 0.8, 2)
    assert setlist.styles["calm"].strength == 0.4
    text = ("a: &a {x: 1, y: {p: 1}}\nb: &b {x: 2, z: 3}\n"
            "c:\n  y: 9\n  <<: [*a, *b]\n")                 # an earlier merge wins; own keys win
    path.write_text(text)
    data, lines = load_yaml_with_lines(path)
    assert data == yaml.safe_load(text) and data["c"] == {"x": 1, "y": 9, "z": 3}
    assert lines[("c", "y")] == 4 and lines[("c", "x")] == 1 and lines[("c", "z")] == 2
    path.write_text(MERGED_STYLES.replace("    strength: 0.8\n", "    strenght: 0.8\n"))
    with pytest.raises(SetlistError, match="unknown field 'strenght'") as caught:
        load_setlist(path)
    assert caught.value.line == 8


@pytest.mark.parametrize("text, line, words", [
    ("a: &a [1]\nb: {<<: *a}\n", 2, "'<<' merges a mapping"),
    ("a: &a {<<: *a}\n", 1, "alias refers to the block it is in"),
    ("title: !thing x\n", 1, "could not determine a constructor for the tag '!thing'"),
    ("title: !!int abc\n", 1, "cannot read the value 'abc'"),
])
def test_bad_merges_and_tags_are_located(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = tmp_path / "set.yaml"
    path.write_text(text)
    with pytest.raises(SetlistError, match=re.escape(words)) as caught:
        load_yaml_with_lines(path)
    assert (caught.value.file, caught.value.line) == (str(path), line)


def test_an_alias_bomb_is_refused_quickly_with_the_file_named(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    assert len(path.read_bytes()) < 400
    started = time.monotonic()
    with pytest.raises(SetlistError, match="alias") as caught:
        load_setlist(path)
    assert time.monotonic() - started < 15                # a hang would take minutes (and gigabytes)
    assert caught.value.file == str(path) and caught.value.line is not None
    assert str(path) in str(caught.value)


def test_a_modest_fan_out_of_aliases_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "fan.yaml"
    path.write_text(alias_bomb(levels=4, width=9))       # 9**4 = 6,561 values: fine
    data, _ = load_yaml_with_lines(path)
    assert len(data["d"]) == 9 and data["d"][8][8][8] == ["lol"] * 9


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("title: x\nsongs: &s [1, *s]\n")
    with pytest.raises(SetlistError, match="alias refers to the block it is in") as caught:
        load_setlist(path)
    assert caught.value.line == 2


def test_an_alias_bomb_mapping_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb-map.yaml"
    path.write_text(alias_bomb())
    with pytest.raises(MappingError, match="alias") as caught:
        load_mapping(path)
    assert caught.value.file == str(path)
