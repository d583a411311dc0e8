"""Keyframe schedules in the Disco Diffusion / Deforum form, keyed by frames, seconds, beats or bars.

``"0:(1.0), 32:(1.05)"`` is Disco's syntax and reads the same here. Deforum schedules with math,
such as ``"0:(1.0025+0.002*sin(1.25*3.14*t/30))"``, paste in unchanged. On top of that a key may
carry a unit so it stays on the music when fps or tempo change:

- ``32`` or ``32f``: frame 32.
- ``12.5s``: 12.5 seconds into the song.
- ``16b``: 16 beats elapsed since beat 0 of the grid (0-based; beat 0 is at ``beat_offset``).
- ``8bar``: 8 bars elapsed (0-based). Cues count like musicians, from 1, so the cue ``bar 9`` ==
  ``b33`` is the keyframe ``32b`` == ``8bar`` in 4/4.

A value is a number or an expression (see :mod:`vj.setlist.expressions`: ``t``, ``beat``, ``onset``,
``pulse()``...). A bare number (``1.0``) or a bare expression without keys (``1 + 0.03*onset``) is
accepted as a schedule that holds it everywhere.

Between keys, exactly as Deforum's ``get_inbetweens``:

- a key whose value is a plain number is interpolated with the neighbouring keys (``linear``,
  ``cubic``: a natural cubic spline through consecutive numeric keys, or ``step``: hold);
- a key whose value is an expression is evaluated at *every* frame from its key until the next key,
  with ``t``/``frame`` = the current frame;
- before the first key the first value holds; after the last the last holds (an expression keeps
  evaluating);
- a numeric key followed by an expression key ramps (linearly, whatever the interpolation, step
  excepted) towards the expression's value *at its key*. Deforum gets this because the frames an
  expression covers are already filled in when pandas interpolates the gaps. Here the expression
  is evaluated with the clock variables (frame, t, sec, beat, bar, beat_phase) moved to the key and
  the audio features as they are now: the future's audio is unknown live. For an expression that
  reads only the clock this gives Deforum's numbers; the ramp always lands exactly on the
  expression when the key arrives. An expression key before a numeric key jumps at that key, as in
  Deforum. A first key that is an expression holds the expression's value at its key before it.

Everything is parsed and compiled once; :meth:`Schedule.value` is a bisect and a few operations
(numeric keys) or one expression evaluation per frame.
"""
from __future__ import annotations

import bisect
import gc
import math
import re
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Callable, Mapping, Union

from vj.setlist.expressions import Expression, ExpressionError, compile_expression, variable_names

if TYPE_CHECKING:
    from vj.grid import Grid

__all__ = ["ScheduleError", "KeyTiming", "Interpolation", "Keyframe", "Schedule", "parse_schedule",
           "variable_names"]


class ScheduleError(ValueError):
    """A schedule string that cannot be parsed, said for people.

    ``text`` is the whole schedule, ``reason`` what is wrong, ``position`` the 1-based column in
    ``text`` where it is (None when it is about the whole text).
    """

    def __init__(self, reason: str, text: str, position: int | None = None) -> None:
        self.reason = reason
        self.text = text
        self.position = position
        where = f" at column {position}" if position is not None else ""
        super().__init__(f"{reason}{where} in schedule {text!r}")


