import math

import pytest

from vj.grid import BeatGrid


def test_beats_bars_and_phase_follow_tempo_and_offset():
    grid = BeatGrid(bpm=120.0, offset=0.5)
    assert grid.seconds_per_beat == pytest.approx(0.5)
    assert grid.beat_at(0.5) == pytest.approx(0.0)
    assert grid.beat_at(2.5) == pytest.approx(4.0)
    assert grid.bar_at(2.5) == pytest.approx(1.0)
    assert grid.beat_at(0.0) == pytest.approx(-1.0)
    assert grid.time_of_beat(8) == pytest.approx(4.5)
    assert grid.time_of_bar(2) == pytest.approx(4.5)
    assert grid.beat_phase(0.75) == pytest.approx(0.5)
    assert grid.beat_phase(0.25) == pytest.approx(0.5)  # before beat 0 the phase still runs 0..1


def test_time_and_beat_are_inverse():
    grid = BeatGrid(bpm=97.0, offset=0.31, beats_per_bar=3)
    for beat in (-2.5, 0.0, 1.25, 33.0):
        assert grid.beat_at(grid.time_of_beat(beat)) == pytest.approx(beat)
    assert grid.time_of_bar(1) == pytest.approx(0.31 + 3 * 60 / 97)
    assert 0.0 <= grid.beat_phase(12.345) < 1.0


@pytest.mark.parametrize("bpm", [0.0, -10.0, math.nan])
def test_bad_tempo_is_refused(bpm):
    with pytest.raises(ValueError):
        BeatGrid(bpm=bpm)


def test_grid_is_frozen():
    grid = BeatGrid(bpm=120.0)
    with pytest.raises(AttributeError):
        grid.bpm = 100.0  # type: ignore[misc]


def test_the_analysed_grid_and_the_live_tempo_clock_are_both_grids():
    from vj.grid import Grid
    from vj.audio.clock import TempoClock

    grid, clock = BeatGrid(bpm=97.0, offset=0.31, beats_per_bar=3), TempoClock(97.0, beats_per_bar=3, origin=0.31)
    assert isinstance(grid, Grid) and isinstance(clock, Grid)
    for t in (0.0, 1.7, 12.345):
        assert clock.beat_at(t) == pytest.approx(grid.beat_at(t))
        assert clock.bar_at(t) == pytest.approx(grid.bar_at(t))
        assert clock.beat_phase(t) == pytest.approx(grid.beat_phase(t))
    assert clock.time_of_beat(7) == pytest.approx(grid.time_of_beat(7))
    assert clock.seconds_per_beat == grid.seconds_per_beat and clock.beats_per_bar == grid.beats_per_bar
