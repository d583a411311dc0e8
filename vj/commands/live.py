"""``vj live``: play a setlist from the audio input to a projector window.

Everything that can fail before the show fails here, in this order, and never after a window
opened: the setlist (and every song's cues), the generator, the audio input, the monitor.
Each failure is a ``VjError`` the CLI prints as one line (with what is available) and exit 2.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from vj.cli_args import positive, size
from vj.errors import VjError

log = logging.getLogger(__name__)


def add_live_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``vj live`` flags (the lead's cli.py calls this on its subparser)."""
    from vj.render.window import KEY_HELP

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "keys in the window:\n" + KEY_HELP
    parser.add_argument("setlist", type=Path, help="the setlist YAML file")
    parser.add_argument("--song", help="song to start with (name; default: the first)")
    audio = parser.add_argument_group("audio input")
    audio.add_argument("--input", help="audio input: index or (part of a) name from 'vj devices' "
                       "(default: the system's default input)")
    audio.add_argument("--channel", type=int, default=1, help="input channel to analyse, from 1; 0 mixes all")
    audio.add_argument("--sample-rate", type=int, help="Hz to ask the input for (falls back, with a message)")
    audio.add_argument("--hop", type=int, choices=(256, 512), default=256,
                       help="analysis hop in samples (256: lower latency; 512: less CPU)")
    audio.add_argument("--onset-method", metavar="METHOD",
                       help="onset detector: 'fast' (the default: causal, decides within a hop of the attack) "
                       "or an aubio method (hfc, specflux, complex, ...; aubio decides 4-5 hops after it)")
    audio.add_argument("--no-audio", action="store_true", help="no input: run on the internal tempo clock")
    tempo = parser.add_argument_group("tempo and cues")
    tempo.add_argument("--tempo", choices=("detected", "setlist", "tap", "midi_clock", "link"),
                       help="what leads the tempo (default: the song's tempo_lead; link: an Ableton Link session, "
                       "needs vj[link])")
    tempo.add_argument("--link", action="store_true",
                       help="join the Ableton Link session and publish vj's tempo to it (needs vj[link]; implied by "
                       "a link tempo lead)")
    tempo.add_argument("--bpm", type=float, help="starting BPM (default: the song's, else 120)")
    tempo.add_argument("--follow", metavar="HOST[:PORT]",
                       help="follow the vj whose OSC is at HOST:PORT (default port 9000): its song, cue, style, "
                       "prompt, blackout and freeze; tempo from its beats (or Link with --tempo link)")
    tempo.add_argument("--cue-mode", choices=("time", "bars", "manual"),
                       help="how cues advance (default: the song's cue_mode)")
    tempo.add_argument("--latency-offset", type=float, metavar="MS",
                       help="shift visual hits earlier by MS milliseconds (projector delay; default: the song's "
                       "latency_offset_ms)")
    output = parser.add_argument_group("output")
    where = output.add_mutually_exclusive_group()
    where.add_argument("--screen", help="fullscreen on this monitor: index or name from 'vj devices'")
    where.add_argument("--windowed", action="store_true", help="a window instead of fullscreen")
    output.add_argument("--window-size", type=size(minimum=64), default=(960, 540), help="windowed size (default 960x540)")
    output.add_argument("--record", type=Path, metavar="OUT.mp4", help="also record what the projector shows, with the input audio")
    output.add_argument("--ndi", metavar="NAME", help="also send what the projector shows as the NDI source NAME "
                        "(needs vj[ndi])")
    output.add_argument("--ndi-audio", action="store_true",
                        help="with --ndi: the NDI source carries the input audio too (stereo, the input's rate)")
    output.add_argument("--hud", action="store_true", help="start with the HUD shown (H toggles)")
    output.add_argument("--upload", choices=("auto", "shared", "host"), default="auto",
                        help="how generator frames reach the window (default: a shared GL context)")
    output.add_argument("--display-rate", type=float, help="pace the display at this rate (default: the monitor's)")
    output.add_argument("--quit-after", type=positive(float), metavar="SECONDS", help="stop after SECONDS (soundchecks, tests)")
    parser.add_argument("--generator", help="'procedural', or a model id/folder, overriding the setlist's model")
    parser.add_argument("--allow-download", action="store_true", help="let the model loader use the network")
    from vj.control.surface import add_control_arguments

    add_control_arguments(parser)


