"""TensorRT path: export the UNet and VAE halves to ONNX, build engines ahead of the show, run them.

Engines are built by ``vj compile`` (``build_engines``), never mid-show: a live run that asks for
``accelerator: tensorrt`` loads a cached engine or fails at ``prepare`` with a message that says to
compile. Engines take a *range* of sizes (an optimisation profile, 384..1024 px by default) so the
output size can change without a rebuild, and the prompt embedding is a runtime input, so prompt
changes never rebuild anything. SDXL UNets take two more runtime inputs, the pooled text embedding
and the six time ids (diffusers' ``added_cond_kwargs``). LoRA scales are not runtime inputs: a LoRA
is fused into the UNet before export, so a different LoRA or scale needs ``vj compile`` again.

The building and running code follows NVIDIA's documented ``tensorrt`` Python API (Builder,
OnnxParser, optimisation profiles, ``build_serialized_network``, ``Runtime.deserialize_cuda_engine``,
``set_tensor_address`` + ``execute_async_v3`` on torch's CUDA stream). It has not been run on these
machines (no GPU, no TensorRT wheel); the ONNX export before it is tested against onnxruntime.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Callable

from vj.generators.base import GeneratorError

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]

#: Size range every engine accepts (pixels), so a resolution change needs no rebuild.
MIN_SIZE, MAX_SIZE = 384, 1024
UNET_INPUTS = ("sample", "timestep", "encoder_hidden_states")
#: SDXL's extra UNet inputs (diffusers' ``added_cond_kwargs``), after UNET_INPUTS in this order.
SDXL_UNET_INPUTS = ("text_embeds", "time_ids")
SDXL_TIME_IDS = 6   # original size, crop top-left, target size


def is_sdxl_unet(unet: Any) -> bool:
    return getattr(unet.config, "addition_embed_type", None) == "text_time"


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


def export_unet_onnx(unet: Any, path: Path, *, batch: int, latent_height: int, latent_width: int,
                     text_tokens: int, text_dim: int, pooled_dim: int | None = None, opset: int = 17) -> Path:
    """UNet → ONNX with dynamic batch and latent size (the TensorRT profile narrows them).

    An SDXL UNet (``addition_embed_type="text_time"``) gets two more inputs, ``text_embeds``
    (batch × ``pooled_dim``, the second text encoder's projection width) and ``time_ids`` (batch × 6)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    parameter = next(unet.parameters())
    sample = torch.randn(batch, unet.config.in_channels, latent_height, latent_width,
                         device=parameter.device, dtype=parameter.dtype)
    timestep = torch.full((batch,), 499.0, device=parameter.device, dtype=torch.float32)
    hidden = torch.randn(batch, text_tokens, text_dim, device=parameter.device, dtype=parameter.dtype)
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
        text_embeds = torch.randn(batch, pooled_dim, device=parameter.device, dtype=parameter.dtype)
        time_ids = torch.tensor([[*size, 0.0, 0.0, *size]] * batch, device=parameter.device, dtype=parameter.dtype)
        inputs += (text_embeds, time_ids)
        names += list(SDXL_UNET_INPUTS)
        axes.update(text_embeds={0: "batch"}, time_ids={0: "batch"})
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(
            _UNetForExport(unet, added=sdxl), inputs, str(path), input_names=names,
            output_names=["latent"], opset_version=opset, dynamo=False, do_constant_folding=True,
            dynamic_axes=axes)
    log.info("exported UNet to %s", path)
    return path


def export_vae_onnx(vae: Any, folder: Path, *, height: int, width: int, opset: int = 17) -> list[Path]:
    """VAE encoder (image −1..1 → latent) and decoder (latent → image −1..1) as two ONNX files."""
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
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
        path = folder / f"{name}.onnx"
        input_name = next(iter(axes))
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(module.eval(), (example,), str(path), input_names=[input_name], output_names=["output"],
                              opset_version=opset, dynamo=False, dynamic_axes=axes)
        paths.append(path)
    return paths


def engine_key(model: str, *, width: int, height: int, batch: int, precision: str, gpu_name: str,
               trt_version: str, vae: str = "full", lora: str | None = None, lora_scale: float = 1.0) -> str:
    """Cache folder name: everything that makes an engine unusable elsewhere is in it."""
    fields = {"model": model, "width": width, "height": height, "batch": batch, "precision": precision,
              "gpu": gpu_name, "tensorrt": trt_version, "vae": vae, "range": [MIN_SIZE, MAX_SIZE]}
    if lora:
        fields.update(lora=lora, lora_scale=round(float(lora_scale), 4))
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in model)[-48:]
    return f"{safe}--{batch}x{width}x{height}--{precision}--{digest}"


