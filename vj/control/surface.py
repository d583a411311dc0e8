"""Everything ``vj live`` needs from the control side, in one object: the store configured for a
setlist and song, the OSC server, the MIDI inputs, the browser control page (``vj.control.web``),
and the CLI flags that choose them.

    add_control_arguments(parser)                     # --osc-port, --osc-host, --osc-allow, ...
    surface = ControlSurface.from_args(args, store)   # builds, doesn't start
    surface.configure(setlist, song)                  # styles, prompts, reactivity gains
    surface.start(); ...; surface.stop()

The render loop then reads ``store.snapshot()`` once per frame, drains ``store.actions`` and calls
``surface.publish_state(...)`` (throttled inside) so tablets follow the show.
"""
from __future__ import annotations

import argparse
import logging
from typing import Any, Sequence

from vj.control.mapping import MidiMapping, resolve_mapping
from vj.control.osc import DEFAULT_PORT, OscServer, parse_host_port
from vj.control.params import ParamStore
from vj.control.router import ControlRouter
from vj.control.web import DEFAULT_WEB_PORT

log = logging.getLogger(__name__)


def add_control_arguments(parser: argparse.ArgumentParser) -> None:
    """The OSC and MIDI flags of ``vj live`` (docs/osc.md, docs/midi.md)."""
    group = parser.add_argument_group("control (OSC and MIDI)")
    group.add_argument("--osc-port", type=int, default=DEFAULT_PORT, help=f"OSC UDP port (default {DEFAULT_PORT})")
    group.add_argument("--osc-host", default="127.0.0.1",
                       help="interface to listen on (default 127.0.0.1: this machine only; 0.0.0.0: all)")
    group.add_argument("--osc-allow", action="append", metavar="IP",
                       help="only this client may send OSC (repeatable; default: anyone who reaches the port)")
    group.add_argument("--osc-feedback", action="append", type=_host_port, metavar="HOST:PORT",
                       help="send parameter changes and show state here (repeatable)")
    group.add_argument("--no-osc", action="store_true", help="no OSC server")
    group.add_argument("--midi", metavar="MAPPING",
                       help="MIDI mapping: a YAML file or a shipped layout (nanokontrol2, apc_mini, "
                       "launch_control_xl)")
    group.add_argument("--midi-port", action="append", metavar="NAME",
                       help="MIDI input to open (part of the name; repeatable; default: all)")
    web = parser.add_argument_group("control page in the browser (docs/web.md)")
    web.add_argument("--web", nargs="?", type=int, const=DEFAULT_WEB_PORT, metavar="PORT",
                     help=f"serve a control page (default port {DEFAULT_WEB_PORT}) on this machine")
    web.add_argument("--web-host", metavar="ADDR",
                     help="interface for the page (e.g. 0.0.0.0: the LAN); then a token is required, "
                     "printed at start as a URL and a QR code")
    web.add_argument("--web-token", metavar="TOKEN",
                     help="a fixed token instead of a new one each start (a bookmarked page keeps working)")


def _host_port(text: str) -> tuple[str, int]:
    try:
        return parse_host_port(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class ControlSurface:
    """The store plus whatever inputs the flags asked for. ``start`` raises OscError/MidiError
    (VjError: one line for people) when a port cannot be opened."""

    def __init__(self, store: ParamStore, *, osc: OscServer | None = None, midi: Any | None = None,
                 web: Any | None = None) -> None:
        self.store = store
        self.router = osc.router if osc is not None else ControlRouter(store)
        self.osc = osc
        self.midi = midi
        self.web = web

    @classmethod
    def from_args(cls, args: argparse.Namespace, store: ParamStore | None = None) -> "ControlSurface":
        store = store or ParamStore()
        router = ControlRouter(store)
        osc = None
        if not getattr(args, "no_osc", False):
            osc = OscServer(store, host=args.osc_host, port=args.osc_port, allow=args.osc_allow,
                            feedback=args.osc_feedback or (), router=router)
        midi = None
        if getattr(args, "midi", None) or getattr(args, "midi_port", None):
            from vj.control.midi import MidiInput

            mapping: MidiMapping | None = resolve_mapping(args.midi, store) if args.midi else None
            midi = MidiInput(store, mapping, port_names=args.midi_port, router=router)
        web = None
        if getattr(args, "web", None) is not None or getattr(args, "web_host", None):
            from vj.control.web import WebServer

            port = args.web if getattr(args, "web", None) is not None else DEFAULT_WEB_PORT
            web = WebServer(store, router, host=args.web_host or "127.0.0.1", port=port,
                            token=getattr(args, "web_token", None))
        surface = cls(store, osc=osc, midi=midi, web=web)
        surface.router = router
        return surface

    def configure(self, setlist: Any, song: Any) -> None:
        """Point the store at a setlist and song: style names, the song's prompts, and a
        ``gain_<mapping>`` for each of its reactivity mappings. Overrides of the previous song
        (style, prompt, strength…) are released."""
        from vj.setlist.models import reactivity_name

        store = self.store
        store.configure_choices("style", list(setlist.styles))
        prompts = list(song.prompt) if isinstance(song.prompt, list) else [song.prompt]
        for cue in song.cues:
            for spec in ([cue.prompt] if cue.prompt is not None else []) + list(cue.sequence or []):
                prompts.extend(spec if isinstance(spec, list) else [spec])
        store.configure_prompts(list(dict.fromkeys(p for p in prompts if isinstance(p, str))))
        store.register_reactivity([reactivity_name(m, i) for i, m in enumerate(song.reactivity)])
        store.release_all(source="setlist")

    def start(self) -> None:
        if self.osc is not None:
            self.osc.start()
        if self.web is not None:
            try:
                self.web.start()
            except BaseException:
                self.stop()
                raise
            self.web.announce()
        if self.midi is not None:
            try:
                opened = self.midi.start()
            except BaseException:
                self.stop()  # no OSC thread left behind when MIDI cannot open
                raise
            if not opened:
                log.warning("no MIDI input found; MIDI control is off (see `vj devices`)")

    def stop(self) -> None:
        if self.web is not None:
            self.web.stop()
        if self.midi is not None:
            self.midi.stop()
        if self.osc is not None:
            self.osc.stop()

    def publish_state(self, **state: Any) -> None:
        """Show state for OSC feedback clients (cue, cue_label, prompt, bpm, beat, beat_phase, bar,
        song, style); cheap, throttled in the feedback thread."""
        if self.osc is not None:
            self.osc.publish_state(**state)
        if self.web is not None:
            self.web.publish_state(**state)

    def __enter__(self) -> "ControlSurface":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def format_midi_ports(ports: dict[str, Sequence[str] | str]) -> str:
    """``list_midi_ports()`` as lines for ``vj devices``."""
    lines = ["MIDI inputs:"]
    for api, names in ports.items():
        if isinstance(names, str):
            lines.append(f"  {api}: {names}")
        elif not names:
            lines.append(f"  {api}: none")
        else:
            lines.extend(f"  {api}: {name}" for name in names)
    return "\n".join(lines)


__all__ = ["ControlSurface", "add_control_arguments", "format_midi_ports"]


if __name__ == "__main__":  # pragma: no cover - a manual check: python -m vj.control.surface
    import sys

    from vj.control.midi import list_midi_ports

    sys.stdout.write(format_midi_ports(list_midi_ports()) + "\n")
