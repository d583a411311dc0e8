"""MIDI mapping files: YAML → validated models, errors naming file and line.

A mapping binds controls (CC, note, program change, pitch bend) to targets (parameters, actions,
``next_style``…) with range, curve, invert, relative-encoder mode, 14-bit pairs and soft takeover.
Format: docs/midi.md. Shipped layouts live in ``vj/control/mappings/`` (``builtin_mapping``).
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vj.control.params import ParamKind, ParamStore, default_specs
from vj.control.router import is_target
from vj.param_table import ACTIONS, STEP_TARGETS
from vj.errors import LocatedError, SetlistError
from vj.setlist.source import format_path, line_for, load_yaml_with_lines, validation_error

Curve = Literal["linear", "exponential", "logarithmic", "scurve"]
Mode = Literal["absolute", "relative_twos_complement", "relative_binary_offset", "relative_sign_magnitude",
               "toggle", "momentary", "trigger"]
RELATIVE_MODES = ("relative_twos_complement", "relative_binary_offset", "relative_sign_magnitude")


class MappingError(LocatedError):
    """A MIDI mapping file problem."""

    nameless = "<mapping>"


class MappingEntry(BaseModel):
    """One control → one target. Exactly one of cc, note, program, pitchbend.

    channel:  1..16 (as printed on controllers), or omitted: the file's channel, else any.
    value:    a fixed value to set (a note that selects a style, a program that picks a song).
    range:    [low, high] in the target's units (default: the parameter's whole range).
    step:     relative modes: share of the range per encoder tick.
    lsb:      14-bit CC: the LSB controller (usually cc + 32); the MSB is ``cc``.
    takeover: 'pickup' (soft takeover: a knob acts once it passes the current value) or 'jump'.
    """

    model_config = ConfigDict(extra="forbid")

    cc: int | None = Field(None, ge=0, le=127)
    note: int | None = Field(None, ge=0, le=127)
    program: Union[int, Literal["any"], None] = None
    pitchbend: bool | None = None
    channel: int | None = Field(None, ge=1, le=16)
    target: str
    value: Union[float, int, str, bool, None] = None
    range: tuple[float, float] | None = None
    curve: Curve = "linear"
    invert: bool = False
    mode: Mode | None = None
    step: float = Field(0.01, gt=0, le=1)
    lsb: int | None = Field(None, ge=0, le=127)
    takeover: Literal["pickup", "jump"] = "pickup"
    label: str | None = None

    @model_validator(mode="after")
    def _one_control(self) -> "MappingEntry":
        given = [name for name in ("cc", "note", "program") if getattr(self, name) is not None]
        if self.pitchbend:
            given.append("pitchbend")
        if len(given) != 1:
            raise ValueError("give exactly one of cc, note, program, pitchbend"
                             + (f" (got {', '.join(given)})" if given else ""))
        if isinstance(self.program, int) and not 0 <= self.program <= 127:
            raise ValueError(f"program must be 0..127 or 'any' (got {self.program})")
        if self.lsb is not None and self.cc is None:
            raise ValueError("lsb (14-bit pair) needs cc")
        if self.lsb is not None and self.lsb == self.cc:
            raise ValueError("lsb must differ from cc")
        if self.mode in RELATIVE_MODES and self.cc is None:
            raise ValueError(f"mode {self.mode} is for CC encoders")
        if self.range is not None and self.range[0] == self.range[1]:
            raise ValueError("range needs two different values")
        return self

    @property
    def kind(self) -> str:
        if self.cc is not None:
            return "cc"
        if self.note is not None:
            return "note"
        if self.program is not None:
            return "program"
        return "pitchbend"

    @property
    def number(self) -> int | None:
        """The CC or note number (None for pitch bend and 'any' program)."""
        if self.cc is not None:
            return self.cc
        if self.note is not None:
            return self.note
        return self.program if isinstance(self.program, int) else None

    def describe(self) -> str:
        channel = f" ch{self.channel}" if self.channel else ""
        number = "" if self.number is None else f" {self.number}"
        extra = f"+{self.lsb}" if self.lsb is not None else ""
        return f"{self.kind}{number}{extra}{channel} → {self.target}"


class MidiMapping(BaseModel):
    """A controller layout: its name, the ports it is meant for, a default channel, the controls."""

    model_config = ConfigDict(extra="forbid")

    name: str = "custom"
    description: str = ""
    ports: list[str] = Field(default_factory=list)
    channel: int | None = Field(None, ge=1, le=16)
    controls: list[MappingEntry] = Field(default_factory=list)

    # Not part of the YAML: where it came from.
    source_path: Path | None = Field(default=None, exclude=True)

    def entries(self) -> list[MappingEntry]:
        """The controls with the file's channel filled in where a control names none."""
        if self.channel is None:
            return list(self.controls)
        return [entry if entry.channel is not None else entry.model_copy(update={"channel": self.channel})
                for entry in self.controls]


