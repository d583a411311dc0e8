"""TensorRT path: fp16 ONNX exported on the GPU → strongly typed engines built ahead of the show → run.

Engines are built by ``vj compile`` (``build_engines``), never mid-show: a live run that asks for
``accelerator: tensorrt`` loads cached engines or fails at ``prepare`` with one line saying what to
do. What changed for TensorRT 10.x *and* 11.x (11 removed ``BuilderFlag.FP16`` and every weakly
typed API):

- **Strongly typed networks** (``NetworkDefinitionCreationFlag.STRONGLY_TYPED`` where the flag
  exists; 11.x is strongly typed always): every tensor's type comes from the ONNX file, so the
  UNet is exported **in fp16 on CUDA** (``onnx_export``). SDXL's full VAE stays fp32 (it
  overflows in fp16, which is why diffusers upcasts it).
- **Static profiles** (min = opt = max) per output size, one per UNet batch the setlist can
  produce (stream-batch steps, and each doubled for full CFG): a static profile is the fastest
  engine for that shape. Each profile gets its own execution context, chosen by the input batch,
  so switching CFG on never switches a profile on the hot path.
- **A persistent timing cache** per GPU and TensorRT version (``timing/*.cache``), so the second
  engine and every rebuild skip most kernel timing.
- **Cache key** = GPU name + compute capability, TensorRT version, model id + weight fingerprint,
  size, batch, precision, VAE and LoRA (``engine_cache.EngineKey``), also written as a JSON sidecar
  beside each engine; writes are atomic, so a killed ``vj compile`` leaves nothing a later run trusts.
- **One dedicated CUDA stream** for all three engines (never the legacy default stream, on which
  TensorRT adds a synchronisation per call). When the caller already runs its frame on a
  non-default stream, the engines run on that stream directly.
- **Outputs callers cannot alias:** every call returns freshly allocated tensors (from torch's
  caching allocator, so no cudaMalloc per frame); a caller may keep a result as long as it likes.
- ``set_input_shape``, ``set_tensor_address`` and ``execute_async_v3`` results are checked.

The prompt embedding is a runtime input, so prompt changes never rebuild anything. SDXL UNets take
two more runtime inputs, the pooled text embedding and the six time ids. LoRA scales are not
runtime inputs: a LoRA is fused into the UNet before export, so another LoRA or scale needs
``vj compile`` again. This module's TensorRT calls are typed against ``tensorrt-stubs`` (10.x) and
follow the 11.x migration guide; they have not run on these machines (no GPU, no TensorRT wheel).
"""
from __future__ import annotations

import gc
import logging
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from vj.generators.base import GeneratorError
from vj.generators.diffusion.engine_cache import (EngineKey, atomic_write_bytes, check_trusted, find_other_builds,
                                                  read_sidecar, remove_stale_temporaries, sidecar_path, trusted,
                                                  weights_fingerprint, write_sidecar)
from vj.generators.diffusion.onnx_export import (SDXL_TIME_IDS, SDXL_UNET_INPUTS, UNET_INPUTS, export_unet_onnx,
                                                 export_vae_onnx, is_sdxl_unet)

if TYPE_CHECKING:
    import tensorrt

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]
Shape = tuple[int, ...]

PRECISIONS = ("fp16", "fp32")
ENGINE_NAMES = ("unet", "vae_encoder", "vae_decoder")

__all__ = ["EngineKey", "PRECISIONS", "SDXL_TIME_IDS", "SDXL_UNET_INPUTS", "TensorRTModule", "TensorRTVae",
           "UNET_INPUTS", "build_engine", "build_engines", "engine_folder", "engine_key", "export_unet_onnx",
           "export_vae_onnx", "gpu_name", "is_sdxl_unet", "load_engines", "load_unet_engine", "profile_batches",
           "require_cuda", "require_tensorrt", "static_shapes", "trt_version"]


# ---- the machine ---------------------------------------------------------------------------------

