"""Accelerators for the UNet (and VAE): eager, ``torch.compile`` (CUDA graphs on CUDA), TensorRT.

Chosen once at ``prepare`` into a plain callable ``(sample, timesteps, embeddings[, added]) -> output``
(``added`` is SDXL's ``{"text_embeds", "time_ids"}``); the hot loop never tests a mode string.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from vj.generators.base import GeneratorError
from vj.generators.diffusion.stream import UNetCall

log = logging.getLogger(__name__)

ACCELERATORS = ("eager", "compile", "tensorrt")
DEFAULT_ENGINE_CACHE = Path.home() / ".cache" / "vj" / "engines"


def eager_unet(unet: Any) -> UNetCall:
    def call(sample: Any, timesteps: Any, hidden: Any, added: dict[str, Any] | None = None) -> Any:
        return unet(sample, timesteps, encoder_hidden_states=hidden, added_cond_kwargs=added, return_dict=False)[0]

    return call


def compile_modules(unet: Any, vae: Any, device: Any) -> UNetCall:
    """torch.compile the UNet and the VAE halves. On CUDA "max-autotune-no-cudagraphs" is not used:
    "reduce-overhead" records CUDA graphs, which removes the launch overhead that dominates 1-step
    512² frames. Shapes are static per show (the first frames pay the compile)."""
    import torch

    mode = "reduce-overhead" if torch.device(device).type == "cuda" else "default"
    # channels-last convolutions are what diffusers' speed guide pairs with torch.compile.
    unet.to(memory_format=torch.channels_last)
    vae.to(memory_format=torch.channels_last)
    compiled = torch.compile(unet, mode=mode, fullgraph=False, dynamic=False)
    if hasattr(vae, "decoder"):
        vae.decoder = torch.compile(vae.decoder, mode=mode, dynamic=False)
    if hasattr(vae, "encoder"):
        vae.encoder = torch.compile(vae.encoder, mode=mode, dynamic=False)
    log.info("torch.compile (%s) on the UNet and VAE; the first frames compile", mode)
    return eager_unet(compiled)


def make_unet_call(accelerator: str, loaded: Any, *, width: int, height: int, batch: int,
                   cache_dir: Path | None = None) -> UNetCall:
    """The UNet callable for ``accelerator`` (see ``accelerate``; the VAE stays as loaded)."""
    return accelerate(accelerator, loaded, width=width, height=height, batch=batch, cache_dir=cache_dir)[0]


def accelerate(accelerator: str, loaded: Any, *, width: int, height: int, batch: int,
               cache_dir: Path | None = None) -> tuple[UNetCall, Any]:
    """(UNet callable, VAE) for ``accelerator``. TensorRT loads prebuilt engines; it never builds one here."""
    if accelerator not in ACCELERATORS:
        raise GeneratorError(f"accelerator must be one of {', '.join(ACCELERATORS)} (got {accelerator!r})")
    if accelerator == "eager":
        return eager_unet(loaded.unet), loaded.vae
    if accelerator == "compile":
        return compile_modules(loaded.unet, loaded.vae, loaded.device), loaded.vae
    if loaded.device.type != "cuda":
        raise GeneratorError("accelerator: tensorrt needs a CUDA GPU; use eager or compile on this machine")
    from vj.generators.diffusion.tensorrt import load_engines

    unet, vae = load_engines(cache_dir or DEFAULT_ENGINE_CACHE, loaded, width, height, batch)

    def call(sample: Any, timesteps: Any, hidden: Any, added: dict[str, Any] | None = None) -> Any:
        if added is None:
            return unet(sample, timesteps.float(), hidden)
        return unet(sample, timesteps.float(), hidden, added["text_embeds"], added["time_ids"])  # SDXL engine

    return call, vae
