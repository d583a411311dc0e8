from __future__ import annotations

import math
from typing import Callable, Union

import pytest

from vj.setlist.expressions import Expression, ExpressionError
from vj.setlist.schedule import Interpolation, KeyTiming, ScheduleError, parse_schedule, variable_names

# 24 fps, 120 bpm (a beat is 0.5 s = 12 frames), beat 0 at the song start, 4/4
TIMING = KeyTiming(fps=24.0, seconds_per_beat=0.5, beat_offset=0.0)


def env(frame: float, timing: KeyTiming = TIMING, **features: float) -> dict[str, float]:
    """Every variable at ``frame``, the clock from ``timing`` (as the director's grid gives it),
    audio 0 unless given."""
    sec = frame / timing.fps
    beat = (sec - timing.beat_offset) / timing.seconds_per_beat
    made = dict.fromkeys(variable_names(), 0.0)
    made.update(frame=float(frame), t=float(frame), max_f=999.0, sec=sec, beat=beat,
                bar=beat / timing.beats_per_bar, bpm=60.0 / timing.seconds_per_beat,
                fps=float(timing.fps), beat_phase=beat - math.floor(beat), **features)
    return made


def values(text: str, frames, interpolation: str = "linear", **features: float) -> list[float]:
    schedule = parse_schedule(text, TIMING, interpolation)
    return [schedule.value(env(f, **features)) for f in frames]


# ---- Deforum's get_inbetweens, written out by hand as the reference -----------------------------

Key = Union[float, Callable[[int], float]]


def deforum_inbetweens(keys: dict[int, Key], max_frames: int) -> list[float]:
    """Deforum: numbers at their key, expressions at every frame until the next key, then
    pandas' linear interpolation over the gaps (the ends hold the first / last value)."""
    series: list[float | None] = [None] * max_frames
    current: Key | None = None
    for i in range(max_frames):
        if i in keys:
            current = keys[i]
            if not callable(current):
                series[i] = float(current)
        if callable(current):
            series[i] = current(i)
    known = [i for i, v in enumerate(series) if v is not None]
    series[0], series[-1] = series[known[0]], series[known[-1]]
    known = [i for i, v in enumerate(series) if v is not None]
    for a, b in zip(known, known[1:]):
        for i in range(a + 1, b):
            series[i] = series[a] + (series[b] - series[a]) * (i - a) / (b - a)  # type: ignore
    return [float(v) for v in series]  # type: ignore[arg-type]


DEFORUM_CASES = [
    ("0:(1.0025+0.002*sin(1.25*3.14*t/30))",
     {0: lambda t: 1.0025 + 0.002 * math.sin(1.25 * 3.14 * t / 30)}),
    ("0:(5*sin(2*3.14*t/30))", {0: lambda t: 5 * math.sin(2 * 3.14 * t / 30)}),
    ("0:(0.25*cos((72/60*3.141*(t+0)/30))**13+0.7)",
     {0: lambda t: 0.25 * math.cos(72 / 60 * 3.141 * t / 30) ** 13 + 0.7}),
    ("0:(t%15)", {0: lambda t: float(t % 15)}),
    ("0: (1), 10: (1.05)", {0: 1.0, 10: 1.05}),
    ("0:(0), 24:(-2), 48:(0)", {0: 0.0, 24: -2.0, 48: 0.0}),
    ("0:(0), 10:(sin(t)), 20:(5), 30:(10)", {0: 0.0, 10: math.sin, 20: 5.0, 30: 10.0}),
    ("0:(2), 12:(0.5*t), 30:(1), 40:(cos(t/7)), 55:(-1)",
     {0: 2.0, 12: lambda t: 0.5 * t, 30: 1.0, 40: lambda t: math.cos(t / 7), 55: -1.0}),
    ("0:(1), 20:(where(t>25, 2, 3)), 50:(0)",
     {0: 1.0, 20: lambda t: 2.0 if t > 25 else 3.0, 50: 0.0}),
]