def require_tensorrt() -> None:
    """A one-line GeneratorError unless ``tensorrt`` imports (callers then import it themselves,
    so a type checker with ``tensorrt-stubs`` sees every call)."""
    try:
        import tensorrt  # noqa: F401
    except ImportError as exc:
        raise GeneratorError(
            "TensorRT is not installed: install it on the show machine (`pip install 'vj[tensorrt]'`, an NVIDIA "
            "GPU needed) and run `vj compile` again, or use accelerator: compile or eager") from exc


def require_cuda() -> None:
    """A one-line GeneratorError unless torch sees a CUDA GPU (engines are built for, and on, one)."""
    import torch

    if not torch.cuda.is_available():
        raise GeneratorError(
            "no CUDA GPU is visible here (torch.cuda.is_available() is False), and TensorRT engines are built on "
            "the GPU that runs them: run `vj compile` on the show machine, or use accelerator: compile or eager")


def gpu_name() -> str:
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"


def compute_capability() -> str:
    import torch

    if not torch.cuda.is_available():
        return "none"
    major, minor = torch.cuda.get_device_capability()
    return f"{major}.{minor}"


def trt_version() -> str:
    try:
        import tensorrt as trt
    except ImportError:
        return "none"
    return str(trt.__version__)


# ---- keys and folders ----------------------------------------------------------------------------

def engine_key(model: str, *, width: int, height: int, batch: int, precision: str, gpu_name: str,
               trt_version: str, compute_capability: str = "none", weights: str = "", vae: str = "full",
               lora: str | None = None, lora_scale: float = 1.0) -> str:
    """Cache folder name: everything that makes an engine unusable elsewhere is in it."""
    return EngineKey(model=model, weights=weights, gpu=gpu_name, compute_capability=compute_capability,
                     tensorrt=trt_version, width=width, height=height, batch=batch, precision=precision, vae=vae,
                     lora=lora, lora_scale=lora_scale).folder_name()


def _precision_of(dtype: Any) -> str:
    import torch

    return "fp16" if dtype == torch.float16 else "fp32"


def key_for(loaded: Any, width: int, height: int, batch: int, precision: str | None = None) -> EngineKey:
    """The key of the engines for ``loaded`` on this machine (GPU, TensorRT) at this size and batch."""
    return EngineKey(model=loaded.name, weights=weights_fingerprint(loaded.folder), gpu=gpu_name(),
                     compute_capability=compute_capability(), tensorrt=trt_version(), width=width, height=height,
                     batch=batch, precision=precision or _precision_of(loaded.dtype), vae=loaded.vae_kind,
                     lora=loaded.lora, lora_scale=loaded.lora_scale)


def engine_folder(cache_dir: Path, key: EngineKey) -> Path:
    return Path(cache_dir) / key.folder_name()


def timing_cache_path(cache_dir: Path) -> Path:
    """One timing cache per GPU model and TensorRT version (what its entries are valid for)."""
    safe = "".join(c if c.isalnum() else "-" for c in gpu_name())
    return Path(cache_dir) / "timing" / f"{safe}-sm{compute_capability()}-trt{trt_version()}.cache"


# ---- shapes --------------------------------------------------------------------------------------

def profile_batches(batches: Iterable[int]) -> list[int]:
    """Every UNet batch to give a static profile: each base batch and its double (full CFG)."""
    found: set[int] = set()
    for batch in batches:
        found.update((int(batch), 2 * int(batch)))
    return sorted(found)


def static_shapes(batch: int, latent_height: int, latent_width: int, text: tuple[int, int],
                  pooled_dim: int | None = None) -> dict[str, Shape]:
    """Each UNet input's one shape at this batch and latent size (min = opt = max in the profile)."""
    tokens, dim = text
    shapes: dict[str, Shape] = {
        "sample": (batch, 4, latent_height, latent_width),
        "timestep": (batch,),
        "encoder_hidden_states": (batch, tokens, dim),
    }
    if pooled_dim is not None:
        shapes["text_embeds"] = (batch, pooled_dim)
        shapes["time_ids"] = (batch, SDXL_TIME_IDS)
    return shapes