def run_live(args: argparse.Namespace) -> int:
    """Validate everything, open the input and the window, play; returns the exit status."""
    from vj.output.sinks import InputTaps
    from vj.show.generators import make_generator
    from vj.show.live import LiveOptions, LiveShow, build_song_states
    from vj.setlist.models import load_setlist

    # 1. The setlist and every song's cues: nothing opens if any of it is wrong.
    setlist = load_setlist(args.setlist)
    song = setlist.song(args.song)
    follow = getattr(args, "follow", None)
    # a follower's grid is an external timeline: the leader's beats (or Link's, with --tempo link)
    tempo = args.tempo or ("link" if follow else None)
    states = build_song_states(setlist, bpm=args.bpm, tempo_lead=tempo, cue_mode=args.cue_mode)
    # 2. The generator (a wrong model id fails here, not in the middle of the show).
    generator = make_generator(setlist, name=args.generator, allow_download=args.allow_download)
    # 3. OSC and MIDI (a port in use fails here, with its message).
    surface = open_controls(args, setlist, song)
    # 4. The audio input, 5. the recording's file, 6. the monitor and the window.
    audio = recorder = window = link = follower = None
    extra: list[Any] = []
    try:
        link = open_link_lead(args, states, following=bool(follow))
        follower = open_follower(args, surface)
        audio = _open_audio(args)
        taps = InputTaps()  # where the input's samples go as they come in (the recording, --ndi-audio)
        extra = open_sinks(args, setlist, audio, taps)
        recorder = _open_recorder(args, setlist, audio, taps)
        if audio is not None and taps:
            audio.record_input(taps)
        window = _open_window(args, setlist, song.name)
        offset_ms = args.latency_offset if args.latency_offset is not None else song.latency_offset_ms
        options = LiveOptions(latency_offset=offset_ms / 1000.0, quit_after=args.quit_after,
                              display_rate=args.display_rate, upload=args.upload, hud=args.hud)
        show = LiveShow(setlist, states, window, audio=audio, make_generator=lambda: generator,
                        options=options, recorder=recorder, controls=surface.store,
                        surface=surface, start_song=setlist.song_index(song), extra_outputs=extra,
                        tempo_lead=link if link is not None else follower, follower=follower)
        recorder, extra = None, []  # the show finishes them
        log.info("live: '%s' on %s; upload %s", song.name, "a window" if window.monitor is None else window.monitor.name,
                 show.handoff.label)
        return show.run()
    finally:
        if recorder is not None:
            recorder.abort()
        for sink in extra:
            sink.close(True)
        if link is not None:
            link.close()
        if follower is not None:
            follower.stop()
        if audio is not None:
            audio.stop()
        if window is not None:
            window.close()
        surface.stop()


def open_controls(args: argparse.Namespace, setlist: Any, song: Any) -> Any:
    """The OSC server and MIDI inputs the flags ask for."""
    from vj.control.surface import ControlSurface

    surface = ControlSurface.from_args(args)
    surface.configure(setlist, song)
    surface.start()
    return surface


def open_link_lead(args: argparse.Namespace, states: Any, following: bool = False) -> Any:
    """The Link session member, when a song's tempo lead is ``link`` or ``--link`` asks (else None).
    A follower joins Link only with ``--tempo link`` (else its leader's beats lead)."""
    from vj.audio.clock import TempoLead

    if following:
        if args.tempo != "link":
            return None
    elif not getattr(args, "link", False) and not any(s.clock.lead is TempoLead.LINK for s in states):
        return None
    from vj.audio.link import LinkLead

    return LinkLead(states[0].start_bpm)