@pytest.mark.parametrize("text, keys", DEFORUM_CASES)
def test_deforum_schedules_give_deforums_numbers(text, keys) -> None:
    frames = 70
    expected = deforum_inbetweens(keys, frames)
    assert values(text, range(frames)) == pytest.approx(expected, abs=1e-12)


# ---- Disco examples, units, interpolation -------------------------------------------------------


def test_disco_example() -> None:
    assert values("0:(1.0), 32:(1.05)", [0, 16, 32, 100]) == pytest.approx(
        [1.0, 1.025, 1.05, 1.05])
    assert values("0: (1), 10: (1.05)", [0, 5, 10, 11]) == pytest.approx([1.0, 1.025, 1.05, 1.05])


def test_before_the_first_key_holds_and_fractional_frames_interpolate() -> None:
    assert values("10:(2), 20:(4)", [0, 9.5, 10, 12.5, 20, 30]) == pytest.approx(
        [2, 2, 2, 2.5, 4, 4])


def test_whitespace_trailing_comma_and_key_order() -> None:
    a = values("  0 : (1) ,\n 32:(1.05) , ", [0, 16, 40])
    b = values("32:(1.05), 0:(1)", [0, 16, 40])  # Disco and Deforum keep keys in a dict
    assert a == b == pytest.approx([1.0, 1.025, 1.05])
    assert values('"0":(1), \'32\':(1.05)', [16]) == pytest.approx([1.025])  # Deforum's quoted keys


def test_key_units() -> None:
    timing = KeyTiming(fps=24.0, seconds_per_beat=0.5, beat_offset=0.25, beats_per_bar=4)
    schedule = parse_schedule("0:(0), 12.5s:(1), 16b:(2), 2bar:(3), 40f:(4)", timing)
    frames = [k.frame for k in schedule.keyframes]
    assert frames == pytest.approx([0.0, 40.0, (0.25 + 8 * 0.5) * 24, (0.25 + 16 * 0.5) * 24, 300.0])
    assert [k.key for k in schedule.keyframes] == ["0", "40f", "2bar", "16b", "12.5s"]
    assert timing.to_frame(32, "b") == timing.to_frame(8, "bar")  # == the cue 'bar 9' == 'b33'
    assert timing.to_frame(0, "b") == pytest.approx(6.0)  # beat 0 is at beat_offset
    # fractional frames are fine: 1b at 25 fps and 0.5 s per beat is frame 12.5
    half = parse_schedule("0:(0), 1b:(1)", KeyTiming(fps=25.0, seconds_per_beat=0.5))
    assert half.keyframes[1].frame == 12.5
    assert half.value({"frame": 6.25}) == pytest.approx(0.5)
    # unit spellings shared with cue lengths, any case
    long = parse_schedule("0:(0), 2 beats:(1), 1 BAR:(2), 3sec:(3)", TIMING)
    assert [k.frame for k in long.keyframes] == [0.0, 24.0, 48.0, 72.0]


def test_key_timing_from_bpm_and_validation() -> None:
    timing = KeyTiming.from_bpm(fps=30, bpm=90, beat_offset=1.0, beats_per_bar=3)
    assert timing.seconds_per_beat == pytest.approx(60 / 90)
    assert timing.to_frame(1, "bar") == pytest.approx((1.0 + 3 * 60 / 90) * 30)
    for bad in (dict(fps=0, seconds_per_beat=0.5), dict(fps=24, seconds_per_beat=-1),
                dict(fps=24, seconds_per_beat=0.5, beats_per_bar=0),
                dict(fps=24, seconds_per_beat=0.5, beat_offset=math.inf)):
        with pytest.raises(ValueError):
            KeyTiming(**bad)


def test_step_interpolation_holds() -> None:
    text = "0:(0), 10:(1), 20:(0.5)"
    assert values(text, [0, 5, 9.99, 10, 15, 20, 30], "step") == [0, 0, 0, 1, 1, 0.5, 0.5]
    # an expression key still evaluates; the numeric key before it holds (no ramp)
    assert values("0:(3), 10:(t), 20:(1)", [5, 10, 15, 20], "step") == [3, 10, 15, 1]


