"""UNet and VAE → ONNX, in the precision the engine will run (fp16 exported on CUDA), written atomically.

TensorRT 11 builds only strongly typed networks: every tensor's type comes from the ONNX file, so
an fp32 export gives an fp32 engine whatever the builder is told. The export therefore runs on the
GPU in fp16 (as StreamDiffusion's does), which also halves the file: sd-turbo's UNet is one 1.7 GB
file instead of 3.5 GB of fp32. A model over protobuf's 2 GB limit (SDXL's UNet: about 5 GB in
fp16) is written as the ``.onnx`` graph plus **one** ``.onnx.data`` file holding every weight,
not the hundreds of per-tensor files ``torch.onnx.export`` leaves.

Every export goes to a private temporary folder first and reaches its final name by one rename, so
a killed ``vj compile`` never leaves an ONNX file that a later run would trust.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable

from vj.generators.base import GeneratorError
from vj.generators.diffusion.engine_cache import (TEMPORARY_MARK, fsync_file, disk_full, is_disk_full,
                                                  temporary_name)

log = logging.getLogger(__name__)

UNET_INPUTS = ("sample", "timestep", "encoder_hidden_states")
#: SDXL's extra UNet inputs (diffusers' ``added_cond_kwargs``), after UNET_INPUTS in this order.
SDXL_UNET_INPUTS = ("text_embeds", "time_ids")
SDXL_TIME_IDS = 6   # original size, crop top-left, target size
#: protobuf's hard limit for one message; over it the weights must live in an external data file.
PROTOBUF_LIMIT = 2**31 - 1
OPSET = 17


def is_sdxl_unet(unet: Any) -> bool:
    return getattr(unet.config, "addition_embed_type", None) == "text_time"


def data_file(path: Path) -> Path:
    """The single external-data file beside a large ONNX file (``unet.onnx`` → ``unet.onnx.data``)."""
    return Path(path).with_name(Path(path).name + ".data")


class _UNetForExport:
    """The UNet with plain tensor inputs and one tensor output (what ONNX and TensorRT want)."""

    def __new__(cls, unet: Any, *, added: bool = False) -> Any:
        import torch

        class Wrapped(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.unet = unet

            def forward(self, sample: Any, timestep: Any, encoder_hidden_states: Any) -> Any:
                return self.unet(sample, timestep, encoder_hidden_states=encoder_hidden_states, return_dict=False)[0]

        class WrappedXL(Wrapped):
            def forward(self, sample: Any, timestep: Any, encoder_hidden_states: Any,  # type: ignore[override]
                        text_embeds: Any, time_ids: Any) -> Any:
                return self.unet(sample, timestep, encoder_hidden_states=encoder_hidden_states, return_dict=False,
                                 added_cond_kwargs={"text_embeds": text_embeds, "time_ids": time_ids})[0]

        return (WrappedXL() if added else Wrapped()).eval()


def place_onnx(exported: Path, final: Path, *, external_data: bool | None = None) -> Path:
    """Move a finished export into ``final`` atomically.

    ``exported`` is an ONNX file in a private folder, possibly beside the per-tensor files that
    ``torch.onnx.export`` writes for models over 2 GB. A single file is renamed into place; a model
    with external data (or with ``external_data=True``) is re-saved as ``final`` plus one
    ``final.data``. The ``.onnx`` file is renamed in last: the data file alone is never trusted."""
    import onnx

    exported, final = Path(exported), Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    extra = [p for p in exported.parent.iterdir() if p != exported]
    if external_data is None:
        external_data = bool(extra) or exported.stat().st_size > PROTOBUF_LIMIT
    if not external_data:
        fsync_file(exported)
        os.replace(exported, final)
        with contextlib.suppress(FileNotFoundError):
            data_file(final).unlink()   # an older export's weights: no longer referenced
        return final
    model = onnx.load(str(exported), load_external_data=True)
    # The old graph first (it would point at weights being rewritten), then the old data
    # (onnx appends to an existing data file).
    with contextlib.suppress(FileNotFoundError):
        final.unlink()
    with contextlib.suppress(FileNotFoundError):
        data_file(final).unlink()
    staged = temporary_name(final)
    try:
        onnx.save_model(model, str(staged), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data_file(final).name, size_threshold=1024)
        del model
        fsync_file(data_file(final))
        fsync_file(staged)
        os.replace(staged, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            staged.unlink()
        raise
    return final


def _export_atomically(final: Path, export: Callable[[Path], None], *, external_data: bool | None = None) -> Path:
    """Run ``export(path)`` into a private folder beside ``final``, then ``place_onnx``; on any
    failure nothing under ``final``'s name is left, and a full disk is one clear GeneratorError."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f".{final.stem}{TEMPORARY_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        exported = staging / final.name
        export(exported)
        return place_onnx(exported, final, external_data=external_data)
    except BaseException as exc:
        if is_disk_full(exc):
            with contextlib.suppress(FileNotFoundError):   # a partial external-data file is of no use
                data_file(final).unlink()
            raise disk_full(final, exc) from exc
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def export_unet_onnx(unet: Any, path: Path, *, batch: int, latent_height: int, latent_width: int,
                     text_tokens: int, text_dim: int, pooled_dim: int | None = None, opset: int = OPSET,
                     external_data: bool | None = None) -> Path:
    """UNet → ONNX on the UNet's own device and dtype (fp16 on CUDA gives an fp16 engine).

    Batch and latent size stay dynamic axes in the file (TensorRT's static profiles pin them), so
    one export serves every profile. An SDXL UNet (``addition_embed_type="text_time"``) gets two
    more inputs, ``text_embeds`` (batch × ``pooled_dim``) and ``time_ids`` (batch × 6). The
    timestep stays fp32 (the UNet casts it inside). ``external_data``: None decides by size."""
    import torch

    parameter = next(unet.parameters())
    device, dtype = parameter.device, parameter.dtype
    sample = torch.randn(batch, unet.config.in_channels, latent_height, latent_width, device=device, dtype=dtype)
    timestep = torch.full((batch,), 499.0, device=device, dtype=torch.float32)
    hidden = torch.randn(batch, text_tokens, text_dim, device=device, dtype=dtype)
    inputs: tuple[Any, ...] = (sample, timestep, hidden)
    names = list(UNET_INPUTS)
    axes = {"sample": {0: "batch", 2: "height", 3: "width"}, "timestep": {0: "batch"},
            "encoder_hidden_states": {0: "batch"}, "latent": {0: "batch", 2: "height", 3: "width"}}
    sdxl = is_sdxl_unet(unet)
    if sdxl:
        if pooled_dim is None:
            time_dim = int(unet.config.addition_time_embed_dim)
            pooled_dim = int(unet.config.projection_class_embeddings_input_dim) - SDXL_TIME_IDS * time_dim
        size = float(latent_height * 8), float(latent_width * 8)
        text_embeds = torch.randn(batch, pooled_dim, device=device, dtype=dtype)
        time_ids = torch.tensor([[*size, 0.0, 0.0, *size]] * batch, device=device, dtype=dtype)
        inputs += (text_embeds, time_ids)
        names += list(SDXL_UNET_INPUTS)
        axes.update(text_embeds={0: "batch"}, time_ids={0: "batch"})

    def export(target: Path) -> None:
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(
                _UNetForExport(unet, added=sdxl), inputs, str(target), input_names=names,
                output_names=["latent"], opset_version=opset, dynamo=False, do_constant_folding=True,
                dynamic_axes=axes)

    final = _export_atomically(Path(path), export, external_data=external_data)
    log.info("exported the UNet (%s, %s) to %s", device, dtype, final)
    return final