def _check_targets(mapping: MidiMapping, store: ParamStore | None, path: Path, lines: dict) -> None:
    specs = store.specs if store is not None else {spec.name: spec for spec in default_specs()}
    for i, entry in enumerate(mapping.controls):
        where = ("controls", i, "target")
        name = entry.target
        if not is_target(name, specs):
            choices = sorted(set(specs) | set(ACTIONS) | set(STEP_TARGETS))
            raise MappingError(f"unknown target '{name}'; use a parameter or action: {', '.join(choices)}",
                               file=str(path), line=line_for(lines, where), field=format_path(where))
        spec = specs.get(name)
        if spec is not None and entry.range is not None and not spec.numeric:
            where = ("controls", i, "range")
            raise MappingError(f"range is for number parameters; '{name}' is {spec.kind.value}",
                               file=str(path), line=line_for(lines, where), field=format_path(where))
        if spec is not None and spec.kind is ParamKind.TEXT:
            raise MappingError(f"'{name}' is text: a MIDI control cannot set it", file=str(path),
                               line=line_for(lines, where), field=format_path(where))


def load_mapping(path: str | Path, store: ParamStore | None = None) -> MidiMapping:
    """Read and validate a mapping file. Raises MappingError naming file, line and field."""
    path = Path(path)
    try:
        data, lines = load_yaml_with_lines(path)
    except SetlistError as exc:  # same YAML reader as setlists; re-badge its error
        raise MappingError(exc.message, file=exc.file, line=exc.line, field=exc.field) from None
    if not isinstance(data, dict):
        raise MappingError("a mapping file is a mapping with 'controls:' (and optional name, ports, channel)",
                           file=str(path), line=1)
    try:
        mapping = MidiMapping.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, path, lines, MappingError) from None
    _check_targets(mapping, store, path, lines)
    mapping.source_path = path
    return mapping


def dump_mapping(mapping: MidiMapping) -> str:
    """YAML text of a mapping (defaults left out, so a learned file stays short)."""
    data = mapping.model_dump(exclude_defaults=True, exclude={"source_path"})
    data["controls"] = [entry.model_dump(exclude_defaults=True) for entry in mapping.controls]
    for entry in data["controls"]:
        if "range" in entry:
            entry["range"] = list(entry["range"])
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def save_mapping(mapping: MidiMapping, path: str | Path) -> Path:
    """Write ``mapping`` to ``path`` atomically (a crash mid-write keeps the old file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(dump_mapping(mapping), encoding="utf-8")
    temporary.replace(path)
    return path


def builtin_mappings() -> list[str]:
    """Names of the shipped controller layouts (``nanokontrol2``, ``apc_mini``, ``launch_control_xl``)."""
    folder = resources.files("vj.control") / "mappings"
    return sorted(item.name[:-5] for item in folder.iterdir() if item.name.endswith(".yaml"))


def builtin_mapping_path(name: str) -> Path:
    folder = resources.files("vj.control") / "mappings"
    candidate = folder / f"{name}.yaml"
    if not candidate.is_file():
        raise MappingError(f"no built-in mapping '{name}'; known: {', '.join(builtin_mappings())}")
    return Path(str(candidate))


def resolve_mapping(name_or_path: str | Path, store: ParamStore | None = None) -> MidiMapping:
    """A mapping file path, or the name of a built-in layout."""
    path = Path(name_or_path)
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        return load_mapping(path, store)
    return load_mapping(builtin_mapping_path(str(name_or_path)), store)


__all__ = ["MidiMapping", "MappingEntry", "MappingError", "load_mapping", "save_mapping", "dump_mapping",
           "builtin_mappings", "builtin_mapping_path", "resolve_mapping", "RELATIVE_MODES"]