@dataclass(frozen=True)
class KeyTiming:
    """How keyframe keys convert to frames: the render rate and the song's beat grid.

    fps:              frames per second.
    seconds_per_beat: length of one beat in seconds (60 / bpm).
    beat_offset:      time of beat 0 in seconds.
    beats_per_bar:    beats in one bar.
    max_frames:       the song's length in frames where it is known (keys written as expressions,
                      Deforum's ``"max_f-1"``, read ``max_f`` = max_frames - 1); None: unknown.
    seed:             Deforum's ``s`` for keys written as expressions.
    """

    fps: float
    seconds_per_beat: float
    beat_offset: float = 0.0
    beats_per_bar: int = 4
    max_frames: int | None = None
    seed: float = 0.0

    def __post_init__(self) -> None:
        if not (self.fps > 0 and math.isfinite(self.fps)):
            raise ValueError(f"fps must be a positive number, got {self.fps}")
        if not (self.seconds_per_beat > 0 and math.isfinite(self.seconds_per_beat)):
            raise ValueError(
                f"seconds_per_beat must be a positive number, got {self.seconds_per_beat}")
        if not math.isfinite(self.beat_offset):
            raise ValueError(f"beat_offset must be a finite number, got {self.beat_offset}")
        if self.beats_per_bar < 1:
            raise ValueError(f"beats_per_bar must be at least 1, got {self.beats_per_bar}")

    @classmethod
    def from_bpm(cls, fps: float, bpm: float, beat_offset: float = 0.0,
                 beats_per_bar: int = 4, *, max_frames: int | None = None,
                 seed: float = 0.0) -> KeyTiming:
        """The usual way to write it: tempo in beats per minute."""
        if not bpm > 0:
            raise ValueError(f"bpm must be a positive number, got {bpm}")
        return cls(fps, 60.0 / bpm, beat_offset, beats_per_bar, max_frames, seed)

    @classmethod
    def from_grid(cls, fps: float, grid: Grid, *, max_frames: int | None = None,
                  seed: float = 0.0) -> KeyTiming:
        """Keys placed on ``grid`` as it is now (a live tempo clock moves on; this stays)."""
        return cls(fps, grid.seconds_per_beat, grid.time_of_beat(0.0), grid.beats_per_bar,
                   max_frames, seed)

    @property
    def key_env(self) -> dict[str, float]:
        """What a key written as an expression may read: max_f, s, fps, bpm."""
        env = {"s": float(self.seed), "fps": float(self.fps), "bpm": 60.0 / self.seconds_per_beat}
        if self.max_frames is not None:
            env["max_f"] = float(self.max_frames - 1)
        return env

    def to_frame(self, amount: float, unit: str = "f") -> float:
        """Frame (fractional) of a key: ``unit`` is ``f`` frames, ``s`` seconds, ``b`` beats
        elapsed since beat 0, or ``bar`` bars elapsed since beat 0 (all 0-based)."""
        if unit == "f":
            return float(amount)
        if unit == "s":
            return amount * self.fps
        if unit == "b":
            return (self.beat_offset + amount * self.seconds_per_beat) * self.fps
        if unit == "bar":
            return (self.beat_offset + amount * self.beats_per_bar * self.seconds_per_beat) * self.fps
        raise ValueError(f"unknown key unit {unit!r}")


class Interpolation(str, Enum):
    """How numeric keys are joined: chosen once at parse time, never compared per frame."""

    LINEAR = "linear"
    CUBIC = "cubic"
    STEP = "step"


@dataclass(frozen=True)
class Keyframe:
    """One parsed key: where it falls (frame), its value, and its source for messages and timelines."""

    frame: float
    value: Union[float, Expression]
    key: str       # the key as written, e.g. "16b"
    column: int    # 1-based column of the key in the schedule text
    amount: float = 0.0  # the key's number in its unit (frames for a key written as an expression)
    unit: str = "f"      # f, s, b or bar: keys in b and bar move with the tempo
    order: int = 0       # position in the text (of two keys on one frame, the later one wins)


#: A segment between two keys: (env, frame) -> value.
_Segment = Callable[[Mapping[str, float], float], float]

_KEY = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)$")
_UNITS = {"": "f", "f": "f", "s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
          "b": "b", "beat": "b", "beats": "b", "bar": "bar", "bars": "bar"}
_NUMBER = re.compile(r"^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$")
_LOOKS_KEYED = re.compile(
    r"^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)\s*(?:f|s|secs?|seconds?|b|beats?|bars?)?\s*\(", re.IGNORECASE)


#: How far :meth:`Schedule.finite_value` looks for good frames on each side.
BRIDGE_FRAMES = 240


