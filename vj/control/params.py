"""The parameter store: every number a performer may move (the table in ``vj.param_table``),
written by OSC, MIDI, keys and the setlist, read once per frame by the director.

Why it is built this way:

- **Writers never block the render.** The whole state is one immutable object; a write copies it,
  changes one slot and swaps the reference in (copy-on-write under a writers-only lock). The
  render thread's ``snapshot()`` reads that one reference and takes no lock, so it sees every
  parameter from the same moment and can never wait on a control thread.
- **Smoothing is computed at read time.** A write records (start value, target, time, glide);
  ``snapshot(now)`` evaluates the glide for the frame's own time, so a fader moved by a 100 Hz
  MIDI stream and a display at 144 Hz both see a continuous value without a smoothing thread.
- **Parameters that follow the setlist** (``Param.follows_setlist``: style, prompt, strength,
  guidance, seed, BPM, latency offset…) are absent from the snapshot until a control sets them:
  the director only overrides the cue's own value when the performer asked for it;
  ``release(name)`` hands it back.
- **Actions** (next cue, tap, song select…) are events, not state: ``ControlEvent``s in a bounded
  queue the render loop drains with ``get_nowait()``; when full, the oldest are dropped (they are
  stale anyway).
"""
from __future__ import annotations

import logging
import math
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Callable, Iterable, Iterator, Sequence

from vj.control.logs import RateLimitedLog
from vj.param_table import ACTIONS, GAIN_PREFIX, PARAMS, REACTIVITY_GAIN, Param, ParamKind

log = logging.getLogger(__name__)
_ratelog = RateLimitedLog(log)

#: Longest prompt text accepted from a control (characters); longer text is cut.
MAX_TEXT = 1000
#: Longest choice name accepted before the choices are configured.
_MAX_NAME = 100
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_TRUE = {"1", "true", "on", "yes", "t", "y"}
_FALSE = {"0", "false", "off", "no", "f", "n", ""}


_PARAM_FIELDS = tuple(f.name for f in fields(Param))


@dataclass(frozen=True)
class ParamSpec(Param):
    """One row of the parameter table (``vj.param_table.Param``: name, range, default, unit,
    smoothing, combine rule, doc…) with the store's value handling."""

    @classmethod
    def of(cls, param: Param) -> "ParamSpec":
        """``param`` as a ParamSpec (a table row, or already one)."""
        if isinstance(param, cls):
            return param
        return cls(**{name: getattr(param, name) for name in _PARAM_FIELDS})

    # ---- value handling -----------------------------------------------------------------------

    def coerce(self, value: Any) -> Any:
        """``value`` as this parameter's type, clamped to its range. Raises ValueError when it
        cannot be read (NaN, a word where a number belongs, an unknown style name)."""
        kind = self.kind
        if kind is ParamKind.FLOAT:
            return min(max(_number(value), self.minimum), self.maximum)
        if kind is ParamKind.INT:
            number = _number(value)
            return int(min(max(round(number), self.minimum), self.maximum))
        if kind is ParamKind.BOOL:
            return _boolean(value)
        if kind is ParamKind.CHOICE:
            return self._choice(value)
        return _text(value)

    def _choice(self, value: Any) -> str:
        if isinstance(value, str):
            text = value.strip()
            if self.choices:
                for choice in self.choices:
                    if choice.lower() == text.lower():
                        return choice
                if text.lstrip("-").isdigit():
                    return self._choice(int(text))
                raise ValueError(f"no {self.name} named '{text[:40]}'; known: {', '.join(self.choices)}")
            if not text or len(text) > _MAX_NAME:
                raise ValueError(f"'{text[:40]}' is not a {self.name} name")
            return text
        index = _number(value)
        if not self.choices:
            raise ValueError(f"no {self.name} list yet: give a name")
        if index != int(index) or not 0 <= index < len(self.choices):
            raise ValueError(f"{self.name} index {value} out of range 0..{len(self.choices) - 1}")
        return self.choices[int(index)]

    def to_normalised(self, value: Any) -> float:
        """Real units → 0..1 (what faders and tablets send and show)."""
        if self.kind is ParamKind.BOOL:
            return 1.0 if value else 0.0
        if self.kind is ParamKind.CHOICE:
            if not self.choices or value not in self.choices:
                return 0.0
            return self.choices.index(value) / max(len(self.choices) - 1, 1)
        if self.kind is ParamKind.TEXT:
            return 0.0
        span = self.maximum - self.minimum
        return 0.0 if span <= 0 else min(max((float(value) - self.minimum) / span, 0.0), 1.0)

    def from_normalised(self, position: Any) -> Any:
        """0..1 → real units (clamped); CHOICE picks one of len(choices) equal bins."""
        x = min(max(_number(position), 0.0), 1.0)
        if self.kind is ParamKind.BOOL:
            return x >= 0.5
        if self.kind is ParamKind.CHOICE:
            if not self.choices:
                raise ValueError(f"no {self.name} list yet")
            return self.choices[min(int(x * len(self.choices)), len(self.choices) - 1)]
        if self.kind is ParamKind.TEXT:
            raise ValueError(f"{self.name} is text; it has no normalised form")
        return self.coerce(self.minimum + x * (self.maximum - self.minimum))

    @property
    def numeric(self) -> bool:
        return self.kind in (ParamKind.FLOAT, ParamKind.INT)


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and len(value) <= 64:
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(f"'{value[:40]}' is not a number") from None
    else:
        raise ValueError(f"expected a number, got {type(value).__name__}")
    if not math.isfinite(number):
        raise ValueError(f"{number} is not a finite number")
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"'{value[:40]}' is not on/off")
    return _number(value) >= 0.5


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    if len(value) > MAX_TEXT:
        _ratelog("text-cut", "a text value of %d characters was cut to %d", len(value), MAX_TEXT)
        value = value[:MAX_TEXT]
    return _CONTROL_CHARS.sub(" ", value).strip()


