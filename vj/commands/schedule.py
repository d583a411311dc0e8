"""``vj schedule "STRING"``: a schedule's value at every frame, printed, as CSV or as a picture.

The same evaluator as the show (:func:`vj.setlist.schedule.parse_schedule` and
:meth:`Schedule.finite_value`, the director's fallback when no frame near is good), on a clock of
``--fps`` and ``--bpm`` with beat 0 at the start; audio features are 0 (there is no song).
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Sequence

from vj.errors import VjError
from vj.setlist.expressions import variable_names
from vj.setlist.schedule import KeyTiming, Schedule, parse_schedule

#: Frames shown when --frames is not given and the keys give no better idea.
DEFAULT_FRAMES = 120
#: The most frames one call evaluates (a day at 24 fps is 2 million; a typo of 10**9 is refused).
MAX_FRAMES = 2_000_000


def add_schedule_arguments(parser: argparse.ArgumentParser) -> None:
    from vj.cli_args import positive

    parser.add_argument("text", metavar="STRING", help='the schedule, e.g. "0:(1), 16b:(1.05)"')
    parser.add_argument("--frames", type=positive(int),
                        help="frames to evaluate (Deforum's max_frames: max_f = N - 1; default: to one "
                        f"second past the last key, at least {DEFAULT_FRAMES})")
    parser.add_argument("--fps", type=positive(float), default=24.0, help="frames per second (default 24)")
    parser.add_argument("--bpm", type=positive(float), default=120.0, help="tempo for beat keys (default 120)")
    parser.add_argument("--beats-per-bar", type=positive(int), default=4, help="for bar keys (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="Deforum's s (default 0)")
    parser.add_argument("--interpolation", choices=["linear", "cubic", "step"], default="linear")
    parser.add_argument("--csv", action="store_true", help="print frame,value rows only")
    parser.add_argument("--plot", type=Path, metavar="PNG", help="draw the curve to this PNG")


def evaluate(text: str, *, frames: int | None = None, fps: float = 24.0, bpm: float = 120.0,
             beats_per_bar: int = 4, seed: int = 0, interpolation: str = "linear"
             ) -> tuple[Schedule, list[tuple[int, float]]]:
    """The parsed schedule and (frame, value) for frames 0 .. frames - 1. ScheduleError on bad text."""
    if frames is None:
        # max_f is needed to place keys like "max_f-1": parse once with a guess, then size it
        probe = parse_schedule(text, KeyTiming.from_bpm(fps, bpm, 0.0, beats_per_bar,
                                                        max_frames=DEFAULT_FRAMES, seed=seed),
                               interpolation)
        last = max((k.frame for k in probe.keyframes), default=0.0)
        frames = max(DEFAULT_FRAMES, int(math.ceil(last + fps)) + 1)
    if frames > MAX_FRAMES:
        raise VjError(f"--frames {frames}: at most {MAX_FRAMES} frames (the keys reach frame {frames - 1})")
    timing = KeyTiming.from_bpm(fps, bpm, 0.0, beats_per_bar, max_frames=frames, seed=seed)
    schedule = parse_schedule(text, timing, interpolation)
    env = dict.fromkeys(variable_names(), 0.0)
    rows: list[tuple[int, float]] = []
    last_good = 0.0
    spb = 60.0 / bpm
    for frame in range(frames):
        sec = frame / fps
        beat = sec / spb
        env.update(frame=float(frame), t=float(frame), max_f=float(frames - 1), s=float(seed), sec=sec,
                   fps=fps, bpm=bpm, beat=beat, bar=beat / beats_per_bar, beat_phase=beat - math.floor(beat))
        value = schedule.finite_value(env)
        last_good = last_good if value is None else value
        rows.append((frame, last_good))
    return schedule, rows


def run_schedule(args: argparse.Namespace) -> int:
    schedule, rows = evaluate(args.text, frames=args.frames, fps=args.fps, bpm=args.bpm,
                              beats_per_bar=args.beats_per_bar, seed=args.seed,
                              interpolation=args.interpolation)
    if args.plot:
        from vj.output.schedule_plot import plot_schedule

        try:
            written = plot_schedule(args.plot, schedule, rows, fps=args.fps, bpm=args.bpm,
                                    beats_per_bar=args.beats_per_bar)
        except OSError as exc:
            raise VjError(f"--plot {args.plot}: cannot write: {exc.strerror or exc}") from None
    if args.csv:
        print("frame,value")
        for frame, value in rows:
            print(f"{frame},{value:.10g}")
    else:
        print(_summary(schedule, rows, args))
        width = len(str(rows[-1][0])) if rows else 1
        for frame, value in rows:
            print(f"{frame:>{width}}  {value:.6g}")
    if args.plot:
        import sys

        print(f"curve drawn to {written}", file=sys.stderr if args.csv else sys.stdout)
    return 0


def _summary(schedule: Schedule, rows: Sequence[tuple[int, float]], args: argparse.Namespace) -> str:
    keys = len(schedule.keyframes)
    values = [v for _, v in rows]
    lines = [f"# {keys} key{'s' if keys != 1 else ''}, {len(rows)} frames at {args.fps:g} fps, "
             f"{args.bpm:g} BPM, seed {args.seed}; min {min(values):.6g}, max {max(values):.6g}"]
    lines.extend(f"# warning: {w}" for w in schedule.warnings)
    if schedule.uses_audio:
        lines.append("# audio features read as 0 here (no song)")
    return "\n".join(lines)