def test_cubic_is_a_natural_spline() -> None:
    # by hand: through (0,0) (10,1) (20,0) the interior curvature is -3/100, so at x=5:
    # y = 1.5/10 * 5 - 0.5/6/100 * 5**3 = 0.6875
    assert values("0:(0), 10:(1), 20:(0)", [0, 5, 10, 15, 20, 25], "cubic") == pytest.approx(
        [0, 0.6875, 1, 0.6875, 0, 0])
    text = "0:(0), 8:(2), 20:(-1), 26:(3), 40:(0)"
    schedule = parse_schedule(text, TIMING, "cubic")
    f = lambda x: schedule.value({"frame": x})  # noqa: E731
    for key in schedule.keyframes:
        assert f(key.frame) == pytest.approx(key.value)
    eps = 1e-4
    for knot in (8, 20, 26):  # C1 and C2 at the interior keys
        left = (f(knot) - f(knot - eps)) / eps
        right = (f(knot + eps) - f(knot)) / eps
        assert left == pytest.approx(right, abs=1e-2)
        curve_left = f(knot - 2 * eps) - 2 * f(knot - eps) + f(knot)
        curve_right = f(knot) - 2 * f(knot + eps) + f(knot + 2 * eps)
        assert curve_left / eps**2 == pytest.approx(curve_right / eps**2, abs=5e-2)
    for end, sign in ((0, 1), (40, -1)):  # natural: no curvature at the ends
        near = [f(end + sign * i * 1e-3) for i in range(3)]
        assert (near[0] - 2 * near[1] + near[2]) / 1e-6 == pytest.approx(0, abs=2e-2)
    # two keys: a straight line
    assert values("0:(0), 10:(1)", [5], "cubic") == pytest.approx([0.5])


def test_cubic_with_an_expression_key_splines_each_numeric_run() -> None:
    text = "0:(0), 10:(1), 20:(0), 30:(t), 40:(0), 50:(2)"
    spline = values("0:(0), 10:(1), 20:(0)", [5, 15], "cubic")
    got = values(text, [5, 15, 25, 30, 35, 45], "cubic")
    assert got[:2] == pytest.approx(spline)
    assert got[2] == pytest.approx(0 + (30 - 0) * 0.5)  # ramps to t at its key (30)
    assert got[3:5] == [30, 35]
    assert got[5] == pytest.approx(1.0)  # 40..50 is a two-key run: straight


# ---- expressions inside schedules -----------------------------------------------------------------


def test_expression_keys_read_t_beat_and_onset() -> None:
    assert values("0:(t*2)", [0, 7, 100]) == [0, 14, 200]
    assert values("0:(beat)", [0, 12, 18]) == pytest.approx([0, 1, 1.5])
    assert values("0:(1 + onset)", [3], onset=0.25) == [1.25]
    pulse = "0:(1), 4b:(1 + 0.5*pulse(1, width=0.25))"
    assert values(pulse, [48, 50, 51, 54, 60]) == pytest.approx([1.5, 1.5, 1.0, 1.0, 1.5])


def test_ramp_into_an_expression_key_reads_the_key_time_and_current_audio() -> None:
    # beat is 4 at frame 48: halfway there the ramp is halfway to 4
    assert values("0:(0), 48:(beat)", [24]) == pytest.approx([2.0])
    # audio cannot be read in the future: the ramp heads for the current onset
    assert values("0:(0), 48:(onset)", [24], onset=0.5) == pytest.approx([0.25])
    # a first key that is an expression holds its value at the key before it
    assert values("12:(beat*10)", [0, 6, 12, 18]) == pytest.approx([10, 10, 10, 15])


