"""The parameter table (vj.param_table): consistent with itself and with the dataclasses it
names, and adding a parameter is one entry: the store, OSC, MIDI, the docs and the director all
take it from there."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from vj.grid import BeatGrid
from vj.control.docs import params_table
from vj.control.mapping import MappingError, load_mapping
from vj.control.params import ParamSpec, ParamStore, default_specs
from vj.control.router import ControlRouter, is_target
from vj.director.director import Director
from vj.features import Features
from vj.frame_params import CameraMotion, FrameParams, PostSettings
from vj.param_table import (ACTION_SPECS, FRAME_VALUE, FRAME_VALUES, PARAMS, STEP_TARGETS, Combine, Param,
                            ParamKind, PerFrame)
from vj.setlist.models import load_setlist


def _defaults(cls: type) -> dict[str, object]:
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


def test_names_are_unique_and_references_resolve() -> None:
    names = [p.name for p in PARAMS]
    assert len(names) == len(set(names))
    actions = [a.name for a in ACTION_SPECS]
    assert len(actions) == len(set(actions))
    assert len(FRAME_VALUES) == len(FRAME_VALUE)
    params = set(names)
    assert not params & set(STEP_TARGETS)
    for step, (param, _) in STEP_TARGETS.items():
        assert param in params, step
    for p in PARAMS:
        assert p.doc, p.name
        assert p.osc_second is None or p.osc_second in params, p.name
        assert p.action is None or p.action in actions, p.name
        assert all(address.startswith("/") for address in p.osc), p.name


def test_every_parameter_says_how_it_is_used() -> None:
    """A parameter either acts on a frame value by a combine rule, or names who reads it."""
    for p in PARAMS:
        if p.combine is Combine.NONE:
            assert p.target is None and p.used_by, p.name
            continue
        assert p.target in FRAME_VALUE, p.name
        assert p.kind in (ParamKind.FLOAT, ParamKind.INT, ParamKind.BOOL), p.name
        if p.combine is Combine.SPEED:
            assert FRAME_VALUE[p.target].per_frame is not PerFrame.NONE, f"{p.name}: speed of a state"


def test_frame_values_are_the_dataclasses_fields() -> None:
    """Every camera / post / frame value names a CameraMotion / PostSettings / FrameParams field with
    the same default, and every number of those dataclasses is in the table."""
    classes = {"camera": CameraMotion, "post": PostSettings, "frame": FrameParams}
    for part, cls in classes.items():
        defaults = _defaults(cls)
        values = [v for v in FRAME_VALUES if v.part == part]
        for value in values:
            assert value.name in defaults, (part, value.name)
            assert defaults[value.name] == value.default, (part, value.name)
        if part != "frame":
            numbers = {name for name, default in defaults.items() if isinstance(default, (int, float))}
            assert numbers == {v.name for v in values}, part
    for value in FRAME_VALUES:
        assert value.part in ("camera", "frame", "style", "post", "cue"), value.name
        assert bool(value.space) == (value.part == "camera"), value.name
        assert value.per_frame is PerFrame.NONE or value.part == "camera", value.name


def test_per_frame_scaling_for_a_step_of_several_frames() -> None:
    """What a loop needs to rescale a frame's camera motion to a step of n frames."""
    assert FRAME_VALUE["zoom"].over_frames(1.02, 3) == pytest.approx(1.02 ** 3)
    assert FRAME_VALUE["angle"].over_frames(1.5, 2.5) == pytest.approx(3.75)
    assert FRAME_VALUE["rotation_3d_y"].over_frames(-2.0, 2) == -4.0
    assert FRAME_VALUE["fov"].over_frames(40.0, 3) == 40.0
    camera = CameraMotion(zoom=1.1, angle=2.0, translation_x=3.0, fov=50.0)
    stepped = {v.name: v.over_frames(getattr(camera, v.name), 2) for v in FRAME_VALUES if v.part == "camera"}
    assert stepped["zoom"] == pytest.approx(1.21) and stepped["angle"] == 4.0
    assert stepped["translation_x"] == 6.0 and stepped["fov"] == 50.0


def test_every_parameter_is_reachable_over_osc() -> None:
    store = ParamStore()
    store.configure_choices("style", ["neon", "ink"])
    router = ControlRouter(store)
    for name in store.specs:
        store.set(name, "neon" if name == "style" else "x" if name == "prompt" else 1)
        assert router.osc(f"/vj/param/{name}/reset", []) is True, name
        assert not store.is_set(name), name


SET = """\
styles:
  calm: {prefix: "calm ", strength: 0.4, post: {hue_shift: 10.0}}
songs:
  - name: one
    style: calm
    prompt: intro
"""


def test_adding_a_parameter_is_one_entry(tmp_path: Path) -> None:
    """One new row, and nothing else: the store has it, OSC sets it, a MIDI mapping may name it,
    the docs list it, and the director applies it by its combine rule."""
    row = Param("hue_drift", -90, 90, 0.0, smoothing_seconds=0.0, unit="°", group="post", target="hue_shift",
                combine=Combine.ADD, doc="Added to the style's hue shift, on top of `hue_shift`.")
    table = PARAMS + (row,)

    store = ParamStore(table)
    assert isinstance(store.spec("hue_drift"), ParamSpec) and store.snapshot()["hue_drift"] == 0.0
    assert "hue_drift" not in ParamStore()                     # the default table does not have it

    router = ControlRouter(store)
    assert router.osc("/vj/param/hue_drift", [120.0]) is True  # clamped to its range
    assert store.value("hue_drift") == 90.0
    assert router.osc("/vj/param/hue_drift/normalized", [0.75]) is True
    assert store.value("hue_drift") == pytest.approx(45.0)
    assert router.osc("/vj/hue_drift", ["+", 5]) is True
    assert store.value("hue_drift") == pytest.approx(50.0)

    mapping = tmp_path / "rig.yaml"
    mapping.write_text("controls:\n  - {cc: 3, target: hue_drift, range: [-45, 45]}\n")
    assert load_mapping(mapping, store).controls[0].target == "hue_drift"
    assert is_target("hue_drift", store)                         # what MIDI learn checks
    with pytest.raises(MappingError, match="unknown target 'hue_drift'"):
        load_mapping(mapping)                                    # not in the default table

    doc = params_table(default_specs(table))
    assert "| `hue_drift` | float | -90 … 90 ° | 0 | – | adds to `hue_shift` | Added to the style's" in doc

    path = tmp_path / "set.yaml"
    path.write_text(SET)
    setlist = load_setlist(path)
    grid = BeatGrid(bpm=120.0, offset=0.0, beats_per_bar=4)
    controls = store.snapshot()
    with_row = Director(setlist, setlist.songs[0], grid, 10.0, params=table)
    without = Director(setlist, setlist.songs[0], grid, 10.0)
    assert with_row.frame_params(0, 0.0, Features(), controls).post.hue_shift == pytest.approx(10.0 + 50.0)
    assert without.frame_params(0, 0.0, Features(), controls).post.hue_shift == pytest.approx(10.0)


def test_a_row_acting_on_an_unknown_frame_value_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "set.yaml"
    path.write_text(SET)
    setlist = load_setlist(path)
    row = Param("sharpen", target="sharpness", combine=Combine.REPLACE, doc="no such frame value")
    with pytest.raises(ValueError, match="no frame value 'sharpness'"):
        Director(setlist, setlist.songs[0], BeatGrid(bpm=120.0, offset=0.0, beats_per_bar=4), 10.0,
                 params=PARAMS + (row,))
