"""One loader for every checkpoint: real models from a folder or the local Hugging Face cache, and the
random-weight test/benchmark models built by ``tiny.py`` (saved the same way, loaded the same way).

Loading never touches the network unless the user allowed downloads; a missing model raises
``ModelNotFoundError`` saying which model, where we looked and how to get it. The model family is
read from ``model_index.json`` (never guessed from the name).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vj.generators.base import GeneratorError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "stabilityai/sd-turbo"
DEFAULT_TINY_VAE = "madebyollin/taesd"
TINY_VAE_XL = "madebyollin/taesdxl"


class ModelNotFoundError(GeneratorError):
    """The weights are not on this machine (and downloads were not allowed)."""


@dataclass
class LoadedModel:
    """The parts the hot loop needs, on one device and dtype."""

    name: str
    folder: Path
    family: str                 # "sd" (1.x / 2.x / turbo) or "sdxl"
    unet: Any
    vae: Any                    # AutoencoderKL or AutoencoderTiny, whichever was asked for
    vae_kind: str               # "full" | "tiny"
    text_encoder: Any
    tokenizer: Any
    scheduler: Any
    device: Any
    dtype: Any
    lora: str | None = None       # fused at load (part of a TensorRT engine's identity)
    lora_scale: float = 1.0

    @property
    def vae_scale_factor(self) -> int:
        """Pixels per latent cell (8 for every SD VAE)."""
        if self.vae_kind == "tiny":
            return 2 ** (len(self.vae.config.encoder_block_out_channels) - 1)
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def unet_factor(self) -> int:
        """Latent cells per UNet's smallest feature map (static-shape engines need exact division)."""
        return 2 ** (len(self.unet.config.block_out_channels) - 1)

    @property
    def scaling_factor(self) -> float:
        return float(self.vae.config.scaling_factor)


def _looks_like_path(model: str) -> bool:
    return model.startswith((".", "/", "~")) or "\\" in model or Path(model).expanduser().exists()


def _how_to_get(repo_id: str) -> str:
    return (f"get it with `huggingface-cli download {repo_id}` (or `hf download {repo_id}`), "
            f"or run with --allow-download to fetch it now")


def resolve_model_folder(model: str, *, allow_download: bool = False) -> Path:
    """A local folder holding ``model`` in diffusers format: the folder itself, or its snapshot in
    the Hugging Face cache. Raises ModelNotFoundError with where we looked and how to get it."""
    if _looks_like_path(model):
        folder = Path(model).expanduser()
        if not folder.is_dir():
            raise ModelNotFoundError(
                f"model folder '{model}' does not exist (looked at {folder.resolve()}); point the setlist's "
                f"`model:` at a diffusers-format folder or a model id such as {DEFAULT_MODEL}")
        return folder
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    cache = Path(constants.HF_HUB_CACHE) / ("models--" + model.replace("/", "--"))
    try:
        return Path(snapshot_download(model, local_files_only=not allow_download,
                                      allow_patterns=["*.json", "*.txt", "*.safetensors", "*.model"]))
    except LocalEntryNotFoundError as exc:
        raise ModelNotFoundError(
            f"model '{model}' is not on this machine: looked in the Hugging Face cache at {cache}; "
            f"{_how_to_get(model)}") from exc
    except Exception as exc:  # network or hub errors when downloads are allowed
        raise ModelNotFoundError(f"model '{model}' could not be fetched ({exc}); looked in {cache}; "
                                 f"{_how_to_get(model)}") from exc


def model_family(folder: Path) -> str:
    """"sd" or "sdxl", from the pipeline class named in model_index.json."""
    index = folder / "model_index.json"
    try:
        class_name = json.loads(index.read_text())["_class_name"]
    except FileNotFoundError as exc:
        raise GeneratorError(f"model folder {folder} has no model_index.json: it is not a diffusers-format "
                             f"model (or the download is incomplete); re-download it") from exc
    except (ValueError, KeyError) as exc:
        raise GeneratorError(f"{index} is corrupt ({exc}); re-download the model") from exc
    return "sdxl" if "XL" in class_name else "sd"


def default_device_dtype(device: Any = None, dtype: Any = None) -> tuple[Any, Any]:
    """CUDA in fp16 when there is one, else the CPU in fp32 (fp16 matmuls are slow or missing there)."""
    import torch

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if dtype is None:
        dtype = torch.float16 if device.type == "cuda" else torch.float32
    return device, dtype


def load_tiny_vae(path: str | None, family: str, *, allow_download: bool, device: Any, dtype: Any) -> Any:
    """TAESD (or TAESDXL) as diffusers' AutoencoderTiny, from a folder or the cache like the model."""
    from diffusers import AutoencoderTiny

    source = path or (TINY_VAE_XL if family == "sdxl" else DEFAULT_TINY_VAE)
    folder = resolve_model_folder(source, allow_download=allow_download)
    try:
        return AutoencoderTiny.from_pretrained(folder).to(device=device, dtype=dtype).eval()
    except Exception as exc:
        raise GeneratorError(f"tiny VAE in {folder} could not be loaded ({exc}); re-download {source}") from exc