def test_bare_numbers_and_bare_expressions() -> None:
    for constant in (1.5, 2, "1.5", " -0.25 ", "0:(3)", "0:(2), 10:(2)", "0:(2*pi)"):
        schedule = parse_schedule(constant, TIMING)
        assert schedule.is_constant and not schedule.uses_audio
    assert parse_schedule(2, TIMING).value({}) == 2.0
    assert parse_schedule("0:(2*pi)", TIMING).value({}) == pytest.approx(2 * math.pi)
    bare = parse_schedule("1.0 + 0.03*onset", TIMING)
    assert not bare.is_constant and bare.uses_audio
    assert bare.value(env(0, onset=1.0)) == pytest.approx(1.03)
    assert bare.value(env(-5, onset=0.0)) == pytest.approx(1.0)  # evaluates at every frame
    assert isinstance(bare.keyframes[0].value, Expression)


def test_properties_and_repr() -> None:
    schedule = parse_schedule("0:(1), 16b:(1 + 0.1*low)", TIMING, "cubic")
    assert schedule.uses_audio and not schedule.is_constant
    assert schedule.names == {"low"}
    assert schedule.interpolation is Interpolation.CUBIC
    assert repr(schedule) == "Schedule('0:(1), 16b:(1 + 0.1*low)', interpolation='cubic')"
    assert not parse_schedule("0:(sin(t))", TIMING).uses_audio
    assert parse_schedule("0:(1), 10:(pulse())", TIMING).names == {"beat"}


def test_runtime_expression_failure_raises_expression_error() -> None:
    schedule = parse_schedule("0:(1), 10:(1/(t-12))", TIMING)
    assert schedule.value(env(11)) == pytest.approx(-1.0)
    with pytest.raises(ExpressionError, match="division by zero"):
        schedule.value(env(12))


# ---- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, reason, column", [
    ("", "empty schedule", 1),
    ("   ", "empty schedule", 1),
    ("0:(1), 10(2)", "missing ':' between key '10' and its value", 10),
    ("10 (2)", "missing ':' between key '10' and its value", 4),
    ("0:(1), 10", "missing ':(value)' after key '10'", 10),
    ("0:1", "the value of key '0' must be in parentheses", 3),
    ("0:(1", "the '(' of key '0' is never closed", 3),
    ("0:(sin(t), 5:(1)", "the '(' of key '0' is never closed", 3),
    ("0:(1)), 5:(2)", "unexpected ')'", 6),
    ("0:(1) *5:(2)", "expected ',' between keyframes, found '*'", 7),
    ("0:(1), ,5:(2)", "missing key before ','", 8),
    (":(1)", "missing key before ':'", 1),
    ("0: 10: (1)", "two keys '0' and '10' for one value: keep one, e.g. 10:(...)", 4),
    ("0:(1), 4q:(2)", "bad key unit 'q' in key '4q'", 9),
    ("0:(1), x:(2)", "bad key 'x'", 8),
    ('"max_f-2":(1)', "reads max_f, the last frame, and the song's length is not known", 2),
    ('"t-2":(1)', "a key may read only max_f, s, fps and bpm, not t", 2),
    ('"fps/0":(1)', "division by zero", 2),
    ("0:(), 4:(1)", "empty value for key '0'", 3),
    ("0:(1), 5:(sin(tt))", "bad expression for key '5': unknown name 'tt'", 15),
    ("0:(1), 16b:(1 +* 2)", "bad expression for key '16b': syntax error", 16),
    ("0:(1), 5:(t ^ 2)", "'^' is not allowed", 11),
    ("1 + sinn(t)", "bad expression: unknown function 'sinn'", 5),
    ("0:(1e999)", "number too large", 4),
])
def test_errors_say_what_and_where(text, reason, column) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(text, TIMING)
    error = caught.value
    assert reason in error.reason and reason in str(error)
    assert error.text == text and error.position == column
    assert f"column {column}" in str(error)