def open_follower(args: argparse.Namespace, surface: Any) -> Any:
    """``--follow HOST[:PORT]``: the follower of that leader, started (else None)."""
    if not getattr(args, "follow", None):
        return None
    from vj.control.follow import Follower, parse_leader

    try:
        leader = parse_leader(args.follow)
    except ValueError as exc:
        raise VjError(f"--follow {exc}") from None
    try:
        follower = Follower(surface.store, leader)
    except OSError as exc:
        raise VjError(f"--follow {args.follow}: cannot reach it: {exc.strerror or exc}") from None
    follower.start()
    return follower


def open_sinks(args: argparse.Namespace, setlist: Any, audio: Any = None, taps: Any = None) -> list[Any]:
    """The frame sinks the flags ask for (``--ndi NAME``), as outputs of the show loop; with
    ``--ndi-audio`` the NDI source's sound joins ``taps`` (the live input's)."""
    with_audio = bool(getattr(args, "ndi_audio", False))
    if not getattr(args, "ndi", None):
        if with_audio:
            raise VjError("--ndi-audio goes with --ndi NAME")
        return []
    if with_audio and audio is None:
        raise VjError("--ndi-audio sends the input audio: it cannot go with --no-audio")
    from vj.output.ndi import DEFAULT_AUDIO_RATE, ndi_output

    # frames go out at the display's rate (the monitor's is not known before the window opens: 60)
    rate = float(args.display_rate or 60.0)
    sound_rate = (audio.capture.sample_rate or DEFAULT_AUDIO_RATE) if with_audio else None
    output = ndi_output(args.ndi, setlist.output.width, setlist.output.height, rate, audio_rate=sound_rate)
    if taps is not None and output.audio_input is not None:
        taps.add(output.audio_input)
    return [output]


def _open_audio(args: argparse.Namespace) -> Any:
    if args.no_audio:
        return None
    from vj.audio.live import LiveAudio, LiveAudioSettings

    settings = LiveAudioSettings(device=args.input, channel=args.channel, sample_rate=args.sample_rate,
                                 hop=args.hop, onset_method=args.onset_method)
    audio = LiveAudio(settings)
    # A named input must exist (exit 2 with the list); the default one may be missing: the
    # show then starts on the internal tempo clock and keeps looking for it.
    audio.start(required=args.input is not None)
    return audio


def _open_window(args: argparse.Namespace, setlist: Any, song_name: str) -> Any:
    from vj.render.window import OutputWindow, find_monitor, init_glfw, list_monitors

    import glfw

    init_glfw()
    try:
        monitor = None if args.windowed else find_monitor(args.screen, list_monitors())
        return OutputWindow(f"vj — {setlist.title} — {song_name}", args.window_size, monitor)
    except BaseException:
        glfw.terminate()  # a GLFW left initialised keeps an X connection that may die under it
        raise


def _open_recorder(args: argparse.Namespace, setlist: Any, audio: Any, taps: Any) -> Any:
    if not args.record:
        return None
    from vj.output.live_record import LiveRecorder
    from vj.output.recorder import LiveAudioInput, OutputError
    from vj.output.recover import recover_unfinished

    output = Path(args.record)
    recover_unfinished(output.parent, reserved=[output])  # what a killed show left there
    sound = LiveAudioInput(audio.capture.sample_rate) if audio is not None else None
    try:
        recorder = LiveRecorder(output, setlist.output.width, setlist.output.height, float(setlist.output.fps),
                                audio=sound)
    except OutputError as exc:
        raise VjError(f"--record {exc}") from None
    taps.add(sound)  # the input goes into the recording as it comes in
    return recorder


__all__ = ["add_live_arguments", "open_link_lead", "open_sinks", "run_live"]