def fuse_lora(pipe: Any, lora: str, scale: float, *, allow_download: bool) -> None:
    """Fuse a LoRA (e.g. latent-consistency/lcm-lora-sdv1-5) into the UNet at ``scale``.

    Fused, so it costs nothing per frame; the price is that a new LoRA or scale means loading (and,
    with TensorRT, ``vj compile``) again. Needs ``peft``."""
    target = Path(lora).expanduser()
    if target.is_file():
        source, weight_name = target.parent, target.name
    else:
        source, weight_name = resolve_model_folder(lora, allow_download=allow_download), None
    try:
        pipe.load_lora_weights(str(source), weight_name=weight_name, adapter_name="vj")
        pipe.fuse_lora(lora_scale=float(scale))
        pipe.unload_lora_weights()  # keep the fused weights, drop the adapter layers
    except ImportError as exc:
        raise GeneratorError(f"LoRA '{lora}' needs the `peft` package: pip install peft") from exc
    except Exception as exc:
        raise GeneratorError(f"LoRA '{lora}' (from {source}) could not be applied: {type(exc).__name__}: {exc}") from exc
    log.info("fused LoRA %s at scale %g", lora, scale)


def load_model(model: str = DEFAULT_MODEL, *, device: Any = None, dtype: Any = None, vae: str = "full",
               tiny_vae_path: str | None = None, allow_download: bool = False, lora: str | None = None,
               lora_scale: float = 1.0) -> LoadedModel:
    """Load ``model`` (an id or a folder) for the hot loop. fp16 on CUDA, fp32 on the CPU.
    ``lora`` (a folder, a .safetensors file or a cached id) is fused into the UNet at ``lora_scale``."""
    if vae not in ("full", "tiny"):
        raise GeneratorError(f"vae must be 'full' or 'tiny' (got {vae!r})")
    folder = resolve_model_folder(model, allow_download=allow_download)
    family = model_family(folder)
    if family == "sdxl":  # said before loading gigabytes
        raise GeneratorError(f"model '{model}' is an SDXL checkpoint; this build of vj runs SD 1.x/2.x/turbo "
                             f"checkpoints only (see docs/diffusion.md)")
    device, dtype = default_device_dtype(device, dtype)
    from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionXLImg2ImgPipeline

    cls = StableDiffusionXLImg2ImgPipeline if family == "sdxl" else StableDiffusionImg2ImgPipeline
    extra: dict[str, Any] = {} if family == "sdxl" else {"safety_checker": None, "requires_safety_checker": False,
                                                          "feature_extractor": None}
    try:
        pipe = cls.from_pretrained(folder, dtype=dtype, local_files_only=True, **extra)
    except Exception as exc:  # missing shards, bad JSON, truncated safetensors: all "corrupt folder"
        fix = "re-save it with save_pretrained" if _looks_like_path(model) else _how_to_get(model)
        raise GeneratorError(
            f"model '{model}' in {folder} could not be loaded: {type(exc).__name__}: {exc}. The folder looks "
            f"corrupt or incomplete; delete it and download again ({fix})") from exc
    if lora:
        fuse_lora(pipe, lora, lora_scale, allow_download=allow_download)
    pipe.to(device)
    chosen = pipe.vae
    if vae == "tiny":
        chosen = load_tiny_vae(tiny_vae_path, family, allow_download=allow_download, device=device, dtype=dtype)
    for module in (pipe.unet, chosen, pipe.text_encoder):
        module.eval().requires_grad_(False)
    log.info("loaded %s (%s, %s) from %s on %s/%s", model, family, vae, folder, device, dtype)
    return LoadedModel(name=model, folder=folder, family=family, unet=pipe.unet, vae=chosen, vae_kind=vae,
                       text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer, scheduler=pipe.scheduler,
                       device=device, dtype=dtype, lora=lora, lora_scale=float(lora_scale))


def check_size(loaded: LoadedModel, width: int, height: int, *, static_shapes: bool = False) -> None:
    """Raise at load time, never mid-show, for a size the model cannot take."""
    multiple = loaded.vae_scale_factor * (loaded.unet_factor if static_shapes else 1)
    bad = [f"{name} {value}" for name, value in (("width", width), ("height", height)) if value % multiple]
    if bad or width <= 0 or height <= 0:
        hint = f"{max(multiple, width // multiple * multiple)}x{max(multiple, height // multiple * multiple)}"
        why = " (TensorRT engines need whole UNet feature maps)" if static_shapes else ""
        raise GeneratorError(f"{loaded.name} cannot render {width}x{height}: sizes must be multiples of "
                             f"{multiple}{why}; try {hint}")
