"""The ``vj`` command: rehearse, live, check, analyse, devices, compile, midi-learn, recover.

Errors meant for people (a setlist typo, a missing file, an unwritable output) print one line
naming the file and place and exit with status 2; no traceback.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

from vj import __version__
from vj.cli_args import positive, size

EXIT_USAGE = 2

DESCRIPTION = """\
vj — a real-time VJ engine: the music drives the camera and the prompts of a few-step
diffusion loop (or the built-in procedural generator), live on a projector or rehearsed
offline into an MP4 with the song's audio.

  vj check setlists/demo.yaml              validate a setlist (and its audio files)
  vj rehearse setlists/demo.yaml           render the first song to renders/demo-<song>.mp4
  vj analyse song.ogg --csv events.csv     onsets, beats and tempo of a track
  vj live setlists/demo.yaml --windowed    play it live from the audio input
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vj", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"vj {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more (debug messages)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    rehearse = commands.add_parser("rehearse", help="render a song of a setlist to an MP4 with its audio",
                                   description="Render a song offline, frame by frame, into an H.264 MP4 "
                                   "with the song's audio, plus a timeline picture (PNG) beside it.")
    rehearse.add_argument("setlist", type=Path, help="the setlist YAML file")
    which = rehearse.add_mutually_exclusive_group()
    which.add_argument("--song", help="which song (name; default: the first)")
    which.add_argument("--all", action="store_true",
                       help="every song of the set, one MP4 each (-o is then a folder; default renders/)")
    rehearse.add_argument("-o", "--output", type=Path, help="the MP4 to write (default: renders/<setlist>-<song>.mp4)")
    rehearse.add_argument("--size", type=size(), help="WIDTHxHEIGHT, overrides the setlist (multiples of 8)")
    rehearse.add_argument("--fps", type=positive(float), help="frames per second, overrides the setlist")
    rehearse.add_argument("--seconds", type=positive(float), help="render only the first N seconds")
    rehearse.add_argument("--generator", help="'procedural', or a model id/folder, overriding the setlist's model")
    rehearse.add_argument("--allow-download", action="store_true", help="let the model loader use the network")
    rehearse.add_argument("--no-progress", action="store_true", help="no progress bar")
    rehearse.add_argument("--preview", action="store_true",
                          help="show the frames in a window as they render, steerable from OSC and MIDI with "
                          "the flags below (a steered rehearsal is not repeatable); Esc stops and keeps what is done")
    rehearse.add_argument("--ndi", metavar="NAME", help="with --preview: also send the frames as the NDI source NAME "
                          "(needs vj[ndi])")
    from vj.control.surface import add_control_arguments

    add_control_arguments(rehearse)  # used with --preview only
    rehearse.set_defaults(run=_run_rehearse)

    check = commands.add_parser("check", help="validate a setlist and its audio files without rendering")
    check.add_argument("setlist", type=Path)
    check.set_defaults(run=_run_check)

    analyse = commands.add_parser(
        "analyse", aliases=["analyze"], help="onsets, beats, downbeats, meter and tempo of an audio file",
        description="Analyse an audio file and print its tempo (with the half/double readings), meter, first "
        "downbeat and event counts. --csv writes one row per event (kind,time,strength,position: a beat's "
        "place in its bar); --plot draws waveform, onsets, beats and downbeats to a PNG; --live runs the live "
        "analysis over the file hop by hop, exactly as `vj live` would hear it, and writes each decision with "
        "the time it was made (kind,time,decided_at,strength,position,bpm).")
    analyse.add_argument("audio", type=Path)
    analyse.add_argument("--csv", type=Path, help="write the events to this CSV file")
    analyse.add_argument("--plot", type=Path, metavar="PNG", help="draw waveform, onsets, beats and downbeats")
    analyse.add_argument("--method", choices=["crnn", "aubio"], default="crnn",
                         help="beat tracker: crnn (BeatNet's network + a beat HMM, bars from accents and "
                         "harmony: beats, downbeats, meter; the default) or aubio (its tempo tracker; 4 beats "
                         "a bar assumed)")
    analyse.add_argument("--hop", type=int, choices=[256, 512], default=256,
                         help="analysis hop in samples at 44.1 kHz (onsets and bands; default 256)")
    analyse.add_argument("--beats-per-bar", type=int, choices=range(2, 13), metavar="N",
                         help="pin the meter instead of detecting it (3 or 4 are detected)")
    analyse.add_argument("--bpm", type=float, help="pin the tempo (the tracker follows drift within ±10%%)")
    analyse.add_argument("--live", action="store_true",
                         help="replay the live (causal) analysis over the file and report its decisions")
    analyse.set_defaults(run=_run_analyse)

    from vj.commands.live import add_live_arguments, run_live

    live = commands.add_parser("live", help="play a setlist live: audio input → projector window",
                               description="Play a setlist live from an audio input to a fullscreen window.")
    add_live_arguments(live)
    live.set_defaults(run=run_live)

    recover = commands.add_parser("recover", help="finish a recording a killed vj left (*.partial.mp4) into an MP4",
                                  description="Finish an unfinished recording (what a killed or crashed vj "
                                  "rehearse / vj live --record leaves: <name>.partial.mp4) into a normal MP4 at "
                                  "<name> (or <stem>.recovered.mp4 if that is taken), without re-encoding.")
    recover.add_argument("file", type=Path, help="the *.partial.mp4 file (or the name it was recording to)")
    recover.set_defaults(run=_run_recover)

    from vj.commands.schedule import add_schedule_arguments, run_schedule

    schedule = commands.add_parser(
        "schedule", help="a schedule string's value at every frame (or --csv, --plot), as the show evaluates it",
        description="Evaluate a keyframe schedule with the show's evaluator and print its value at every frame "
        "(--csv: frame,value rows; --plot: a PNG of the curve). Audio features read as 0.")
    add_schedule_arguments(schedule)
    schedule.set_defaults(run=run_schedule)

    drafter = commands.add_parser("draft", help="write a first, commented setlist for a song from its analysis",
                                  description="Analyse a song and write a complete, commented setlist: tempo, meter "
                                  "and first downbeat, sections (a style per kind of section), camera keyframes on "
                                  "bar lines, and lyric cues with --lyrics. Everything in it is yours to edit.")
    drafter.add_argument("song", type=Path, help="the song's audio file")
    drafter.add_argument("--lyrics", type=Path, help="synced lyrics (.lrc or .srt): each line a prompt cue")
    drafter.add_argument("-o", "--output", type=Path, help="the setlist to write (default: <song>.yaml beside it)")
    drafter.add_argument("--fps", type=positive(float), default=24.0, help="frames per second (default 24)")
    drafter.set_defaults(run=_run_draft)

    importer = commands.add_parser("import", help="turn another tool's settings into a setlist (deforum)")
    sources = importer.add_subparsers(dest="source", metavar="SOURCE", required=True)
    deforum = sources.add_parser("deforum", help="a Deforum settings file (*_settings.txt / .json) → a setlist",
                                 description="Turn a Deforum settings file into a setlist: prompts by frame become "
                                 "cues, the schedules stay Deforum's strings, and every setting vj has no "
                                 "equivalent for becomes a comment.")
    deforum.add_argument("settings", type=Path, help="the Deforum settings file (JSON)")
    deforum.add_argument("-o", "--output", type=Path, help="the setlist to write (default: <settings>.yaml beside it)")
    deforum.add_argument("--audio", help="the song's audio file, written as the song's audio:")
    deforum.add_argument("--keep-unknown", action="store_true",
                         help="settings this vj does not know as Deforum's become comments instead of an error")
    deforum.set_defaults(run=_run_import_deforum)

    devices = commands.add_parser("devices", help="list audio inputs, MIDI ports and monitors")
    devices.set_defaults(run=_run_devices)

    compile_ = commands.add_parser("compile", help="build accelerated engines a setlist needs, before the gig")
    compile_.add_argument("setlist", type=Path)
    compile_.add_argument("--size", type=size(), help="WIDTHxHEIGHT (default: the setlist's)")
    compile_.add_argument("--cache-dir", type=Path, help="engine cache folder (default: ~/.cache/vj/engines)")
    compile_.add_argument("--allow-download", action="store_true",
                          help="fetch missing weights from the Hugging Face Hub (otherwise local files only)")
    compile_.set_defaults(run=_run_compile)

    learn = commands.add_parser("midi-learn", help="bind the next moved MIDI control to a parameter")
    learn.add_argument("parameter", help="parameter name, e.g. strength, zoom_speed, style")
    learn.add_argument("--mapping", type=Path, default=Path("midi-mapping.yaml"), help="mapping file to update")
    learn.add_argument("--port", help="MIDI input port name (default: all)")
    learn.add_argument("--timeout", type=positive(float), default=30.0, help="seconds to wait (default 30)")
    learn.set_defaults(run=_run_midi_learn)
    return parser


def _run_check(args: argparse.Namespace) -> int:
    from vj.commands.check import check_setlist

    print(check_setlist(args.setlist))
    return 0


def _run_analyse(args: argparse.Namespace) -> int:
    from vj.audio.analysis import AnalysisSettings
    from vj.errors import VjError
    from vj.audio.offline import analyse_track, format_summary, write_events_csv, write_live_csv

    if args.bpm is not None and not 20 < args.bpm < 400:
        raise VjError(f"--bpm must be between 20 and 400 (got {args.bpm:g})")
    if args.method == "aubio" and args.beats_per_bar:
        raise VjError("--beats-per-bar needs --method crnn (aubio's tracker knows no bars)")
    settings = AnalysisSettings(hop=args.hop)
    analysis = analyse_track(args.audio, settings, beat_method=args.method)
    analysis = analysis.pinned(beats_per_bar=args.beats_per_bar, bpm=args.bpm)
    print(format_summary(analysis, pinned={"bpm": args.bpm, "beats_per_bar": args.beats_per_bar}))
    replay = None
    if args.live:
        from vj.audio.decode import decode_audio
        from vj.audio.replay import replay_live

        from vj.progress import frame_progress

        samples = decode_audio(args.audio, 44100)
        with frame_progress(int(len(samples) / 44100), enabled=sys.stderr.isatty(), label="live replay",
                            unit="s/s") as advance:
            replay = replay_live(samples, 44100, hop=args.hop, beats_per_bar=args.beats_per_bar, bpm=args.bpm,
                                 progress=advance)
        late = [b.decided_at - b.time for b in replay.beats]
        print(f"  live       {len(replay.onsets)} onsets, {len(replay.beats)} beats "
              f"({sum(b.position == 1 for b in replay.beats)} downbeats), "
              f"{replay.bpm_after(10.0):.1f} BPM after 10 s; beats decided "
              f"{1000 * (sorted(late)[len(late) // 2] if late else 0):.0f} ms after they fell (median)")
    if args.csv:
        if replay is not None:
            write_live_csv(replay, args.csv)
        else:
            write_events_csv(analysis, args.csv)
        print(f"events written to {args.csv}")
    if args.plot:
        from vj.output.analysis_plot import plot_analysis  # matplotlib: only when a picture is asked for

        print(f"picture written to {plot_analysis(analysis, args.plot, live=replay)}")
    return 0


def _run_rehearse(args: argparse.Namespace) -> int:
    from vj.show.rehearse import plan_rehearsal, render_rehearsal
    from vj.setlist.models import load_setlist
    from vj.show.generators import make_generator
    from vj.generators.base import GeneratorError

    if args.ndi and not args.preview:
        from vj.errors import VjError

        raise VjError("--ndi sends what the preview shows: add --preview")
    if (args.web is not None or args.web_host) and not args.preview:
        from vj.errors import VjError

        raise VjError("--web steers a rehearsal as it renders: add --preview")
    setlist = load_setlist(args.setlist)
    if args.all:
        return _rehearse_all(args, setlist)
    plan = plan_rehearsal(setlist, args.song, args.output, args.size, args.fps, args.seconds)
    _check_writable(plan.output)
    try:
        generator = make_generator(setlist, name=args.generator, allow_download=args.allow_download)
    except GeneratorError as exc:
        print(f"vj: {exc}", file=sys.stderr)
        if not _offer_procedural():
            print("vj: to rehearse with the built-in procedural generator instead, add --generator procedural",
                  file=sys.stderr)
            return EXIT_USAGE
        generator = make_generator(setlist, name="procedural")
    print(f"rehearsing '{plan.song.name}': {plan.frames} frames at {plan.width}x{plan.height}, "
          f"{plan.fps:g} fps, generator {generator.name}, tempo {plan.director.grid.bpm:.1f} BPM")
    from vj.progress import frame_progress

    if args.preview:
        result = _rehearse_with_preview(args, setlist, plan, generator)
    else:
        with frame_progress(plan.frames, enabled=not args.no_progress) as advance:
            result = render_rehearsal(plan, generator, progress=advance)
    print(f"wrote {result.output} ({result.frames} frames, {result.seconds:.2f} s) and {result.timeline}")
    return 0


def _rehearse_all(args: argparse.Namespace, setlist: Any) -> int:
    """Every song, one MP4 and timeline each; every song is planned (and so validated) first."""
    from vj.errors import VjError
    from vj.show.generators import make_generator
    from vj.progress import frame_progress
    from vj.show.rehearse import default_output, plan_rehearsal, render_rehearsal

    folder = args.output or Path("renders")
    if folder.suffix.lower() == ".mp4":
        raise VjError(f"-o {folder}: with --all, -o names a folder (one MP4 per song goes in it)")
    if args.preview:
        raise VjError("--preview shows one song: give --song instead of --all")
    plans = [plan_rehearsal(setlist, song.name, default_output(setlist, song, folder), args.size, args.fps,
                            args.seconds) for song in setlist.songs]
    for plan in plans:
        _check_writable(plan.output)
    make_generator(setlist, name=args.generator, allow_download=args.allow_download)  # weights there?
    for number, plan in enumerate(plans, 1):
        generator = make_generator(setlist, name=args.generator, allow_download=args.allow_download)
        print(f"[{number}/{len(plans)}] rehearsing '{plan.song.name}': {plan.frames} frames")
        with frame_progress(plan.frames, enabled=not args.no_progress) as advance:
            result = render_rehearsal(plan, generator, progress=advance)
        print(f"wrote {result.output} ({result.frames} frames, {result.seconds:.2f} s) and {result.timeline}")
    return 0


def _rehearse_with_preview(args: argparse.Namespace, setlist: Any, plan: Any, generator: Any) -> Any:
    """The rehearsal in a preview window, with the OSC/MIDI surface the flags ask for."""
    from vj.commands.live import open_controls
    from vj.show.preview import RehearsalPreview
    from vj.progress import frame_progress
    from vj.show.rehearse import render_rehearsal

    surface = open_controls(args, setlist, plan.song)
    preview = None
    sinks: list[Any] = []
    try:
        if args.ndi:
            from vj.output.ndi import ndi_output

            sinks = [ndi_output(args.ndi, plan.width, plan.height, plan.fps)]
        preview = RehearsalPreview(f"vj rehearse — {plan.song.name}", (plan.width, plan.height), plan.director,
                                   surface)
        with frame_progress(plan.frames, enabled=not args.no_progress) as advance:
            return render_rehearsal(plan, generator, progress=advance, preview=preview, extra_outputs=sinks)
    finally:
        for sink in sinks:   # the show loop closed them unless it never started (closing again is a no-op)
            sink.close(True)
        if preview is not None:
            preview.release()
        surface.stop()


def _offer_procedural() -> bool:
    """Ask (only when someone is at the terminal) whether to rehearse on the procedural generator."""
    if not sys.stdin.isatty():
        return False
    try:
        answer = input("vj: rehearse with the built-in procedural generator instead? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def _check_writable(output: Path) -> None:
    from vj.errors import VjError

    if output.exists() and output.is_dir():
        raise VjError(f"-o {output}: is a directory; give a file name ending in .mp4")
    parent = output.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VjError(f"-o {output}: cannot create the folder {parent}: {exc.strerror}") from None
    import os

    if not os.access(parent, os.W_OK):
        raise VjError(f"-o {output}: the folder {parent} is not writable")


def _run_recover(args: argparse.Namespace) -> int:
    from vj.output.recover import recover

    source, finished = recover(args.file)
    print(f"recovered {source} -> {finished.output} ({finished.frames} frames, {finished.seconds:.2f} s)")
    return 0


def _run_draft(args: argparse.Namespace) -> int:
    from vj.commands.draft import draft

    written, text = draft(args.song, args.output, lyrics=args.lyrics, fps=args.fps)
    for line in text.splitlines():
        if line.startswith("# Found:") or line.startswith("#   bar") or line.startswith("# Could not"):
            print(line[2:])
    print(f"wrote {written}: rehearse it with `vj rehearse {written}`")
    return 0


def _run_import_deforum(args: argparse.Namespace) -> int:
    from vj.commands.import_deforum import import_deforum

    written, _ = import_deforum(args.settings, args.output, keep_unknown=args.keep_unknown, audio=args.audio)
    print(f"wrote {written}: check it with `vj check {written}` (give the song's audio first)"
          if not args.audio else f"wrote {written}")
    return 0


def _run_devices(args: argparse.Namespace) -> int:
    from vj.commands.devices import list_devices

    print(list_devices())
    return 0


def _run_compile(args: argparse.Namespace) -> int:
    from vj.commands.compile import compile_setlist

    return compile_setlist(args.setlist, size=args.size, cache_dir=args.cache_dir,
                           allow_download=args.allow_download)


def _run_midi_learn(args: argparse.Namespace) -> int:
    from vj.control.learn import run_midi_learn

    return run_midi_learn(args.parameter, args.mapping, args.port, args.timeout)


def _user_errors() -> tuple[type[BaseException], ...]:
    """Every error class that means 'the user gave us something wrong' (exit 2, no traceback)."""
    from vj.errors import VjError  # AudioError and OutputError are VjErrors
    from vj.generators.base import GeneratorError
    from vj.setlist.schedule import ScheduleError

    return VjError, GeneratorError, ScheduleError


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="vj: %(levelname)s: %(message)s")
    if not getattr(args, "run", None):
        parser.print_help()
        return EXIT_USAGE
    errors = _user_errors()
    try:
        return int(args.run(args) or 0)
    except errors as exc:
        print(f"vj: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("vj: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
