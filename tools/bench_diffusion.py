"""Benchmark the diffusion hot loop against diffusers' StableDiffusionImg2ImgPipeline.__call__.

Same model (diffusers gets its own deep copy of the weights: nothing compiled is shared), inputs and
device, in the same run: prints fps and per-frame p50/p99 latency of each and
their ratio. Architectures: ``tiny`` (the test model) or ``sd-turbo`` (the published architecture
with random weights: speed does not depend on the weights), built offline in memory; or ``--model``
for a real checkpoint folder / cached model id.

    .venv/bin/python tools/bench_diffusion.py --arch sd-turbo --size 256 --steps 1 --vae full
    .venv/bin/python tools/bench_diffusion.py --arch sd-turbo --size 512 --accelerator compile --device cuda
"""
from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch


def baseline_pipeline(loaded):
    """diffusers' img2img pipeline on its own deep copies of the weights: nothing that vj compiles,
    converts to channels-last or wraps (the UNet, the VAE halves) is shared, so the comparison is
    like for like. The copy is made before vj's accelerator touches its own modules."""
    import copy

    from diffusers import StableDiffusionImg2ImgPipeline

    pipe = StableDiffusionImg2ImgPipeline(vae=copy.deepcopy(loaded.vae), unet=copy.deepcopy(loaded.unet),
                                          text_encoder=copy.deepcopy(loaded.text_encoder), tokenizer=loaded.tokenizer,
                                          scheduler=copy.deepcopy(loaded.scheduler), safety_checker=None,
                                          feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def build(args: argparse.Namespace):
    """A LoadedModel (the hot loop's view) and an img2img pipeline with its own copy of the weights."""

    from vj.generators.diffusion.loader import LoadedModel, default_device_dtype, load_model
    from vj.generators.diffusion.tiny import build_tiny_pipeline, sd_turbo_random_pipeline, taesd_random

    device, dtype = default_device_dtype(args.device, torch.float16 if args.fp16 else None)
    if args.model:
        loaded = load_model(args.model, device=device, dtype=dtype, vae=args.vae, tiny_vae_path=args.tiny_vae)
    else:
        if args.arch == "tiny":
            scratch = Path(tempfile.mkdtemp())
            build_tiny_pipeline(scratch / "model", tiny_vae_folder=scratch / "taesd")
            loaded = load_model(str(scratch / "model"), device=device, dtype=dtype, vae=args.vae,
                                tiny_vae_path=str(scratch / "taesd"))
        else:
            pipe = sd_turbo_random_pipeline().to(device)
            vae = taesd_random().to(device) if args.vae == "tiny" else pipe.vae
            if dtype != torch.float32:
                pipe.to(dtype=dtype)
                vae.to(dtype=dtype)
            for module in (pipe.unet, pipe.text_encoder, vae):
                module.eval().requires_grad_(False)
            loaded = LoadedModel(name="sd-turbo (random weights)", folder=Path("."), family="sd", unet=pipe.unet,
                                 vae=vae, vae_kind=args.vae, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer,
                                 scheduler=pipe.scheduler, device=device, dtype=dtype)
    if loaded.family == "sdxl":
        raise SystemExit(f"{loaded.name} is an SDXL checkpoint: this benchmark compares against the SD img2img "
                         f"pipeline only so far (vj itself runs SDXL; see docs/diffusion.md)")
    return loaded, (None if args.skip_pipeline else baseline_pipeline(loaded))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(runs: dict, frames: int, warmup: int, device: torch.device) -> dict[str, list[float]]:
    """Per-frame seconds for each run, interleaved frame by frame so that load from other processes
    on a shared machine falls on both alike (the ratio stays fair)."""
    for _ in range(warmup):
        for run in runs.values():
            run()
    sync(device)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(frames):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            sync(device)
            times[name].append(time.perf_counter() - start)
    return times


def summary(name: str, times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    fps = len(times) / sum(times)
    print(f"{name:<34} fps {fps:8.3f}   p50 {p50 * 1000:9.1f} ms   p99 {p99 * 1000:9.1f} ms   ({len(times)} frames)")
    return {"fps": fps, "p50": p50, "p99": p99}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=["tiny", "sd-turbo"], default="sd-turbo")
    parser.add_argument("--model", help="a real checkpoint (folder or cached id) instead of --arch")
    parser.add_argument("--size", type=int, default=256, help="square output size in pixels")
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--strength", type=float, default=0.5)
    parser.add_argument("--vae", choices=["full", "tiny"], default="full")
    parser.add_argument("--tiny-vae", help="TAESD folder or id (with --model)")
    parser.add_argument("--accelerator", choices=["eager", "compile", "tensorrt"], default="eager")
    parser.add_argument("--stream-batch", action="store_true")
    parser.add_argument("--device", default=None)
    parser.add_argument("--fp16", action="store_true", help="fp16 (the default on CUDA)")
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--skip-pipeline", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from vj.generators.diffusion.accelerate import accelerate
    from vj.generators.diffusion.loader import check_size
    from vj.generators.diffusion.prompts import PromptEncoder
    from vj.generators.diffusion.stream import ImageStream, make_sampler

    started = time.perf_counter()
    loaded, pipe = build(args)
    size = args.size
    check_size(loaded, size, size, static_shapes=args.accelerator == "tensorrt")
    device = loaded.device
    gpu = torch.cuda.get_device_name() if device.type == "cuda" else "none"
    print(f"model {loaded.name} ({args.arch if not args.model else 'checkpoint'}), {size}x{size}, {args.steps} step(s), "
          f"strength {args.strength}, vae {args.vae}, accelerator {args.accelerator}, dtype {loaded.dtype}")
    print(f"device {device} (GPU: {gpu}); CPU: {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} torch threads; torch {torch.__version__}; built in "
          f"{time.perf_counter() - started:.1f} s")

    batch = args.steps if args.stream_batch else 1
    unet_call, vae = accelerate(args.accelerator, loaded, width=size, height=size, batch=batch)
    scale = loaded.vae_scale_factor
    stream = ImageStream(unet_call=unet_call, vae=vae, vae_kind=loaded.vae_kind,
                         scaling_factor=loaded.scaling_factor,
                         sampler=make_sampler(loaded.scheduler, device, loaded.dtype),
                         latent_shape=(4, size // scale, size // scale), device=device, dtype=loaded.dtype,
                         stream_batch=args.stream_batch)
    prompt = "a storm of paper birds over a neon city, volumetric light"
    embeds = PromptEncoder(loaded.tokenizer, loaded.text_encoder, device, loaded.dtype).encode(prompt)
    image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    state = {"frame": image}

    def hot_loop() -> None:   # the feedback loop: each output is the next input
        state["frame"] = stream(state["frame"], embeds, strength=args.strength, steps=args.steps, seed=1, next_seed=1)

    total = max(args.steps, round(args.steps / args.strength))

    def diffusers_call() -> None:  # the same work through diffusers' __call__ (it re-encodes the prompt)
        with torch.inference_mode():
            pipe(prompt=prompt, image=image, strength=args.steps / total, num_inference_steps=total,
                 guidance_scale=0.0, generator=torch.Generator().manual_seed(1), output_type="pt")

    runs = {"hot": hot_loop} if args.skip_pipeline else {"hot": hot_loop, "pipe": diffusers_call}
    times = timed(runs, args.frames, args.warmup, device)
    results = {"hot": summary("vj hot loop", times["hot"])}
    if "pipe" in times:
        results["pipe"] = summary("diffusers img2img __call__", times["pipe"])
        ratio = results["hot"]["fps"] / results["pipe"]["fps"]
        print(f"ratio (hot loop fps / diffusers fps): {ratio:.2f}x; p50 {results['pipe']['p50'] / results['hot']['p50']:.2f}x")


if __name__ == "__main__":
    main()
