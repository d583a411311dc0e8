"""MIDI learn: bind the next moved control to a target and save it in a mapping file.

The first message from a control picks it; a short listening window after it tells what kind of
control it is, because one message cannot: an encoder sends small steps around 0/64/128, a
button only 0 and 127, a 14-bit fader a second CC 32 higher, a fader anything in between.
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from vj.control.mapping import MappingEntry, MidiMapping, load_mapping, save_mapping
from vj.control.midi import MidiError, MidiInput, _same_control
from vj.control.params import ParamKind, ParamStore
from vj.control.router import is_target
from vj.errors import VjError

log = logging.getLogger(__name__)

#: Seconds to keep listening to the chosen control after its first message.
SETTLE_SECONDS = 0.4
_LEARNABLE = ("control_change", "note_on", "program_change", "pitchwheel")


class LearnError(MidiError):
    """Learning could not start (unknown target, no port)."""


def infer_entry(messages: list[Any], target: str, store: ParamStore) -> MappingEntry:
    """A MappingEntry for the control that sent ``messages`` (the first one picks the control)."""
    first = messages[0]
    channel = first.channel + 1
    spec = store.specs.get(target)
    if first.type == "note_on":
        return MappingEntry(note=first.note, channel=channel, target=target)
    if first.type == "program_change":
        if spec is not None and spec.kind is ParamKind.CHOICE or target == "song":
            return MappingEntry(program="any", channel=channel, target=target)
        return MappingEntry(program=first.program, channel=channel, target=target)
    if first.type == "pitchwheel":
        return MappingEntry(pitchbend=True, channel=channel, target=target)
    control = first.control
    values = [m.value for m in messages if m.type == "control_change" and m.control == control
              and m.channel == first.channel]
    lsb = None
    if control < 32 and any(m.type == "control_change" and m.control == control + 32 and m.channel == first.channel
                            for m in messages):
        lsb = control + 32
    mode = None if lsb is not None else _cc_mode(values)
    if mode == "toggle" and (spec is None or spec.kind is ParamKind.BOOL):
        mode = None  # buttons on actions and on/off targets are buttons by default
    elif mode == "toggle":
        mode = "trigger"
    return MappingEntry(cc=control, channel=channel, target=target, mode=mode, lsb=lsb)


def _cc_mode(values: list[int]) -> str | None:
    """Guess a CC's kind from what it sent while it was moved (None: an absolute fader/knob)."""
    distinct = set(values)
    if distinct <= {0, 127}:
        return "toggle"
    if len(values) >= 2:
        repeats = len(distinct) < len(values)
        if all(57 <= v <= 71 and v != 64 for v in values) and repeats:
            return "relative_binary_offset"
        if all(v <= 7 or v >= 121 for v in values):
            return "relative_twos_complement"
        if all(v <= 7 or 65 <= v <= 71 for v in values):
            return "relative_sign_magnitude"
    return None


def learn(store: ParamStore, target: str, port: str | None = None, timeout: float = 30.0, *,
          backend: str | None = None, settle: float = SETTLE_SECONDS,
          on_ready: Callable[[list[str]], None] | None = None) -> MappingEntry | None:
    """Wait up to ``timeout`` seconds for a control to move on ``port`` (None: every input) and
    return its entry bound to ``target`` (None on timeout). Raises LearnError on a bad target."""
    if not is_target(target, store):
        raise LearnError(f"unknown parameter or action '{target}'; see docs/osc.md for the names")
    if target in store and store.spec(target).kind is ParamKind.TEXT:
        raise LearnError(f"'{target}' is text: a MIDI control cannot set it")
    caught: list[Any] = []
    first_at: list[float] = []
    done = threading.Event()

    def hook(message: Any, port_name: str) -> bool:
        if message.type not in _LEARNABLE or (message.type == "note_on" and message.velocity == 0):
            return True
        if not caught:
            caught.append(message)
            first_at.append(time.monotonic())
        elif time.monotonic() - first_at[0] <= settle:
            caught.append(message)
        else:
            done.set()
        return True

    midi = MidiInput(store, None, port, backend=backend)
    midi.set_learn_hook(hook)
    opened = midi.start()
    if not opened:
        midi.stop()
        raise LearnError("no MIDI input to learn from; connect a controller (see `vj devices`)")
    try:
        if on_ready is not None:
            on_ready(opened)
        deadline = time.monotonic() + timeout
        while not caught and time.monotonic() < deadline:
            time.sleep(0.01)
        if not caught:
            return None
        done.wait(max(0.0, first_at[0] + settle - time.monotonic()))
    finally:
        midi.stop()
    return infer_entry(list(caught), target, store)


