from __future__ import annotations

import math

import pytest
import simpleeval

from vj.setlist.expressions import (ExpressionError, compile_expression, function_signatures,
                            variable_names)
from vj.features import AUDIO_SOURCES


def make_env(**overrides: float) -> dict[str, float]:
    env = dict(frame=10.0, t=10.0, max_f=999.0, s=7.0, sec=0.4, beat=0.8, bar=0.2, bpm=120.0, fps=25.0,
               onset=0.5, low=0.1, mid=0.2, high=0.3, rms=0.4, perc=0.6, harm=0.7, beat_phase=0.8)
    env.update(overrides)
    return env


def value(text: str, **env: float) -> float:
    return compile_expression(text).evaluate(make_env(**env))


def test_variable_names_cover_the_audio_features() -> None:
    names = variable_names()
    for name in ("frame", "t", "max_f", "s", "sec", "beat", "bar", "bpm", "fps", *AUDIO_SOURCES):
        assert name in names
    assert set(make_env()) == set(names)


@pytest.mark.parametrize("t", [0, 1, 7, 30, 123])
def test_deforum_defaults_paste_in_unchanged(t: int) -> None:
    assert value("1.0025+0.002*sin(1.25*3.14*t/30)", t=t) == pytest.approx(
        1.0025 + 0.002 * math.sin(1.25 * 3.14 * t / 30))
    assert value("5*sin(2*3.14*t/30)", t=t) == pytest.approx(5 * math.sin(2 * 3.14 * t / 30))
    assert value("0.25*cos((72/60*3.141*(t+0)/30))**13+0.7", t=t) == pytest.approx(
        0.25 * math.cos(72 / 60 * 3.141 * t / 30) ** 13 + 0.7)
    assert value("t%15", t=t) == t % 15
    assert value("where(cos(t)>=0, cos(t), 0)", t=t) == pytest.approx(max(math.cos(t), 0.0))
    assert value("10*sin(2*3.14*t/10)", t=t) == pytest.approx(10 * math.sin(2 * 3.14 * t / 10))


def test_arithmetic_matches_simpleeval() -> None:
    """The closure compiler must agree with simpleeval, the reference safe evaluator."""
    env = make_env()
    functions = {"sin": math.sin, "cos": math.cos, "sqrt": math.sqrt, "abs": abs, "min": min,
                 "max": max}
    cases = ["1 + 2 * t - frame / 4", "-t ** 2", "(-t) ** 2", "2 ** -1", "t // 3 + t % 3",
             "sin(t) * cos(beat) + sqrt(onset)", "abs(-low) + min(mid, high) + max(rms, perc, harm)",
             "1 if t > 5 else 2", "0 < onset < 1", "t == 10", "t != 10", "onset and low",
             "0 and low", "0 or low", "not t", "3 - -2 * +4", "bpm / 60 * sec"]
    reference = simpleeval.SimpleEval(names=env, functions=functions)
    for text in cases:
        expected = float(reference.eval(text))
        assert compile_expression(text).evaluate(env) == pytest.approx(expected), text


def test_constants_functions_and_types() -> None:
    assert value("pi") == math.pi and value("e") == math.e
    assert value("atan2(1, 1)") == pytest.approx(math.pi / 4)
    assert value("arctan2(1, 1)") == pytest.approx(math.pi / 4)
    assert value("log(e)") == pytest.approx(1.0) and value("log(8, 2)") == pytest.approx(3.0)
    assert value("log10(1000)") == pytest.approx(3.0)
    assert value("floor(2.7) + ceil(2.2) + round(2.5) + round(3.14159, 2)") == pytest.approx(
        2 + 3 + 2 + 3.14)
    assert value("pow(2, 10)") == 1024.0
    assert value("clamp(5, 0, 1)") == 1.0 and value("clamp(-5, 0, 1)") == 0.0
    assert value("mix(2, 4, 0.25)") == 2.5 and value("lerp(2, 4, 0.25)") == 2.5
    assert value("smoothstep(0, 1, 0.5)") == 0.5 and value("smoothstep(0, 1, 2)") == 1.0
    assert value("sign(-3) + sign(0) + sign(2)") == 0.0
    assert value("(t > 5) & (t < 20)") == 1.0 and value("(t > 50) | (t < 5)") == 0.0
    assert value("~(t > 5)") == 0.0
    result = value("frame", frame=3)
    assert type(result) is float and result == 3.0  # ints in env still give a float


def test_keyword_and_default_arguments() -> None:
    assert value("pulse(2, width=0.25)", beat=0.4) == 1.0
    assert value("pulse(period_beats=2, width=0.25, phase=1)", beat=1.2) == 1.0
    assert value("clamp(x=2, lo=0, hi=1)") == 1.0


