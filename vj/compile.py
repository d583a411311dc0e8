"""``vj compile``: build everything a setlist's model needs before the gig (ONNX exports and
TensorRT engines, cached on disk), so a live run never builds an engine mid-show."""
from __future__ import annotations

from pathlib import Path

from vj.progress import frame_progress
from vj.setlist import load_setlist


def compile_setlist(path: Path, size: tuple[int, int] | None = None, cache_dir: Path | None = None,
                    allow_download: bool = False) -> int:
    setlist = load_setlist(path)
    if setlist.model == "procedural":
        print(f"{path}: the procedural generator needs no compiling (its shaders build in milliseconds)")
        return 0
    from vj.generators.diffusion.tensorrt import build_engines

    width, height = size or (setlist.output.width, setlist.output.height)
    cache_dir = cache_dir or Path.home() / ".cache" / "vj" / "engines"
    steps = max(style.steps for style in setlist.styles.values())
    batch = steps if setlist.model_settings.stream_batch else 1
    with frame_progress(100, label=f"compiling {setlist.model}") as advance:
        def report(stage: str, fraction: float) -> None:
            advance(int(fraction * 100), 100)

        settings = setlist.model_settings
        built = build_engines(setlist.model, width, height, batch, cache_dir, report, vae=settings.vae,
                              tiny_vae_path=settings.tiny_vae, allow_download=allow_download,
                              lora=settings.lora, lora_scale=settings.lora_scale)
    for item in built:
        print(f"built {item}")
    return 0
