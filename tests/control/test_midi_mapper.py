"""MIDI messages → the store by a mapping, without ports: curves, ranges, invert, relative
encoders, 14-bit pairs, soft takeover, notes, program change, pitch bend, clock."""
from __future__ import annotations

import math

import mido
import pytest

from vj.control.mapping import MappingEntry, MidiMapping
from vj.control.midi import MidiClock, MidiMapper, apply_curve, decode_relative, invert_curve
from vj.control.params import ParamStore


def cc(control: int, value: int, channel: int = 0) -> mido.Message:
    return mido.Message("control_change", control=control, value=value, channel=channel)


def note(number: int, velocity: int = 100, channel: int = 0) -> mido.Message:
    return mido.Message("note_on", note=number, velocity=velocity, channel=channel)


def note_off(number: int, channel: int = 0) -> mido.Message:
    return mido.Message("note_off", note=number, channel=channel)


def make(*entries: dict, channel: int | None = None) -> tuple[ParamStore, MidiMapper]:
    store = ParamStore()
    store.configure_choices("style", ["neon", "ink", "fog"])
    mapping = MidiMapping(channel=channel, controls=[MappingEntry(**entry) for entry in entries])
    return store, MidiMapper(store, mapping, clock=MidiClock(store))


def test_absolute_cc_with_range_curve_and_invert() -> None:
    store, mapper = make({"cc": 1, "target": "guidance", "range": [0, 10], "takeover": "jump"},
                         {"cc": 2, "target": "brightness", "curve": "exponential", "takeover": "jump"},
                         {"cc": 3, "target": "vignette", "invert": True, "takeover": "jump"})
    mapper.handle(cc(1, 127))
    mapper.handle(cc(2, 64))
    mapper.handle(cc(3, 0))
    assert store.value("guidance") == 10.0
    assert store.value("brightness") == pytest.approx(2 * (64 / 127) ** 2)
    assert store.value("vignette") == 1.0


def test_soft_takeover_waits_for_the_knob_to_reach_the_value() -> None:
    store, mapper = make({"cc": 7, "target": "brightness"})  # 0..2, default 1.0 = position 0.5
    mapper.handle(cc(7, 10))
    mapper.handle(cc(7, 30))
    assert store.value("brightness") == 1.0 and not store.is_set("brightness")  # far below: no jump
    mapper.handle(cc(7, 70))                # crosses 63.5: picked up
    assert store.value("brightness") == pytest.approx(2 * 70 / 127)
    mapper.handle(cc(7, 20))                # follows from now on
    assert store.value("brightness") == pytest.approx(2 * 20 / 127)
    store.set("brightness", 1.8, source="osc")   # someone else moves it: the knob lets go
    mapper.handle(cc(7, 25))
    assert store.value("brightness") == 1.8
    mapper.handle(cc(7, 127))               # crosses 1.8 (position 0.9): picked up again
    assert store.value("brightness") == 2.0


@pytest.mark.parametrize("mode, up, down", [
    ("relative_twos_complement", 1, 127),
    ("relative_binary_offset", 65, 63),
    ("relative_sign_magnitude", 1, 65),
])
def test_relative_encoders(mode: str, up: int, down: int) -> None:
    store, mapper = make({"cc": 16, "target": "hue_shift", "mode": mode, "step": 0.01})  # 360° range
    for _ in range(3):
        mapper.handle(cc(16, up))
    assert store.value("hue_shift") == pytest.approx(3 * 3.6)
    mapper.handle(cc(16, down))
    assert store.value("hue_shift") == pytest.approx(2 * 3.6)
    assert decode_relative(mode, up) == 1 and decode_relative(mode, down) == -1


def test_relative_encoder_steps_a_style() -> None:
    store, mapper = make({"cc": 20, "target": "style", "mode": "relative_twos_complement"})
    mapper.handle(cc(20, 1))
    mapper.handle(cc(20, 2))
    assert store.value("style") == "ink"
    mapper.handle(cc(20, 127))
    assert store.value("style") == "neon"


def test_14_bit_cc_pair() -> None:
    store, mapper = make({"cc": 1, "lsb": 33, "target": "strength", "takeover": "jump"})
    mapper.handle(cc(1, 64))
    assert store.value("strength") == pytest.approx((64 << 7) / 16383)  # no LSB seen yet: MSB alone
    mapper.handle(cc(33, 100))
    assert store.value("strength") == pytest.approx(((64 << 7) | 100) / 16383)
    mapper.handle(cc(1, 65))            # the LSB follows: no dip in between
    assert store.value("strength") == pytest.approx(((64 << 7) | 100) / 16383)
    mapper.handle(cc(33, 3))
    assert store.value("strength") == pytest.approx(((65 << 7) | 3) / 16383)


