"""MIDI in, with mido on python-rtmidi: controllers → the parameter store, MIDI clock → tempo.

Three parts, each testable on its own:

- ``MidiMapper`` turns one mido message into store writes and actions by a ``MidiMapping``
  (curves, ranges, invert, relative encoders, 14-bit pairs, soft takeover). No ports.
- ``MidiClock`` turns 24-ppqn clock ticks (+ Start/Stop/Continue/Song Position) into a tempo
  estimate and beat events the live tempo clock can follow (``midi_clock_beat`` actions).
- ``MidiInput`` opens ports (by name, or all) on a mido backend and feeds both from each port's
  reading thread (vj/control/midi_reader.py); it never touches the render thread.

Unknown messages (aftertouch, SysEx, active sensing…) are ignored, counted, never logged per message.
"""
from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from vj.control.logs import RateLimitedLog
from vj.control.mapping import RELATIVE_MODES, MappingEntry, MidiMapping
from vj.control.params import ControlEvent, ParamKind, ParamStore
from vj.control.router import VALUE_ACTIONS, ControlRouter
from vj.errors import VjError

log = logging.getLogger(__name__)

#: mido backend module; the API after '/' (LINUX_ALSA, UNIX_JACK, MACOSX_CORE, WINDOWS_MM) is optional.
DEFAULT_BACKEND = "mido.backends.rtmidi"
#: Soft takeover: a control this close (0..1) to the parameter's position picks it up.
PICKUP_DISTANCE = 0.02


class MidiError(VjError):
    """No such MIDI port, or no MIDI system: a message for people."""


# ---- curves ----------------------------------------------------------------------------------

def apply_curve(curve: str, x: float) -> float:
    """Control position 0..1 → parameter position 0..1."""
    if curve == "exponential":
        return x * x
    if curve == "logarithmic":
        return math.sqrt(x)
    if curve == "scurve":
        return x * x * (3.0 - 2.0 * x)
    return x


def invert_curve(curve: str, y: float) -> float:
    """Parameter position → control position (soft takeover compares in control space)."""
    y = min(max(y, 0.0), 1.0)
    if curve == "exponential":
        return math.sqrt(y)
    if curve == "logarithmic":
        return y * y
    if curve == "scurve":
        return 0.5 - math.sin(math.asin(1.0 - 2.0 * y) / 3.0)
    return y


def decode_relative(mode: str, value: int) -> int:
    """An encoder's CC value → signed ticks."""
    if mode == "relative_twos_complement":   # 1..63 up, 127..65 = -1..-63
        return value - 128 if value >= 64 else value
    if mode == "relative_binary_offset":     # 64 = no move, 65.. up, 63.. down
        return value - 64
    if mode == "relative_sign_magnitude":    # bit 6 = down, bits 0-5 = amount
        return -(value & 0x3F) if value & 0x40 else value & 0x3F
    raise ValueError(f"not a relative mode: {mode}")


# ---- the mapper ------------------------------------------------------------------------------

@dataclass
class _ControlState:
    position: float | None = None    # last control position 0..1 (control space)
    sent: Any = None                 # the value we last wrote (None: never)
    high: bool = False               # button state for CC buttons (edge detection)
    msb: int = 0
    lsb: int = 0
    lsb_seen: bool = False


