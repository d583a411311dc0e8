#!/usr/bin/env python3
"""Parsing long schedules and building a director on them: one key per frame, the issue-12 case
(18,000 keys = ten minutes at 30 fps), at several sizes so the growth shows (linear: ×4 keys,
×4 time).

    .venv/bin/python tools/bench_schedule.py [--keys 4500,9000,18000] [--repeat 3]

Each figure is the best of ``--repeat`` runs, in CPU seconds of this process (``process_time``:
the machines are shared, and wall time there measures the neighbours too). "director" builds a 3D song whose zoom, fov and
translation_z each have that many keys (the 3D check reads every key), from a setlist already
loaded (YAML reading is not counted); "retime" is a tempo change live (beat keys placed again).
"""
from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vj.director.director import Director  # noqa: E402
from vj.features import Features  # noqa: E402
from vj.grid import BeatGrid  # noqa: E402
from vj.setlist.models import load_setlist  # noqa: E402
from vj.setlist.schedule import KeyTiming, parse_schedule  # noqa: E402

FPS = 30.0


def numbers(count: int, base: float = 1.0, step: float = 0.001) -> str:
    return ", ".join(f"{i}:({base + (i % 7) * step:g})" for i in range(count))


def expressions(count: int) -> str:
    return ", ".join(f"{i}:({1 + (i % 7) * 0.001:g}+0.002*sin(t/{i % 13 + 1}))" for i in range(count))


def beats(count: int) -> str:
    return ", ".join(f"{i / 2:g}b:({1 + (i % 7) * 0.001:g})" for i in range(count))


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", default="4500,9000,18000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    timing = KeyTiming(fps=FPS, seconds_per_beat=0.5, max_frames=18000)
    print(f"python {platform.python_version()} on {platform.machine()}, best of {args.repeat}")
    print(f"{'keys':>6}  {'parse numbers':>13}  {'parse expressions':>17}  {'director (3 x keys)':>19}"
          f"  {'retime beat keys':>16}  {'director (1 x keys)':>19}")
    for count in (int(k) for k in args.keys.split(",")):
        text_numbers, text_expressions, text_beats = numbers(count), expressions(count), beats(count)
        parse_n = best(lambda: parse_schedule(text_numbers, timing), args.repeat)
        parse_e = best(lambda: parse_schedule(text_expressions, timing), args.repeat)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "big.yaml"
            fov = numbers(count, 40.0, 1.0)
            path.write_text("songs:\n  - name: one\n    audio: one.wav\n    camera:\n      mode: 3d\n"
                            f'      zoom: "{text_numbers}"\n      fov: "{fov}"\n'
                            f'      translation_z: "{text_beats}"\n')
            setlist = load_setlist(path)
        song = setlist.songs[0]
        grid = BeatGrid(bpm=120.0, offset=0.0, beats_per_bar=4)
        build = best(lambda: Director(setlist, song, grid, FPS, duration=600.0), args.repeat)
        director = Director(setlist, song, grid, FPS, duration=600.0)
        director.frame_params(0, 0.0, Features())
        schedule = director._camera["translation_z"]
        slower = KeyTiming(fps=FPS, seconds_per_beat=0.51, max_frames=18000)
        retime = best(lambda: schedule.retimed(slower), args.repeat)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "one.yaml"
            path.write_text(f'songs:\n  - name: one\n    audio: one.wav\n    camera:\n      zoom: "{text_numbers}"\n')
            single = load_setlist(path)
        one = best(lambda: Director(single, single.songs[0], grid, FPS, duration=600.0), args.repeat)
        print(f"{count:>6}  {parse_n * 1000:>10.0f} ms  {parse_e * 1000:>14.0f} ms  {build * 1000:>16.0f} ms"
              f"  {retime * 1000:>13.0f} ms  {one * 1000:>16.0f} ms")


if __name__ == "__main__":
    main()
