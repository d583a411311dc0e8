"""The live tempo leader: beat grid continuity, tap tempo, beat-tracker lock, resync."""
from __future__ import annotations

import pytest

from vj.audio.clock import TempoClock, TempoLead


def test_tempo_clock_keeps_the_beat_count_through_a_tempo_change():
    clock = TempoClock(120.0)
    assert clock.beat_at(2.0) == pytest.approx(4.0)
    clock.set_bpm(60.0, at=2.0)
    assert clock.beat_at(2.0) == pytest.approx(4.0)
    assert clock.beat_at(3.0) == pytest.approx(5.0)


def test_taps_set_the_tempo_and_the_phase_when_taps_lead():
    clock = TempoClock(120.0, lead=TempoLead.TAP)
    for i in range(4):
        clock.tap(10.03 + i * 0.6)  # 100 BPM, taps 30 ms after the old grid's beats
    assert clock.bpm == pytest.approx(100.0)
    assert clock.beat_phase(10.03 + 3 * 0.6) == pytest.approx(0.0, abs=1e-9)
    assert clock.next_beat_after(12.0) == pytest.approx(12.43)


def test_detected_beats_lock_the_clock_and_other_sources_are_ignored():
    clock = TempoClock(120.0, lead=TempoLead.DETECTED)
    for i in range(12):
        clock.observe_beat(1.1 + i * 0.5, 120.0)
    assert clock.locked and clock.beat_phase(7.1) == pytest.approx(0.0, abs=0.01)
    clock.external_beat(7.3, 90.0)  # not the lead: ignored
    assert clock.bpm == pytest.approx(120.0)
    clock.resync(7.62)  # now is a downbeat
    assert clock.bar_at(7.62) == pytest.approx(round(clock.bar_at(7.62)))


def test_bar_lines_follow_the_tracker_after_a_bar_of_agreeing_beats():
    clock = TempoClock(120.0, beats_per_bar=4, lead=TempoLead.DETECTED)
    # The tracker says the beat at 1.0 s is beat 2 of its bar: the clock (beat 2 = position 3) moves.
    for i in range(3):
        clock.observe_beat(1.0 + i * 0.5, 120.0, position=2 + i, beats_per_bar=4)
    assert round(clock.beat_at(1.0)) % 4 != 1  # three beats: not yet
    counted = clock.beat_at(2.5)
    clock.observe_beat(2.5, 120.0, position=1, beats_per_bar=4)
    assert round(clock.beat_at(2.5)) % 4 == 0  # a bar's worth: 2.5 s is a downbeat now
    assert clock.beat_at(2.5) > counted  # the count moved on, never back
    assert clock.beat_phase(2.5) == pytest.approx(0.0, abs=0.01)  # whole beats moved, no phase jump
    before = clock.beat_at(3.0)
    clock.observe_beat(3.0, 120.0, position=4, beats_per_bar=4)  # one stray reading
    assert clock.beat_at(3.0) == pytest.approx(before, abs=0.01)


def test_the_tracker_s_meter_is_taken_unless_pinned():
    free = TempoClock(120.0, beats_per_bar=4)
    pinned = TempoClock(120.0, beats_per_bar=4, meter_pinned=True)
    for clock in (free, pinned):
        for i in range(6):
            clock.observe_beat(1.0 + i * 0.5, 120.0, position=i % 3 + 1, beats_per_bar=3)
    assert free.beats_per_bar == 3 and round(free.beat_at(2.5)) % 3 == 0
    assert pinned.beats_per_bar == 4