class Schedule:
    """A parsed schedule: call :meth:`value` once per frame with the frame's env."""

    def __init__(self, text: str, interpolation: Interpolation, keyframes: tuple[Keyframe, ...],
                 timing: KeyTiming, *, bare: bool = False, warnings: tuple[str, ...] = ()) -> None:
        self.text = text
        self.interpolation = interpolation
        #: The keys in frame order (one key at frame 0 for a bare number or expression).
        self.keyframes = keyframes
        self.timing = timing
        #: Loose syntax read one way (as Deforum reads it): for ``vj check`` to show.
        self.warnings = warnings
        self._bare = bare
        self._constant: float | None = _constant_value(keyframes)
        self._bare_expression: Expression | None = None
        if bare and isinstance(keyframes[0].value, Expression):
            self._bare_expression = keyframes[0].value
        self._starts = [k.frame for k in keyframes]
        self._segments, self._before = _build(keyframes, interpolation, timing)

    @property
    def is_constant(self) -> bool:
        """True when the value never changes (every key holds the same number)."""
        return self._constant is not None

    @property
    def uses_audio(self) -> bool:
        """True when an expression reads an audio feature (the value moves with the music)."""
        return any(isinstance(k.value, Expression) and k.value.uses_audio for k in self.keyframes)

    @property
    def names(self) -> frozenset[str]:
        """Every variable the expressions read."""
        return frozenset().union(*(k.value.names for k in self.keyframes
                                   if isinstance(k.value, Expression)))

    def value(self, env: Mapping[str, float]) -> float:
        """The value at ``env["frame"]`` (fractional frames are fine).

        ``env`` holds every variable of :func:`variable_names` (the caller builds one dict per
        frame and shares it between schedules). Raises ExpressionError when an expression fails
        at runtime; show-time callers hold the last good value.
        """
        if self._constant is not None:
            return self._constant
        if self._bare_expression is not None:
            return self._bare_expression.evaluate(env)
        frame = env["frame"]
        i = bisect.bisect_right(self._starts, frame) - 1
        if i < 0:
            return self._before(env, frame)
        return self._segments[i](env, frame)

    @property
    def follows_tempo(self) -> bool:
        """True when a tempo change moves it: a key in beats or bars, or an expression that reads
        the beat (a ramp towards it is evaluated at its key, in beats)."""
        if self._constant is not None or self._bare:
            return False
        return any(k.unit in ("b", "bar") or (isinstance(k.value, Expression) and not
                                              k.value.names.isdisjoint(("beat", "bar", "beat_phase")))
                   for k in self.keyframes)

    def retimed(self, timing: KeyTiming) -> Schedule:
        """The same schedule on another grid: keys in beats and bars placed again, nothing parsed or
        compiled again (linear in the keys). Returns ``self`` when the grid does not move it."""
        if not self.follows_tempo:
            return self
        moved = sorted((Keyframe(timing.to_frame(k.amount, k.unit) if k.unit != "f" else k.frame,
                                 k.value, k.key, k.column, k.amount, k.unit, k.order)
                        for k in self.keyframes), key=lambda k: (k.frame, k.order))
        kept: dict[float, Keyframe] = {}
        for k in moved:  # two keys now on one frame: the later in the text wins, as when parsed
            slot = round(k.frame, 9)
            if slot not in kept or kept[slot].order < k.order:
                kept[slot] = k
        keys = tuple(sorted(kept.values(), key=lambda k: k.frame))
        return Schedule(self.text, self.interpolation, keys, timing, warnings=self.warnings)

    def finite_value(self, env: Mapping[str, float], reach: int = BRIDGE_FRAMES) -> float | None:
        """The value, never NaN or infinite: as Deforum, a frame whose expression is not finite
        (or fails: division by zero, a math domain error) is left out and interpolated over from
        the nearest good frames on either side, within ``reach`` frames (clock variables moved to
        those frames, audio features as they are now); one side only: that side's value holds.
        None when no frame within reach is good."""
        try:
            value = self.value(env)
            if value - value == 0.0:
                return value
        except (ExpressionError, ArithmeticError, ValueError):
            pass
        frame = float(env["frame"])
        last = float(env["max_f"]) if "max_f" in env else math.inf
        below = math.ceil(frame) - 1 if frame != math.floor(frame) else frame - 1
        above = math.floor(frame) + 1
        before = after = None
        for step in range(reach):
            if before is None and below - step >= 0:
                found = self._try(env, frame, below - step)
                if found is not None:
                    before = (below - step, found)
            if after is None and above + step <= last:
                found = self._try(env, frame, above + step)
                if found is not None:
                    after = (above + step, found)
            if before is not None and after is not None:
                break
        if before is None and after is None:
            return None
        if before is None or after is None:
            return (before or after)[1]  # type: ignore[index]
        (f0, v0), (f1, v1) = before, after
        return v0 + (v1 - v0) * (frame - f0) / (f1 - f0)

    def _try(self, env: Mapping[str, float], frame: float, other: float) -> float | None:
        try:
            value = self.value(_moved(env, other - frame, self.timing))
        except (ExpressionError, ArithmeticError, ValueError):
            return None
        return value if value - value == 0.0 else None

    def __repr__(self) -> str:
        return f"Schedule({self.text!r}, interpolation={self.interpolation.value!r})"