class MidiMapper:
    """Applies mido messages to a store by a mapping. Not thread-safe by itself: ``MidiInput``
    serialises its ports' callbacks."""

    def __init__(self, store: ParamStore, mapping: MidiMapping | None = None, *,
                 router: ControlRouter | None = None, clock: "MidiClock | None" = None,
                 source: str = "midi") -> None:
        self.store = store
        self.router = router or ControlRouter(store)
        self.clock = clock
        self.source = source
        self.bad = RateLimitedLog(log)
        self.ignored = 0
        self.handled = 0
        self._table: dict[tuple[str, int, int], list[MappingEntry]] = {}
        self._state: dict[int, _ControlState] = {}
        self.entries: list[MappingEntry] = []
        if mapping is not None:
            self.load(mapping)

    def load(self, mapping: MidiMapping) -> None:
        entries = mapping.entries()
        table: dict[tuple[str, int, int], list[MappingEntry]] = {}
        for entry in entries:
            channel = (entry.channel - 1) if entry.channel else -1
            kind, number = entry.kind, entry.number
            keys = [(kind, channel, -1 if number is None else number)]
            if entry.lsb is not None:
                keys.append(("cc", channel, entry.lsb))
            for key in keys:
                table.setdefault(key, []).append(entry)
        self._table, self.entries, self._state = table, entries, {}

    def add(self, entry: MappingEntry) -> None:
        """Bind one more control (MIDI learn in the live window)."""
        mapping = MidiMapping(controls=[e for e in self.entries if not _same_control(e, entry)] + [entry])
        self.load(mapping)

    def _lookup(self, kind: str, channel: int, number: int) -> list[MappingEntry]:
        table = self._table
        found = table.get((kind, channel, number))
        anywhere = table.get((kind, -1, number))
        if found and anywhere:
            return found + anywhere
        return found or anywhere or []

    # ---- dispatch ---------------------------------------------------------------------------

    def handle(self, message: Any, now: float | None = None) -> bool:
        """Apply one mido Message. Returns True when it was mapped (or was clock)."""
        kind = message.type
        try:
            if kind == "control_change":
                return self._cc(message.channel, message.control, message.value)
            if kind == "note_on" or kind == "note_off":
                pressed = kind == "note_on" and message.velocity > 0
                return self._note(message.channel, message.note, message.velocity, pressed)
            if kind == "program_change":
                return self._program(message.channel, message.program)
            if kind == "pitchwheel":
                return self._pitchbend(message.channel, message.pitch)
            if kind in ("clock", "start", "stop", "continue", "songpos") and self.clock is not None:
                self.clock.handle(message, time.monotonic() if now is None else now)
                return True
        except (KeyError, ValueError, TypeError) as exc:
            self.bad(f"midi-{kind}", "MIDI %s dropped: %s", kind, exc)
            return False
        self.ignored += 1
        return False

    def _state_of(self, entry: MappingEntry) -> _ControlState:
        state = self._state.get(id(entry))
        if state is None:
            state = self._state[id(entry)] = _ControlState()
        return state

    def _cc(self, channel: int, control: int, value: int) -> bool:
        entries = self._lookup("cc", channel, control)
        if not entries:
            self.ignored += 1
            return False
        for entry in entries:
            state = self._state_of(entry)
            if entry.lsb is not None:
                if control == entry.lsb:
                    state.lsb, state.lsb_seen = value, True
                else:
                    state.msb = value
                    if state.lsb_seen:
                        continue  # wait for the LSB that follows, so the value never dips
                self._position(entry, state, ((state.msb << 7) | state.lsb) / 16383.0)
                continue
            mode = entry.mode
            if mode in RELATIVE_MODES:
                self._relative(entry, decode_relative(mode, value))
            else:
                self._level(entry, state, value / 127.0)
        self.handled += 1
        return True

    def _note(self, channel: int, note: int, velocity: int, pressed: bool) -> bool:
        entries = self._lookup("note", channel, note)
        if not entries:
            self.ignored += 1
            return False
        for entry in entries:
            self._press(entry, pressed, velocity / 127.0 if pressed else 0.0)
        self.handled += 1
        return True

    def _program(self, channel: int, program: int) -> bool:
        entries = self._lookup("program", channel, program) + self._lookup("program", channel, -1)
        if not entries:
            self.ignored += 1
            return False
        for entry in entries:
            if entry.program == "any":
                self._program_any(entry, program)
            else:
                self._press(entry, True, 1.0)
        self.handled += 1
        return True

    def _pitchbend(self, channel: int, pitch: int) -> bool:
        entries = self._lookup("pitchbend", channel, -1)
        if not entries:
            self.ignored += 1
            return False
        for entry in entries:
            self._position(entry, self._state_of(entry), (pitch + 8192) / 16383.0)
        self.handled += 1
        return True

    # ---- behaviours -------------------------------------------------------------------------

    def _spec(self, target: str) -> Any:
        return self.store.specs.get(target)

    def _level(self, entry: MappingEntry, state: _ControlState, position: float) -> None:
        """A CC level: buttons (on/off, actions) by edge; numbers and lists by position."""
        spec = self._spec(entry.target)
        button = (entry.mode in ("toggle", "momentary", "trigger") or entry.value is not None or spec is None
                  or spec.kind is ParamKind.BOOL)
        if button:
            high = position >= 0.5
            if high != state.high:
                state.high = high
                self._press(entry, high, position)
            return
        self._position(entry, state, position)

    def _press(self, entry: MappingEntry, pressed: bool, velocity: float) -> None:
        target, source = entry.target, self.source
        spec = self._spec(target)
        if spec is None:  # an action or a step target
            if pressed:
                value = entry.value
                if target in VALUE_ACTIONS and value is None:
                    self.bad(f"noval-{target}", "MIDI %s needs 'value:' in the mapping", entry.describe())
                    return
                self.router.apply(target, value, "set" if target in VALUE_ACTIONS else "trigger", source)
            return
        if spec.kind is ParamKind.BOOL:
            if entry.mode == "momentary":
                self.store.set(target, pressed, source)
            elif pressed:
                if entry.value is not None:
                    self.store.set(target, entry.value, source)
                else:
                    self.store.toggle(target, source)
            return
        if not pressed:
            return
        if entry.value is not None:
            self.store.set(target, entry.value, source)
        elif spec.kind is ParamKind.CHOICE:
            self.store.nudge(target, 1, source)
        else:
            self._write_position(entry, velocity)

    def _program_any(self, entry: MappingEntry, program: int) -> None:
        spec = self._spec(entry.target)
        if spec is None:
            if entry.target in VALUE_ACTIONS:
                self.router.apply(entry.target, program, "set", self.source)
            else:
                self.router.apply(entry.target, None, "trigger", self.source)
        elif spec.kind is ParamKind.CHOICE:
            if spec.choices and program < len(spec.choices):
                self.store.set(entry.target, program, self.source)
            else:
                self.bad(f"program-{entry.target}", "program %d: no %s with that index", program, entry.target)
        elif spec.numeric:
            self.store.set(entry.target, program, self.source)
        else:
            self._write_position(entry, program / 127.0)

    def _relative(self, entry: MappingEntry, ticks: int) -> None:
        if ticks == 0:
            return
        spec = self._spec(entry.target)
        if spec is None:
            self.router.apply(entry.target, None, "trigger", self.source)
            return
        if spec.kind is ParamKind.CHOICE or spec.kind is ParamKind.BOOL:
            self.store.nudge(entry.target, 1 if ticks > 0 else -1, self.source)
            return
        low, high = entry.range or (spec.minimum, spec.maximum)
        sign = -1 if entry.invert else 1
        self.store.nudge(entry.target, sign * ticks * entry.step * (high - low), self.source)

    def _position(self, entry: MappingEntry, state: _ControlState, position: float) -> None:
        """An absolute control moved to ``position`` (0..1): soft takeover, then write."""
        spec = self._spec(entry.target)
        if spec is None:
            self._level(entry, state, position)
            return
        if spec.kind is ParamKind.CHOICE or entry.takeover == "jump" or not spec.numeric:
            state.position = position
            self._write_position(entry, position)
            return
        previous, state.position = state.position, position
        current = self.store.value(entry.target)
        if state.sent is None or current != state.sent:
            # Someone else moved the parameter (or we never did): pick it up only when the control
            # reaches or passes its value, so a knob never makes it jump.
            if current is None:
                current = spec.default
            there = self._control_position(entry, spec, float(current))
            near = abs(position - there) <= PICKUP_DISTANCE
            crossed = previous is not None and min(previous, position) <= there <= max(previous, position)
            if not (near or crossed):
                return
        state.sent = self._write_position(entry, position)

    def _control_position(self, entry: MappingEntry, spec: Any, value: float) -> float:
        low, high = entry.range or (spec.minimum, spec.maximum)
        y = (value - low) / (high - low)
        x = invert_curve(entry.curve, y)
        return 1.0 - x if entry.invert else x

    def _write_position(self, entry: MappingEntry, position: float) -> Any:
        spec = self._spec(entry.target)
        x = 1.0 - position if entry.invert else position
        if spec is None or not spec.numeric:
            if spec is not None and spec.kind is ParamKind.CHOICE:
                return self.store.set_normalised(entry.target, x, self.source)
            return None
        y = apply_curve(entry.curve, x)
        low, high = entry.range or (spec.minimum, spec.maximum)
        return self.store.set(entry.target, low + y * (high - low), self.source)


