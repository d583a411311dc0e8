#!/usr/bin/env python3
"""Offline rehearsal speed: frames per second of `vj rehearse` at 512×512 with the procedural
generator, and the engine's own cost per frame (everything but the generator: analysis lookup,
director, camera warp, post, readback, encoding), measured in the same run.

    .venv/bin/python tools/bench_rehearse.py [--size 512x512] [--seconds 6] [--setlist setlists/demo.yaml]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vj.render.frame import Frame  # noqa: E402
from vj.frame_params import FrameParams  # noqa: E402
from vj.generators.base import Generator, GeneratorContext  # noqa: E402
from vj.show.generators import make_generator  # noqa: E402
from vj.show.rehearse import plan_rehearsal, render_rehearsal  # noqa: E402
from vj.setlist.models import load_setlist  # noqa: E402


class TimedGenerator(Generator):
    """Wraps a generator and records how long each step takes (GL work is finished with
    ctx.finish() so the time lands on the generator, not on the next readback)."""

    def __init__(self, inner: Generator) -> None:
        self.inner = inner
        self.name = inner.name
        self.step_seconds: list[float] = []
        self._gl = None

    def prepare(self, context: GeneratorContext) -> None:
        self._context = context
        self._gl = context.gl
        self.inner.prepare(context)

    def first_frame(self, params: FrameParams) -> Frame:
        return self.inner.first_frame(params)

    def step(self, previous: Frame, params: FrameParams) -> Frame:
        if self._gl is not None:
            self._gl.finish()
        start = time.perf_counter()
        frame = self.inner.step(previous, params)
        if self._gl is not None:
            self._gl.finish()
        self.step_seconds.append(time.perf_counter() - start)
        return frame

    def close(self) -> None:
        self.inner.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setlist", type=Path, default=REPO / "setlists" / "demo.yaml")
    parser.add_argument("--size", default="512x512")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--fps", type=float, default=24.0)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    setlist = load_setlist(args.setlist)
    with tempfile.TemporaryDirectory() as folder:
        plan = plan_rehearsal(setlist, size=(width, height), fps=args.fps, seconds=args.seconds,
                              output=Path(folder) / "bench.mp4")
        generator = TimedGenerator(make_generator(setlist, name="procedural"))
        start = time.perf_counter()
        result = render_rehearsal(plan, generator)
        total = time.perf_counter() - start
    frames = result.frames
    generator_total = sum(generator.step_seconds)
    engine_total = total - generator_total
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.platform()}")
    print(f"rehearsal at {width}x{height}, {frames} frames ({args.seconds:g} s of {args.setlist.name} at {args.fps:g} fps)")
    print(f"  whole render        {frames / total:7.2f} fps   ({1000 * total / frames:7.2f} ms/frame, incl. set-up, encode, timeline)")
    print(f"  generator step      {1000 * statistics.median(generator.step_seconds):7.2f} ms/frame (median), "
          f"{1000 * generator_total / frames:7.2f} ms/frame (mean)")
    print(f"  engine (all else)   {1000 * engine_total / frames:7.2f} ms/frame  "
          f"= {engine_total / total:.0%} of the render")
    try:
        from tools.bench_depth import bench_depth  # 3D camera stage, where present
    except ImportError:
        return 0
    print("  3D camera stage (tools/bench_depth.py):")
    for name, value in bench_depth(min(width, height), frames=20).items():
        if isinstance(value, dict) and "median_ms" in value:
            print(f"    {name:<32}{value['median_ms']:8.2f} ms/frame (median)")
        elif name == "gl_renderer":
            print(f"    {name:<32}{value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