@pytest.mark.parametrize("beat, pulse, saw, tri, sq, wave", [
    (0.0, 1.0, 0.0, 0.0, 1.0, 0.0),
    (0.05, 1.0, 0.05, 0.1, 1.0, 0.5 - 0.5 * math.cos(0.1 * math.pi)),
    (0.25, 0.0, 0.25, 0.5, 1.0, 0.5),
    (0.5, 0.0, 0.5, 1.0, 0.0, 1.0),
    (0.75, 0.0, 0.75, 0.5, 0.0, 0.5),
    (3.0, 1.0, 0.0, 0.0, 1.0, 0.0),
    (-0.75, 0.0, 0.25, 0.5, 1.0, 0.5),  # before beat 0 the shapes keep their period
])
def test_shape_helpers_on_one_beat_period(beat, pulse, saw, tri, sq, wave) -> None:
    assert value("pulse()", beat=beat) == pulse
    assert value("saw()", beat=beat) == pytest.approx(saw)
    assert value("tri()", beat=beat) == pytest.approx(tri)
    assert value("sq()", beat=beat) == sq
    assert value("wave()", beat=beat) == pytest.approx(wave)


def test_shape_helpers_periods_phases_and_widths() -> None:
    # a 4-beat (one bar) period: one pulse per bar, on beat 0, 4, 8 ...
    assert [value("pulse(4)", beat=b) for b in range(9)] == [1, 0, 0, 0, 1, 0, 0, 0, 1]
    # phase delays the shape by that many beats: the second beat of each bar
    assert [value("pulse(4, phase=1)", beat=b) for b in range(6)] == [0, 1, 0, 0, 0, 1]
    # width is a fraction of the period: 0.5 of 2 beats = 1 beat on
    assert [value("pulse(2, 0.5)", beat=b / 2) for b in range(8)] == [1, 1, 0, 0, 1, 1, 0, 0]
    assert value("saw(4)", beat=6.0) == pytest.approx(0.5)
    assert value("tri(4)", beat=6.0) == pytest.approx(1.0)
    assert value("sq(2, duty=0.25)", beat=0.4) == 1.0 and value("sq(2, duty=0.25)", beat=0.6) == 0.0
    assert value("wave(2, phase=0.5)", beat=1.5) == pytest.approx(1.0)
    assert value("1 - saw()", beat=0.25) == pytest.approx(0.75)  # a decay that restarts each beat


def test_easings() -> None:
    for name in ("ease_in", "ease_out", "ease_in_out", "bounce", "elastic"):
        assert value(f"{name}(0)") == pytest.approx(0.0), name
        assert value(f"{name}(1)") == pytest.approx(1.0), name
        assert value(f"{name}(-3)") == pytest.approx(0.0), name  # input clamped to 0..1
        assert value(f"{name}(7)") == pytest.approx(1.0), name
    assert value("ease_in(0.5)") == pytest.approx(0.125)
    assert value("ease_out(0.5)") == pytest.approx(0.875)
    assert value("ease_in_out(0.25)") == pytest.approx(0.0625)
    assert value("ease_in_out(0.5)") == pytest.approx(0.5)
    assert value("ease_in_out(0.75)") == pytest.approx(0.9375)
    assert value("elastic(0.15)") > 1.3  # it overshoots


def test_names_constant_and_audio_flags() -> None:
    expression = compile_expression("1 + 0.05*pulse(1)*onset")
    assert expression.names == {"beat", "onset"}  # pulse reads the beat implicitly
    assert expression.uses_audio and expression.uses_time and not expression.is_constant
    clock = compile_expression("sin(t)")
    assert not clock.uses_audio and clock.uses_time
    constant = compile_expression("2*pi + 1")
    assert constant.is_constant and constant.evaluate({}) == pytest.approx(2 * math.pi + 1)
    assert repr(constant) == "Expression('2*pi + 1')"


def test_whitespace_and_folded_lines() -> None:
    assert value("  1 +\n  t") == 11.0  # YAML may fold a long expression over lines
    assert value("\t(1\n+ 2)") == 3.0