def arm_learn(midi: MidiInput, target: str, on_done: Callable[[MappingEntry | None], None], *,
              timeout: float = 30.0, save_to: Path | None = None, settle: float = SETTLE_SECONDS) -> None:
    """Learn mode in the live window: the next control moved on ``midi``'s open ports is bound
    to ``target`` at once (and saved to ``save_to``); ``on_done(entry or None)`` runs on a
    background thread when done. Messages are swallowed while learning, so nothing jumps."""
    if not is_target(target, midi.store):
        raise LearnError(f"unknown parameter or action '{target}'")
    caught: list[Any] = []

    def hook(message: Any, port_name: str) -> bool:
        if message.type in _LEARNABLE and not (message.type == "note_on" and message.velocity == 0):
            caught.append(message)
        return True

    def finish() -> None:
        deadline = time.monotonic() + timeout
        while not caught and time.monotonic() < deadline:
            time.sleep(0.01)
        if caught:
            time.sleep(settle)
        entry = infer_entry(list(caught), target, midi.store) if caught else None
        if entry is not None:
            with midi._handle_lock:  # the port callbacks use the mapper under this lock
                midi.mapper.add(entry)
        midi.set_learn_hook(None)
        if entry is not None and save_to is not None:
            try:
                add_to_mapping(entry, Path(save_to), midi.store)
            except (OSError, VjError) as exc:  # the binding works; only saving failed
                log.error("could not save the learned mapping to %s: %s", save_to, exc)
        on_done(entry)

    midi.set_learn_hook(hook)
    threading.Thread(target=finish, name="vj-midi-learn", daemon=True).start()


def add_to_mapping(entry: MappingEntry, path: Path, store: ParamStore | None = None) -> MidiMapping:
    """Add ``entry`` to the mapping file at ``path`` (created if missing), replacing any binding
    of the same control, and save it."""
    if path.exists():
        mapping = load_mapping(path, store)
    else:
        mapping = MidiMapping(name=path.stem)
    controls = [e for e in mapping.controls if not _same_control(e, entry)]
    mapping = mapping.model_copy(update={"controls": controls + [entry]})
    save_mapping(mapping, path)
    return mapping


def run_midi_learn(param: str, mapping_path: Path, port: str | None, timeout: float, *,
                   backend: str | None = None, say: Callable[[str], None] | None = None) -> int:
    """``vj midi-learn PARAM``: bind the next moved control and save the mapping. Exit status:
    0 learned, 1 nothing moved before ``timeout``. Raises MidiError/MappingError for people."""
    say = say or (lambda text: sys.stderr.write(text + "\n"))
    store = ParamStore()
    entry = learn(store, param, port, timeout, backend=backend,
                  on_ready=lambda ports: say(f"listening on {', '.join(ports)}: move the control for "
                                             f"'{param}' (within {timeout:g} s)"))
    if entry is None:
        say(f"nothing moved within {timeout:g} s; {mapping_path} unchanged")
        return 1
    add_to_mapping(entry, Path(mapping_path), store)
    say(f"learned {entry.describe()}" + (f" ({entry.mode})" if entry.mode else "") + f"; saved to {mapping_path}")
    return 0


__all__ = ["learn", "arm_learn", "run_midi_learn", "infer_entry", "add_to_mapping", "LearnError", "SETTLE_SECONDS"]