def _same_control(a: MappingEntry, b: MappingEntry) -> bool:
    return a.kind == b.kind and a.number == b.number and a.channel == b.channel


# ---- MIDI clock ------------------------------------------------------------------------------

class MidiClock:
    """24-ppqn MIDI clock → tempo (BPM) and beat times, queued as actions for the tempo clock.

    The tempo is a least-squares fit over the last ``window`` ticks, so the jitter of one tick's
    arrival (a JACK period, a USB frame) averages out; beat times come from the fitted line too.
    After Start the first tick is beat 0 (as the MIDI spec says); Song Position moves the count.
    """

    PPQN = 24

    def __init__(self, store: ParamStore | None = None, window: int = 48) -> None:
        self.store = store
        self.window = max(window, 6)
        self._ticks: deque[tuple[int, float]] = deque(maxlen=self.window)
        self.count = 0          # ticks since Start (or since the first tick)
        self.running = False
        self.bpm: float | None = None
        self.last_beat_time: float | None = None
        self.beats = 0
        self._lock = threading.Lock()

    def handle(self, message: Any, now: float) -> None:
        kind = message.type
        if kind == "clock":
            self.tick(now)
        elif kind == "start":
            self.start(now)
        elif kind == "continue":
            self.running = True
        elif kind == "stop":
            self.stop(now)
        elif kind == "songpos":
            self.count = int(message.pos) * 6  # Song Position is in 16ths: 6 ticks each
            self._ticks.clear()

    def start(self, now: float) -> None:
        self.count = 0
        self.running = True
        self._ticks.clear()
        self._queue("midi_clock_start", None, now)

    def stop(self, now: float) -> None:
        self.running = False
        self._queue("midi_clock_stop", None, now)

    def tick(self, now: float) -> None:
        with self._lock:
            index = self.count
            self.count += 1
            if self._ticks and now - self._ticks[-1][1] > 1.0:
                self._ticks.clear()  # a gap of a second: the clock restarted, old ticks mislead
            self._ticks.append((index, now))
            seconds_per_tick, at = self._fit(index, now)
        if seconds_per_tick is not None:
            bpm = 60.0 / (seconds_per_tick * self.PPQN)
            self.bpm = bpm if 20.0 <= bpm <= 400.0 else None
        if index % self.PPQN == 0:
            self.beats += 1
            self.last_beat_time = at
            self._queue("midi_clock_beat", self.bpm, at, beat=index // self.PPQN)

    def _fit(self, index: int, now: float) -> tuple[float | None, float]:
        ticks = self._ticks
        n = len(ticks)
        if n < 6:
            return None, now
        mean_i = sum(i for i, _ in ticks) / n
        mean_t = sum(t for _, t in ticks) / n
        var = sum((i - mean_i) ** 2 for i, _ in ticks)
        if var <= 0:
            return None, now
        slope = sum((i - mean_i) * (t - mean_t) for i, t in ticks) / var
        if slope <= 0:
            return None, now
        fitted = mean_t + slope * (index - mean_i)
        # The fitted line is smoother than one arrival, but never trust it by more than a tick.
        if abs(fitted - now) > slope:
            fitted = now
        return slope, fitted

    def _queue(self, name: str, value: Any, at: float, beat: int | None = None) -> None:
        if self.store is not None:
            self.store.actions.put(ControlEvent(name, value if beat is None else (beat, value), "midi_clock", at))

    @property
    def beat_phase(self) -> float:
        return (self.count % self.PPQN) / self.PPQN


# ---- ports -----------------------------------------------------------------------------------

def _backend(name: str | None) -> Any:
    import mido

    name = name or os.environ.get("MIDO_BACKEND") or DEFAULT_BACKEND
    return mido.Backend(name, load=True, use_environ=False)


def _api_names() -> list[str]:
    try:
        import rtmidi
    except ImportError:
        return []
    names = {rtmidi.API_LINUX_ALSA: "LINUX_ALSA", rtmidi.API_UNIX_JACK: "UNIX_JACK",
             rtmidi.API_MACOSX_CORE: "MACOSX_CORE", rtmidi.API_WINDOWS_MM: "WINDOWS_MM"}
    return [names[api] for api in rtmidi.get_compiled_api() if api in names]


def list_midi_ports(backend: str | None = None) -> dict[str, list[str] | str]:
    """Input ports per MIDI API ({'LINUX_ALSA': [...], 'UNIX_JACK': 'unavailable: …'}), for ``vj devices``.
    Never raises: an API that cannot start (no ALSA sequencer, no JACK server) says why."""
    if backend and "/" in backend:
        apis = [backend.split("/", 1)[1]]
        module = backend.split("/", 1)[0]
    else:
        apis, module = (_api_names() or [""]), (backend or DEFAULT_BACKEND)
    ports: dict[str, list[str] | str] = {}
    for api in apis:
        with _no_jack_autostart():
            try:
                ports[api or "default"] = list(_backend(f"{module}/{api}" if api else module).get_input_names())
            except Exception as exc:  # rtmidi raises SystemError/RuntimeError when the API is missing
                ports[api or "default"] = f"unavailable: {str(exc).splitlines()[0][:120]}"
    return ports


class _no_jack_autostart:
    """Listing ports must not start a JACK server as a side effect."""

    def __enter__(self) -> None:
        self._old = os.environ.get("JACK_NO_START_SERVER")
        os.environ["JACK_NO_START_SERVER"] = "1"

    def __exit__(self, *exc: object) -> None:
        if self._old is None:
            os.environ.pop("JACK_NO_START_SERVER", None)
        else:
            os.environ["JACK_NO_START_SERVER"] = self._old


def match_ports(available: Sequence[str], wanted: str | Sequence[str] | None) -> list[str]:
    """Ports to open: None/'all' → every one; names match exactly or as a case-insensitive part.
    Raises MidiError naming the available ports when a wanted one is missing."""
    if wanted is None or wanted == "all":
        return list(available)
    names = [wanted] if isinstance(wanted, str) else list(wanted)
    chosen: list[str] = []
    for name in names:
        exact = [port for port in available if port == name]
        partial = exact or [port for port in available if name.lower() in port.lower()]
        if not partial:
            listing = ", ".join(available) or "none"
            raise MidiError(f"no MIDI input '{name}'; available: {listing}")
        chosen.extend(port for port in partial if port not in chosen)
    return chosen


class MidiInput:
    """Opens MIDI inputs and applies what they send to the store (on each port's reading thread).

    mapping:    a MidiMapping (None: clock and learn only).
    port_names: None or "all" (every input), a name, or a list; names may be a part of the port name.
    backend:    mido backend, e.g. 'mido.backends.rtmidi/UNIX_JACK' (default: $MIDO_BACKEND or rtmidi).
    """

    def __init__(self, store: ParamStore, mapping: MidiMapping | None = None,
                 port_names: str | Sequence[str] | None = None, *, backend: str | None = None,
                 router: ControlRouter | None = None) -> None:
        self.store = store
        self.clock = MidiClock(store)
        self.mapper = MidiMapper(store, mapping, router=router, clock=self.clock)
        self.port_names = port_names
        self.backend_name = backend
        self._ports: list[Any] = []
        self._learn: tuple[Callable[[Any, str], bool], float] | None = None
        # rtmidi calls back on one thread per port: the mapper's soft-takeover state wants one at a time.
        # Only MIDI threads take this lock; the render thread never does.
        self._handle_lock = threading.Lock()
        self.received = 0
        self.bad = RateLimitedLog(log)

    @property
    def opened(self) -> list[str]:
        return [port.name for port in self._ports]

    def start(self) -> list[str]:
        """Open the ports; returns their names. Without a chosen backend, each MIDI API rtmidi has
        is tried in turn (a Linux box without an ALSA sequencer may still have JACK MIDI) and the
        first that has the wanted ports is used. Raises MidiError when no MIDI system works or a
        named port is nowhere (the message lists the ports there are)."""
        listing: list[str] = []
        for backend, available in self._backends():
            try:
                chosen = match_ports(available, self.port_names)
            except MidiError:
                listing.extend(available)
                continue
            if not chosen:
                continue  # 'all' of nothing: perhaps the next API has some
            for name in chosen:
                try:
                    port = self._open(backend, name)
                except (OSError, SystemError, RuntimeError) as exc:
                    self.bad(f"open-{name}", "cannot open MIDI input %s: %s", name, exc)
                    continue
                self._ports.append(port)
            break
        else:
            if self.port_names not in (None, "all"):
                wanted = self.port_names if isinstance(self.port_names, str) else ", ".join(self.port_names)
                raise MidiError(f"no MIDI input '{wanted}'; available: {', '.join(listing) or 'none'}")
        if self._ports:
            log.info("MIDI inputs: %s", ", ".join(self.opened))
        return self.opened

    def _backends(self) -> Iterator[tuple[Any, list[str]]]:
        """Working backends with their input names: the chosen one, or each API in turn."""
        if self.backend_name or os.environ.get("MIDO_BACKEND"):
            candidates = [self.backend_name or os.environ["MIDO_BACKEND"]]
        else:
            candidates = [f"{DEFAULT_BACKEND}/{api}" for api in _api_names()] or [DEFAULT_BACKEND]
        reasons = []
        for name in candidates:
            try:
                with _no_jack_autostart():
                    backend = _backend(name)
                    available = list(backend.get_input_names())
            except Exception as exc:  # rtmidi: SystemError when the API cannot start
                reasons.append(f"{name.rpartition('/')[2] if '/' in name else 'default'}: "
                               f"{str(exc).splitlines()[0][:120]}")
                continue
            yield backend, available
        if len(reasons) == len(candidates):
            raise MidiError(f"MIDI is unavailable ({'; '.join(reasons)}); check the MIDI system, or set "
                            "MIDO_BACKEND (e.g. mido.backends.rtmidi/UNIX_JACK)")

    def stop(self) -> None:
        """Close the ports (also while a controller is sending: see vj/control/midi_reader.py)."""
        ports, self._ports = self._ports, []
        for port in ports:
            try:
                port.close()
            except Exception as exc:  # closing a vanished device may fail; the rest still close
                self.bad("close", "closing MIDI input %s: %s", getattr(port, "name", "?"), exc)

    def __enter__(self) -> "MidiInput":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _open(self, backend: Any, name: str) -> Any:
        """An rtmidi input read by a thread of ours (``PolledInput``: rtmidi's thread never runs
        Python, so closing cannot hang); another mido backend's input as mido opens it."""
        on_message = self._make_callback(name)
        if getattr(backend, "name", None) == DEFAULT_BACKEND:
            from vj.control.midi_reader import PolledInput

            return PolledInput(name, on_message, api=backend.api)
        return backend.open_input(name, callback=on_message)

    def _make_callback(self, port_name: str) -> Callable[..., None]:
        def on_message(message: Any, arrived: float | None = None) -> None:
            now = time.monotonic() if arrived is None else arrived
            self.received += 1
            learn = self._learn
            if learn is not None and learn[0](message, port_name):
                return
            try:
                with self._handle_lock:
                    self.mapper.handle(message, now)
            except Exception as exc:  # never let one message kill the port's reading thread
                self.bad("callback", "MIDI message %s failed: %s", getattr(message, "type", "?"), exc,
                         level=logging.ERROR)
        return on_message

    def set_learn_hook(self, hook: Callable[[Any, str], bool] | None) -> None:
        """While set, ``hook(message, port)`` sees every message first; True swallows it (learn mode)."""
        self._learn = None if hook is None else (hook, time.monotonic())


__all__ = ["MidiInput", "MidiMapper", "MidiClock", "MidiError", "list_midi_ports", "match_ports",
           "apply_curve", "invert_curve", "decode_relative", "DEFAULT_BACKEND"]