def _moved(env: Mapping[str, float], frames: float, timing: KeyTiming) -> dict[str, float]:
    """``env`` with the clock variables moved by ``frames`` (audio features kept)."""
    seconds = frames / timing.fps
    beats = seconds / timing.seconds_per_beat
    shifted = dict(env)
    frame = env.get("frame", 0.0) + frames
    beat = env.get("beat", 0.0) + beats
    shifted.update(frame=frame, t=frame, sec=env.get("sec", 0.0) + seconds, beat=beat,
                   bar=env.get("bar", 0.0) + beats / timing.beats_per_bar,
                   beat_phase=beat - math.floor(beat))
    return shifted


def parse_schedule(text: str | int | float, timing: KeyTiming,
                   interpolation: str = "linear") -> Schedule:
    """Parse a number, a bare expression, or ``key:(value), ...``; ScheduleError says what and where.

    ``interpolation`` is ``linear``, ``cubic`` or ``step`` (how numeric keys are joined).
    """
    try:
        mode = Interpolation(interpolation.lower() if isinstance(interpolation, str) else interpolation)
    except ValueError:
        choices = ", ".join(m.value for m in Interpolation)
        raise ScheduleError(f"unknown interpolation {interpolation!r} (choose {choices})",
                            str(text)) from None
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ScheduleError(f"expected a number or a schedule string, got {type(text).__name__}",
                            repr(text))
    if not isinstance(text, str):
        if not math.isfinite(text):
            raise ScheduleError("the number is not finite", repr(text))
        return Schedule(repr(text), mode, (Keyframe(0.0, float(text), "0", 1),), timing)
    if not text.strip():
        raise ScheduleError("empty schedule (write a number, an expression or 0:(value), ...)",
                            text, 1)
    if _NUMBER.match(text):
        return Schedule(text, mode, (Keyframe(0.0, _number(text, text, 1), "0", 1),), timing)
    if not _is_keyed(text):
        value = _value(text, text, 0, "")
        return Schedule(text, mode, (Keyframe(0.0, value, "0", 1),), timing, bare=True)
    # Long schedules make tens of thousands of small objects: the cyclic collector would walk the
    # growing heap again and again (a third of the time at 18,000 keys) and finds nothing to free.
    collecting = gc.isenabled()
    if collecting and len(text) > 20_000:
        gc.disable()
    try:
        keyframes, warnings = _parse_keyframes(text, timing)
        return Schedule(text, mode, keyframes, timing, warnings=warnings)
    finally:
        if collecting:
            gc.enable()


# ---- parsing ----------------------------------------------------------------------------------


def _is_keyed(text: str) -> bool:
    """Keyframe syntax has a colon outside parentheses, or starts like ``10(`` (colon forgotten)."""
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == ":" and depth == 0:
            return True
    return bool(_LOOKS_KEYED.match(text))


def _number(value_text: str, text: str, column: int) -> float:
    value = float(value_text)
    if not math.isfinite(value):
        raise ScheduleError("number too large", text, column)
    return value


def _value(value_text: str, text: str, offset: int, key: str, *,
           numbers: bool = True) -> float | Expression:
    """A bare value: a plain number or a compiled expression (``numbers=False``: always compiled)."""
    if numbers and _NUMBER.match(value_text):
        return _number(value_text, text, offset + 1 + len(value_text) - len(value_text.lstrip()))
    try:
        return compile_expression(value_text)
    except ExpressionError as exc:
        column = offset + exc.position if exc.position is not None else offset + 1
        where = f" for key '{key}'" if key else ""
        raise ScheduleError(f"bad expression{where}: {exc.reason}", text, column) from exc


_SPACE = re.compile(r"\s*")


def _skip_space(text: str, i: int) -> int:
    return _SPACE.match(text, i).end()  # type: ignore[union-attr]


