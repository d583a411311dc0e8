"""``vj compile``: build everything a setlist's model needs before the gig (fp16 ONNX exports and
TensorRT engines, cached on disk), so a live run never builds an engine mid-show.

What cannot work here is said in one line with exit status 2 *before* anything slow: no TensorRT,
TensorRT without a CUDA GPU, a model that is missing, a size the engines cannot take, a full disk.
"""
from __future__ import annotations

from pathlib import Path

from vj.progress import frame_progress
from vj.setlist.models import load_setlist

DEFAULT_CACHE = Path.home() / ".cache" / "vj" / "engines"


def setlist_batches(setlist: object) -> tuple[int, list[int]]:
    """(base batch, every base batch) the setlist's styles produce: with stream batching a style of
    ``k`` steps runs the UNet at batch ``k``; without it, batch 1. Full CFG doubles each (the
    engine builder adds those)."""
    steps = sorted({style.steps for style in setlist.styles.values()})  # type: ignore[attr-defined]
    if setlist.model_settings.stream_batch:  # type: ignore[attr-defined]
        batches = sorted({s if s > 1 else 1 for s in steps})
        return max(batches), batches
    return 1, [1]


def compile_setlist(path: Path, size: tuple[int, int] | None = None, cache_dir: Path | None = None,
                    allow_download: bool = False) -> int:
    """Build the setlist's engines; returns the exit status (GeneratorErrors reach the CLI, which
    prints them as one line and exits 2)."""
    setlist = load_setlist(path)
    if setlist.model == "procedural":
        print(f"{path}: the procedural generator needs no compiling (its shaders build in milliseconds)")
        return 0
    from vj.generators.diffusion.tensorrt import build_engines, require_cuda, require_tensorrt

    require_tensorrt()   # before loading gigabytes: one line, exit 2
    require_cuda()
    width, height = size or (setlist.output.width, setlist.output.height)
    cache_dir = cache_dir or DEFAULT_CACHE
    batch, batches = setlist_batches(setlist)
    with frame_progress(100, label=f"compiling {setlist.model}") as advance:
        def report(stage: str, fraction: float) -> None:
            advance(int(fraction * 100), 100)

        settings = setlist.model_settings
        built = build_engines(setlist.model, width, height, batch, cache_dir, report, vae=settings.vae,
                              tiny_vae_path=settings.tiny_vae, allow_download=allow_download,
                              lora=settings.lora, lora_scale=settings.lora_scale, batches=batches)
    for item in built:
        print(f"built {item}")
    return 0