# ---- building ------------------------------------------------------------------------------------

def _network_flags(trt: ModuleType) -> int:
    """STRONGLY_TYPED where the flag exists (10.x); 11.x networks are strongly typed with no flag."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    return 0 if flag is None else 1 << int(flag)


def _attach_timing_cache(config: "tensorrt.IBuilderConfig", path: Path | None) -> None:
    """Start from the saved timing cache (if any and still valid for this TensorRT/GPU), else empty."""
    data = path.read_bytes() if path is not None and path.is_file() else b""
    cache = config.create_timing_cache(data)
    if cache is None or not config.set_timing_cache(cache, False):
        if not data:
            raise GeneratorError("TensorRT could not create a timing cache (see the log above)")
        log.warning("timing cache %s is not valid for this TensorRT/GPU; starting a new one", path)
        cache = config.create_timing_cache(b"")
        if cache is None or not config.set_timing_cache(cache, False):
            raise GeneratorError("TensorRT could not create a timing cache (see the log above)")


def build_engine(onnx_path: Path, engine_path: Path, profiles: Sequence[dict[str, Shape]], *,
                 timing_cache: Path | None = None, workspace_gib: float = 8.0) -> Path:
    """ONNX → serialized, strongly typed TensorRT engine with one static profile per entry of
    ``profiles``; written atomically, and the timing cache saved (atomically) after the build."""
    require_tensorrt()
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):   # by path: external data is found beside it
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise GeneratorError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * 2**30))
    _attach_timing_cache(config, timing_cache)
    for shapes in profiles:
        profile = builder.create_optimization_profile()
        for name, shape in shapes.items():
            dims = trt.Dims(list(shape))
            profile.set_shape(name, dims, dims, dims)   # static: the fastest kernels for this one shape
        if config.add_optimization_profile(profile) < 0:
            raise GeneratorError(f"TensorRT rejected the profile {shapes} for {onnx_path}")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise GeneratorError(f"TensorRT failed to build an engine from {onnx_path} (see the log above)")
    atomic_write_bytes(engine_path, serialized)
    if timing_cache is not None:
        atomic_write_bytes(timing_cache, config.get_timing_cache().serialize())
    return Path(engine_path)


def export_onnx_files(loaded: Any, folder: Path, key: EngineKey, *, width: int, height: int,
                      batch: int) -> dict[str, Path]:
    """The UNet and VAE ONNX files for ``key`` in ``folder/onnx``, exported on ``loaded``'s device and
    dtype; files whose sidecar matches ``key`` are reused, anything else is exported again."""
    scale = loaded.vae_scale_factor
    onnx_folder = Path(folder) / "onnx"
    paths = {name: onnx_folder / f"{name}.onnx" for name in ENGINE_NAMES}
    if not trusted(paths["unet"], key):
        sidecar_path(paths["unet"]).unlink(missing_ok=True)
        export_unet_onnx(loaded.unet, paths["unet"], batch=batch, latent_height=height // scale,
                         latent_width=width // scale, text_tokens=int(loaded.tokenizer.model_max_length),
                         text_dim=loaded.text_dim, pooled_dim=loaded.pooled_dim)
        write_sidecar(paths["unet"], key)
    if not (trusted(paths["vae_encoder"], key) and trusted(paths["vae_decoder"], key)):
        for name in ("vae_encoder", "vae_decoder"):
            sidecar_path(paths[name]).unlink(missing_ok=True)
        for path in export_vae_onnx(loaded.vae, onnx_folder, height=height, width=width):
            write_sidecar(path, key)
    return paths


def build_engines(model: str, width: int, height: int, batch: int, cache_dir: Path,
                  progress: Progress | None = None, *, vae: str = "full", tiny_vae_path: str | None = None,
                  allow_download: bool = False, lora: str | None = None, lora_scale: float = 1.0,
                  batches: Sequence[int] | None = None, precision: str = "fp16") -> list[Path]:
    """Everything ``vj compile`` builds for one model and size: fp16 ONNX files exported on the GPU,
    then strongly typed engines. Checks for TensorRT and a GPU first (before loading gigabytes).

    ``batch`` is the base UNet batch (stream-batch steps, or 1) and names the cache folder;
    ``batches`` every base batch the setlist's styles produce (default: just ``batch``); each gets
    a static profile, and so does its double (full CFG). Files whose sidecars match are reused."""
    import torch

    from vj.generators.diffusion.loader import check_size, load_model

    if precision not in PRECISIONS:
        raise GeneratorError(f"precision must be one of {', '.join(PRECISIONS)} (got {precision!r})")
    report = progress or (lambda stage, fraction: None)
    require_tensorrt()
    require_cuda()
    remove_stale_temporaries(cache_dir)
    report("load the model on the GPU", 0.02)
    loaded = load_model(model, device="cuda", dtype=torch.float16 if precision == "fp16" else torch.float32,
                        vae=vae, tiny_vae_path=tiny_vae_path, allow_download=allow_download, lora=lora,
                        lora_scale=lora_scale)
    check_size(loaded, width, height, static_shapes=True)
    key = key_for(loaded, width, height, batch, precision)
    folder = engine_folder(cache_dir, key)
    scale = loaded.vae_scale_factor
    report("export ONNX (fp16 on the GPU)", 0.05)
    onnx = export_onnx_files(loaded, folder, key, width=width, height=height, batch=batch)
    timing = timing_cache_path(cache_dir)
    tokens, dim, pooled_dim = int(loaded.tokenizer.model_max_length), loaded.text_dim, loaded.pooled_dim
    del loaded   # the builder's tactic search wants the GPU memory the model held
    gc.collect()
    torch.cuda.empty_cache()
    unet_batches = profile_batches(batches or [batch])
    unet_profiles = [static_shapes(b, height // scale, width // scale, (tokens, dim), pooled_dim)
                     for b in unet_batches]
    profiles: dict[str, list[dict[str, Shape]]] = {
        "unet": unet_profiles,
        "vae_encoder": [{"image": (1, 3, height, width)}],
        "vae_decoder": [{"latent": (1, 4, height // scale, width // scale)}],
    }
    built = []
    for index, name in enumerate(ENGINE_NAMES):
        engine = folder / f"{name}.engine"
        report(f"build the {name} engine" + (" (minutes)" if name == "unet" else ""), 0.3 + 0.23 * index)
        wanted = unet_batches if name == "unet" else [1]
        if not trusted(engine, key) or not _has_batches(engine, wanted):
            sidecar_path(engine).unlink(missing_ok=True)   # untrusted from here until the new one is written
            build_engine(onnx[name], engine, profiles[name], timing_cache=timing)
            write_sidecar(engine, key, profiles=[{k: list(v) for k, v in p.items()} for p in profiles[name]],
                          batches=wanted)
        built.append(engine)
    report("done", 1.0)
    return built


def _has_batches(engine: Path, wanted: Sequence[int]) -> bool:
    """Whether the engine's sidecar lists a profile for every batch in ``wanted``."""
    record = read_sidecar(engine) or {}
    return set(wanted) <= set(record.get("batches", []))