def gpu_name() -> str:
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"


def trt_version() -> str:
    try:
        import tensorrt as trt  # noqa: F401
    except ImportError:
        return "none"
    return str(trt.__version__)


def _profile_shapes(batch: int, latent_height: int, latent_width: int, scale: int, text: tuple[int, int],
                    pooled_dim: int | None = None,
                    ) -> dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    """min/opt/max shapes per input: sizes MIN_SIZE..MAX_SIZE px, opt at the setlist's size; with
    ``pooled_dim`` (SDXL) also the pooled text embedding and the time ids."""
    low, high = MIN_SIZE // scale, MAX_SIZE // scale
    lat_lo = (min(low, latent_height), min(low, latent_width))
    lat_hi = (max(high, latent_height), max(high, latent_width))
    tokens, dim = text
    # Batch 1..2×batch: guidance switching full CFG on doubles the batch; the engine must take both.
    top = 2 * batch
    shapes = {
        "sample": ((1, 4) + lat_lo, (batch, 4, latent_height, latent_width), (top, 4) + lat_hi),
        "timestep": ((1,), (batch,), (top,)),
        "encoder_hidden_states": ((1, tokens, dim), (batch, tokens, dim), (top, tokens, dim)),
    }
    if pooled_dim is not None:
        shapes["text_embeds"] = ((1, pooled_dim), (batch, pooled_dim), (top, pooled_dim))
        shapes["time_ids"] = ((1, SDXL_TIME_IDS), (batch, SDXL_TIME_IDS), (top, SDXL_TIME_IDS))
    return shapes