def export_vae_onnx(vae: Any, folder: Path, *, height: int, width: int, opset: int = OPSET) -> list[Path]:
    """VAE encoder (image −1..1 → latent) and decoder (latent → image −1..1) as two ONNX files,
    on the VAE's own device and dtype."""
    import torch

    folder = Path(folder)
    parameter = next(vae.parameters())
    tiny = hasattr(vae, "latent_magnitude")

    class Encoder(torch.nn.Module):
        def forward(self, image: Any) -> Any:
            encoded = vae.encode(image)
            return encoded.latents if tiny else encoded.latent_dist.mean

    class Decoder(torch.nn.Module):
        def forward(self, latent: Any) -> Any:
            return vae.decode(latent, return_dict=False)[0]

    scale = 2 ** (len(vae.config.encoder_block_out_channels if tiny else vae.config.block_out_channels) - 1)
    image = torch.randn(1, 3, height, width, device=parameter.device, dtype=parameter.dtype)
    latent = torch.randn(1, 4, height // scale, width // scale, device=parameter.device, dtype=parameter.dtype)
    paths = []
    for name, module, example, axes in (
            ("vae_encoder", Encoder(), image, {"image": {2: "height", 3: "width"}}),
            ("vae_decoder", Decoder(), latent, {"latent": {2: "height", 3: "width"}})):
        input_name = next(iter(axes))

        def export(target: Path, module: Any = module, example: Any = example, axes: Any = axes,
                   input_name: str = input_name) -> None:
            with torch.inference_mode(False), torch.no_grad():
                torch.onnx.export(module.eval(), (example,), str(target), input_names=[input_name],
                                  output_names=["output"], opset_version=opset, dynamo=False, dynamic_axes=axes)

        paths.append(_export_atomically(folder / f"{name}.onnx", export))
    return paths


def export_unet_for_device(unet: Any, folder: Path, *, size: int = 512, device: str = "cuda",
                           dtype: Any = None, batch: int = 1, text_tokens: int = 77) -> Path:
    """``folder/unet.onnx`` from ``unet`` moved to ``device`` in ``dtype`` (default: fp16 on CUDA,
    fp32 elsewhere), checked with ``onnx.checker``. For ``tools/gpu_check.py`` and ``vj compile``.

    The UNet is moved in place (``unet.to(device, dtype)``): pass a copy to keep the original."""
    import onnx
    import torch

    if dtype is None:
        dtype = torch.float16 if torch.device(device).type == "cuda" else torch.float32
    unet.to(device=device, dtype=dtype)
    scale = 8  # every SD / SDXL VAE: 8 pixels per latent cell
    text_dim = int(unet.config.cross_attention_dim)
    path = export_unet_onnx(unet, Path(folder) / "unet.onnx", batch=batch, latent_height=size // scale,
                            latent_width=size // scale, text_tokens=text_tokens, text_dim=text_dim)
    try:
        onnx.checker.check_model(str(path))   # by path: works for files with external data too
    except onnx.checker.ValidationError as exc:
        raise GeneratorError(f"the exported UNet {path} is not valid ONNX: {exc}") from exc
    return path


__all__ = ["SDXL_TIME_IDS", "SDXL_UNET_INPUTS", "UNET_INPUTS", "data_file", "export_unet_for_device",
           "export_unet_onnx", "export_vae_onnx", "is_sdxl_unet", "place_onnx"]