def test_expression_errors_are_chained_and_other_bad_input() -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule("0:(__import__('os'))", TIMING)
    assert isinstance(caught.value.__cause__, ExpressionError)
    with pytest.raises(ScheduleError, match="unknown interpolation 'spline'"):
        parse_schedule("0:(1)", TIMING, "spline")
    with pytest.raises(ScheduleError, match="not finite"):
        parse_schedule(math.nan, TIMING)
    with pytest.raises(ScheduleError, match="expected a number"):
        parse_schedule(True, TIMING)  # type: ignore[arg-type]
    with pytest.raises(ScheduleError, match="expected a number"):
        parse_schedule(None, TIMING)  # type: ignore[arg-type]
    assert issubclass(ScheduleError, ValueError)


@pytest.mark.parametrize("text", [
    "0:(__import__('os').system('true'))",
    "0:(().__class__)",
    "0:('a'*10**9)",
    "0:(9**9**9)",
    "().__class__",
])
def test_unsafe_values_are_rejected(text) -> None:
    with pytest.raises(ScheduleError):
        parse_schedule(text, TIMING)


def test_key_timing_from_a_grid_is_a_snapshot() -> None:
    from vj.grid import BeatGrid
    from vj.audio.clock import TempoClock

    assert KeyTiming.from_grid(24.0, BeatGrid(bpm=120.0, offset=0.25, beats_per_bar=3)) == KeyTiming(
        fps=24.0, seconds_per_beat=0.5, beat_offset=0.25, beats_per_bar=3)
    clock = TempoClock(120.0, origin=0.25)
    timing = KeyTiming.from_grid(24.0, clock)
    clock.set_bpm(60.0, at=10.0)
    assert timing.seconds_per_beat == 0.5 and timing.to_frame(4, "b") == (0.25 + 2.0) * 24


# ---- as Deforum reads them (issue 12) ----------------------------------------------------------

DEFORUM_SEED_SCHEDULE = '0:(s), 1:(-1), "max_f-2":(-1), "max_f-1":(s)'  # Deforum's own default


def test_the_seed_variable_and_keys_written_as_expressions() -> None:
    timing = KeyTiming(fps=24.0, seconds_per_beat=0.5, max_frames=100, seed=7.0)
    schedule = parse_schedule(DEFORUM_SEED_SCHEDULE, timing)
    assert [k.frame for k in schedule.keyframes] == [0.0, 1.0, 97.0, 98.0]  # max_f = 99
    got = [schedule.value({**env(f), "s": 42.0}) for f in (0, 1, 50, 97, 98, 99)]
    assert got == [42.0, -1.0, -1.0, -1.0, 42.0, 42.0]
    # Deforum truncates a key's value to a whole frame; bare max_f is a key too
    quarter = parse_schedule("0:(0), max_f/4-5:(1), max_f:(2)", timing)
    assert [k.frame for k in quarter.keyframes] == [0.0, 19.0, 99.0]  # int(99/4 - 5) == 19
    assert [k.key for k in quarter.keyframes] == ["0", "max_f/4-5", "max_f"]
    quoted = parse_schedule('0:(0), "floor(max_f/3)":(1), "(max_f/2)":(2)', timing)  # anything in quotes
    assert [k.frame for k in quoted.keyframes] == [0.0, 33.0, 49.0]


def test_duplicate_keys_the_later_wins_with_a_warning() -> None:
    schedule = parse_schedule("0:(1), 10:(5), 0:(2)", TIMING)
    assert [(k.frame, k.value) for k in schedule.keyframes] == [(0.0, 2.0), (10.0, 5.0)]
    assert "duplicate key '0'" in schedule.warnings[0] and "later" in schedule.warnings[0]
    same_frame = parse_schedule("0:(1), 4b:(2), 1bar:(3)", TIMING)  # 4b == 1bar == frame 48
    assert [(k.frame, k.value) for k in same_frame.keyframes] == [(0.0, 1.0), (48.0, 3.0)]
    assert "same as '4b'" in same_frame.warnings[0]


