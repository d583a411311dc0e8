"""One prepared check for a lent GPU: everything issue 9 needs measured, in one short run.

Sections (each in its own try/except and time limit; results are written as JSON and Markdown
after every section, so a run cut short still returns what finished):

1. precision   a CUDA fp16 frame of the random-weight sd-turbo architecture against the CPU fp32
               reference of the same weights and inputs (latents compared; no NaN)
2. speed       fps and p50/p99 at 512², 1 step: vj eager and compiled, full VAE and TAESD, and
               diffusers' ``StableDiffusionImg2ImgPipeline.__call__`` (own copy of the weights:
               nothing compiled is shared), interleaved frame by frame
3. recompile   after the warm-up, under fail-on-recompile: a crossfade, a weighted prompt, a seed
               change and blend, strength changes and CFG toggling compile nothing; a size that was
               not warmed up runs eager instead of compiling or raising
4. handoff     the GPU→GL hand-off at 512² and 1024² through a headless EGL context
5. onnx        the fp16 UNet ONNX export (on the GPU) and ``onnx.checker``
6. memory      peak GPU memory

On the lent machine (torch with CUDA and onnx there; diffusers, moderngl and the GL loaders carried
in .whl by ``tools/gpu_wheels.sh``), from the repository root:

    python3 tools/gpu_check.py --wheels .whl --out "$OUT"

``--dry-run`` runs every section on the CPU with the tiny test model in well under a minute (the
test suite runs it, so this script cannot rot before a GPU is lent):

    .venv/bin/python tools/gpu_check.py --dry-run --out /tmp/gpu-check
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import ctypes.util
import importlib.metadata
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a bare checkout: vj need not be installed
    sys.path.insert(0, str(ROOT))

SECTIONS = ("precision", "speed", "recompile", "handoff", "onnx", "memory")
#: The order they run in: the quick ones first, the long compile after them, memory last.
RUN_ORDER = ("precision", "handoff", "speed", "recompile", "onnx", "memory")
#: Seconds each section may take on the GPU (the whole run must end inside 8 minutes).
LIMITS = {"precision": 70, "handoff": 30, "speed": 230, "recompile": 30, "onnx": 100, "memory": 5}
#: Seconds the speed section keeps for timing frames after building (and compiling) its set-ups.
TIMING_RESERVE = 40
PROMPT = "a storm of paper birds over a neon city, volumetric light"
STORM, BIRD = ((PROMPT, 1.0),), (("the bird of light, ink drawing", 1.0),)
WEIGHTED = ((PROMPT, 0.7), ("the bird of light, ink drawing", 0.3))


class SectionTimeout(Exception):
    """A section ran past its limit (raised by the alarm in the main thread)."""


# ---- carried wheels and GL loaders -----------------------------------------------------------------

def _distribution(wheel: Path) -> str:
    return wheel.name.split("-")[0].replace("_", "-").lower()


def install_wheels(folder: Path, target: Path) -> dict[str, Any]:
    """pip-install (offline, no dependency resolution) each carried wheel whose package is missing
    here, into ``target`` on sys.path; a package the machine already has keeps its own version."""
    wanted, present = [], []
    for wheel in sorted(folder.glob("*.whl")):
        name = _distribution(wheel)
        try:
            importlib.metadata.version(name)
            present.append(name)
        except importlib.metadata.PackageNotFoundError:
            wanted.append(wheel)
    if wanted:
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                        "--no-cache-dir", "--upgrade", "--target", str(target), *map(str, wanted)], check=True)
    if str(target) not in sys.path:
        sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    return {"installed": [_distribution(w) for w in wanted], "already_there": present}


def unpack_gl_loaders(folder: Path) -> str:
    """Unpack carried glvnd/EGL loader packages where there is no libEGL (the NVIDIA driver brings
    the vendor library; a bare image may lack the loader)."""
    said = "libEGL already there"
    if not ctypes.util.find_library("EGL"):
        debs = sorted(folder.glob("*.deb"))
        if not debs:
            return "no libEGL and no carried loaders"
        for deb in debs:
            subprocess.run(["dpkg", "-x", str(deb), "/"], check=True)
        subprocess.run(["ldconfig"], check=False)
        said = f"unpacked {len(debs)} GL loader packages"
    # The driver's folder is a read-only mount there: point glvnd at its EGL vendor file.
    vendor = Path("/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json")
    if vendor.exists() and "__EGL_VENDOR_LIBRARY_FILENAMES" not in os.environ:
        os.environ["__EGL_VENDOR_LIBRARY_FILENAMES"] = str(vendor)
        said += f"; EGL vendor {vendor}"
    return said


# ---- results -------------------------------------------------------------------------------------

class Report:
    """The results so far, written to ``out`` as JSON and Markdown after every section."""

    def __init__(self, out: Path, meta: dict[str, Any]) -> None:
        self.out = out
        self.data: dict[str, Any] = {"meta": meta, "sections": {}}
        out.mkdir(parents=True, exist_ok=True)
        self.save()

    def section(self, name: str, result: dict[str, Any]) -> None:
        self.data["sections"][name] = result
        self.save()

    def save(self) -> None:
        (self.out / "gpu_check.json").write_text(json.dumps(self.data, indent=2, default=str) + "\n")
        (self.out / "gpu_check.md").write_text(markdown(self.data))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown(data: dict[str, Any]) -> str:
    meta = data["meta"]
    lines = [f"# GPU check ({'dry run, CPU' if meta.get('dry_run') else meta.get('gpu', '?')})", ""]
    lines += [f"- {key}: {_fmt(value)}" for key, value in meta.items()]
    for name in SECTIONS:
        result = data["sections"].get(name)
        lines += ["", f"## {SECTIONS.index(name) + 1}. {name}", ""]
        if result is None:
            lines.append("not run (yet)")
            continue
        lines.append(f"status: **{result.get('status')}** in {_fmt(result.get('seconds', 0.0))} s")
        rows = result.get("rows")
        if rows:
            keys = list(dict.fromkeys(k for row in rows for k in row))
            lines += ["", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
            lines += ["| " + " | ".join(_fmt(row.get(k, "")) for k in keys) + " |" for row in rows]
        for key, value in result.items():
            if key not in ("status", "seconds", "rows", "traceback"):
                lines.append(f"- {key}: {_fmt(value)}")
        if result.get("traceback"):
            lines += ["", "```", result["traceback"][-3000:], "```"]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def time_limit(seconds: float, what: str = "section"):
    """Raise SectionTimeout in the main thread after ``seconds`` (POSIX alarm). Nests: an inner
    limit never outlasts the outer one, and the outer one is re-armed with what is left of it."""
    outer_left = signal.getitimer(signal.ITIMER_REAL)[0]
    seconds = max(min(seconds, outer_left) if outer_left > 0 else seconds, 0.5)
    started = time.monotonic()

    def expire(signum: int, frame: Any) -> None:
        raise SectionTimeout(f"{what} ran past its {seconds:.1f} s limit")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_left > 0:
            signal.setitimer(signal.ITIMER_REAL, max(outer_left - (time.monotonic() - started), 0.01))


# ---- models --------------------------------------------------------------------------------------

class Check:
    """Shared state between sections: the models, the generators, the settings."""

    def __init__(self, args: argparse.Namespace) -> None:
        import torch

        self.args = args
        self.dry = bool(args.dry_run)
        self.device = torch.device("cpu" if self.dry else "cuda")
        self.dtype = torch.float32 if self.dry else torch.float16
        self.size = args.size or (64 if self.dry else 512)
        self.frames = args.frames or (4 if self.dry else 30)
        self.backend = args.compile_backend or ("eager" if self.dry else "inductor")
        self.pipe: Any = None          # the diffusers pipeline with the fp32 CPU weights
        self.taesd: Any = None
        self.device_parts: dict[str, Any] | None = None
        self.generators: dict[str, Any] = {}
        self.device_thread_busy = False  # a compile cut short still runs there: skip compiled work

    def build(self) -> None:
        """The fp32 CPU weights: the tiny test model (dry run) or the sd-turbo architecture."""
        if self.pipe is not None:
            return
        if self.dry:
            from diffusers import AutoencoderTiny, StableDiffusionImg2ImgPipeline

            from vj.generators.diffusion.tiny import build_tiny_pipeline

            folder = Path(tempfile.mkdtemp(prefix="vj-gpu-check-"))
            build_tiny_pipeline(folder / "model", tiny_vae_folder=folder / "taesd")
            self.pipe = StableDiffusionImg2ImgPipeline.from_pretrained(folder / "model", safety_checker=None,
                                                                       requires_safety_checker=False)
            self.taesd = AutoencoderTiny.from_pretrained(folder / "taesd")
        else:
            from vj.generators.diffusion.tiny import sd_turbo_random_pipeline, taesd_random

            self.pipe = sd_turbo_random_pipeline(seed=0)
            self.taesd = taesd_random(seed=0)
        for module in (self.pipe.unet, self.pipe.vae, self.pipe.text_encoder, self.taesd):
            module.eval().requires_grad_(False)
        self.pipe.set_progress_bar_config(disable=True)

    def parts(self) -> dict[str, Any]:
        """The same weights on the check's device and dtype (deep copies: the CPU ones stay fp32)."""
        if self.device_parts is None:
            self.build()
            self.device_parts = {name: copy.deepcopy(module).to(self.device, self.dtype)
                                 for name, module in (("unet", self.pipe.unet), ("vae", self.pipe.vae),
                                                      ("text_encoder", self.pipe.text_encoder),
                                                      ("taesd", self.taesd))}
        return self.device_parts

    def loaded(self, vae_kind: str, *, device: Any = None, dtype: Any = None, parts: dict[str, Any] | None = None,
               own_vae: bool = False) -> Any:
        """A LoadedModel over ``parts``; ``own_vae`` deep-copies the VAE (compile wraps its halves)."""
        from vj.generators.diffusion.loader import LoadedModel

        parts = parts or self.parts()
        vae = parts["taesd" if vae_kind == "tiny" else "vae"]
        if own_vae:
            vae = copy.deepcopy(vae)
        return LoadedModel(name="sd-turbo architecture (random weights)" if not self.dry else "tiny test model",
                           folder=Path("."), family="sd", unet=parts["unet"], vae=vae, vae_kind=vae_kind,
                           text_encoder=parts["text_encoder"], tokenizer=self.pipe.tokenizer,
                           scheduler=self.pipe.scheduler, device=device or self.device, dtype=dtype or self.dtype)

    def sync(self) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def picture(self, size: int, device: Any = None) -> Any:
        """A smooth, seeded test picture, 1×3×H×W 0..1."""
        import torch

        coarse = torch.rand(1, 3, max(size // 8, 1), max(size // 8, 1), generator=torch.Generator().manual_seed(0))
        image = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
        return image.to(device or self.device)


def frame_params(prompt: Any = STORM, **changes: Any) -> Any:
    """FrameParams as the director builds them (one prompt, strength 0.5, 1 step)."""
    from vj.features import Features
    from vj.frame_params import CameraMotion, Conditioning, FrameParams

    conditioning = Conditioning(prompt=prompt, negative_prompt=changes.pop("negative_prompt", ""))
    fields = dict(index=0, time=0.0, features=Features(), camera=CameraMotion(), conditioning_from=conditioning,
                  conditioning_to=changes.pop("conditioning_to", conditioning), strength=0.5)
    fields.update(changes)
    return FrameParams(**fields)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# ---- 1. precision ----------------------------------------------------------------------------------

def one_frame(check: Check, loaded: Any, size: int) -> tuple[Any, Any]:
    """(x0 latent, output picture) of one eager hot-loop frame, as float32 on the CPU."""
    import torch

    from vj.generators.diffusion.accelerate import eager_unet
    from vj.generators.diffusion.prompts import PromptEncoder
    from vj.generators.diffusion.stream import ImageStream, make_sampler

    scale = loaded.vae_scale_factor
    stream = ImageStream(unet_call=eager_unet(loaded.unet), vae=loaded.vae, vae_kind=loaded.vae_kind,
                         scaling_factor=loaded.scaling_factor,
                         sampler=make_sampler(loaded.scheduler, loaded.device, loaded.dtype),
                         latent_shape=(4, size // scale, size // scale), device=loaded.device, dtype=loaded.dtype)
    embeds = PromptEncoder(loaded.tokenizer, loaded.text_encoder, loaded.device, loaded.dtype).encode(PROMPT)
    with torch.inference_mode():
        out = stream(check.picture(size, loaded.device), embeds, strength=0.5, steps=1, seed=1, next_seed=1)
    return stream.last_latent.float().cpu(), out.float().cpu()


def section_precision(check: Check) -> dict[str, Any]:
    import torch

    check.build()
    # 256² keeps the CPU fp32 reference of the 865M-parameter UNet and the full VAE to seconds.
    size = check.args.ref_size or (check.size if check.dry else 256)
    cpu_parts = {"unet": check.pipe.unet, "vae": check.pipe.vae, "text_encoder": check.pipe.text_encoder,
                 "taesd": check.taesd}
    started = time.perf_counter()
    reference_latent, reference_out = one_frame(
        check, check.loaded("full", device=torch.device("cpu"), dtype=torch.float32, parts=cpu_parts), size)
    cpu_seconds = time.perf_counter() - started
    if check.dry:  # the CPU stands in for the GPU: bfloat16 there, so the reduced-precision path runs
        dtype = torch.bfloat16
        parts = {name: copy.deepcopy(module).to(dtype) for name, module in cpu_parts.items()}
        loaded = check.loaded("full", dtype=dtype, parts=parts)
    else:
        dtype, loaded = check.dtype, check.loaded("full")
    started = time.perf_counter()
    latent, out = one_frame(check, loaded, size)
    device_seconds = time.perf_counter() - started
    difference = latent - reference_latent
    cosine = float(torch.nn.functional.cosine_similarity(latent.flatten(), reference_latent.flatten(), dim=0))
    relative = float(difference.norm() / reference_latent.norm().clamp_min(1e-12))
    finite = bool(torch.isfinite(latent).all() and torch.isfinite(out).all())
    return {"size": size, "device": str(check.device), "dtype": str(dtype).replace("torch.", ""),
            "reference": "cpu float32", "latent_max_abs_diff": float(difference.abs().max()),
            "latent_mean_abs_diff": float(difference.abs().mean()), "latent_relative_l2": relative,
            "latent_cosine": cosine, "picture_max_abs_diff": float((out - reference_out).abs().max()),
            "nan_or_inf": not finite, "agrees": finite and cosine > 0.99,
            "reference_seconds": cpu_seconds, "device_seconds": device_seconds}


# ---- 2. speed ------------------------------------------------------------------------------------

def make_generator(check: Check, accelerator: str, vae_kind: str, cfg: str) -> Any:
    """A prepared (and warmed-up) DiffusionGenerator on the check's weights."""
    from vj.generators.base import GeneratorContext
    from vj.generators.diffusion.generator import DiffusionGenerator

    loaded = check.loaded(vae_kind, own_vae=accelerator == "compile")
    generator = DiffusionGenerator(loaded.name, accelerator=accelerator, cfg=cfg, compile_backend=check.backend,
                                   warm_up=True, preloaded=loaded)
    generator.prepare(GeneratorContext(width=check.size, height=check.size, prompts=[STORM, BIRD, WEIGHTED],
                                       negative_prompts=["blurry", "", ""], seed=1, options={"max_steps": 1}))
    return generator


def section_speed(check: Check) -> dict[str, Any]:
    import torch

    from vj.render.frame import Frame
    from tools.bench_diffusion import baseline_pipeline

    check.build()
    # diffusers' own deep copy, made before vj compiles or converts anything of its own.
    pipe = baseline_pipeline(check.loaded("full"))
    image = check.picture(check.size)
    runs: dict[str, Callable[[], Any]] = {}
    prepare_seconds: dict[str, float] = {}
    params = frame_params()
    configs = [("vj eager, full VAE", "eager", "full", "self"), ("vj eager, TAESD", "eager", "tiny", "self"),
               ("vj compiled, TAESD", "compile", "tiny", "full"), ("vj compiled, full VAE", "compile", "full", "self")]
    partial: dict[str, Any] = {"backend": check.backend, "size": check.size, "steps": 1, "strength": 0.5,
                               "frames": check.frames}
    section_end = time.monotonic() + (signal.getitimer(signal.ITIMER_REAL)[0] or LIMITS["speed"])
    for label, accelerator, vae_kind, cfg in configs:
        if accelerator == "compile" and check.device_thread_busy:
            partial[f"{label} skipped"] = "the device thread is still compiling an earlier set-up"
            continue
        started = time.perf_counter()
        try:  # a compile that outlasts its share leaves the timing its reserve: the rest is still timed
            with time_limit(section_end - time.monotonic() - TIMING_RESERVE, f"building {label}"):
                generator = check.generators[label] = make_generator(check, accelerator, vae_kind, cfg)
        except SectionTimeout as exc:
            partial[f"{label} timed out"] = str(exc)
            check.device_thread_busy = check.device_thread_busy or accelerator == "compile"
            continue
        except Exception as exc:  # one configuration failing does not stop the others
            partial[f"{label} failed"] = f"{type(exc).__name__}: {exc}"
            continue
        prepare_seconds[label] = time.perf_counter() - started
        state = {"frame": Frame(tensor=image.clone())}

        def run(generator: Any = generator, state: dict[str, Any] = state) -> None:
            state["frame"] = generator.step(state["frame"], params)  # the feedback loop, as in a show

        runs[label] = run

    def diffusers_call() -> None:
        with torch.inference_mode():  # strength 1/2 of 2 steps = one step at t=499, as the hot loop
            pipe(prompt=PROMPT, image=image, strength=0.5, num_inference_steps=2, guidance_scale=0.0,
                 generator=torch.Generator().manual_seed(1), output_type="pt")

    runs["diffusers __call__, full VAE"] = diffusers_call
    for run in runs.values():  # untimed frames (the allocator; diffusers' own first call)
        for _ in range(1 if check.dry else 2):
            run()
    check.sync()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(check.frames):  # interleaved frame by frame: any load falls on all alike
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            check.sync()
            times[name].append(time.perf_counter() - started)
    baseline = len(times["diffusers __call__, full VAE"]) / sum(times["diffusers __call__, full VAE"])
    rows = []
    for name, values in times.items():
        fps = len(values) / sum(values)
        rows.append({"run": name, "fps": fps, "p50 ms": statistics.median(values) * 1000,
                     "p99 ms": percentile(values, 0.99) * 1000, "x diffusers": fps / baseline,
                     "prepare s": prepare_seconds.get(name, float("nan"))})
    fallbacks = {name: check.generators[name].compile_fallbacks for name in check.generators}
    return {**partial, "rows": rows, "compile_fallbacks": fallbacks}


# ---- 3. recompile ----------------------------------------------------------------------------------

def compile_counts() -> tuple[int, int]:
    """(frames Dynamo converted, unique graphs it captured) so far in this process."""
    from torch._dynamo.utils import counters

    return sum(counters["frames"].values()), int(counters["stats"]["unique_graphs"])


def section_recompile(check: Check) -> dict[str, Any]:
    import torch

    from vj.render.frame import Frame
    from vj.frame_params import Conditioning
    from vj.generators.diffusion.stream import ImageStream

    generator = check.generators.get("vj compiled, TAESD")
    built_here = generator is None
    if built_here:
        if check.device_thread_busy:
            raise RuntimeError("skipped: the compiled generator did not finish its warm-up in the speed section")
        generator = check.generators["vj compiled, TAESD"] = make_generator(check, "compile", "tiny", "full")
    frames_before, graphs_before = compile_counts()
    fallbacks_before = generator.compile_fallbacks
    to_bird = Conditioning(prompt=BIRD)
    to_bird_negative = Conditioning(prompt=BIRD, negative_prompt="blurry")
    show = [frame_params(), *(frame_params(conditioning_to=to_bird, blend=b) for b in (0.25, 0.5, 0.9)),
            frame_params(prompt=WEIGHTED), frame_params(seed=7, next_seed=7),
            frame_params(seed=7, next_seed=8, seed_blend=0.4), frame_params(strength=0.3),
            frame_params(strength=0.85), frame_params(guidance=2.5, negative_prompt="blurry"),
            frame_params(guidance=2.5, negative_prompt="blurry", conditioning_to=to_bird_negative, blend=0.5),
            frame_params(guidance=0.0)]
    frame = Frame(tensor=check.picture(check.size))
    slowest = 0.0
    for params in show:
        started = time.perf_counter()
        frame = generator.step(frame, params)
        check.sync()
        slowest = max(slowest, time.perf_counter() - started)
    frames_after, graphs_after = compile_counts()
    show_fallbacks = generator.compile_fallbacks - fallbacks_before
    # A forced recompile: a size the warm-up never saw, on the same guarded modules.
    stream, loaded = generator.stream, generator.loaded
    half = check.size // 2
    other = ImageStream(unet_call=stream.unet_call, vae=stream.vae, vae_kind=stream.vae_kind,
                        scaling_factor=stream.scaling_factor, sampler=stream.sampler,
                        latent_shape=(4, half // loaded.vae_scale_factor, check.size // loaded.vae_scale_factor),
                        device=loaded.device, dtype=loaded.dtype)
    picture = torch.nn.functional.interpolate(check.picture(check.size), size=(half, check.size))
    started = time.perf_counter()
    error = None
    try:  # on the device thread, as every compiled call of a show
        out = generator.device_thread.run(other, picture, generator.prompts.encode_now(STORM), strength=0.5, steps=1,
                                          seed=3, next_seed=3)
        check.sync()
        forced_ok = bool(torch.isfinite(out).all())
    except Exception as exc:  # what must not happen: reported, not raised
        forced_ok, error = False, f"{type(exc).__name__}: {exc}"
    forced_seconds = time.perf_counter() - started
    frames_forced, graphs_forced = compile_counts()
    return {"warmed_shapes": generator.warmed, "show_frames": len(show),
            "recompiles_after_warm_up": frames_after - frames_before,
            "new_graphs_after_warm_up": graphs_after - graphs_before, "show_fallbacks": show_fallbacks,
            "slowest_show_frame_ms": slowest * 1000,
            "forced_new_size": f"{check.size}x{half}", "forced_ran_without_raising": forced_ok,
            "forced_error": error, "forced_frame_ms": forced_seconds * 1000,
            "forced_compiles": frames_forced - frames_after, "forced_fallbacks":
                generator.compile_fallbacks - fallbacks_before - show_fallbacks,
            "notice": generator.notice, "warmed_in_this_section": built_here,
            "zero_recompiles": frames_after == frames_before and graphs_after == graphs_before and show_fallbacks == 0}


# ---- 4. hand-off ----------------------------------------------------------------------------------

def section_handoff(check: Check) -> dict[str, Any]:
    frames = 5 if check.dry else 50
    rows = []
    try:
        from vj.render.cuda_interop import measure_handoff
    except ImportError:
        measure_handoff = None
    if measure_handoff is not None:
        for size in (512, 1024):
            rows.append(measure_handoff(size, str(check.device), frames))
        return {"function": "vj.render.cuda_interop.measure_handoff", "rows": rows}
    # No interop module in this tree: the pinned-host upload the live hand-off used before it.
    return {"function": "pinned host upload via moderngl EGL (no vj.render.cuda_interop)",
            "rows": [pinned_upload(size, check, frames) for size in (512, 1024)]}


def pinned_upload(size: int, check: Check, frames: int) -> dict[str, Any]:
    import numpy as np
    import torch

    from vj.render.gl import create_headless_context

    ctx = create_headless_context()
    try:
        texture = ctx.texture((size, size), 4, dtype="f1")
        frame = torch.rand(1, 3, size, size, device=check.device)
        host = torch.empty(size, size, 4, dtype=torch.uint8, pin_memory=check.device.type == "cuda")
        host[..., 3] = 255
        timings = []
        for index in range(frames + 3):
            started = time.perf_counter()
            host[..., :3].copy_((frame[0].permute(1, 2, 0) * 255 + 0.5).to(torch.uint8))
            texture.write(host.numpy().tobytes())
            ctx.finish()
            if index >= 3:
                timings.append((time.perf_counter() - started) * 1000)
        return {"size": size, "path": "pinned host upload", "ms_p50": float(np.median(timings)),
                "ms_p99": percentile(timings, 0.99), "gl_renderer": ctx.info.get("GL_RENDERER", "?")}
    finally:
        ctx.release()


# ---- 5. ONNX -------------------------------------------------------------------------------------

def section_onnx(check: Check) -> dict[str, Any]:
    import shutil

    import onnx

    from vj.generators.diffusion.onnx_export import export_unet_onnx

    parts = check.parts()
    unet = copy.deepcopy(parts["unet"]).to(memory_format=__import__("torch").contiguous_format)
    folder = Path(tempfile.mkdtemp(prefix="vj-onnx-"))
    latent = check.size // 8
    try:
        started = time.perf_counter()
        path = export_unet_onnx(unet, folder / "unet.onnx", batch=1, latent_height=latent, latent_width=latent,
                                text_tokens=int(check.pipe.tokenizer.model_max_length),
                                text_dim=int(check.pipe.text_encoder.config.hidden_size))
        export_seconds = time.perf_counter() - started
        files = sorted(p for p in Path(path).parent.iterdir() if p.is_file())
        started = time.perf_counter()
        onnx.checker.check_model(str(path))
        check_seconds = time.perf_counter() - started
        model = onnx.load(str(path), load_external_data=False)
        types = {i.name: onnx.TensorProto.DataType.Name(i.type.tensor_type.elem_type) for i in model.graph.input}
        outputs = {o.name: onnx.TensorProto.DataType.Name(o.type.tensor_type.elem_type) for o in model.graph.output}
        return {"device": str(check.device), "dtype": str(check.dtype).replace("torch.", ""),
                "export_seconds": export_seconds, "checker": "passed", "checker_seconds": check_seconds,
                "files": len(files), "total_mib": sum(p.stat().st_size for p in files) / 2**20,
                "inputs": types, "outputs": outputs, "opset": model.opset_import[0].version}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ---- 6. memory ------------------------------------------------------------------------------------

def section_memory(check: Check) -> dict[str, Any]:
    import resource

    import torch

    result: dict[str, Any] = {"process_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if check.device.type == "cuda":
        properties = torch.cuda.get_device_properties(0)
        result.update(peak_allocated_gib=torch.cuda.max_memory_allocated() / 2**30,
                      peak_reserved_gib=torch.cuda.max_memory_reserved() / 2**30,
                      device_total_gib=properties.total_memory / 2**30)
    else:
        result["gpu"] = "none (dry run): the CPU process's peak resident memory stands in"
    return result


FUNCTIONS: dict[str, Callable[[Check], dict[str, Any]]] = {
    "precision": section_precision, "speed": section_speed, "recompile": section_recompile,
    "handoff": section_handoff, "onnx": section_onnx, "memory": section_memory}


# ---- main -----------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for gpu_check.json and gpu_check.md")
    parser.add_argument("--dry-run", action="store_true", help="every section on the CPU with the tiny model")
    parser.add_argument("--wheels", type=Path, help="carried wheels (tools/gpu_wheels.sh); gl/ inside: GL loaders")
    parser.add_argument("--budget", type=float, default=None, help="seconds for the whole run (GPU default 465)")
    parser.add_argument("--only", help="comma-separated sections to run (default: all)")
    parser.add_argument("--size", type=int, default=None, help="frame size (default 512; dry run 64)")
    parser.add_argument("--ref-size", type=int, default=None, help="size of the precision frame (default 256; "
                                                                   "dry run --size)")
    parser.add_argument("--frames", type=int, default=None, help="timed frames per run (default 30; dry run 4)")
    parser.add_argument("--compile-backend", default=None, help="torch.compile backend (default inductor; dry run "
                                                                 "Dynamo's eager backend: same guards, no codegen)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    started = time.monotonic()
    budget = args.budget or (240.0 if args.dry_run else 465.0)
    meta: dict[str, Any] = {"dry_run": bool(args.dry_run),
                            "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                            "python": platform.python_version(), "budget_s": budget}
    if args.wheels:
        meta["wheels"] = install_wheels(args.wheels, Path(tempfile.gettempdir()) / "vj-gpu-check-site")
        if not args.dry_run and (args.wheels / "gl").is_dir():
            meta["gl_loaders"] = unpack_gl_loaders(args.wheels / "gl")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    meta.update(torch=torch.__version__, cuda=torch.version.cuda, cpu_threads=torch.get_num_threads())
    try:
        import diffusers

        meta["diffusers"] = diffusers.__version__
    except ImportError as exc:
        meta["diffusers"] = f"missing ({exc})"
    if not args.dry_run:
        if not torch.cuda.is_available():
            print("gpu_check: no CUDA GPU here; use --dry-run on a machine without one", file=sys.stderr)
            return 2
        meta["gpu"] = torch.cuda.get_device_name(0)
        meta["compute_capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))
    report = Report(args.out, meta)
    check = Check(args)
    wanted = [name for name in RUN_ORDER if not args.only or name in args.only.split(",")]
    scale = 1.0 if not args.dry_run else 0.5
    for index, name in enumerate(wanted):
        left = budget - (time.monotonic() - started)
        reserve = sum(min(LIMITS[later] * scale, 10.0) for later in wanted[index + 1:])
        limit = min(LIMITS[name] * scale if not args.dry_run else budget, left - reserve)
        print(f"gpu_check: {name} (limit {limit:.0f} s)", flush=True)
        section_started = time.perf_counter()
        try:
            if limit < 1:
                raise SectionTimeout("no time left in the budget")
            with time_limit(limit):
                result = {"status": "ok", **FUNCTIONS[name](check)}
        except SectionTimeout as exc:
            result = {"status": "timeout", "error": str(exc)}
        except BaseException as exc:  # noqa: BLE001 - one failing section never stops the rest
            if isinstance(exc, KeyboardInterrupt):
                raise
            result = {"status": "failed", "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        result["seconds"] = time.perf_counter() - section_started
        report.section(name, result)
        print(f"gpu_check: {name} {result['status']} in {result['seconds']:.1f} s", flush=True)
    report.data["meta"]["total_s"] = time.monotonic() - started
    report.save()
    for generator in check.generators.values():
        with contextlib.suppress(Exception):
            generator.close()
    print((args.out / "gpu_check.md").read_text())
    failed = [name for name, result in report.data["sections"].items() if result["status"] != "ok"]
    return 1 if failed else 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is saved. Leave without joining a device thread that may still be compiling a set-up
    # a section gave up on (a normal exit would wait for it, past the run's time).
    os._exit(code)