@pytest.mark.parametrize("text, reason, column", [
    ("x + 1", "unknown name 'x'", 1),
    ("t + tt", "unknown name 'tt' (did you mean 't'?)", 5),
    ("1 + sinn(t)", "unknown function 'sinn' (did you mean 'sin'?)", 5),
    ("sin", "'sin' is a function", 1),
    ("t(2)", "'t' is a variable, not a function", 1),
    ("1 +* 2", "syntax error", 4),
    ("t +", "syntax error (the expression stops too early)", 4),
    ("(t", "syntax error", 1),
    ("  1/0", "division by zero", 3),
    ("t ^ 2", "'^' is not allowed (use ** for powers)", 1),
    ("t if t else", "syntax error", None),
    ("max(t)", "max() needs at least 2 arguments", 1),
    ("clamp(t, 0)", "missing argument 'hi': clamp(x, lo, hi)", 1),
    ("sin(t, 2)", "too many arguments: sin(x)", 1),
    ("pulse(2, wdth=0.5)", "pulse() has no argument 'wdth'", 15),
    ("pulse(2, period_beats=2)", "argument 'period_beats' given twice", 23),
    ("sqrt(-1)", "math domain error", 1),
    ("1e999 * t", "number too large", 1),
    ("t is 1", "'is' is not allowed (use ==)", 1),
    ("t @ t", "'@' is not allowed", 1),
    ("", "empty expression", None),
])
def test_compile_errors_say_what_and_where(text, reason, column) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(text)
    error = caught.value
    assert reason in error.reason and reason in str(error)
    assert error.text == text and repr(text) in str(error)
    if column is not None:
        assert error.position == column
        assert f"column {column}" in str(error)


@pytest.mark.parametrize("text", [
    "__import__('os')",
    "__import__('os').system('true')",
    "().__class__",
    "().__class__.__bases__[0].__subclasses__()",
    "t.real",
    "'a'*10**9",
    "'a'",
    "b'a'",
    "f'{t}'",
    "9**9**9",
    "10**10**10",
    "2**1e7",
    "t**1e7",
    "[1, 2][0]",
    "(1, 2)",
    "{1: 2}",
    "{1}",
    "lambda: 1",
    "[x for x in (1, 2)]",
    "(x := 3)",
    "max(*(1, 2))",
    "sin(**{'x': 1})",
    "sin.__call__(1)",
    "1j",
    "None",
    "eval('1')",
    "open('/etc/passwd')",
    "globals()",
    "'x' in 'xy'",
    "-" * 200 + "1",
    "+".join(["t"] * 300),
    "1" * 5000,
])
def test_unsafe_or_unsupported_input_is_rejected(text) -> None:
    with pytest.raises(ExpressionError):
        compile_expression(text)


@pytest.mark.parametrize("text, env, reason", [
    ("1 / (t - 10)", {}, "division by zero"),
    ("t % (t - 10)", {}, "division by zero"),
    ("log(t - 10)", {}, "math domain error"),
    ("sqrt(-t)", {}, "math domain error"),
    ("exp(t * 100)", {}, "number too large"),
    ("(-t) ** 0.5", {}, "math domain error"),
    ("10 ** t", {"t": 400.0}, "number too large"),
    ("t ** frame", {"frame": 2e6}, "too large"),
    ("pulse(t - 10)", {}, "period_beats must be > 0"),
    ("t * 1e300 * 1e300", {}, "not a finite number"),
])
def test_runtime_errors_raise_expression_error(text, env, reason) -> None:
    expression = compile_expression(text)
    with pytest.raises(ExpressionError, match=None) as caught:
        expression.evaluate(make_env(**env))
    assert reason in caught.value.reason
    assert caught.value.text == text


def test_missing_variable_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError, match="'onset' is missing"):
        compile_expression("1 + onset").evaluate({"frame": 1.0})


def test_compile_is_cached_and_errors_are_value_errors() -> None:
    assert compile_expression("sin(t) + 1") is compile_expression("sin(t) + 1")
    assert issubclass(ExpressionError, ValueError)


def test_function_signatures_document_defaults() -> None:
    signatures = function_signatures()
    assert signatures["pulse"].startswith("pulse(period_beats=1, width=0.1, phase=0)")
    assert signatures["min"] == "min(a, b, ...)"
    assert {"sin", "where", "clamp", "mix", "lerp", "smoothstep", "saw", "tri", "sq", "wave",
            "ease_in", "ease_out", "ease_in_out", "bounce", "elastic", "arcsin"} <= set(signatures)


def test_numexprs_other_function_names() -> None:
    """numexpr (Deforum's evaluator) spells these so; schedules using them paste in unchanged."""
    assert value("arcsinh(1) + arccosh(2) + arctanh(0.5)") == pytest.approx(
        math.asinh(1) + math.acosh(2) + math.atanh(0.5))
    assert value("log1p(t) - expm1(0.5)", t=3) == pytest.approx(math.log1p(3) - math.expm1(0.5))