# ---- the parameter table (declared in vj.param_table) ----------------------------------------

def default_specs(table: Iterable[Param] = PARAMS) -> list[ParamSpec]:
    """The store's specs for ``table`` (default: every parameter every show has; ``gain_<mapping>``
    ones are added per song)."""
    return [ParamSpec.of(param) for param in table]


def reactivity_gain_spec(mapping_name: str) -> ParamSpec:
    return ParamSpec.of(replace(REACTIVITY_GAIN, name=f"{GAIN_PREFIX}{mapping_name}",
                                doc=f"Gain of the reactivity mapping '{mapping_name}'."))


# ---- actions ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ControlEvent:
    """One queued action for the render loop (an ``ACTIONS`` name, its value, who sent it).
    ``time`` is the store clock (time.monotonic) at arrival."""

    name: str
    value: Any = None
    source: str = ""
    time: float = 0.0


class ActionQueue:
    """Bounded, lock-free for the reader (a deque with maxlen): the oldest events drop when full."""

    def __init__(self, capacity: int = 256) -> None:
        self._items: deque[ControlEvent] = deque(maxlen=capacity)
        self.capacity = capacity
        self.dropped = 0

    def put(self, action: ControlEvent) -> None:
        if len(self._items) >= self.capacity:
            self.dropped += 1
            _ratelog("actions-full", "control action queue full: dropping the oldest (%d dropped so far)",
                     self.dropped)
        self._items.append(action)

    def get_nowait(self) -> ControlEvent:
        """The oldest action; raises queue.Empty when there is none (as queue.Queue does)."""
        try:
            return self._items.popleft()
        except IndexError:
            raise queue.Empty from None

    def drain(self) -> list[ControlEvent]:
        items = []
        while True:
            try:
                items.append(self._items.popleft())
            except IndexError:
                return items

    def __len__(self) -> int:
        return len(self._items)


# ---- snapshot --------------------------------------------------------------------------------

class ParamSnapshot(Mapping[str, Any]):
    """A frozen mapping name → value at one moment, smoothing applied.

    Parameters that follow the setlist appear only once set.
    """

    __slots__ = ("_values", "time", "version")

    def __init__(self, values: dict[str, Any], time: float, version: int) -> None:
        self._values = values
        self.time = time
        self.version = version

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"ParamSnapshot(t={self.time:.3f}, {self._values!r})"


# ---- the store -------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Slot:
    target: Any
    start: Any
    since: float
    glide: float
    source: str

    def value_at(self, now: float) -> Any:
        if self.glide <= 0 or now >= self.since + self.glide:
            return self.target
        x = max(now - self.since, 0.0) / self.glide
        return self.start + (self.target - self.start) * x


@dataclass(frozen=True)
class _State:
    slots: dict[str, _Slot]
    specs: dict[str, ParamSpec]
    version: int = 0
    prompts: tuple[str, ...] = ()


Listener = Callable[[str, Any, str], None]


