"""Depth + 3D reprojection cost per frame (plane, tiny model on CPU, real-size model where asked).

    .venv/bin/python tools/bench_depth.py                      # 512x512, plane + tiny model, CPU
    .venv/bin/python tools/bench_depth.py --real --device cuda # + Depth Anything V2 Small (random weights)

``bench_depth(size, frames)`` returns the figures as a dict (milliseconds per frame) so
``tools/bench_rehearse.py`` can merge them. GL timings include a ``ctx.finish()`` per frame (the
pass's real latency) but not reading the result back to the CPU.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vj.render.frame import Frame  # noqa: E402
from vj.frame_params import CameraMotion  # noqa: E402


def _time_ms(step: Callable[[int], Any], frames: int, warmup: int = 2) -> dict[str, float]:
    for index in range(warmup):
        step(index)
    samples = []
    for index in range(frames):
        start = time.perf_counter()
        step(index)
        samples.append((time.perf_counter() - start) * 1000.0)
    return {"mean_ms": round(statistics.fmean(samples), 3), "median_ms": round(statistics.median(samples), 3),
            "max_ms": round(max(samples), 3)}


def bench_depth(size: int = 512, frames: int = 20, *, real: bool = False, device: str = "cpu",
                resolution: int = 256, max_grid: int = 512) -> dict[str, Any]:
    """Per-frame cost of the 3D camera at ``size``×``size``: depth estimate (plane, tiny model,
    optionally the real-size Depth Anything V2 Small with random weights on ``device``) and the GL
    reprojection (stretch and noise borders), plus the GL renderer's name."""
    from vj.depth import PlaneDepth, load_depth_provider
    from vj.depth.model import ModelDepth
    from vj.depth.tiny import build_tiny_depth_model, random_depth_model
    from vj.render.gl import create_headless_context
    from vj.render.reproject import ReprojectPass

    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:size, 0:size] / size
    image = np.clip(np.stack([xs, ys, 0.5 + 0.5 * np.sin(12 * xs * ys)], -1)
                    + 0.05 * rng.random((size, size, 3)), 0, 1).astype(np.float32)
    frame = Frame(array=image)
    motion = CameraMotion(mode="3d", translation_z=10.0, rotation_3d_y=0.5)
    results: dict[str, Any] = {"size": size, "frames": frames}

    plane = PlaneDepth()
    results["depth_plane"] = _time_ms(lambda i: plane.estimate(frame, motion), frames)

    with tempfile.TemporaryDirectory() as folder:
        path = build_tiny_depth_model(Path(folder) / "tiny")
        tiny = load_depth_provider({"kind": "model", "source": str(path), "resolution": resolution,
                                    "device": "cpu"})
        results[f"depth_tiny_cpu_{resolution}"] = _time_ms(lambda i: tiny.estimate(frame, motion), frames)
        model_depth = tiny.estimate(frame, motion)

    if real:
        import torch

        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        model = ModelDepth(random_depth_model("depth_anything", "small"), device=device, dtype=dtype,
                           resolution=resolution, name="depth-anything-v2-small (random)")

        def run_real(_: int) -> None:
            model.estimate(frame, motion)
            if device.startswith("cuda"):
                torch.cuda.synchronize()

        results[f"depth_anything_small_{device}_{resolution}"] = _time_ms(run_real, max(3, frames // 2))

    ctx = create_headless_context()
    results["gl_renderer"] = ctx.info.get("GL_RENDERER", "?")
    reproject = ReprojectPass(ctx, max_grid=max_grid)
    source = frame.to_texture(ctx)
    depth = plane.estimate(frame, motion)
    for border in ("stretch", "noise"):
        def run_gl(i: int, border: str = border, depth: np.ndarray = depth) -> None:
            reproject.apply(source, depth, motion, border, seed=i)
            ctx.finish()

        results[f"reproject_plane_{border}"] = _time_ms(run_gl, frames)

    def run_model_gl(i: int) -> None:
        reproject.apply(source, model_depth, motion, "stretch", seed=i)
        ctx.finish()

    results["reproject_model_depth_stretch"] = _time_ms(run_model_gl, frames)
    reproject.release()
    ctx.release()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--resolution", type=int, default=256, help="depth model input, short side")
    parser.add_argument("--real", action="store_true", help="also time Depth Anything V2 Small (random weights)")
    parser.add_argument("--device", default="cpu", help="device for the real-size model (cpu, cuda)")
    parser.add_argument("--max-grid", type=int, default=512, help="mesh vertices per side, at most")
    args = parser.parse_args(argv)
    results = bench_depth(args.size, args.frames, real=args.real, device=args.device,
                          resolution=args.resolution, max_grid=args.max_grid)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
