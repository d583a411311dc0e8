"""One control router for OSC, MIDI and keys: an address or a mapping target → a parameter write
or an action. No sockets, no devices: the OSC server and the MIDI input only move bytes here, so
all the meaning (and every bad-input rule) is tested without either.

Targets are parameter names (``strength``), action names (``next_cue``) or one of the
``STEP_TARGETS`` (``next_style``…). Bad input never raises out of here: it is dropped (or
clamped) with one rate-limited log line, and the call returns False.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Sequence

from vj.control.logs import RateLimitedLog
from vj.control.params import ACTIONS, ParamKind, ParamStore

log = logging.getLogger(__name__)

#: Targets that step a list parameter rather than set it.
STEP_TARGETS: dict[str, tuple[str, int]] = {
    "next_style": ("style", 1), "previous_style": ("style", -1),
    "next_prompt": ("prompt_index", 1), "previous_prompt": ("prompt_index", -1),
}
#: Actions that need a value (a trigger with no value is dropped).
VALUE_ACTIONS = frozenset({"cue", "song", "bpm"})
#: Ways to apply a value to a target.
HOW = ("set", "normalised", "add", "add_normalised", "multiply", "toggle", "trigger", "release")

_FALSE_WORDS = {"0", "false", "off", "no", "f", "n", ""}
_NORMALISED = {"normalized", "normalised", "norm"}
_RESOLUME = {
    "/composition/tempocontroller/tempotap": "tap",
    "/composition/tempocontroller/resync": "resync",
}
#: Longest address the router looks at (anything longer is garbage).
_MAX_ADDRESS = 256


def is_target(name: str, store: ParamStore) -> bool:
    """True for a parameter of ``store``, an action, a step target, or a ``gain_<mapping>`` name
    (registered per song, so a mapping file may name one before the song is loaded)."""
    return name in store or name in ACTIONS or name in STEP_TARGETS or name.startswith("gain_")


def fires(args: Sequence[Any]) -> bool:
    """Whether a trigger message fires: no argument, or a true-ish one. Buttons that send 1 on
    press and 0 on release (TouchOSC, Resolume) fire once."""
    if not args:
        return True
    first = args[0]
    if first is None:
        return True
    if isinstance(first, str):
        return first.strip().lower() not in _FALSE_WORDS
    if isinstance(first, (bool, int, float)):
        return bool(math.isfinite(float(first)) and float(first) >= 0.5)
    return False


class ControlRouter:
    """Applies control input to a ParamStore. Thread-safe as the store is: call from any thread."""

    def __init__(self, store: ParamStore) -> None:
        self.store = store
        self.bad = RateLimitedLog(log)
        self.handled = 0
        self.dropped = 0

    # ---- the shared core --------------------------------------------------------------------

    def apply(self, target: str, value: Any = None, how: str = "set", source: str = "api") -> bool:
        """Apply ``value`` to ``target`` the way ``how`` says. Returns True when something changed
        or was queued; bad input is logged (rate-limited) and dropped."""
        store = self.store
        try:
            if target in STEP_TARGETS:
                name, direction = STEP_TARGETS[target]
                if how != "trigger" or fires([value] if value is not None else []):
                    store.nudge(name, direction, source)
                    return self._ok()
                return False
            if target in ACTIONS and target not in store:
                return self._action(target, value, how, source)
            spec = store.spec(target)
            if how == "set":
                self._check_range(spec, value)
                store.set(target, value, source)
            elif how == "normalised":
                store.set_normalised(target, value, source)
            elif how == "add":
                store.nudge(target, value, source)
            elif how == "add_normalised":
                store.nudge(target, value, source, normalised=True)
            elif how == "multiply":
                store.multiply(target, value, source)
            elif how == "toggle":
                if spec.kind is ParamKind.BOOL:
                    store.toggle(target, source)
                else:
                    store.nudge(target, 1, source)
            elif how == "trigger":
                if spec.kind is ParamKind.BOOL:
                    store.toggle(target, source)
                elif spec.kind is ParamKind.CHOICE:
                    store.nudge(target, 1, source)
                elif value is not None:
                    store.set(target, value, source)
                else:
                    return False
            elif how == "release":
                store.release(target, source)
            else:
                raise ValueError(f"unknown way to apply a value: {how}")
        except (KeyError, ValueError, TypeError, OverflowError) as exc:
            return self._drop(f"bad-{target[:40]}", "control %s %s %r dropped: %s", source, target,
                              _short(value), _message(exc))
        return self._ok()

    def _action(self, name: str, value: Any, how: str, source: str) -> bool:
        if name in VALUE_ACTIONS:
            if value is None or isinstance(value, (bytes, list, tuple)):
                return self._drop(f"noval-{name}", "control %s %s needs a value", source, name)
            if isinstance(value, float) and not math.isfinite(value):
                return self._drop(f"nan-{name}", "control %s %s: %r is not a number", source, name, value)
            if isinstance(value, str):
                value = value.strip()[:100]
            self.store.trigger(name, value, source)
            return self._ok()
        if how == "trigger" and value is not None and not fires([value]):
            return False  # a button release
        self.store.trigger(name, None if how == "trigger" else value, source)
        return self._ok()

    def _check_range(self, spec: Any, value: Any) -> None:
        if spec.numeric and isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isfinite(value) and not spec.minimum <= value <= spec.maximum:
                self.bad(f"clamp-{spec.name}", "%s = %r is out of range %g..%g: clamped", spec.name, value,
                         spec.minimum, spec.maximum)

    def _ok(self) -> bool:
        self.handled += 1
        return True

    def _drop(self, key: str, message: str, *args: Any) -> bool:
        self.dropped += 1
        self.bad(key, message, *args)
        return False

    # ---- OSC --------------------------------------------------------------------------------

    def osc(self, address: str, args: Sequence[Any], source: str = "osc") -> bool:
        """Route one OSC message (address space: docs/osc.md)."""
        if not isinstance(address, str) or len(address) > _MAX_ADDRESS:
            return self._drop("osc-address", "OSC address too long or not text: dropped")
        args = [a for a in args if not isinstance(a, (bytes, bytearray, list, tuple))] \
            if any(isinstance(a, (bytes, bytearray, list, tuple)) for a in args) else list(args)
        path = address.rstrip("/").lower()
        if path in _RESOLUME:
            return self.apply(_RESOLUME[path], args[0] if args else None, "trigger", source)
        if path == "/composition/tempocontroller/tempo":
            return self.apply("bpm", args[0] if args else None, "set", source)
        parts = path.split("/")[1:]
        if len(parts) < 2 or parts[0] != "vj":
            return self._unknown(address, source)
        head, rest = parts[1], parts[2:]
        if head == "param" and rest:
            return self._param(rest[0], rest[1:], args, address, source)
        if head in ("norm", "normalized", "normalised") and len(rest) == 1:
            return self._param(rest[0], ["normalized"], args, address, source)
        if head == "cue":
            return self._cue(rest, args, address, source)
        if head in ("song", "style", "prompt") and rest and rest[0] in ("next", "previous", "prev"):
            if len(rest) != 1:
                return self._unknown(address, source)
            step = "next" if rest[0] == "next" else "previous"
            target = {"song": f"{step}_song", "style": f"{step}_style", "prompt": f"{step}_prompt"}[head]
            return self.apply(target, args[0] if args else None, "trigger", source)
        if head == "bpm" and rest in (["up"], ["down"]):
            return self.apply(f"bpm_{rest[0]}", args[0] if args else None, "trigger", source)
        if rest:
            return self._unknown(address, source)
        if head == "song":
            return self.apply("song", args[0] if args else None, "set", source)
        if head == "style" and len(args) >= 2:
            return self._style_with_time(args, source)
        if head == "prompt" and args and _is_index(args[0]):
            return self.apply("prompt_index", args[0], "set", source)
        if head in self.store:
            return self._param(head, [], args, address, source)
        if head in ACTIONS:
            return self.apply(head, args[0] if args else None, "trigger", source)
        return self._unknown(address, source)

    def _param(self, name: str, suffix: Sequence[str], args: Sequence[Any], address: str, source: str) -> bool:
        if name not in self.store:
            return self._unknown(address, source)
        if len(suffix) > 1:
            return self._unknown(address, source)
        kind = suffix[0] if suffix else ""
        if kind in ("reset", "release"):
            return self.apply(name, None, "release", source)
        if kind == "toggle":
            return self.apply(name, None, "toggle", source) if fires(args) else False
        normalised = kind in _NORMALISED
        if kind and not normalised and kind not in ("add", "mul", "multiply"):
            return self._unknown(address, source)
        spec = self.store.spec(name)
        if not args or args[0] is None:
            if spec.kind is ParamKind.BOOL and not kind:
                return self.apply(name, None, "toggle", source)
            return self._drop(f"noarg-{name}", "OSC %s from %s needs a value", address[:80], source)
        first = args[0]
        if kind == "add":
            return self.apply(name, first, "add_normalised" if normalised else "add", source)
        if kind in ("mul", "multiply"):
            return self.apply(name, first, "multiply", source)
        if isinstance(first, str) and spec.kind is not ParamKind.TEXT:
            text = first.strip()
            # Resolume's relative forms: ("+", 0.1), ("-", 0.1), ("*", 2), ("!",); or "+0.1" / "-0.1".
            if text in ("+", "-", "*") and len(args) >= 2:
                if text == "*":
                    return self.apply(name, args[1], "multiply", source)
                delta = _signed(args[1], text)
                if delta is None:
                    return self._drop(f"rel-{name}", "OSC %s: %r is not a number", address[:80], _short(args[1]))
                return self.apply(name, delta, "add_normalised" if normalised else "add", source)
            if text == "!":
                return self.apply(name, None, "toggle", source)
            if text[:1] in ("+", "-") and len(text) > 1 and spec.kind is not ParamKind.CHOICE:
                return self.apply(name, text, "add_normalised" if normalised else "add", source)
        if spec.kind is ParamKind.TEXT and not isinstance(first, str):
            return self._drop(f"type-{name}", "OSC %s: %s takes text, got %r", address[:80], name, _short(first))
        return self.apply(name, first, "normalised" if normalised else "set", source)

    def _cue(self, rest: Sequence[str], args: Sequence[Any], address: str, source: str) -> bool:
        value = args[0] if args else None
        if not rest:
            return self.apply("cue", value, "set", source)
        if rest in (["next"],):
            return self.apply("next_cue", value, "trigger", source)
        if rest in (["previous"], ["prev"]):
            return self.apply("previous_cue", value, "trigger", source)
        if len(rest) == 2 and rest[0] == "arm" and rest[1] in ("downbeat", "onset"):
            return self.apply(f"arm_{rest[1]}", value, "trigger", source)
        return self._unknown(address, source)

    def _style_with_time(self, args: Sequence[Any], source: str) -> bool:
        """``/vj/style <name|index> <seconds>``: a style change with its own crossfade time."""
        try:
            seconds = float(args[1])
            if not math.isfinite(seconds):
                raise ValueError(f"{args[1]!r} is not a number of seconds")
            self.store.set("style", args[0], source, glide=min(max(seconds, 0.0), 30.0))
        except (KeyError, ValueError, TypeError) as exc:
            return self._drop("bad-style", "OSC /vj/style %r dropped: %s", _short(args[0]), _message(exc))
        return self._ok()

    def _unknown(self, address: str, source: str) -> bool:
        return self._drop("unknown-address", "unknown OSC address %r from %s (see docs/osc.md)",
                          address[:80], source)

    # ---- keys -------------------------------------------------------------------------------

    def key(self, target: str, source: str = "key") -> bool:
        """A key press bound to ``target``: actions fire, on/off parameters toggle, lists step."""
        return self.apply(target, None, "trigger" if target in ACTIONS or target in STEP_TARGETS
                          else "toggle", source)


def _is_index(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value) and value == int(value)


def _signed(value: Any, sign: str) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if not math.isfinite(number):
        return None
    return -number if sign == "-" else number


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 40:
        return value[:40] + "…"
    return value


def _message(exc: BaseException) -> str:
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return text[:160]


__all__ = ["ControlRouter", "STEP_TARGETS", "VALUE_ACTIONS", "HOW", "fires", "is_target"]
