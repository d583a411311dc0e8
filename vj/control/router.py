"""One control router for OSC, MIDI and keys: an address or a mapping target → a parameter write
or an action. No sockets, no devices: the OSC server and the MIDI input only move bytes here, so
all the meaning (and every bad-input rule) is tested without either.

Targets are parameter names (``strength``), action names (``next_cue``) or one of the
``STEP_TARGETS`` (``next_style``…). Bad input never raises out of here: it is dropped (or
clamped) with one rate-limited log line, and the call returns False.

The OSC address space is derived from the parameter table (``vj.param_table``), never listed per
parameter here: ``/vj/param/<name>[/normalized|/add|/mul|/toggle|/reset]``, ``/vj/norm/<name>``
and ``/vj/<name>`` for every parameter of the store; ``/vj/<name>`` and the table's extra
addresses for every action; a parameter's own extra addresses (``Param.osc``).
"""
from __future__ import annotations

import logging
import math
from typing import Any, Mapping, Sequence

from vj.control.logs import RateLimitedLog
from vj.control.params import ParamKind, ParamSpec, ParamStore
from vj.param_table import ACTION_SPECS, ACTIONS, GAIN_PREFIX, STEP_TARGETS, VALUE_ACTIONS

log = logging.getLogger(__name__)

#: Ways to apply a value to a target.
HOW = ("set", "normalised", "add", "add_normalised", "multiply", "toggle", "trigger", "release")

_FALSE_WORDS = {"0", "false", "off", "no", "f", "n", ""}
_NORMALISED = {"normalized", "normalised", "norm"}
_RELATIVE = ("+", "-", "*")
#: Longest address the router looks at (anything longer is garbage).
_MAX_ADDRESS = 256


def _action_routes() -> dict[str, tuple[str, str]]:
    """Every action's OSC addresses → (action, how): ``/vj/<name>`` and its extra ones."""
    routes: dict[str, tuple[str, str]] = {}
    for spec in ACTION_SPECS:
        how = "set" if spec.needs_value else "trigger"
        for address in (f"/vj/{spec.name}",) + spec.osc:
            routes.setdefault(address.lower(), (spec.name, how))
    return routes


_ACTION_ROUTES = _action_routes()


def is_target(name: str, store: "ParamStore | Mapping[str, Any]") -> bool:
    """True for a parameter of ``store`` (a store or its specs), an action, a step target, or a
    ``gain_<mapping>`` name (registered per song, so a mapping file may name one before the song
    is loaded)."""
    return name in store or name in ACTIONS or name in STEP_TARGETS or name.startswith(GAIN_PREFIX)


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
        self._routes_cache: tuple[Mapping[str, ParamSpec], dict[str, tuple[str, ...]]] | None = None

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

    def _param_routes(self) -> dict[str, tuple[str, ...]]:
        """The parameters' extra OSC addresses (``Param.osc``) → parameter names, rebuilt when
        the store's table changes."""
        specs = self.store.specs
        cached = self._routes_cache
        if cached is not None and cached[0] is specs:
            return cached[1]
        routes: dict[str, tuple[str, ...]] = {}
        for spec in specs.values():
            for address in spec.osc:
                key = address.rstrip("/").lower()
                routes[key] = routes.get(key, ()) + (spec.name,)
        self._routes_cache = (specs, routes)
        return routes

    def osc(self, address: str, args: Sequence[Any], source: str = "osc") -> bool:
        """Route one OSC message (address space: docs/osc.md)."""
        if not isinstance(address, str) or len(address) > _MAX_ADDRESS:
            return self._drop("osc-address", "OSC address too long or not text: dropped")
        args = [a for a in args if not isinstance(a, (bytes, bytearray, list, tuple))] \
            if any(isinstance(a, (bytes, bytearray, list, tuple)) for a in args) else list(args)
        path = address.rstrip("/").lower()
        first = args[0] if args else None
        for name in self._param_routes().get(path, ()):
            if args and _accepts(self.store.spec(name), first):
                return self._param(name, [], args, address, source)
        parts = path.split("/")[1:]
        if len(parts) < 2 or parts[0] != "vj":
            return self._route_or_unknown(path, first, address, source)
        head, rest = parts[1], parts[2:]
        if head == "param" and rest:
            return self._param(rest[0], rest[1:], args, address, source)
        if head in _NORMALISED and len(rest) == 1:
            return self._param(rest[0], ["normalized"], args, address, source)
        if not rest and head in self.store:
            return self._param(head, [], args, address, source)
        return self._route_or_unknown(path, first, address, source)

    def _route_or_unknown(self, path: str, value: Any, address: str, source: str) -> bool:
        route = _ACTION_ROUTES.get(path)
        if route is None:
            return self._unknown(address, source)
        return self.apply(route[0], value, route[1], source)

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
        if not kind and spec.osc_second and len(args) >= 2 and not _relative_marker(args[0]):
            return self._with_second(spec, args, source)
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
            if text in _RELATIVE and len(args) >= 2:
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

    def _with_second(self, spec: ParamSpec, args: Sequence[Any], source: str) -> bool:
        """``/vj/style <name|index> <seconds>``: the second argument sets ``spec.osc_second``
        (the crossfade time) first, so the change itself uses it; nothing is set if either is bad."""
        try:
            second = self.store.spec(spec.osc_second)
            spec.coerce(args[0])
            value = second.coerce(args[1])
        except (KeyError, ValueError, TypeError) as exc:
            return self._drop(f"bad-{spec.name}", "OSC /vj/%s %r dropped: %s", spec.name, _short(args[0]),
                              _message(exc))
        self.store.set(second.name, value, source)
        return self.apply(spec.name, args[0], "set", source)

    def _unknown(self, address: str, source: str) -> bool:
        return self._drop("unknown-address", "unknown OSC address %r from %s (see docs/osc.md)",
                          address[:80], source)

    # ---- keys -------------------------------------------------------------------------------

    def key(self, target: str, source: str = "key") -> bool:
        """A key press bound to ``target``: actions fire, on/off parameters toggle, lists step."""
        return self.apply(target, None, "trigger" if target in ACTIONS or target in STEP_TARGETS
                          else "toggle", source)


def _relative_marker(value: Any) -> bool:
    return isinstance(value, str) and value.strip() in _RELATIVE


def _accepts(spec: ParamSpec, value: Any) -> bool:
    """Whether an OSC argument is meant for ``spec`` where an address is shared: an INT takes
    whole numbers, TEXT takes text, anything else anything."""
    if spec.kind is ParamKind.INT:
        return _is_index(value)
    if spec.kind is ParamKind.TEXT:
        return isinstance(value, str)
    return True


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
