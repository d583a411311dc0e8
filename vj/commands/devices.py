"""``vj devices``: what a VJ can plug the show into — audio inputs, MIDI ports, monitors.

Each section reports its own failure in place (no display, no MIDI backend), so the command
always prints what it can find.
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def audio_section() -> list[str]:
    from vj.audio.live import _quiet_stderr, input_devices, open_portaudio

    try:
        pa = open_portaudio()
    except Exception as exc:  # PortAudio missing or broken: say so, keep listing the rest
        return [f"  (PortAudio unavailable: {exc})"]
    try:
        devices = input_devices(pa)
        try:
            with _quiet_stderr():
                default = int(pa.get_default_input_device_info()["index"])
        except (IOError, OSError, KeyError):
            default = None
    finally:
        pa.terminate()
    if not devices:
        return ["  (none found; is an audio interface connected, or a JACK/PipeWire server running?)"]
    return [f"  {d.describe()}{'  (default)' if d.index == default else ''}" for d in devices]


def midi_section() -> list[str]:
    """MIDI inputs per MIDI API, from the control package (which never starts a JACK server
    as a side effect of listing)."""
    try:
        from vj.control.midi import list_midi_ports
    except ImportError as exc:  # mido / python-rtmidi missing
        return [f"  (MIDI unavailable: {exc})"]
    from vj.audio.live import _quiet_stderr

    from vj.control.surface import format_midi_ports

    with _quiet_stderr():  # rtmidi's ALSA backend prints to stderr when there is no sequencer
        ports = list_midi_ports()
    return format_midi_ports(ports).splitlines()[1:] or ["  (no MIDI API available)"]  # [0] is its heading


def monitor_section() -> list[str]:
    try:
        from vj.render.window import init_glfw, list_monitors

        init_glfw()
    except Exception as exc:  # no display: not an error for a listing
        return [f"  (no display: {exc})"]
    import glfw

    try:
        monitors = list_monitors()
    finally:
        glfw.terminate()
    return [f"  {m.describe()}" for m in monitors] or ["  (none connected)"]


def list_devices() -> str:
    """A readable listing of audio inputs (with host API), MIDI inputs and monitors."""
    sections = [("Audio inputs (--input INDEX or NAME)", audio_section()),
                ("MIDI inputs", midi_section()),
                ("Monitors (--screen INDEX or NAME)", monitor_section())]
    return "\n".join(f"{title}:\n" + "\n".join(lines) for title, lines in sections)


__all__ = ["list_devices", "audio_section", "midi_section", "monitor_section"]
