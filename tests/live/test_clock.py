"""The live tempo leader: beat grid continuity, tap tempo, beat-tracker lock, resync."""
from __future__ import annotations

import pytest

from vj.live.clock import TempoClock, TempoLead


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