class ParamStore:
    """The parameters of one engine (one instance, passed around; no globals): the rows of a
    parameter table (default: ``vj.param_table.PARAMS``) and their current values.

    Sources name who wrote a value ("osc", "midi", "key", "setlist"; "engine" when the render
    loop reports its own state: that notifies listeners but queues no action).
    """

    def __init__(self, specs: Iterable[Param] | None = None, *,
                 clock: Callable[[], float] = time.monotonic, action_capacity: int = 256) -> None:
        table = {spec.name: spec for spec in default_specs(PARAMS if specs is None else specs)}
        self._state = _State(slots={}, specs=table)
        self._write_lock = threading.Lock()
        self._listeners: tuple[Listener, ...] = ()
        self.clock = clock
        self.actions = ActionQueue(action_capacity)
        # (snapshot, nothing was gliding): one attribute, so concurrent readers never mix two.
        self._cache: tuple[ParamSnapshot, bool] | None = None

    # ---- table ------------------------------------------------------------------------------

    @property
    def specs(self) -> Mapping[str, ParamSpec]:
        return self._state.specs

    def spec(self, name: str) -> ParamSpec:
        try:
            return self._state.specs[name]
        except KeyError:
            raise KeyError(f"unknown parameter '{name}'") from None

    def __contains__(self, name: object) -> bool:
        return name in self._state.specs

    @property
    def prompts(self) -> tuple[str, ...]:
        """The current song's prompts (``configure_prompts``), which ``prompt_index`` picks from."""
        return self._state.prompts

    def _swap(self, **changes: Any) -> _State:
        """Caller holds the write lock."""
        state = self._state
        self._state = replace(state, version=state.version + 1, **changes)
        return state

    def configure_choices(self, name: str, choices: Sequence[str]) -> None:
        """Set the names a CHOICE parameter takes (the setlist's styles); a set value no longer
        among them is released."""
        with self._write_lock:
            state = self._state
            spec = replace(self.spec(name), choices=tuple(choices), maximum=max(len(choices) - 1, 0))
            slots = state.slots
            if name in slots and slots[name].target not in spec.choices:
                slots = {k: v for k, v in slots.items() if k != name}
            self._swap(specs={**state.specs, name: spec}, slots=slots)

    def configure_prompts(self, prompts: Sequence[str]) -> None:
        """The current song's prompts, so ``prompt_index`` can set ``prompt``."""
        with self._write_lock:
            state = self._state
            spec = replace(self.spec("prompt_index"), maximum=max(len(prompts) - 1, 0))
            self._swap(prompts=tuple(prompts), specs={**state.specs, "prompt_index": spec})

    def register_reactivity(self, names: Iterable[str]) -> list[str]:
        """Add a ``gain_<name>`` parameter for each reactivity mapping; returns the parameter names."""
        added = [reactivity_gain_spec(name) for name in names]
        with self._write_lock:
            state = self._state
            specs = dict(state.specs)
            for spec in added:
                specs.setdefault(spec.name, spec)
            self._swap(specs=specs)
        return [spec.name for spec in added]

    def add_specs(self, specs: Iterable[Param]) -> None:
        """Extra parameters (a generator's or effect's own; table rows or specs); existing names
        are replaced."""
        added = default_specs(specs)
        with self._write_lock:
            state = self._state
            self._swap(specs={**state.specs, **{spec.name: spec for spec in added}})

    # ---- listeners --------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """``listener(name, value, source)`` is called on the writer's thread after each change:
        keep it short (OSC feedback only records the change for its own sender thread)."""
        with self._write_lock:
            self._listeners = self._listeners + (listener,)

    def remove_listener(self, listener: Listener) -> None:
        with self._write_lock:
            self._listeners = tuple(item for item in self._listeners if item is not listener)

    def _notify(self, name: str, value: Any, source: str) -> None:
        for listener in self._listeners:
            try:
                listener(name, value, source)
            except Exception as exc:  # a broken listener must not stop the control thread
                _ratelog(f"listener-{name}", "parameter listener failed on %s: %s", name, exc)

    # ---- reads ------------------------------------------------------------------------------

    def value(self, name: str) -> Any:
        """The value last set (its glide target), or the default when unset."""
        state = self._state
        slot = state.slots.get(name)
        if slot is not None:
            return slot.target
        return self.spec(name).default

    def is_set(self, name: str) -> bool:
        return name in self._state.slots

    def snapshot(self, now: float | None = None) -> ParamSnapshot:
        """Every parameter's value at ``now`` (store clock; default: the clock now). Lock-free."""
        state = self._state
        now = self.clock() if now is None else now
        cache = self._cache
        if cache is not None and cache[1] and cache[0].version == state.version:
            return ParamSnapshot(cache[0]._values, now, state.version)  # nothing moves: share the values
        values: dict[str, Any] = {}
        moving = False
        for name, spec in state.specs.items():
            slot = state.slots.get(name)
            if slot is None:
                if not spec.follows_setlist:
                    values[name] = spec.default
                continue
            if slot.glide > 0 and now < slot.since + slot.glide:
                moving = True
            values[name] = slot.value_at(now)
        snapshot = ParamSnapshot(values, now, state.version)
        self._cache = (snapshot, not moving)
        return snapshot

    # ---- writes -----------------------------------------------------------------------------

    def set(self, name: str, value: Any, source: str = "api", *, glide: float | None = None) -> Any:
        """Set ``name`` (real units; clamped), over ``glide`` seconds for a FLOAT (default: its
        smoothing). Returns the stored value. Raises KeyError for an unknown name and ValueError
        for a value that cannot be read (callers log and drop)."""
        spec = self.spec(name)
        coerced = spec.coerce(value)
        return self._write(spec, coerced, source, glide)

    def set_normalised(self, name: str, position: Any, source: str = "api") -> Any:
        """Set from a 0..1 position over the parameter's range."""
        spec = self.spec(name)
        return self._write(spec, spec.from_normalised(position), source, None)

    def nudge(self, name: str, delta: Any, source: str = "api", *, normalised: bool = False) -> Any:
        """Move by ``delta`` (real units, or a share of the range when ``normalised``) from the
        current target; a CHOICE steps through its list (wrapping), a BOOL turns on/off."""
        spec = self.spec(name)
        step = _number(delta)
        current = self.value(name)
        if spec.kind is ParamKind.CHOICE:
            if not spec.choices:
                raise ValueError(f"no {name} list yet")
            steps = round(step * (len(spec.choices) - 1)) if normalised else round(step)
            if steps == 0:
                if step == 0:
                    return current
                steps = 1 if step > 0 else -1
            index = spec.choices.index(current) if current in spec.choices else (-1 if steps > 0 else 0)
            return self._write(spec, spec.choices[(index + steps) % len(spec.choices)], source, None)
        if spec.kind is ParamKind.BOOL:
            return self._write(spec, step > 0, source, None) if step else current
        if spec.kind is ParamKind.TEXT:
            raise ValueError(f"{name} is text; it cannot be nudged")
        if normalised:
            step *= spec.maximum - spec.minimum
        base = current if current is not None else spec.default if spec.default is not None else spec.minimum
        return self._write(spec, spec.coerce(float(base) + step), source, None)

    def multiply(self, name: str, factor: Any, source: str = "api") -> Any:
        spec = self.spec(name)
        if not spec.numeric:
            raise ValueError(f"{name} is not a number")
        current = self.value(name)
        base = current if current is not None else spec.default if spec.default is not None else spec.minimum
        return self._write(spec, spec.coerce(float(base) * _number(factor)), source, None)

    def toggle(self, name: str, source: str = "api") -> Any:
        spec = self.spec(name)
        if spec.kind is not ParamKind.BOOL:
            raise ValueError(f"{name} is not on/off")
        return self._write(spec, not self.value(name), source, None)

    def release(self, name: str, source: str = "api") -> None:
        """Forget the set value: back to the setlist's (follows_setlist) or the default."""
        spec = self.spec(name)
        with self._write_lock:
            state = self._state
            if name not in state.slots:
                return
            self._swap(slots={k: v for k, v in state.slots.items() if k != name})
        self._notify(name, spec.default, source)

    def release_all(self, source: str = "api") -> None:
        """Release every parameter that follows the setlist (a new song starts clean)."""
        for name, spec in list(self.specs.items()):
            if spec.follows_setlist:
                self.release(name, source)

    def trigger(self, action: str, value: Any = None, source: str = "api") -> None:
        """Queue an action for the render loop."""
        self.actions.put(ControlEvent(action, value, source, self.clock()))

    def _write(self, spec: ParamSpec, value: Any, source: str, glide: float | None) -> Any:
        name = spec.name
        now = self.clock()
        extra: dict[str, _Slot] = {}
        with self._write_lock:
            state = self._state
            old = state.slots.get(name)
            if old is not None and old.target == value:
                return value  # unchanged: no version bump, no feedback echo, no action
            if spec.kind is ParamKind.FLOAT:
                glide = spec.smoothing_seconds if glide is None else max(float(glide), 0.0)
                if old is not None:
                    start = old.value_at(now)
                elif spec.follows_setlist or spec.default is None:
                    start = value  # the setlist's value is not known here: take the new one at once
                else:
                    start = spec.default
                slot = _Slot(value, start, now, glide if start != value else 0.0, source)
            else:
                slot = _Slot(value, value, now, 0.0, source)
                if name == "prompt_index" and 0 <= value < len(state.prompts):
                    extra["prompt"] = _Slot(state.prompts[value], state.prompts[value], now, 0.0, source)
            slots = dict(state.slots)
            slots[name] = slot
            slots.update(extra)
            self._swap(slots=slots)
        if spec.action and source != "engine":
            self.actions.put(ControlEvent(spec.action, value, source, now))
        self._notify(name, value, source)
        for other, other_slot in extra.items():
            self._notify(other, other_slot.target, source)
        return value


__all__ = ["ParamStore", "ParamSpec", "ParamKind", "ParamSnapshot", "ControlEvent", "ActionQueue",
           "ACTIONS", "MAX_TEXT", "default_specs", "reactivity_gain_spec"]