# ---- running -------------------------------------------------------------------------------------

def _torch_dtypes(trt: ModuleType) -> dict[Any, Any]:
    import torch

    pairs = (("HALF", torch.float16), ("FLOAT", torch.float32), ("BF16", torch.bfloat16), ("INT32", torch.int32),
             ("INT64", torch.int64), ("BOOL", torch.bool), ("INT8", torch.int8), ("UINT8", torch.uint8))
    return {getattr(trt.DataType, name): dtype for name, dtype in pairs if hasattr(trt.DataType, name)}


class TensorRTModule:
    """A built engine run on a dedicated CUDA stream, reading torch tensors and returning new ones.

    Contract: each call returns freshly allocated output tensors (callers may keep them; nothing is
    overwritten by a later call). Inputs are cast to the engine's input dtypes. The engine runs on
    the caller's current stream when that is not the legacy default stream, else on ``stream``
    (ordered after the caller's pending work and before its next, with GPU-side waits only)."""

    def __init__(self, engine_path: Path, *, key: EngineKey | None = None, stream: Any = None) -> None:
        import torch

        require_tensorrt()
        require_cuda()
        import tensorrt as trt

        self.path = Path(engine_path)
        if key is not None:
            check_trusted(self.path, key)
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        engine = self.runtime.deserialize_cuda_engine(self.path.read_bytes())
        if engine is None:
            raise GeneratorError(
                f"TensorRT {trt.__version__} could not load {self.path} (corrupt, or built by another TensorRT "
                f"version or GPU): delete {self.path.parent} and run `vj compile SETLIST` again")
        self.engine = engine
        self.device = torch.device("cuda", torch.cuda.current_device())
        self.stream = stream if stream is not None else torch.cuda.Stream(self.device)
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        self.inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        dtypes = _torch_dtypes(trt)
        self._dtypes = {name: dtypes[engine.get_tensor_dtype(name)] for name in names}
        # One execution context per static profile, keyed by its batch: set up once, here.
        self._contexts: dict[int, "tensorrt.IExecutionContext"] = {}
        for index in range(engine.num_optimization_profiles):
            context = engine.create_execution_context()
            if context is None:
                raise GeneratorError(f"not enough GPU memory to run {self.path}; lower the resolution or close "
                                     f"other GPU programs")
            if not context.set_optimization_profile_async(index, self.stream.cuda_stream):
                raise GeneratorError(f"TensorRT could not select profile {index} of {self.path}")
            low = engine.get_tensor_profile_shape(self.inputs[0], index)[0]
            self._contexts[int(low[0])] = context
        self.stream.synchronize()   # profile selection lands before the first frame (prepare, not the show)

    @property
    def batches(self) -> list[int]:
        """The input batch sizes this engine has a profile for."""
        return sorted(self._contexts)

    def __call__(self, *tensors: Any) -> Any:
        import torch

        if len(tensors) != len(self.inputs):
            raise GeneratorError(f"TensorRT engine {self.path.name} takes {len(self.inputs)} inputs "
                                 f"({', '.join(self.inputs)}), got {len(tensors)}; run `vj compile` again")
        batch = int(tensors[0].shape[0])
        context = self._contexts.get(batch)
        if context is None:
            raise GeneratorError(f"TensorRT engine {self.path} has profiles for batch {self.batches}, not {batch}: "
                                 f"run `vj compile SETLIST` for this setlist's steps and guidance")
        caller = torch.cuda.current_stream(self.device)
        own = caller == torch.cuda.default_stream(self.device)
        run_on = self.stream if own else caller
        kept = []   # cast copies must live until the engine has read them
        for name, tensor in zip(self.inputs, tensors):
            tensor = tensor.to(self._dtypes[name]).contiguous()
            kept.append(tensor)
            if not context.set_input_shape(name, tuple(tensor.shape)):
                raise GeneratorError(f"TensorRT engine {self.path.name} cannot take {name} of shape "
                                     f"{tuple(tensor.shape)} (its profiles are static: run `vj compile` for this size)")
            if not context.set_tensor_address(name, tensor.data_ptr()):
                raise GeneratorError(f"TensorRT refused the address of input {name} (misaligned tensor?)")
        results = []
        for name in self.outputs:
            dims = context.get_tensor_shape(name)
            shape = tuple(dims[i] for i in range(len(dims)))
            output = torch.empty(shape, dtype=self._dtypes[name], device=self.device)
            if not context.set_tensor_address(name, output.data_ptr()):
                raise GeneratorError(f"TensorRT refused the address of output {name}")
            results.append(output)
        if own:
            self.stream.wait_stream(caller)     # the inputs were made on the caller's stream
        if not context.execute_async_v3(run_on.cuda_stream):
            raise GeneratorError(f"TensorRT engine {self.path.name} failed to run (see the log above)")
        if own:
            caller.wait_stream(self.stream)     # the caller's next work sees the outputs
            for tensor in kept + results:        # the allocator must not reuse them before TensorRT is done
                tensor.record_stream(self.stream)
        return results[0]