#: Deforum's ``check_is_number`` after ``sanitize_value`` (quotes and parentheses removed): only
#: such a value is a number that is interpolated; anything else (``( 1.0 )``, ``1e-3``, ``1.``)
#: goes to numexpr and is evaluated at every frame from its key to the next, i.e. held.
_DEFORUM_NUMBER = re.compile(r"^[+-]?[0-9]*(?:\.[0-9]+)?$")
#: Where a key ends.
_KEY_END = re.compile(r"[:(),]")
#: What a key written as an expression may read.
_KEY_NAMES = frozenset({"max_f", "s", "fps", "bpm"})


def _keyed_value(value_text: str, text: str, offset: int, key: str) -> float | Expression:
    """A key's value by Deforum's rule: a plain number is interpolated, anything else is held."""
    sanitized = value_text.replace("'", "").replace('"', "").replace("(", "").replace(")", "")
    if sanitized and _DEFORUM_NUMBER.match(sanitized) and sanitized not in "+-":
        return _number(sanitized, text, offset + 1)
    return _value(value_text, text, offset, key, numbers=False)


def _parse_keyframes(text: str, timing: KeyTiming) -> tuple[tuple[Keyframe, ...], tuple[str, ...]]:
    """``key:(value), key:(value), ...``; whitespace anywhere between the parts, a trailing comma ok.

    Deforum's loose forms it reads one way only are accepted, each with a warning: a missing ','
    between two keyframes, a key written twice (``0: 0: (0)``), two keys on one frame (the later
    wins, as in Deforum's dict). One pass over the text: linear in its length.
    """
    keyframes: list[Keyframe] = []
    warnings: list[str] = []
    by_frame: dict[float, int] = {}   # frame -> index in keyframes (duplicates: the later wins)
    n = len(text)
    i = _skip_space(text, 0)
    while i < n:
        key_start = i
        if text[i] in "\"'":  # a quoted key may hold anything, "(max_f/2)" too
            closing = text.find(text[i], i + 1)
            i = closing + 1 if closing > 0 else i
        stop = _KEY_END.search(text, i)
        i = stop.start() if stop else n
        key = text[key_start:i].strip()
        if not key:
            what = f"'{text[i]}'" if i < n else "the end"
            raise ScheduleError(f"missing key before {what} (write e.g. 0:(1.0))", text, i + 1)
        if i >= n or text[i] != ":":
            if i < n and text[i] == "(":
                reason = f"missing ':' between key '{key}' and its value"
            else:
                reason = f"missing ':(value)' after key '{key}'"
            raise ScheduleError(reason, text, i + 1)
        frame, amount, unit = _key_frame(key, text, key_start, timing)
        i = _skip_space(text, i + 1)
        if i < n and text[i] != "(":
            # Deforum's "0: 0: (0)": the same key twice is read one way; two different keys are not.
            second_start = j = i
            while j < n and text[j] not in ":(),":
                j += 1
            if j < n and text[j] == ":":
                second = text[second_start:j].strip()
                second_frame = _key_frame(second, text, second_start, timing)[0]
                if not math.isclose(second_frame, frame, rel_tol=0.0, abs_tol=1e-9):
                    raise ScheduleError(
                        f"two keys '{key}' and '{second}' for one value: keep one, e.g. "
                        f"{second}:(...)", text, second_start + 1)
                warnings.append(f"key '{key}' is written twice ('{key}: {second}:'); read as one")
                i = _skip_space(text, j + 1)
        if i >= n or text[i] != "(":
            raise ScheduleError(f"the value of key '{key}' must be in parentheses, e.g. {key}:(1.0)",
                                text, i + 1)
        opening = i
        depth = 0
        closing = text.find(")", i + 1)
        if closing > 0 and text.find("(", i + 1, closing) < 0:  # no inner parentheses: found in C
            i = closing
        else:
            while i < n:
                char = text[i]
                if char == "(":
                    depth += 1
                elif char == ")":
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
        if depth != 0:
            raise ScheduleError(f"unbalanced parentheses: the '(' of key '{key}' is never closed",
                                text, opening + 1)
        value_text = text[opening + 1:i]
        if not value_text.strip():
            raise ScheduleError(f"empty value for key '{key}'", text, opening + 1)
        value = _keyed_value(value_text, text, opening + 1, key)
        slot = round(frame, 9)
        keyframe = Keyframe(frame, value, key, key_start + 1, amount, unit, len(keyframes))
        if slot in by_frame:
            other = keyframes[by_frame[slot]]
            same = "" if other.key == key else f" (frame {frame:g}, same as '{other.key}')"
            warnings.append(f"duplicate key '{key}'{same} at column {key_start + 1}: the later "
                            "one is used, as in Deforum")
            keyframes[by_frame[slot]] = keyframe
        else:
            by_frame[slot] = len(keyframes)
            keyframes.append(keyframe)
        i = _skip_space(text, i + 1)
        if i < n:
            if text[i] == ")":
                raise ScheduleError("unbalanced parentheses: unexpected ')'", text, i + 1)
            if text[i] != ",":
                if text[i].isalnum() or text[i] in "\"'":  # "0:(1) 5:(2)": only one reading
                    warnings.append(f"missing ',' before column {i + 1}: read as a new keyframe")
                    continue
                raise ScheduleError(f"expected ',' between keyframes, found '{text[i]}'", text, i + 1)
            i = _skip_space(text, i + 1)
    keyframes.sort(key=lambda k: k.frame)  # Disco and Deforum keep keys in a dict: order is free
    return tuple(keyframes), tuple(warnings)


