"""Accelerators for the UNet (and VAE): eager, ``torch.compile`` (CUDA graphs on CUDA), TensorRT.

Chosen once at ``prepare`` into a plain callable ``(sample, timesteps, embeddings[, added]) -> output``
(``added`` is SDXL's ``{"text_embeds", "time_ids"}``); the hot loop never tests a mode string.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from vj.generators.base import GeneratorError
from vj.generators.diffusion.compiled import CompileGuard
from vj.generators.diffusion.stream import UNetCall

log = logging.getLogger(__name__)

ACCELERATORS = ("eager", "compile", "tensorrt")
DEFAULT_ENGINE_CACHE = Path.home() / ".cache" / "vj" / "engines"


def eager_unet(unet: Any) -> UNetCall:
    def call(sample: Any, timesteps: Any, hidden: Any, added: dict[str, Any] | None = None) -> Any:
        return unet(sample, timesteps, encoder_hidden_states=hidden, added_cond_kwargs=added, return_dict=False)[0]

    return call


def tune_eager(unet: Any, vae: Any, device: Any) -> None:
    """The eager path's CUDA settings: channels-last convolutions and cuDNN's autotuner.

    Shapes are fixed for a show, so ``cudnn.benchmark`` picks each convolution's fastest kernel once
    (in the warm-up) instead of its heuristic default; channels-last is what the tensor-core kernels
    want. Nothing changes on the CPU, where the loaded layout is what the tests compare against."""
    import torch

    if torch.device(device).type != "cuda":
        return
    torch.backends.cudnn.benchmark = True
    unet.to(memory_format=torch.channels_last)
    vae.to(memory_format=torch.channels_last)


def compile_modules(unet: Any, vae: Any, device: Any, guard: CompileGuard | None = None, *,
                    backend: Any = "inductor") -> UNetCall:
    """Guarded torch.compile of the UNet and VAE halves (see ``compiled.py``): compiles during the
    warm-up, then runs any call that would compile eager instead of stalling the show."""
    from vj.generators.diffusion.compiled import compile_modules as guarded_compile

    tune_eager(unet, vae, device)
    return eager_unet(guarded_compile(unet, vae, device, guard or CompileGuard(), backend=backend))


def accelerate(accelerator: str, loaded: Any, *, width: int, height: int, batch: int,
               cache_dir: Path | None = None, guard: CompileGuard | None = None,
               compile_backend: Any = "inductor") -> tuple[UNetCall, Any]:
    """(UNet callable, VAE) for ``accelerator``. TensorRT loads prebuilt engines; it never builds one here.
    ``guard`` (compile only) is the ``CompileGuard`` the caller locks after its warm-up."""
    if accelerator not in ACCELERATORS:
        raise GeneratorError(f"accelerator must be one of {', '.join(ACCELERATORS)} (got {accelerator!r})")
    if accelerator == "eager":
        tune_eager(loaded.unet, loaded.vae, loaded.device)
        return eager_unet(loaded.unet), loaded.vae
    if accelerator == "compile":
        return compile_modules(loaded.unet, loaded.vae, loaded.device, guard, backend=compile_backend), loaded.vae
    if loaded.device.type != "cuda":
        raise GeneratorError("accelerator: tensorrt needs a CUDA GPU; use eager or compile on this machine")
    from vj.generators.diffusion.tensorrt import load_engines

    unet, vae = load_engines(cache_dir or DEFAULT_ENGINE_CACHE, loaded, width, height, batch)

    def call(sample: Any, timesteps: Any, hidden: Any, added: dict[str, Any] | None = None) -> Any:
        if added is None:
            return unet(sample, timesteps.float(), hidden)
        return unet(sample, timesteps.float(), hidden, added["text_embeds"], added["time_ids"])  # SDXL engine

    return call, vae
