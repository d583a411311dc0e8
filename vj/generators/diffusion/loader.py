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
    family: str                 # "sd" (1.x / 2.x / turbo) or "sdxl" (base / turbo)
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
    # SDXL only: the second text encoder (its pooled output is the UNet's added text embedding).
    text_encoder_2: Any = None
    tokenizer_2: Any = None
    #: SDXL: "no negative prompt" is the zero embedding (diffusers' force_zeros_for_empty_prompt).
    zero_empty_negative: bool = False
    #: The VAE's dtype when it differs from ``dtype`` (SDXL's VAE overflows in fp16: kept in fp32).
    vae_dtype: Any = None

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

    @property
    def text_dim(self) -> int:
        """Width of the prompt embedding the UNet attends to (SDXL: both encoders side by side)."""
        dim = int(self.text_encoder.config.hidden_size)
        if self.text_encoder_2 is not None:
            dim += int(self.text_encoder_2.config.hidden_size)
        return dim

    @property
    def pooled_dim(self) -> int | None:
        """SDXL: width of the pooled text embedding (the second encoder's projection); None for SD."""
        if self.text_encoder_2 is None:
            return None
        return int(self.text_encoder_2.config.projection_dim)


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


def _model_index(folder: Path) -> dict[str, Any]:
    index = folder / "model_index.json"
    try:
        data = json.loads(index.read_text())
        data["_class_name"]
    except FileNotFoundError as exc:
        raise GeneratorError(f"model folder {folder} has no model_index.json: it is not a diffusers-format "
                             f"model (or the download is incomplete); re-download it") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise GeneratorError(f"{index} is corrupt ({exc}); re-download the model") from exc
    return data


def model_family(folder: Path) -> str:
    """"sd" or "sdxl", from the pipeline class named in model_index.json."""
    return "sdxl" if "XL" in _model_index(folder)["_class_name"] else "sd"


def _check_sdxl_index(model: str, index: dict[str, Any]) -> None:
    """Refuse, before loading gigabytes, the SDXL variants the hot loop does not condition: the
    refiner (one text encoder, aesthetic-score time ids)."""
    first_encoder = index.get("text_encoder")
    if index.get("requires_aesthetics_score") or not first_encoder or first_encoder[0] is None:
        raise GeneratorError(f"model '{model}' is an SDXL refiner-style checkpoint (aesthetic-score conditioning, "
                             f"no first text encoder); vj runs SDXL base/turbo checkpoints such as "
                             f"stabilityai/sdxl-turbo (see docs/diffusion.md)")


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
    ``lora`` (a folder, a .safetensors file or a cached id) is fused into the UNet at ``lora_scale``.

    SD 1.x/2.x/turbo load as ``StableDiffusionImg2ImgPipeline``; SDXL base/turbo as
    ``StableDiffusionXLImg2ImgPipeline``, keeping both text encoders (the hot loop needs the second's
    pooled embedding) and, in fp16, its full VAE in fp32 (it overflows in fp16)."""
    if vae not in ("full", "tiny"):
        raise GeneratorError(f"vae must be 'full' or 'tiny' (got {vae!r})")
    folder = resolve_model_folder(model, allow_download=allow_download)
    index = _model_index(folder)
    family = "sdxl" if "XL" in index["_class_name"] else "sd"
    if family == "sdxl":  # said before loading gigabytes
        _check_sdxl_index(model, index)
    device, dtype = default_device_dtype(device, dtype)
    import torch
    from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionXLImg2ImgPipeline

    cls = StableDiffusionXLImg2ImgPipeline if family == "sdxl" else StableDiffusionImg2ImgPipeline
    extra: dict[str, Any] = ({"add_watermarker": False} if family == "sdxl" else
                             {"safety_checker": None, "requires_safety_checker": False, "feature_extractor": None})
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
    vae_dtype = None
    if vae == "tiny":
        chosen = load_tiny_vae(tiny_vae_path, family, allow_download=allow_download, device=device, dtype=dtype)
    elif family == "sdxl":
        if getattr(pipe.vae.config, "latents_mean", None) is not None:
            raise GeneratorError(f"model '{model}' has a VAE with latent normalisation (latents_mean/std), which "
                                 f"vj's hot loop does not apply; use vae: tiny or an SDXL checkpoint without it")
        if dtype == torch.float16 and getattr(pipe.vae.config, "force_upcast", False):
            # SDXL's VAE overflows in fp16 (diffusers upcasts it every call): keep it in fp32 once.
            chosen = pipe.vae.to(dtype=torch.float32)
            vae_dtype = torch.float32
    text_encoder_2 = getattr(pipe, "text_encoder_2", None)
    for module in (pipe.unet, chosen, pipe.text_encoder, text_encoder_2):
        if module is not None:
            module.eval().requires_grad_(False)
    log.info("loaded %s (%s, %s) from %s on %s/%s", model, family, vae, folder, device, dtype)
    return LoadedModel(name=model, folder=folder, family=family, unet=pipe.unet, vae=chosen, vae_kind=vae,
                       text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer, scheduler=pipe.scheduler,
                       device=device, dtype=dtype, lora=lora, lora_scale=float(lora_scale),
                       text_encoder_2=text_encoder_2, tokenizer_2=getattr(pipe, "tokenizer_2", None),
                       zero_empty_negative=family == "sdxl" and bool(pipe.config.get("force_zeros_for_empty_prompt", True)),
                       vae_dtype=vae_dtype)


def check_size(loaded: LoadedModel, width: int, height: int, *, static_shapes: bool = False) -> None:
    """Raise at load time, never mid-show, for a size the model cannot take."""
    multiple = loaded.vae_scale_factor * (loaded.unet_factor if static_shapes else 1)
    bad = [f"{name} {value}" for name, value in (("width", width), ("height", height)) if value % multiple]
    if bad or width <= 0 or height <= 0:
        hint = f"{max(multiple, width // multiple * multiple)}x{max(multiple, height // multiple * multiple)}"
        why = " (TensorRT engines need whole UNet feature maps)" if static_shapes else ""
        raise GeneratorError(f"{loaded.name} cannot render {width}x{height}: sizes must be multiples of "
                             f"{multiple}{why}; try {hint}")
