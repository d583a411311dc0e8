"""Choose and build the generator a setlist asks for (the show's choice: generators themselves never read a setlist)."""
from __future__ import annotations

from typing import Any

from vj.generators.base import Generator
from vj.setlist.models import Setlist, Song


def make_generator(setlist: Setlist, *, name: str | None = None, allow_download: bool = False,
                   device: str | None = None) -> Generator:
    """``name`` overrides the setlist's ``model:`` ("procedural", a model id or a folder)."""
    model = name or setlist.model
    if model == "procedural":
        from vj.generators.procedural import ProceduralGenerator

        return ProceduralGenerator()
    from vj.generators.diffusion.generator import DiffusionGenerator

    from vj.generators.diffusion.loader import resolve_model_folder

    resolve_model_folder(model, allow_download=allow_download)  # missing weights: say so now, not mid-render
    # The heavy imports happen here, before a show starts: in a background thread beside the
    # render loop (vj live loads the model while the procedural generator plays) they crawl.
    import diffusers  # noqa: F401
    import torch  # noqa: F401
    from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionXLImg2ImgPipeline  # noqa: F401
    settings = setlist.model_settings
    return DiffusionGenerator(model, device=device, vae=settings.vae, tiny_vae_path=settings.tiny_vae,
                              accelerator=settings.accelerator, allow_download=allow_download,
                              similarity_filter=settings.similarity_filter,
                              stream_batch=settings.stream_batch, sampler=settings.sampler,
                              cfg=settings.cfg, lora=settings.lora, lora_scale=settings.lora_scale)


def generator_options(setlist: Setlist, song: Song, *, rehearsal: bool) -> dict[str, Any]:
    """The ``GeneratorContext.options`` a song needs, the same for rehearsal and live.

    Rehearsal encodes an unseen prompt at once (``blocking_prompts``) so the same setlist gives
    the same frames every run; live encodes it off the render path and holds the old one meanwhile."""
    return {"depth": song.camera.depth,
            "max_steps": max(style.steps for style in setlist.styles.values()),
            "blocking_prompts": rehearsal}


def make_procedural() -> Generator:
    from vj.generators.procedural import ProceduralGenerator

    return ProceduralGenerator()
