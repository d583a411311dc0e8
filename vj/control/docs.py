"""The tables in docs/osc.md and docs/midi.md, generated from the parameter and action tables so
the docs cannot drift from the code.

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
from vj.control.params import ACTIONS, ParamKind, ParamSpec, default_specs
from vj.control.router import STEP_TARGETS

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


def params_table(specs: Sequence[ParamSpec] | None = None) -> str:
    """Markdown: one row per parameter (name, type, range, default, smoothing, what it does)."""
    rows = ["| parameter | type | range | default | glide | what it does |",
            "|---|---|---|---|---|---|"]
    for spec in specs or default_specs():
        glide = f"{spec.smoothing_seconds:g} s" if spec.smoothing_seconds else "–"
        doc = spec.doc.replace("|", "\\|")
        rows.append(f"| `{spec.name}` | {spec.kind.value} | {_range(spec)} | {_default(spec)} | {glide} | {doc} |")
    rows.append("| `gain_<mapping>` | float | 0 … 2 | 1 | 0.05 s | Gain of one reactivity mapping of the "
                "current song (its `name:`, or `<source>_<target>_<index>`). |")
    return "\n".join(rows) + "\n"


def actions_table() -> str:
    rows = ["| action | value | what it does |", "|---|---|---|"]
    for name, doc in ACTIONS.items():
        value = "N / name" if name in ("cue", "song") else "BPM" if name == "bpm" else ""
        rows.append(f"| `{name}` | {value} | {doc} |")
    for name, (param, step) in STEP_TARGETS.items():
        rows.append(f"| `{name}` | | steps `{param}` {'forward' if step > 0 else 'back'} (wraps) |")
    return "\n".join(rows) + "\n"


def mappings_table() -> str:
    rows = ["| name | controller | controls |", "|---|---|---|"]
    for name in builtin_mappings():
        mapping = resolve_mapping(name)
        rows.append(f"| `{name}` | {mapping.name} — {mapping.description} | {len(mapping.controls)} |")
    return "\n".join(rows) + "\n"


GENERATORS = {"params": params_table, "actions": actions_table, "mappings": mappings_table}


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