def build_engine(onnx_path: Path, engine_path: Path, shapes: dict[str, tuple[Any, Any, Any]], *,
                 fp16: bool = True, workspace_gib: float = 8.0) -> Path:
    """ONNX → serialized TensorRT engine, with one optimisation profile covering ``shapes``."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise GeneratorError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * 2**30))
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    for name, (low, opt, high) in shapes.items():
        profile.set_shape(name, low, opt, high)
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise GeneratorError(f"TensorRT failed to build an engine from {onnx_path} (see the log above)")
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    engine_path.write_bytes(bytes(serialized))
    return engine_path


class TensorRTModule:
    """A built engine run on torch's current CUDA stream, reading and writing torch tensors in place.

    Output buffers are allocated once per shape and reused (address-stable, CUDA-graph friendly).
    Inputs are cast to the engine's input dtype (ONNX files are exported in fp32 on the CPU while the
    hot loop runs fp16 on CUDA); a tensor already in that dtype is passed as it is."""

    def __init__(self, engine_path: Path) -> None:
        import tensorrt as trt

        self._trt = trt
        self.logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(self.logger)
        self.engine = runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self.engine is None:
            raise GeneratorError(f"TensorRT could not load {engine_path}; rebuild it with `vj compile`")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self._buffers: dict[str, Any] = {}
        self._input_dtypes = {name: self._torch_dtype(name) for name in self.inputs}

    def _torch_dtype(self, name: str) -> Any:
        import torch

        return torch.float16 if self.engine.get_tensor_dtype(name) == self._trt.DataType.HALF else torch.float32

    def __call__(self, *tensors: Any) -> Any:
        import torch

        if len(tensors) != len(self.inputs):
            raise GeneratorError(f"TensorRT engine takes {len(self.inputs)} inputs ({', '.join(self.inputs)}), "
                                 f"got {len(tensors)}; rebuild it with `vj compile`")
        kept = []  # cast copies must live until the engine has run
        for name, tensor in zip(self.inputs, tensors):
            tensor = tensor.to(self._input_dtypes[name]).contiguous()
            kept.append(tensor)
            self.context.set_input_shape(name, tuple(tensor.shape))
            self.context.set_tensor_address(name, tensor.data_ptr())
        result = []
        for name in self.outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            buffer = self._buffers.get(name)
            if buffer is None or tuple(buffer.shape) != shape:
                buffer = self._buffers[name] = torch.empty(shape, dtype=self._torch_dtype(name), device="cuda")
            self.context.set_tensor_address(name, buffer.data_ptr())
            result.append(buffer)
        if not self.context.execute_async_v3(torch.cuda.current_stream().cuda_stream):
            raise GeneratorError("TensorRT engine execution failed")
        return result[0]


def engine_folder(cache_dir: Path, model: str, width: int, height: int, batch: int, vae: str = "full",
                  lora: str | None = None, lora_scale: float = 1.0) -> Path:
    precision = "fp16"
    return Path(cache_dir) / engine_key(model, width=width, height=height, batch=batch, precision=precision,
                                        gpu_name=gpu_name(), trt_version=trt_version(), vae=vae, lora=lora,
                                        lora_scale=lora_scale)


def build_engines(model: str, width: int, height: int, batch: int, cache_dir: Path,
                  progress: Progress | None = None, *, vae: str = "full", tiny_vae_path: str | None = None,
                  allow_download: bool = False, lora: str | None = None, lora_scale: float = 1.0) -> list[Path]:
    """Everything ``vj compile`` builds for one model and size: ONNX files, then TensorRT engines.

    ``batch`` is the UNet batch (steps with stream batching, ×2 with full CFG). Cached: a file that
    already exists is reused. Without ``tensorrt`` installed this exports the ONNX files and then
    raises a GeneratorError saying so."""
    from vj.generators.diffusion.loader import check_size, load_model

    report = progress or (lambda stage, fraction: None)
    loaded = load_model(model, device="cpu", vae=vae, tiny_vae_path=tiny_vae_path, allow_download=allow_download,
                        lora=lora, lora_scale=lora_scale)
    check_size(loaded, width, height, static_shapes=True)
    folder = engine_folder(cache_dir, model, width, height, batch, vae, lora, lora_scale)
    scale = loaded.vae_scale_factor
    tokens = int(loaded.tokenizer.model_max_length)
    dim = loaded.text_dim            # SDXL: both text encoders' widths side by side
    pooled_dim = loaded.pooled_dim   # SDXL: the pooled text embedding (None for SD)
    unet_onnx = folder / "onnx" / "unet.onnx"
    report("export UNet to ONNX", 0.05)
    if not unet_onnx.exists():
        export_unet_onnx(loaded.unet, unet_onnx, batch=batch, latent_height=height // scale,
                         latent_width=width // scale, text_tokens=tokens, text_dim=dim, pooled_dim=pooled_dim)
    report("export VAE to ONNX", 0.3)
    vae_onnx = [folder / "onnx" / "vae_encoder.onnx", folder / "onnx" / "vae_decoder.onnx"]
    if not all(p.exists() for p in vae_onnx):
        vae_onnx = export_vae_onnx(loaded.vae, folder / "onnx", height=height, width=width)
    (folder / "key.json").write_text(json.dumps({"model": model, "width": width, "height": height, "batch": batch,
                                                 "vae": vae, "gpu": gpu_name(), "tensorrt": trt_version()}))
    try:
        import tensorrt  # noqa: F401
    except ImportError as exc:
        raise GeneratorError(
            f"TensorRT is not installed, so no engines were built (ONNX files are in {folder / 'onnx'}). "
            f"Install it on the show machine (`pip install tensorrt`, CUDA GPU needed) and run `vj compile` "
            f"again, or use accelerator: compile / eager") from exc
    built = []
    unet_engine = folder / "unet.engine"
    report("build UNet engine (minutes)", 0.4)
    if not unet_engine.exists():
        build_engine(unet_onnx, unet_engine,
                     _profile_shapes(batch, height // scale, width // scale, scale, (tokens, dim), pooled_dim))
    built.append(unet_engine)
    # SDXL's full VAE overflows in fp16 (diffusers upcasts it): its engines stay fp32.
    vae_fp16 = not (loaded.family == "sdxl" and vae == "full" and getattr(loaded.vae.config, "force_upcast", False))
    for i, (name, onnx_path) in enumerate(zip(("vae_encoder", "vae_decoder"), vae_onnx)):
        report(f"build {name} engine", 0.8 + 0.1 * i)
        engine = folder / f"{name}.engine"
        if not engine.exists():
            if name == "vae_encoder":
                shapes = {"image": ((1, 3, MIN_SIZE, MIN_SIZE), (1, 3, height, width),
                                    (1, 3, max(MAX_SIZE, height), max(MAX_SIZE, width)))}
            else:
                shapes = {"latent": ((1, 4, MIN_SIZE // scale, MIN_SIZE // scale), (1, 4, height // scale, width // scale),
                                     (1, 4, max(MAX_SIZE, height) // scale, max(MAX_SIZE, width) // scale))}
            build_engine(onnx_path, engine, shapes, fp16=vae_fp16)
        built.append(engine)
    report("done", 1.0)
    return built


class TensorRTVae:
    """The VAE encoder/decoder engines behind the two calls the hot loop makes on a diffusers VAE."""

    def __init__(self, folder: Path, config: Any) -> None:
        from types import SimpleNamespace

        self._namespace = SimpleNamespace
        self.encoder = TensorRTModule(folder / "vae_encoder.engine")
        self.decoder = TensorRTModule(folder / "vae_decoder.engine")
        self.config = config

    def encode(self, image: Any) -> Any:
        latent = self.encoder(image)
        return self._namespace(latents=latent, latent_dist=self._namespace(mean=latent))

    def decode(self, latent: Any, return_dict: bool = False) -> tuple[Any]:
        return (self.decoder(latent),)


def load_engines(cache_dir: Path, loaded: Any, width: int, height: int, batch: int) -> tuple[TensorRTModule, TensorRTVae]:
    """The cached UNet and VAE engines for this model/size/batch/GPU, or a GeneratorError saying to compile."""
    folder = engine_folder(cache_dir, loaded.name, width, height, batch, loaded.vae_kind, loaded.lora,
                           loaded.lora_scale)
    return load_unet_engine(folder, loaded.name, width, height, batch), TensorRTVae(folder, loaded.vae.config)


def load_unet_engine(folder: Path, model: str, width: int, height: int, batch: int) -> TensorRTModule:
    """The cached UNet engine in ``folder``, or a GeneratorError saying to compile."""
    try:
        import tensorrt  # noqa: F401
    except ImportError as exc:
        raise GeneratorError("accelerator: tensorrt needs the `tensorrt` package on a CUDA machine; "
                             "use accelerator: compile or eager here") from exc
    engine = Path(folder) / "unet.engine"
    if not engine.exists():
        raise GeneratorError(f"no TensorRT engine for {model} at {width}x{height}, batch {batch} on {gpu_name()} "
                             f"(looked for {engine}); run `vj compile SETLIST` before the show")
    return TensorRTModule(engine)
