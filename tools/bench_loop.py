#!/usr/bin/env python3
"""The live show loop's own cost per display frame: a ``LiveShow`` of the demo setlist in a real
window (Xvfb here), unpaced (display rate 1000 Hz, no vsync), procedural generator, no audio
input, so the frame rate is what the loop itself (director, camera, compose, present, HUD, swap)
allows on this machine.

    DISPLAY=:99 .venv/bin/python tools/bench_loop.py [--seconds 8] [--setlist setlists/demo.yaml]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vj.generators.procedural import ProceduralGenerator  # noqa: E402
from vj.render.window import OutputWindow  # noqa: E402
from vj.setlist.models import load_setlist  # noqa: E402
from vj.show.live import LiveOptions, LiveShow, build_song_states  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--setlist", type=Path, default=REPO / "setlists" / "demo.yaml")
    args = parser.parse_args()
    setlist = load_setlist(args.setlist)
    window = OutputWindow("vj bench_loop", (640, 360), None, vsync=False)
    try:
        show = LiveShow(setlist, build_song_states(setlist), window, audio=None, make_generator=ProceduralGenerator,
                        options=LiveOptions(quit_after=args.seconds, display_rate=1000.0, keep_frame_log=True,
                                            upload="host"))
        started = time.monotonic()
        show.run()
        wall = time.monotonic() - started
    finally:
        window.close()
    frames = list(show.frame_log)
    records = frames[len(frames) // 5:] or frames   # past the start-up
    work = [r.rendered - r.drained_at for r in records]
    print(f"machine: {platform.machine()}, {platform.system()}; {setlist.output.width}x{setlist.output.height} "
          f"output, 640x360 window")
    print(f"display {len(show.frame_log) / wall:.1f} frames/s; render stage p50 {1000 * statistics.median(work):.2f} ms; "
          f"generator {show.worker.frames / wall:.1f} frames/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
