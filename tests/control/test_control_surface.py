"""The pieces ``vj live`` wires: CLI flags → ControlSurface, a setlist configuring the store, the
director reading a snapshot, and learn mode inside a running MIDI input."""
from __future__ import annotations

import argparse
import threading
from pathlib import Path

import mido
import pytest
from pythonosc.udp_client import SimpleUDPClient

from control_helpers import wait_for
from vj.control.learn import arm_learn
from vj.control.mapping import load_mapping
from vj.control.midi import MidiInput
from vj.control.params import ParamStore
from vj.control.surface import ControlSurface, add_control_arguments, format_midi_ports

ROOT = Path(__file__).resolve().parents[2]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_control_arguments(parser)
    return parser.parse_args(list(argv))


def test_flags_build_the_surface_and_osc_reaches_the_store() -> None:
    args = parse("--osc-port", "0", "--osc-feedback", "127.0.0.1:9")
    with ControlSurface.from_args(args) as surface:
        assert surface.midi is None and surface.osc is not None
        assert surface.osc.feedback.clients == (("127.0.0.1", 9),)
        SimpleUDPClient(*surface.osc.address).send_message("/vj/param/vignette", 0.5)
        wait_for(lambda: surface.store.value("vignette") == 0.5, what="OSC through the surface")
        surface.publish_state(bpm=120.0, beat=3, beat_phase=0.25)
    with pytest.raises(SystemExit):
        parse("--osc-feedback", "nohost:port")
    assert ControlSurface.from_args(parse("--no-osc")).osc is None


def test_a_setlist_configures_styles_prompts_and_gains_and_the_director_reads_it() -> None:
    from vj.director.director import Director
    from vj.features import Features
    from vj.setlist.models import load_setlist
    from vj.audio.clock import TempoClock

    setlist = load_setlist(ROOT / "setlists" / "demo.yaml")
    song = setlist.songs[0]
    store = ParamStore()
    surface = ControlSurface(store)
    surface.configure(setlist, song)
    assert store.spec("style").choices == tuple(setlist.styles)
    assert any(name.startswith("gain_") for name in store.specs)
    store.set("strength", 0.9, glide=0)
    style = list(setlist.styles)[-1]
    store.set("style", style)
    grid = TempoClock(bpm=song.bpm or 120.0, beats_per_bar=song.meter)
    director = Director(setlist, song, grid, fps=24.0)
    params = director.frame_params(0, 0.0, Features(), store.snapshot())
    assert params.strength == pytest.approx(0.9)
    assert params.style_name == style
    surface.configure(setlist, song)  # a new song: overrides released
    assert not store.is_set("strength") and not store.is_set("style")


def test_learn_mode_in_a_running_input(tmp_path: Path) -> None:
    store = ParamStore()
    midi = MidiInput(store)  # not started: its callback is fed by hand, as rtmidi would
    feed = midi._make_callback("test port")
    learned = []
    done = threading.Event()
    arm_learn(midi, "contrast", lambda entry: (learned.append(entry), done.set()), timeout=2.0,
              save_to=tmp_path / "live.yaml", settle=0.05)
    for value in (60, 70, 80):
        feed(mido.Message("control_change", channel=1, control=12, value=value))
    assert done.wait(3.0)
    assert learned[0].cc == 12 and learned[0].channel == 2
    assert not store.is_set("contrast")  # swallowed while learning
    feed(mido.Message("control_change", channel=1, control=12, value=64))   # at 1.0: picks up
    feed(mido.Message("control_change", channel=1, control=12, value=127))
    assert store.value("contrast") == 2.0
    assert load_mapping(tmp_path / "live.yaml").controls[0].target == "contrast"


def test_port_listing_text() -> None:
    text = format_midi_ports({"LINUX_ALSA": "unavailable: no sequencer", "UNIX_JACK": ["a:b"], "X": []})
    assert "LINUX_ALSA: unavailable" in text and "UNIX_JACK: a:b" in text and "X: none" in text


def test_a_midi_failure_leaves_no_osc_server_behind() -> None:
    args = parse("--osc-port", "0", "--midi-port", "no such controller")
    surface = ControlSurface.from_args(args)
    surface.midi.backend_name = "mido.backends.rtmidi/NO_SUCH_API"
    from vj.control.midi import MidiError

    with pytest.raises(MidiError):
        surface.start()
    assert surface.osc._server is None
