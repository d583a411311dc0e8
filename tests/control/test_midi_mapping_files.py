"""Mapping files: the shipped layouts load, a saved mapping loads back, and every validation
error names the file and the line."""
from __future__ import annotations

from pathlib import Path

import pytest

from vj.control.mapping import (MappingEntry, MappingError, MidiMapping, builtin_mappings, load_mapping,
                                resolve_mapping, save_mapping)
from vj.control.params import ParamStore


def test_shipped_layouts_load_and_use_their_documented_numbers() -> None:
    assert builtin_mappings() == ["apc_mini", "launch_control_xl", "nanokontrol2"]
    nano = resolve_mapping("nanokontrol2")
    assert {e.cc for e in nano.controls if e.label and e.label.startswith("fader")} == set(range(0, 8))
    assert {e.cc for e in nano.controls if e.label and e.label.startswith("knob")} == set(range(16, 24))
    assert all(e.channel == 1 for e in nano.entries())
    apc = resolve_mapping("apc_mini")
    assert {e.cc for e in apc.controls if e.cc is not None} == set(range(48, 57))
    xl = resolve_mapping("launch_control_xl")
    assert {e.cc for e in xl.controls if e.label and e.label.startswith("fader")} == set(range(77, 85))
    assert all(e.channel == 9 for e in xl.entries())
    for mapping in (nano, apc, xl):  # no control bound twice on one channel
        keys = [(e.kind, e.number, e.channel) for e in mapping.entries()]
        assert len(keys) == len(set(keys)), mapping.name


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    mapping = MidiMapping(name="rig", channel=2, controls=[
        MappingEntry(cc=1, lsb=33, target="strength", curve="scurve"),
        MappingEntry(cc=16, target="hue_shift", mode="relative_binary_offset", step=0.005),
        MappingEntry(note=36, target="style", value="neon"),
        MappingEntry(program="any", target="song"),
        MappingEntry(pitchbend=True, target="angle_speed", range=(-1, 2), invert=True, takeover="jump"),
    ])
    path = save_mapping(mapping, tmp_path / "rig.yaml")
    loaded = load_mapping(path)
    assert loaded.controls == mapping.controls and loaded.channel == 2
    assert "curve: scurve" in path.read_text() and "takeover: pickup" not in path.read_text()


BAD = [
    ("controls:\n  - {cc: 1, target: strength}\n  - {cc: 2, target: strenght}\n", 3, "unknown target 'strenght'"),
    ("controls:\n  - cc: 1\n    target: strength\n    curve: wobbly\n", 4, "curve"),
    ("controls:\n  - cc: 200\n    target: strength\n", 2, "less than or equal to 127"),
    ("controls:\n  - {cc: 1, note: 3, target: tap}\n", 2, "exactly one of"),
    ("controls:\n  - {target: tap}\n", 2, "exactly one of"),
    ("controls:\n  - {note: 3, target: tap, colour: red}\n", 2, "unknown field 'colour'"),
    ("channel: 17\ncontrols: []\n", 1, "channel"),
    ("controls:\n  - {note: 3, target: tap, mode: relative_binary_offset}\n", 2, "for CC encoders"),
    ("controls:\n  - {cc: 3, target: prompt}\n", 2, "is text"),
    ("controls:\n  - {cc: 3, target: style, range: [0, 1]}\n", 2, "range is for number"),
    ("controls:\n  - {cc: 3, target: strength, range: [1, 1]}\n", 2, "two different values"),
    ("controls:\n  - {cc: 3, target: strength\n", 3, "malformed YAML"),
    ("- just a list\n", 1, "a mapping file is a mapping"),
]


@pytest.mark.parametrize("text, line, message", BAD)
def test_validation_errors_name_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    error = caught.value
    assert error.file == str(path)
    assert error.line == line, str(error)
    assert message in str(error)
    assert str(error).startswith(f"{path}:{line}:")


def test_gain_targets_and_store_specific_checks(tmp_path: Path) -> None:
    path = tmp_path / "gains.yaml"
    path.write_text("controls:\n  - {cc: 1, target: gain_kick_zoom}\n  - {cc: 2, target: my_effect}\n")
    with pytest.raises(MappingError, match="unknown target 'my_effect'"):
        load_mapping(path)
    from vj.control.params import ParamSpec

    store = ParamStore()
    store.add_specs([ParamSpec("my_effect", 0, 1, 0.5)])
    assert len(load_mapping(path, store).controls) == 2


def test_missing_file_and_unknown_builtin(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="file not found"):
        load_mapping(tmp_path / "nope.yaml")
    with pytest.raises(MappingError, match="no built-in mapping 'nope'"):
        resolve_mapping("nope")


def test_the_documented_mapping_example_loads(tmp_path) -> None:
    """docs/midi.md's example mapping loads and checks against the real parameter table."""
    import re

    docs = (Path(__file__).resolve().parents[2] / "docs" / "midi.md").read_text()
    path = tmp_path / "rig.yaml"
    path.write_text(re.search(r"```yaml\n(.*?)```", docs, re.DOTALL).group(1))
    mapping = load_mapping(path, ParamStore())
    assert len(mapping.controls) >= 10