def test_deforums_loose_syntax_read_one_way() -> None:
    missing_comma = parse_schedule("0:(1) 10:(2)", TIMING)
    assert [(k.frame, k.value) for k in missing_comma.keyframes] == [(0.0, 1.0), (10.0, 2.0)]
    assert "missing ','" in missing_comma.warnings[0]
    twice = parse_schedule("0: 0: (0), 10:(1)", TIMING)
    assert [(k.frame, k.value) for k in twice.keyframes] == [(0.0, 0.0), (10.0, 1.0)]
    assert "written twice" in twice.warnings[0]
    assert parse_schedule("0:(0), 10:(1)", TIMING).warnings == ()


@pytest.mark.parametrize("held", ["( 1.0 )", "(1e0)", "(1.)", "( 1 )"])
def test_values_deforum_does_not_read_as_numbers_hold_until_the_next_key(held) -> None:
    # Deforum's check_is_number fails on inner spaces, exponents and a trailing dot: numexpr
    # evaluates the value at every frame up to the next key (held), where a number would ramp.
    text = f"0:{held}, 10:(3)"
    assert values(text, [0, 5, 9, 10]) == [1.0, 1.0, 1.0, 3.0]
    assert values(text, range(20)) == pytest.approx(
        deforum_inbetweens({0: lambda t: 1.0, 10: 3.0}, 20))
    assert values("0:(1), 10:(3)", [5]) == [2.0]  # a plain number interpolates
    # a number before a held value ramps towards it, as pandas fills the gap
    assert values(f"0:(0), 10:{held}, 20:(0)", [5, 10, 15, 20]) == [0.5, 1.0, 1.0, 0.0]


def test_non_finite_frames_are_left_out_and_interpolated_over() -> None:
    # 1/(t-5) is infinite at frame 5; Deforum leaves it out and interpolates 4 -> 6
    schedule = parse_schedule("0:(1/(t-5))", TIMING)
    with pytest.raises(ExpressionError):
        schedule.value(env(5))
    assert schedule.finite_value(env(5)) == pytest.approx((1 / (4 - 5) + 1 / (6 - 5)) / 2)
    assert schedule.finite_value(env(4)) == pytest.approx(-1.0)
    # a run of bad frames (sqrt of a negative number from frame 10 on): the last good value holds
    tail = parse_schedule("0:(sqrt(9-t))", TIMING)
    assert tail.finite_value({**env(12), "max_f": 20.0}) == pytest.approx(0.0)
    # a bad stretch at the start: the first good value holds back to frame 0
    head = parse_schedule("0:(log(t-2))", TIMING)
    assert head.finite_value(env(0)) == pytest.approx(0.0)  # log(3-2) at frame 3
    assert parse_schedule("0:(1/(t-t))", TIMING).finite_value(env(3)) is None  # nowhere good


def test_parsing_is_linear_in_the_number_of_keys() -> None:
    import time

    def parse_time(count: int) -> float:
        text = ", ".join(f"{i}:({1 + (i % 7) * 0.001})" for i in range(count))
        start = time.perf_counter()
        schedule = parse_schedule(text, TIMING)
        elapsed = time.perf_counter() - start
        assert len(schedule.keyframes) == count
        return elapsed

    parse_time(500)  # warm up
    small, large = min(parse_time(2000) for _ in range(2)), min(parse_time(16000) for _ in range(2))
    assert large < 1.0
    assert large / small < 8 * 3  # 8x the keys: linear, with room for a noisy machine


def test_a_tempo_change_retimes_only_schedules_in_beats() -> None:
    frames = parse_schedule("0:(1), 48:(2)", TIMING)
    beats = parse_schedule("0:(1), 4b:(2), 2bar:(3)", TIMING)
    slower = KeyTiming(fps=24.0, seconds_per_beat=1.0)
    assert frames.retimed(slower) is frames and not frames.follows_tempo
    moved = beats.retimed(slower)
    assert moved is not beats and [k.frame for k in moved.keyframes] == [0.0, 96.0, 192.0]
    assert moved.keyframes[1].value is beats.keyframes[1].value  # nothing compiled again
    assert moved.value(env(48, slower)) == pytest.approx(1.5)
