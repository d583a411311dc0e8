"""The tables in docs/osc.md and docs/midi.md, generated from the parameter table
(``vj.param_table``) so the docs cannot drift from the code.

    python -m vj.control.docs           rewrite the generated sections of docs/osc.md, docs/midi.md
    python -m vj.control.docs --check   exit 1 if they are stale (a test runs this)
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Sequence

from vj.control.mapping import builtin_mappings, resolve_mapping
from vj.control.params import ParamKind, ParamSpec, default_specs
from vj.param_table import ACTION_SPECS, PARAM, PARAMS, REACTIVITY_GAIN, ActionSpec, Combine, Param

DOCS = Path(__file__).resolve().parents[2] / "docs"
_SECTION = re.compile(r"(<!-- BEGIN GENERATED: (\w+) -->\n)(.*?)(<!-- END GENERATED: \2 -->)", re.S)


def _range(spec: ParamSpec) -> str:
    if spec.kind is ParamKind.BOOL:
        return "0 / 1"
    if spec.kind is ParamKind.TEXT:
        return "text"
    if spec.kind is ParamKind.CHOICE:
        return "a style name or index"
    lo, hi = spec.minimum, spec.maximum
    fmt = (lambda v: f"{int(v)}") if spec.kind is ParamKind.INT else (lambda v: f"{v:g}")
    return f"{fmt(lo)} … {fmt(hi)}" + (f" {spec.unit}" if spec.unit and spec.unit != "×" else "")


def _default(spec: ParamSpec) -> str:
    if spec.follows_setlist:
        return "setlist"
    if spec.kind is ParamKind.BOOL:
        return "1" if spec.default else "0"
    return f"{spec.default:g}" if isinstance(spec.default, (int, float)) else str(spec.default)


#: How each combine rule reads in the docs (``{}``: the target).
_COMBINES = {
    Combine.REPLACE: "replaces {}",
    Combine.ADD: "adds to {}",
    Combine.MULTIPLY: "multiplies {}",
    Combine.SPEED: "scales {}'s motion",
    Combine.AT_LEAST: "at least {}",
}


def _acts_on(spec: Param) -> str:
    if spec.target is not None and spec.combine in _COMBINES:
        return _COMBINES[spec.combine].format(f"`{spec.target}`")
    return spec.used_by or "–"


def _param_row(spec: ParamSpec) -> str:
    glide = f"{spec.smoothing_seconds:g} s" if spec.smoothing_seconds else "–"
    doc = spec.doc
    if spec.osc:
        doc += " Also at " + ", ".join(f"`{address}`" for address in spec.osc) + "."
    if spec.osc_second:
        doc += f" `/vj/{spec.name} <value> <x>` sets `{spec.osc_second}` to x first."
    doc = doc.replace("|", "\\|")
    return (f"| `{spec.name}` | {spec.kind.value} | {_range(spec)} | {_default(spec)} | {glide} | "
            f"{_acts_on(spec)} | {doc} |")


def params_table(specs: Sequence[Param] | None = None) -> str:
    """Markdown: one row per parameter (name, type, range, default, smoothing, what the director
    does with it, what it does), then the per-song ``gain_<mapping>`` row."""
    rows = ["| parameter | type | range | default | glide | acts on | what it does |",
            "|---|---|---|---|---|---|---|"]
    rows += [_param_row(spec) for spec in default_specs(PARAMS if specs is None else specs)]
    rows.append(_param_row(ParamSpec.of(REACTIVITY_GAIN)))
    return "\n".join(rows) + "\n"


def _addresses(spec: ActionSpec) -> str:
    """The action's OSC addresses (``/vj/<name>`` sets the parameter where one has the name)."""
    own = f"`/vj/{spec.name}`" + (" (the parameter)" if spec.name in PARAM else "")
    return ", ".join([own] + [f"`{address}`" for address in spec.osc])


def actions_table(specs: Sequence[ActionSpec] = ACTION_SPECS) -> str:
    rows = ["| action | value | OSC | what it does |", "|---|---|---|---|"]
    for spec in specs:
        rows.append(f"| `{spec.name}` | {spec.value} | {_addresses(spec)} | {spec.doc} |")
    return "\n".join(rows) + "\n"


def follows_setlist(specs: Sequence[Param] | None = None) -> str:
    """The sentence naming the parameters that follow the setlist."""
    names = ", ".join(f"`{spec.name}`" for spec in (PARAMS if specs is None else specs) if spec.follows_setlist)
    return (f"**Parameters that follow the setlist** ({names}) keep the cue's own values until a control "
            "sets them, and go back with `/vj/param/<name>/reset` (and when a new song starts).\n")


def mappings_table() -> str:
    rows = ["| name | controller | controls |", "|---|---|---|"]
    for name in builtin_mappings():
        mapping = resolve_mapping(name)
        rows.append(f"| `{name}` | {mapping.name} — {mapping.description} | {len(mapping.controls)} |")
    return "\n".join(rows) + "\n"


GENERATORS = {"params": params_table, "actions": actions_table, "mappings": mappings_table,
              "follows": follows_setlist}


def render(text: str) -> str:
    """``text`` with every generated section replaced by a fresh table."""
    def fill(match: re.Match) -> str:
        maker = GENERATORS.get(match.group(2))
        if maker is None:
            return match.group(0)
        return match.group(1) + maker() + match.group(4)
    return _SECTION.sub(fill, text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vj.control.docs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if the docs are stale, change nothing")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the docs folder")
    args = parser.parse_args(argv)
    stale = []
    for name in ("osc.md", "midi.md"):
        path = args.docs / name
        text = path.read_text(encoding="utf-8")
        fresh = render(text)
        if fresh != text:
            stale.append(str(path))
            if not args.check:
                path.write_text(fresh, encoding="utf-8")
    if stale:
        sys.stderr.write(("stale: " if args.check else "updated: ") + ", ".join(stale) + "\n")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