class TensorRTVae:
    """The VAE encoder/decoder engines behind the two calls the hot loop makes on a diffusers VAE."""

    def __init__(self, folder: Path, config: Any, *, key: EngineKey | None = None, stream: Any = None) -> None:
        from types import SimpleNamespace

        self._namespace = SimpleNamespace
        self.encoder = TensorRTModule(Path(folder) / "vae_encoder.engine", key=key, stream=stream)
        self.decoder = TensorRTModule(Path(folder) / "vae_decoder.engine", key=key, stream=self.encoder.stream)
        self.config = config

    def encode(self, image: Any) -> Any:
        latent = self.encoder(image)
        return self._namespace(latents=latent, latent_dist=self._namespace(mean=latent))

    def decode(self, latent: Any, return_dict: bool = False) -> tuple[Any]:
        return (self.decoder(latent),)


def load_engines(cache_dir: Path, loaded: Any, width: int, height: int, batch: int,
                 stream: Any = None) -> tuple[TensorRTModule, TensorRTVae]:
    """The cached UNet and VAE engines for this model/size/batch/GPU/TensorRT, all on one dedicated
    stream (``stream``, or a new one), or a one-line GeneratorError saying to compile."""
    folder, key = _checked_folder(cache_dir, loaded, width, height, batch)
    unet = TensorRTModule(folder / "unet.engine", key=key, stream=stream)
    missing = sorted(set(profile_batches([batch])) - set(unet.batches))
    if missing:
        raise GeneratorError(f"the TensorRT UNet in {folder} has no profile for batch {missing} (full CFG doubles "
                             f"the batch); run `vj compile SETLIST` again")
    return unet, TensorRTVae(folder, loaded.vae.config, key=key, stream=unet.stream)