def _key_frame(key: str, text: str, key_start: int, timing: KeyTiming) -> tuple[float, float, str]:
    """(frame, amount, unit) of a key: a number with a unit, or an expression of max_f, s, fps, bpm."""
    column = key_start + 1
    quoted = len(key) > 2 and key[0] == key[-1] and key[0] in "\"'"
    if quoted:
        key, column = key[1:-1].strip(), column + 1  # Deforum allows "10":(1)
    match = _KEY.match(key)
    if match is None:
        frame = _expression_key(key, text, column, timing)
        return frame, frame, "f"
    unit = _UNITS.get(match.group(2).lower())
    if unit is None:
        raise ScheduleError(f"bad key unit '{match.group(2)}' in key '{key}' (use nothing or f for "
                            "frames, s for seconds, b for beats, bar for bars)", text,
                            column + match.start(2))
    amount = float(match.group(1))
    frame = timing.to_frame(amount, unit)
    if not math.isfinite(frame):
        raise ScheduleError(f"key '{key}' is not a finite frame", text, column)
    return frame, amount, unit


def _expression_key(key: str, text: str, column: int, timing: KeyTiming) -> float:
    """Deforum's keys written as expressions (``"max_f-1"``, ``max_f/4-5``): a whole frame,
    truncated towards zero like Deforum's ``int(numexpr.evaluate(key))``."""
    bad = f"bad key '{key}': write a frame number, 12.5s, 16b, 4bar or an expression of max_f"
    try:
        expression = compile_expression(key)
    except ExpressionError:
        raise ScheduleError(bad, text, column) from None
    other = expression.names - _KEY_NAMES
    if other:
        raise ScheduleError(f"{bad} (a key may read only max_f, s, fps and bpm, not "
                            f"{', '.join(sorted(other))})", text, column)
    env = timing.key_env
    if "max_f" in expression.names and "max_f" not in env:
        raise ScheduleError(f"key '{key}' reads max_f, the last frame, and the song's length is "
                            "not known here (give the number of frames)", text, column)
    try:
        value = expression.evaluate(env)
    except ExpressionError as exc:
        raise ScheduleError(f"key '{key}': {exc.reason}", text, column) from None
    return float(int(value))


# ---- building the per-frame segments ----------------------------------------------------------


def _constant_value(keyframes: tuple[Keyframe, ...]) -> float | None:
    values = []
    for k in keyframes:
        if isinstance(k.value, Expression):
            if not k.value.is_constant:
                return None
            values.append(k.value.evaluate({}))
        else:
            values.append(k.value)
    return values[0] if all(v == values[0] for v in values) else None


def _hold(value: float) -> _Segment:
    return lambda env, frame: value


def _expression(expression: Expression) -> _Segment:
    evaluate = expression.evaluate
    return lambda env, frame: evaluate(env)


def _linear(k0: float, v0: float, k1: float, v1: float) -> _Segment:
    slope = (v1 - v0) / (k1 - k0)
    return lambda env, frame: v0 + (frame - k0) * slope


def _cubic(k0: float, a: float, b: float, c: float, d: float) -> _Segment:
    def segment(env: Mapping[str, float], frame: float) -> float:
        x = frame - k0
        return a + x * (b + x * (c + x * d))
    return segment


