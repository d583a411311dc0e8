"""YAML loading that remembers where each value came from, so errors can name a line.

PyYAML's composer keeps a start mark on every node; we build plain Python data from the node
tree and, beside it, a map from each value's path (``("songs", 0, "cues", 2, "at")``) to its line.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from vj.errors import LocatedError, SetlistError

if TYPE_CHECKING:
    from pydantic import ValidationError

PathKey = tuple[Any, ...]

#: The most values aliases may add to a file (beyond the file's own nodes). An alias is a
#: reference, so nested aliases multiply: nine levels of nine aliases in 400 bytes come to 387
#: million values. Real files repeat a block a few times; this bound is far above that.
MAX_ALIAS_VALUES = 100_000

_MERGE_TAG = "tag:yaml.org,2002:merge"


def load_yaml_with_lines(path: Path) -> tuple[Any, dict[PathKey, int]]:
    """Parse ``path``; return (data, {path tuple: 1-based line}). Raises SetlistError on bad YAML."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SetlistError("file not found", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SetlistError(f"cannot read the file: {exc}", file=str(path)) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "malformed YAML"
        raise SetlistError(f"malformed YAML: {problem}", file=str(path), line=line) from None
    except yaml.YAMLError as exc:
        raise SetlistError(f"malformed YAML: {exc}", file=str(path)) from None
    if node is None:
        raise SetlistError("the file is empty", file=str(path), line=1)
    lines: dict[PathKey, int] = {}
    data = _Builder(path, lines).build(node, (), node.start_mark.line + 1)
    return data, lines


class _Builder:
    """Plain data from a composed node tree. The composer turns an alias into the anchored node
    itself, so a node met a second time is an alias: its values count against MAX_ALIAS_VALUES,
    and one met inside itself (``&a [*a]``) is refused."""

    def __init__(self, path: Path, lines: dict[PathKey, int]) -> None:
        self.path, self.lines = path, lines
        self.seen: set[int] = set()
        self.open: set[int] = set()
        self.alias_values = 0

    def build(self, node: yaml.Node, where: PathKey, place: int, aliased: bool = False) -> Any:
        """``place``: the line to blame for an alias here (its node knows only the anchor's)."""
        if id(node) in self.open:
            raise SetlistError("an alias refers to the block it is in", file=str(self.path), line=place)
        aliased = aliased or id(node) in self.seen
        self.seen.add(id(node))
        if aliased:
            self.alias_values += 1
            if self.alias_values > MAX_ALIAS_VALUES:
                raise SetlistError(f"aliases expand to more than {MAX_ALIAS_VALUES:,} values "
                                   "(an alias bomb?)", file=str(self.path), line=place)
        self.lines[where] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            self.open.add(id(node))
            result: dict[Any, Any] = {}
            merged: dict[Any, Any] = {}
            merged_lines: dict[PathKey, int] = {}
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                if key_node.tag == _MERGE_TAG:
                    self._merge(value_node, where, place if aliased else key_line, aliased,
                                merged, merged_lines)
                    continue
                key = _scalar(key_node, self.path)
                if key in result:
                    raise SetlistError(f"duplicate key '{key}'", file=str(self.path), line=key_line)
                child = where + (key,)
                result[key] = self.build(value_node, child, place if aliased else key_line, aliased)
                self.lines[child] = key_line
            self.open.discard(id(node))
            if merged:  # the mapping's own keys win over merged ones
                self.lines.update((at, line) for at, line in merged_lines.items()
                                  if at[len(where)] not in result)
                result = {**{k: v for k, v in merged.items() if k not in result}, **result}
            return result
        if isinstance(node, yaml.SequenceNode):
            self.open.add(id(node))
            if not aliased:
                place = node.start_mark.line + 1
            items = [self.build(item, where + (i,), place, aliased) for i, item in enumerate(node.value)]
            self.open.discard(id(node))
            return items
        return _scalar(node, self.path)

    def _merge(self, node: yaml.Node, where: PathKey, place: int, aliased: bool,
               merged: dict[Any, Any], merged_lines: dict[PathKey, int]) -> None:
        """``<<: *base`` or ``<<: [*a, *b]``: the keys of those mappings (an earlier one wins)."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                raise SetlistError("'<<' merges a mapping or a list of mappings", file=str(self.path),
                                   line=place)
            own_lines, self.lines = self.lines, {}
            try:
                values = self.build(source, where, place, aliased)
                found = self.lines
            finally:
                self.lines = own_lines
            for key, value in values.items():
                if key not in merged:
                    merged[key] = value
                    merged_lines.update((at, line) for at, line in found.items()
                                        if len(at) > len(where) and at[len(where)] == key)


def _scalar(node: yaml.Node, path: Path) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise SetlistError("a mapping key must be a plain value", file=str(path),
                           line=node.start_mark.line + 1)
    constructor = yaml.SafeLoader(" ")
    try:
        return constructor.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError) as exc:  # an unknown tag (!thing), or !!int abc
        problem = getattr(exc, "problem", None) or str(exc)
        raise SetlistError(f"cannot read the value {node.value!r}: {problem}", file=str(path),
                           line=node.start_mark.line + 1) from None
    finally:
        constructor.dispose()


def line_for(lines: dict[PathKey, int], where: PathKey) -> int | None:
    """The line of ``where`` or of its nearest ancestor that has one."""
    for cut in range(len(where), -1, -1):
        line = lines.get(tuple(where[:cut]))
        if line is not None:
            return line
    return None


def format_path(where: PathKey) -> str:
    """("songs", 0, "cues", 2, "at") -> "songs[0].cues[2].at"."""
    text = ""
    for part in where:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


#: Parts of a pydantic error location that name a union member, not a field.
_UNION_TAGS = ("int", "str", "float", "bool", "none", "literal['any']")


def validation_error(exc: "ValidationError", path: Path, lines: dict[PathKey, int],
                     error: type[LocatedError] = SetlistError) -> LocatedError:
    """One located ``error`` for a pydantic ValidationError of a YAML file: its first problem, by
    file, line and field, in words for people (and how many more there are)."""
    # A typo shows up both as an unknown field and as a missing one: name the typo first.
    first = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
    where = tuple(part for part in first["loc"]
                  if not (isinstance(part, str) and ("[" in part or part in _UNION_TAGS)))
    kind, message = first["type"], first["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        message = f"unknown field '{where[-1]}'"
    elif kind == "missing":
        message = f"missing required field '{where[-1]}'"
    elif first.get("input") is not None and kind != "value_error":
        shown = repr(first["input"])
        if len(shown) < 60:
            message += f" (got {shown})"
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return error(message, file=str(path), line=line_for(lines, where), field=format_path(where))