def test_notes_fire_actions_toggle_select_and_hold() -> None:
    store, mapper = make({"note": 36, "target": "next_cue"},
                         {"note": 37, "target": "style", "value": "fog"},
                         {"note": 38, "target": "blackout"},
                         {"note": 39, "target": "freeze", "mode": "momentary"},
                         {"note": 40, "target": "song", "value": 2},
                         {"note": 41, "target": "next_style"},
                         {"note": 42, "target": "strength"})
    mapper.handle(note(36))
    mapper.handle(note_off(36))
    mapper.handle(note(36, velocity=0))  # note-on with velocity 0 is a release
    mapper.handle(note(37))
    assert store.value("style") == "fog"
    mapper.handle(note(38))
    mapper.handle(note_off(38))
    assert store.value("blackout") is True
    mapper.handle(note(39))
    assert store.value("freeze") is True
    mapper.handle(note_off(39))
    assert store.value("freeze") is False
    mapper.handle(note(40))
    mapper.handle(note(41))
    assert store.value("style") == "neon"
    mapper.handle(note(42, velocity=127))
    assert store.value("strength") == 1.0
    names = [(a.name, a.value) for a in store.actions.drain()]
    assert names == [("next_cue", None), ("blackout", True), ("freeze", True), ("freeze", False), ("song", 2)]


def test_cc_buttons_fire_on_the_rising_edge() -> None:
    store, mapper = make({"cc": 41, "target": "tap"}, {"cc": 64, "target": "hud"})
    for value in (127, 0, 127, 127, 0):
        mapper.handle(cc(41, value))
        mapper.handle(cc(64, value))
    assert [a.name for a in store.actions.drain()] == ["tap", "hud", "tap", "hud"]
    assert store.value("hud") is False  # toggled twice


def test_program_change_and_pitch_bend() -> None:
    store, mapper = make({"program": "any", "target": "style"},
                         {"program": 5, "target": "next_cue"},
                         {"pitchbend": True, "target": "angle_speed", "takeover": "jump"})
    mapper.handle(mido.Message("program_change", program=2))
    assert store.value("style") == "fog"
    mapper.handle(mido.Message("program_change", program=9))   # no style 9: logged, ignored
    assert store.value("style") == "fog"
    mapper.handle(mido.Message("program_change", program=5))
    assert [a.name for a in store.actions.drain()] == ["next_cue"]
    mapper.handle(mido.Message("pitchwheel", pitch=8191))
    assert store.value("angle_speed") == 4.0
    mapper.handle(mido.Message("pitchwheel", pitch=0))
    assert store.value("angle_speed") == pytest.approx(1.0, abs=1e-3)


def test_channels_filter_and_unknown_messages_are_ignored() -> None:
    store, mapper = make({"cc": 1, "target": "strength", "takeover": "jump"}, channel=9)
    mapper.handle(cc(1, 127, channel=0))
    assert not store.is_set("strength")
    mapper.handle(cc(1, 127, channel=8))  # mido counts channels from 0
    assert store.value("strength") == 1.0
    for message in (mido.Message("sysex", data=[1, 2, 3]), mido.Message("aftertouch", value=3),
                    mido.Message("polytouch", note=1, value=2), mido.Message("active_sensing"),
                    cc(99, 3), note(100)):
        assert mapper.handle(message) is False
    assert mapper.ignored == 7


def test_curves_invert() -> None:
    for curve in ("linear", "exponential", "logarithmic", "scurve"):
        for x in (0.0, 0.1, 0.5, 0.77, 1.0):
            assert invert_curve(curve, apply_curve(curve, x)) == pytest.approx(x, abs=1e-9)


def test_midi_clock_tempo_and_beats() -> None:
    store = ParamStore()
    clock = MidiClock(store)
    clock.handle(mido.Message("start"), 10.0)
    spt = 60.0 / (128.0 * 24)
    jitter = [0.0, 0.0004, -0.0003, 0.0002]
    for i in range(24 * 8):
        clock.handle(mido.Message("clock"), 10.0 + i * spt + jitter[i % 4])
    assert clock.bpm == pytest.approx(128.0, abs=0.3)
    actions = store.actions.drain()
    assert actions[0].name == "midi_clock_start"
    beats = [a for a in actions if a.name == "midi_clock_beat"]
    assert [a.value[0] for a in beats] == list(range(8))
    for beat in beats[2:]:
        assert beat.time == pytest.approx(10.0 + beat.value[0] * 24 * spt, abs=0.0005)
        assert beat.value[1] == pytest.approx(128.0, abs=0.5)
    clock.handle(mido.Message("stop"), 20.0)
    assert not clock.running and store.actions.drain()[-1].name == "midi_clock_stop"
    clock.handle(mido.Message("songpos", pos=8), 21.0)  # 8 sixteenths = beat 2
    assert clock.count == 48 and math.isclose(clock.beat_phase, 0.0)


def test_cc_button_with_a_value_selects_it() -> None:
    store, mapper = make({"cc": 34, "target": "style", "value": 1}, {"cc": 35, "target": "strength", "value": 0.3})
    mapper.handle(cc(34, 127))
    mapper.handle(cc(34, 0))
    mapper.handle(cc(35, 127))
    assert store.value("style") == "ink" and store.value("strength") == pytest.approx(0.3)