def _natural_spline(xs: list[float], ys: list[float]) -> list[_Segment]:
    """Natural cubic spline pieces through (xs, ys): C2-smooth, zero curvature at both ends.

    Two points give a straight line, like Deforum falling back to linear with few keys.
    """
    n = len(xs)
    h = [xs[i + 1] - xs[i] for i in range(n - 1)]
    second = [0.0] * n  # second derivatives; natural ends keep 0 at both ends
    if n > 2:
        # Thomas algorithm on the tridiagonal system for the interior second derivatives.
        diag = [2.0 * (h[i - 1] + h[i]) for i in range(1, n - 1)]
        rhs = [6.0 * ((ys[i + 1] - ys[i]) / h[i] - (ys[i] - ys[i - 1]) / h[i - 1])
               for i in range(1, n - 1)]
        for j in range(1, n - 2):
            w = h[j] / diag[j - 1]
            diag[j] -= w * h[j]
            rhs[j] -= w * rhs[j - 1]
        for j in range(n - 3, -1, -1):
            upper = h[j + 1] * second[j + 2] if j + 2 < n - 1 else 0.0
            second[j + 1] = (rhs[j] - upper) / diag[j]
    pieces = []
    for i in range(n - 1):
        slope = (ys[i + 1] - ys[i]) / h[i] - h[i] * (2.0 * second[i] + second[i + 1]) / 6.0
        pieces.append(_cubic(xs[i], ys[i], slope, second[i] / 2.0,
                             (second[i + 1] - second[i]) / (6.0 * h[i])))
    return pieces


def _at_key(expression: Expression, key: float, timing: KeyTiming
            ) -> Callable[[Mapping[str, float], float], float]:
    """The expression's value at frame ``key``, seen from ``frame``: clock variables moved, audio now."""
    if expression.is_constant or not expression.uses_time:
        evaluate = expression.evaluate
        return lambda env, frame: evaluate(env)
    fps, seconds_per_beat, beats_per_bar = timing.fps, timing.seconds_per_beat, timing.beats_per_bar

    def value(env: Mapping[str, float], frame: float) -> float:
        seconds = (key - frame) / fps
        beats = seconds / seconds_per_beat
        shifted = dict(env)
        beat = env.get("beat", 0.0) + beats
        shifted.update(frame=key, t=key, sec=env.get("sec", frame / fps) + seconds, beat=beat,
                       bar=env.get("bar", 0.0) + beats / beats_per_bar,
                       beat_phase=beat - math.floor(beat))
        return expression.evaluate(shifted)
    return value


def _ramp(k0: float, v0: float, k1: float, target: Callable[[Mapping[str, float], float], float]
          ) -> _Segment:
    span = k1 - k0
    return lambda env, frame: v0 + (target(env, frame) - v0) * ((frame - k0) / span)


def _build(keyframes: tuple[Keyframe, ...], mode: Interpolation, timing: KeyTiming
           ) -> tuple[list[_Segment], _Segment]:
    """One segment per key, covering [its frame, the next key's frame), plus what comes before."""
    spline: dict[int, _Segment] = {}
    if mode is Interpolation.CUBIC:
        run: list[int] = []
        for i in range(len(keyframes) + 1):
            if i < len(keyframes) and not isinstance(keyframes[i].value, Expression):
                run.append(i)
                continue
            if len(run) >= 2:
                xs = [keyframes[j].frame for j in run]
                ys = [float(keyframes[j].value) for j in run]  # type: ignore[arg-type]
                pieces = _natural_spline(xs, ys)
                spline.update(zip(run, pieces))
            run = []
    segments: list[_Segment] = []
    for i, key in enumerate(keyframes):
        following = keyframes[i + 1] if i + 1 < len(keyframes) else None
        if isinstance(key.value, Expression):
            segments.append(_expression(key.value))
        elif following is None or mode is Interpolation.STEP:
            segments.append(_hold(key.value))
        elif isinstance(following.value, Expression):
            segments.append(_ramp(key.frame, key.value, following.frame,
                                  _at_key(following.value, following.frame, timing)))
        elif i in spline:
            segments.append(spline[i])
        else:
            segments.append(_linear(key.frame, key.value, following.frame, following.value))
    first = keyframes[0]
    if isinstance(first.value, Expression):
        before = _at_key(first.value, first.frame, timing)
    else:
        before = _hold(first.value)
    return segments, before