def _checked_folder(cache_dir: Path, loaded: Any, width: int, height: int, batch: int) -> tuple[Path, EngineKey]:
    """The engine folder for this run and its key, or a GeneratorError naming what is there instead."""
    require_tensorrt()
    key = key_for(loaded, width, height, batch)
    folder = engine_folder(cache_dir, key)
    if not (folder / "unet.engine").is_file():
        others = find_other_builds(cache_dir, key)
        if others:
            other = others[0]
            raise GeneratorError(
                f"the TensorRT engines in {cache_dir} for {loaded.name} at {width}x{height} were built for "
                f"{other.get('gpu')} (sm {other.get('compute_capability')}) with TensorRT {other.get('tensorrt')}, "
                f"batch {other.get('batch')}, {other.get('precision')}; this is {key.gpu} (sm "
                f"{key.compute_capability}) with TensorRT {key.tensorrt}, batch {batch}, {key.precision}: "
                f"run `vj compile SETLIST` on this machine")
        raise GeneratorError(f"no TensorRT engine for {loaded.name} at {width}x{height}, batch {batch} on "
                             f"{key.gpu} (looked for {folder / 'unet.engine'}); run `vj compile SETLIST` "
                             f"before the show")
    return folder, key


def load_unet_engine(cache_dir: Path, loaded: Any, width: int, height: int, batch: int,
                     stream: Any = None) -> TensorRTModule:
    """The cached UNet engine alone (see ``load_engines``)."""
    folder, key = _checked_folder(cache_dir, loaded, width, height, batch)
    return TensorRTModule(folder / "unet.engine", key=key, stream=stream)
