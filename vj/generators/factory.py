"""Choose and build the generator a setlist asks for."""
from __future__ import annotations

from vj.generators.base import Generator
from vj.setlist import Setlist


def make_generator(setlist: Setlist, *, name: str | None = None, allow_download: bool = False,
                   device: str | None = None) -> Generator:
    """``name`` overrides the setlist's ``model:`` ("procedural", a model id or a folder)."""
    model = name or setlist.model
    if model == "procedural":
        from vj.generators.procedural import ProceduralGenerator

        return ProceduralGenerator()
    from vj.generators.diffusion.generator import DiffusionGenerator

    settings = setlist.model_settings
    return DiffusionGenerator(model, device=device, vae=settings.vae, tiny_vae_path=settings.tiny_vae,
                              accelerator=settings.accelerator, allow_download=allow_download,
                              similarity_filter=settings.similarity_filter,
                              stream_batch=settings.stream_batch)


def make_procedural() -> Generator:
    from vj.generators.procedural import ProceduralGenerator

    return ProceduralGenerator()
