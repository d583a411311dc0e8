"""Cue times and durations as musicians write them: seconds, m:ss.s, beats and bars.

Cue times count like musicians do, from 1: ``bar 1`` and ``b1`` are the start of the grid,
``bar 9`` == ``b33`` in 4/4. Durations are lengths: ``2b``, ``1 bar``, ``1.5s``, or seconds.
(Keyframe keys in schedules count elapsed beats from 0 instead: ``32b`` == ``bar 9``.)
"""
from __future__ import annotations

import re

from vj.grid import Grid


_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_SECONDS = re.compile(rf"^{_NUMBER}\s*(?:s|sec|secs|seconds?)?$")
_MINUTES = re.compile(r"^(\d+):(\d{1,2}(?:\.\d*)?)$")
_BEAT = re.compile(rf"^(?:b|beat\s*){_NUMBER}$")
_BAR = re.compile(rf"^(?:bar\s*){_NUMBER}(?:\s*(?:beat|b)\s*{_NUMBER})?$")
_LENGTH = re.compile(rf"^{_NUMBER}\s*(s|sec|secs|seconds?|b|beats?|bars?)?$")


def parse_cue_time(value: str | float | int, grid: Grid) -> float:
    """A cue's start in seconds. Raises ValueError with the accepted forms on a bad string."""
    if isinstance(value, bool):
        raise ValueError(f"'{value}' is not a time")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"a cue time cannot be negative (got {value})")
        return float(value)
    text = value.strip().lower()
    if match := _SECONDS.match(text):
        return float(match.group(1))
    if match := _MINUTES.match(text):
        seconds = float(match.group(2))
        if seconds >= 60:
            raise ValueError(f"'{value}': seconds must be under 60 in m:ss form")
        return int(match.group(1)) * 60 + seconds
    if match := _BEAT.match(text):
        beat = float(match.group(1))
        if beat < 1:
            raise ValueError(f"'{value}': beats count from b1")
        return grid.time_of_beat(beat - 1)
    if match := _BAR.match(text):
        bar = float(match.group(1))
        beat_in_bar = float(match.group(2)) if match.group(2) else 1.0
        if bar < 1 or beat_in_bar < 1:
            raise ValueError(f"'{value}': bars and beats count from 1")
        return grid.time_of_beat((bar - 1) * grid.beats_per_bar + beat_in_bar - 1)
    raise ValueError(f"'{value}' is not a time; write seconds (12.5), m:ss.s (1:05.5), a beat (b33) or a bar (bar 9)")


def parse_length(value: str | float | int, grid: Grid) -> float:
    """A duration in seconds from ``2b``, ``1 bar``, ``1.5s`` or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"'{value}' is not a length")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"a length cannot be negative (got {value})")
        return float(value)
    text = value.strip().lower()
    match = _LENGTH.match(text)
    if not match:
        raise ValueError(f"'{value}' is not a length; write seconds (1.5s), beats (2b) or bars (1 bar)")
    amount = float(match.group(1))
    unit = (match.group(2) or "s")
    if unit.startswith("bar"):
        return amount * grid.beats_per_bar * grid.seconds_per_beat
    if unit.startswith("b"):
        return amount * grid.seconds_per_beat
    return amount


def format_time(seconds: float) -> str:
    """12.3 -> '0:12.3'."""
    minutes = int(seconds // 60)
    return f"{minutes}:{seconds - 60 * minutes:04.1f}"
