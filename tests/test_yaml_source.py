"""The line-tracking YAML reader: anchors and aliases load, alias bombs and self-referring aliases
are refused with the file and line named."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from vj.control.mapping import MappingError, load_mapping
from vj.errors import SetlistError
from vj.setlist import load_setlist
from vj.yaml_source import load_yaml_with_lines


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
