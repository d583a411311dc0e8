"""Control surface: one parameter store written by OSC, MIDI, keys and the setlist.

``params`` (the store, its table and the action queue), ``router`` (address/target → store),
``osc`` (server + feedback), ``midi`` (mapper, clock, ports), ``mapping`` (mapping files),
``learn`` (MIDI learn), ``docs`` (the tables in docs/osc.md and docs/midi.md).
Import the submodules you need; this package imports nothing heavy itself.
"""
from vj.control.params import ControlEvent, ParamKind, ParamSnapshot, ParamSpec, ParamStore
from vj.control.router import ControlRouter

__all__ = ["ParamStore", "ParamSpec", "ParamKind", "ParamSnapshot", "ControlEvent", "ControlRouter"]
