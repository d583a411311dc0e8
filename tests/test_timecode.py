from __future__ import annotations

import pytest

from vj.grid import BeatGrid
from vj.setlist.timecode import format_time, parse_cue_time, parse_length

GRID = BeatGrid(bpm=120.0, offset=0.25, beats_per_bar=4)


@pytest.mark.parametrize("text, seconds", [
    (12.5, 12.5), ("12.5", 12.5), ("12.5s", 12.5), ("1:05.5", 65.5), ("0:00", 0.0),
    ("b1", 0.25), ("b33", 0.25 + 32 * 0.5), ("bar 1", 0.25), ("bar 9", 0.25 + 32 * 0.5),
    ("bar 9 beat 3", 0.25 + 34 * 0.5), ("BAR 2", 0.25 + 2.0),
])
def test_cue_times(text, seconds) -> None:
    assert parse_cue_time(text, GRID) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["soon", "b0", "bar 0", "1:75", "-3", "bar", "12 bars"])
def test_bad_cue_times(text) -> None:
    with pytest.raises(ValueError):
        parse_cue_time(text if text != "-3" else -3.0, GRID)


@pytest.mark.parametrize("text, seconds", [
    ("2b", 1.0), ("2 beats", 1.0), ("1 bar", 2.0), ("1.5bars", 3.0), ("1.5s", 1.5), (0, 0.0), ("3", 3.0),
])
def test_lengths(text, seconds) -> None:
    assert parse_length(text, GRID) == pytest.approx(seconds)


def test_bad_length_and_format() -> None:
    with pytest.raises(ValueError, match="not a length"):
        parse_length("a while", GRID)
    assert format_time(65.54) == "1:05.5"
