"""Frames between torch tensors and GL textures without a host round trip where the hardware allows.

A diffusion frame is a CUDA tensor; the passes draw GL textures. Three strategies, chosen once per
target (``make_tensor_upload``) and named in the HUD and the benchmark:

- ``"cuda-gl interop"``: the GL texture is registered with CUDA once (``cudaGraphicsGLRegisterImage``
  through ``cuda-python``); each frame is converted on the GPU (clamp, ×255, to uint8, padded to
  RGBA in a persistent buffer) and copied device to device into the texture's array
  (``cudaMemcpy2DToArrayAsync``) on the frame's stream. Unmapping orders the copy before any GL
  command issued after it, so no host sync and no ``finish()``. Needs the display's GL context and
  CUDA on the same GPU, and ``pip install 'vj[cuda]'``.
- ``"pinned PBO"``: where interop is unavailable (display on another GPU, no cuda-python): the same
  RGBA8 conversion on the GPU, one DMA into page-locked host memory (a quarter of the float32
  bytes), then a pixel-buffer upload that GL performs asynchronously; two PBOs alternate, each
  guarded by a GL fence instead of ``finish()``.
- ``"host"``: a CPU tensor, converted on the CPU and written straight into the texture.

The other direction (``make_texture_download``: a warped RGBA32F texture back into a CUDA tensor
for the next diffusion step) registers the texture read-only and copies from its array; without
interop it reads the texture through the host.

Every object here is used on the thread whose GL context is current (the generator thread).
``measure_handoff`` is the benchmark entry point ``tools/gpu_check.py`` calls.
"""
from __future__ import annotations

import abc
import ctypes
import logging
import time
import weakref
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

INTEROP = "cuda-gl interop"
PINNED_PBO = "pinned PBO"
HOST = "host"
PATHS = (INTEROP, PINNED_PBO, HOST)

GL_TEXTURE_2D = 0x0DE1
GL_SYNC_GPU_COMMANDS_COMPLETE = 0x9117
GL_SYNC_FLUSH_COMMANDS_BIT = 0x1
GL_TIMEOUT_IGNORED = 0xFFFFFFFFFFFFFFFF
GL_TIMEOUT_EXPIRED = 0x911B
GL_WAIT_FAILED = 0x911D


class InteropError(RuntimeError):
    """CUDA–GL interop cannot be used here (the caller falls back to the pinned PBO path)."""


# ---- GL fences -----------------------------------------------------------------------------------

class GLSync:
    """``glFenceSync`` / ``glClientWaitSync`` / ``glWaitSync`` / ``glDeleteSync`` through ctypes
    (moderngl has no fences). The functions are looked up through GLVND's libOpenGL, which
    dispatches to whichever context is current (EGL or GLX), else through ``eglGetProcAddress``."""

    _loaded: "GLSync | None" = None

    def __init__(self) -> None:
        fence_type = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint)
        client_wait_type = ctypes.CFUNCTYPE(ctypes.c_uint, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint64)
        wait_type = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint64)
        delete_type = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
        flush_type = ctypes.CFUNCTYPE(None)
        self._fence = fence_type(self._address("glFenceSync"))
        self._flush = flush_type(self._address("glFlush"))
        self._client_wait = client_wait_type(self._address("glClientWaitSync"))
        self._wait = wait_type(self._address("glWaitSync"))
        self._delete = delete_type(self._address("glDeleteSync"))

    @staticmethod
    def _address(name: str) -> int:
        for library in ("libOpenGL.so.0", "libGL.so.1"):
            try:
                handle = ctypes.CDLL(library)
                return ctypes.cast(getattr(handle, name), ctypes.c_void_p).value or 0
            except (OSError, AttributeError):
                continue
        try:
            egl = ctypes.CDLL("libEGL.so.1")
            egl.eglGetProcAddress.restype = ctypes.c_void_p
            egl.eglGetProcAddress.argtypes = [ctypes.c_char_p]
            address = egl.eglGetProcAddress(name.encode())
        except (OSError, AttributeError):
            address = None
        if not address:
            raise OSError(f"{name} not found (no libOpenGL/libGL/libEGL)")
        return int(address)

    @classmethod
    def load(cls) -> "GLSync | None":
        """The shared instance, or None where no GL library exposes fences (callers then let the
        driver order uploads implicitly)."""
        if cls._loaded is None:
            try:
                cls._loaded = cls()
            except OSError as exc:
                log.warning("GL fences unavailable (%s); uploads rely on the driver's implicit ordering", exc)
                return None
        return cls._loaded

    def fence(self) -> int:
        """A fence after every GL command issued so far in the current context."""
        return int(self._fence(GL_SYNC_GPU_COMMANDS_COMPLETE, 0) or 0)

    def flush(self) -> None:
        """Submit the current context's queued commands (a fence another context waits on must be
        flushed first, or that wait could never end)."""
        self._flush()

    def client_wait(self, sync: int, timeout_s: float = 1.0) -> bool:
        """Block this thread until ``sync`` has signalled (flushing first); False on timeout or failure."""
        result = self._client_wait(sync, GL_SYNC_FLUSH_COMMANDS_BIT, int(timeout_s * 1e9))
        return result not in (GL_TIMEOUT_EXPIRED, GL_WAIT_FAILED)

    def gpu_wait(self, sync: int) -> None:
        """Make the *current* context's GPU queue wait for ``sync`` (no host block): how the display
        context waits for a frame the generator's shared context just wrote."""
        self._wait(sync, 0, GL_TIMEOUT_IGNORED)

    def delete(self, sync: int) -> None:
        if sync:
            self._delete(sync)


# ---- conversion ----------------------------------------------------------------------------------

class RGBA8Converter:
    """1×3×H×W float (0..1, row 0 at the top) → H×W×4 uint8 in GL's row order (row 0 at the bottom),
    on the tensor's device, into buffers allocated once. Rounds as ``Frame.to_uint8`` does."""

    def __init__(self, width: int, height: int, device: Any) -> None:
        import torch

        self.width, self.height = width, height
        self.rgba = torch.full((height, width, 4), 255, dtype=torch.uint8, device=device)
        self._scaled = torch.empty((3, height, width), dtype=torch.float32, device=device)

    def __call__(self, tensor: Any) -> Any:
        import torch

        image = tensor.detach()[0]
        if tuple(image.shape) != (3, self.height, self.width):
            raise ValueError(f"frame is {tuple(image.shape)}, the upload is 3x{self.height}x{self.width}")
        torch.clamp(image, 0.0, 1.0, out=self._scaled)
        self._scaled.mul_(255.0).add_(0.5)
        self.rgba[:, :, :3].copy_(self._scaled.flip(1).permute(1, 2, 0))   # uint8 cast truncates: +0.5 rounds
        return self.rgba


# ---- uploads: tensor → texture -------------------------------------------------------------------

def _rgba8_texture(ctx: Any, width: int, height: int) -> Any:
    import moderngl

    texture = ctx.texture((width, height), 4, dtype="f1")
    texture.repeat_x = texture.repeat_y = False
    texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
    return texture


class PixelBufferUpload:
    """H×W×4 uint8 host pixels (GL row order) → an RGBA8 texture through two alternating PBOs.

    ``texture.write(buffer)`` lets GL copy from the PBO asynchronously; a fence after each copy
    guards the PBO, so the next write into it waits only if GL has not finished with it yet."""

    def __init__(self, ctx: Any, width: int, height: int) -> None:
        self.ctx = ctx
        self.width, self.height = width, height
        self.texture = _rgba8_texture(ctx, width, height)
        self._buffers = [ctx.buffer(reserve=width * height * 4) for _ in range(2)]
        self._fences: list[int] = [0, 0]
        self._next = 0
        self.sync = GLSync.load()

    def upload(self, pixels: Any) -> Any:
        index, self._next = self._next, self._next ^ 1
        if self.sync is not None and self._fences[index]:
            self.sync.client_wait(self._fences[index])
            self.sync.delete(self._fences[index])
            self._fences[index] = 0
        self._buffers[index].write(pixels)
        self.texture.write(self._buffers[index])
        if self.sync is not None:
            self._fences[index] = self.sync.fence()
        return self.texture

    def wait(self) -> None:
        """Block until the last upload has landed in the texture (benchmarks and tests only)."""
        last = self._fences[self._next ^ 1]
        if self.sync is not None and last:
            self.sync.client_wait(last)
        else:
            self.ctx.finish()

    def release(self) -> None:
        if self.sync is not None:
            for fence in self._fences:
                self.sync.delete(fence)
        for buffer in self._buffers:
            buffer.release()
        self.texture.release()


class TensorUpload(abc.ABC):
    """Base of the three strategies: ``upload(tensor)`` → the RGBA8 texture holding it."""

    path = HOST
    texture: Any
    device: Any = "cpu"

    @abc.abstractmethod
    def upload(self, tensor: Any, stream: Any = None) -> Any:
        """Write ``tensor`` (1×3×H×W, 0..1) into ``texture`` and return it."""

    def wait(self) -> None:
        """Block until the last upload is complete (benchmarks and tests; never in the render loop)."""

    def release(self) -> None:
        self.texture.release()


class HostTensorUpload(TensorUpload):
    """A CPU tensor (or float H×W×3 array): converted on the CPU, written into the texture."""

    path = HOST

    def __init__(self, ctx: Any, width: int, height: int) -> None:
        import torch

        self.ctx = ctx
        self.device = torch.device("cpu")
        self.texture = _rgba8_texture(ctx, width, height)
        self._convert = RGBA8Converter(width, height, "cpu")

    def upload(self, tensor: Any, stream: Any = None) -> Any:
        self.texture.write(self._convert(tensor).numpy())
        return self.texture

    def wait(self) -> None:
        self.ctx.finish()


class PinnedPBOUpload(TensorUpload):
    """RGBA8 on the device → page-locked host buffer (one DMA, one event wait) → PBO upload."""

    path = PINNED_PBO

    def __init__(self, ctx: Any, width: int, height: int, device: Any) -> None:
        import torch

        self.device = torch.device(device)
        self._pixels = PixelBufferUpload(ctx, width, height)
        self.texture = self._pixels.texture
        self._convert = RGBA8Converter(width, height, self.device)
        cuda = self.device.type == "cuda"
        self._host = torch.empty((height, width, 4), dtype=torch.uint8, pin_memory=cuda)
        self._event = torch.cuda.Event() if cuda else None

    def upload(self, tensor: Any, stream: Any = None) -> Any:
        import torch

        if self._event is None:
            self._host.copy_(self._convert(tensor))
        else:
            stream = stream or torch.cuda.current_stream(self.device)
            with torch.cuda.stream(stream):
                self._host.copy_(self._convert(tensor), non_blocking=True)
                self._event.record(stream)
            self._event.synchronize()   # GL reads host memory next: the DMA must have landed
        return self._pixels.upload(self._host.numpy())

    def wait(self) -> None:
        self._pixels.wait()

    def release(self) -> None:
        self._pixels.release()


def _cudart() -> Any:
    """cuda-python's runtime bindings (``cuda.bindings.runtime`` from 12.6, ``cuda.cudart`` before)."""
    try:
        from cuda.bindings import runtime
    except ImportError:
        try:
            from cuda import cudart as runtime  # type: ignore[no-redef]
        except ImportError as exc:
            raise InteropError("cuda-python is not installed (pip install 'vj[cuda]')") from exc
    return runtime


def _check(result: Any, what: str) -> Any:
    """cuda-python returns ``(error, *values)``: raise InteropError unless the error is success."""
    runtime = _cudart()
    error, *values = result if isinstance(result, tuple) else (result,)
    if error != runtime.cudaError_t.cudaSuccess:
        name = runtime.cudaGetErrorName(error)[1]
        raise InteropError(f"{what} failed: {name.decode() if isinstance(name, bytes) else name}")
    return values[0] if len(values) == 1 else values


class _Registered:
    """A GL texture registered with CUDA once; ``map``/``unmap`` on a stream around each copy."""

    def __init__(self, texture: Any, read_only: bool) -> None:
        runtime = self.runtime = _cudart()
        flags = runtime.cudaGraphicsRegisterFlags
        flag = flags.cudaGraphicsRegisterFlagsReadOnly if read_only else flags.cudaGraphicsRegisterFlagsWriteDiscard
        self.resource = _check(runtime.cudaGraphicsGLRegisterImage(texture.glo, GL_TEXTURE_2D, flag),
                               "cudaGraphicsGLRegisterImage")

    def map(self, stream: int) -> Any:
        _check(self.runtime.cudaGraphicsMapResources(1, self.resource, stream), "cudaGraphicsMapResources")
        return _check(self.runtime.cudaGraphicsSubResourceGetMappedArray(self.resource, 0, 0),
                      "cudaGraphicsSubResourceGetMappedArray")

    def unmap(self, stream: int) -> None:
        _check(self.runtime.cudaGraphicsUnmapResources(1, self.resource, stream), "cudaGraphicsUnmapResources")

    def release(self) -> None:
        if self.resource is not None:
            self.runtime.cudaGraphicsUnregisterResource(self.resource)
            self.resource = None


class CudaGLUpload(TensorUpload):
    """RGBA8 on the device → the registered GL texture's array, device to device, on the frame's stream."""

    path = INTEROP

    def __init__(self, ctx: Any, width: int, height: int, device: Any) -> None:
        import torch

        self.ctx = ctx
        self.device = torch.device(device)
        if self.device.type != "cuda":
            raise InteropError(f"CUDA–GL interop needs a CUDA tensor (device is {self.device})")
        self.width, self.height = width, height
        self.texture = _rgba8_texture(ctx, width, height)
        try:
            runtime = _cudart()
            _check(runtime.cudaSetDevice(self.device.index or 0), "cudaSetDevice")
            self._registered = _Registered(self.texture, read_only=False)
        except BaseException:
            self.texture.release()
            raise
        self._runtime = runtime
        self._convert = RGBA8Converter(width, height, self.device)
        self._stream: Any = None

    def upload(self, tensor: Any, stream: Any = None) -> Any:
        import torch

        stream = stream or torch.cuda.current_stream(self.device)
        self._stream = stream
        handle = stream.cuda_stream
        with torch.cuda.stream(stream):
            rgba = self._convert(tensor)
        array = self._registered.map(handle)
        try:
            pitch = self.width * 4
            _check(self._runtime.cudaMemcpy2DToArrayAsync(
                array, 0, 0, rgba.data_ptr(), pitch, pitch, self.height,
                self._runtime.cudaMemcpyKind.cudaMemcpyDeviceToDevice, handle), "cudaMemcpy2DToArrayAsync")
        finally:
            self._registered.unmap(handle)   # GL commands issued after this see the new pixels
        return self.texture

    def wait(self) -> None:
        if self._stream is not None:
            self._stream.synchronize()
        self.ctx.finish()

    def release(self) -> None:
        self._registered.release()
        self.texture.release()


def interop_unavailable(device: Any) -> str | None:
    """Why CUDA–GL interop cannot be tried for ``device`` (None when it can be)."""
    import torch

    device = torch.device(device)
    if device.type != "cuda":
        return f"frames live on {device}, not a CUDA GPU"
    if not torch.cuda.is_available():
        return "torch sees no CUDA GPU"
    try:
        _cudart()
    except InteropError as exc:
        return str(exc)
    return None


def make_tensor_upload(ctx: Any, width: int, height: int, device: Any, prefer: str | None = None) -> TensorUpload:
    """The fastest upload that works here: interop, else pinned PBO (CUDA), else host (CPU).

    ``prefer`` forces one path (tests, benchmarks); interop that fails to register (a GL context on
    another GPU, a software renderer) falls back to the pinned PBO and logs why, once."""
    import torch

    device = torch.device(device)
    if prefer not in (None, *PATHS):
        raise ValueError(f"upload path must be one of {', '.join(PATHS)} (got {prefer!r})")
    if prefer == HOST or (prefer is None and device.type != "cuda"):
        return HostTensorUpload(ctx, width, height)
    if prefer in (None, INTEROP):
        reason = interop_unavailable(device)
        if reason is None:
            try:
                return CudaGLUpload(ctx, width, height, device)
            except InteropError as exc:
                reason = str(exc)
        if prefer == INTEROP:
            raise InteropError(reason)
        log.warning("CUDA–GL interop unavailable (%s); GPU frames reach GL through pinned memory", reason)
    return PinnedPBOUpload(ctx, width, height, device)


# ---- downloads: texture → tensor -----------------------------------------------------------------

class TextureDownload:
    """An RGBA32F texture (row 0 at the bottom) → a 1×3×H×W float32 tensor (row 0 at the top) on
    ``device``. With interop: registered read-only once, copied device to device from its array;
    else read through the host (one ``glGetTexImage``)."""

    def __init__(self, texture: Any, device: Any, prefer: str | None = None) -> None:
        import torch

        self.texture = texture
        self.device = torch.device(device)
        width, height = texture.size
        self.width, self.height = width, height
        if texture.dtype != "f4" or texture.components != 4:
            raise ValueError("TextureDownload reads RGBA32F textures (vj.render.gl.RenderTarget)")
        self._raw = torch.empty((height, width, 4), dtype=torch.float32, device=self.device)
        self._registered: _Registered | None = None
        self.path = HOST
        reason = interop_unavailable(self.device) if prefer in (None, INTEROP) else "not asked for"
        if reason is None:
            try:
                _check(_cudart().cudaSetDevice(self.device.index or 0), "cudaSetDevice")
                self._registered = _Registered(texture, read_only=True)
                self.path = INTEROP
            except InteropError as exc:
                reason = str(exc)
        if prefer == INTEROP and self._registered is None:
            raise InteropError(reason or "interop unavailable")

    def read(self, stream: Any = None) -> Any:
        """The texture's pixels as a new 1×3×H×W tensor (callers may keep it)."""
        import torch

        if self._registered is None:
            raw = np.frombuffer(self.texture.read(), dtype=np.float32).reshape(self.height, self.width, 4)
            self._raw.copy_(torch.from_numpy(raw.copy()))
            return self._image()
        runtime = self._registered.runtime
        stream = stream or torch.cuda.current_stream(self.device)
        handle = stream.cuda_stream
        array = self._registered.map(handle)
        try:
            pitch = self.width * 16
            _check(runtime.cudaMemcpy2DFromArrayAsync(
                self._raw.data_ptr(), pitch, array, 0, 0, pitch, self.height,
                runtime.cudaMemcpyKind.cudaMemcpyDeviceToDevice, handle), "cudaMemcpy2DFromArrayAsync")
        finally:
            self._registered.unmap(handle)
        with torch.cuda.stream(stream):   # the reorder reads the copy: same stream, no race
            return self._image()

    def _image(self) -> Any:
        """The raw RGBA rows (GL order) as a new 1×3×H×W tensor, row 0 at the top."""
        return self._raw.flip(0)[:, :, :3].permute(2, 0, 1).unsqueeze(0).contiguous()

    def release(self) -> None:
        if self._registered is not None:
            self._registered.release()
            self._registered = None


_downloads: "weakref.WeakKeyDictionary[Any, TextureDownload]" = weakref.WeakKeyDictionary()


def texture_to_tensor(texture: Any, device: Any, stream: Any = None) -> Any:
    """A persistent RGBA32F texture (a ``RenderTarget``'s) as a new 1×3×H×W float32 tensor on
    ``device``, through interop on CUDA. The registration is made on the first call for each
    texture and kept while the texture object lives: for render targets allocated once (the
    warp's output), which is what ``Frame.to_tensor`` sees for a moved frame."""
    import torch

    download = _downloads.get(texture)
    if download is None or download.device != torch.device(device):
        if download is not None:
            download.release()
        download = _downloads[texture] = TextureDownload(texture, device)
    return download.read(stream)


# ---- the benchmark -------------------------------------------------------------------------------

def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def measure_handoff(size: int, device: str, frames: int, *, ctx: Any = None, prefer: str | None = None) -> dict:
    """Upload a ``size``² frame from ``device`` into a GL texture ``frames`` times and read a warped
    RGBA32F texture back into a tensor as often; ms per frame (p50/p99), which path each took,
    and whether the pixels arrived exactly (max error in uint8 steps).

    Each timed frame includes waiting for its GPU work to finish (CUDA stream + GL fence), so the
    figure is the hand-off's latency, not just its submission. Uses a new headless EGL context
    unless ``ctx`` is given (its GL renderer is in the result: interop needs the NVIDIA one)."""
    import torch

    from vj.render.gl import RenderTarget, create_headless_context

    own = ctx is None
    ctx = ctx or create_headless_context()
    result: dict[str, Any] = {"size": size, "device": str(device), "frames": frames,
                              "gl_renderer": ctx.info.get("GL_RENDERER", "?")}
    uploader: TensorUpload | None = None
    reader: TextureDownload | None = None
    target: RenderTarget | None = None
    try:
        generator = torch.Generator(device="cpu").manual_seed(0)
        frame = torch.rand((1, 3, size, size), generator=generator).to(device)
        uploader = make_tensor_upload(ctx, size, size, device, prefer=prefer)
        result["path"] = uploader.path
        result["fallback_reason"] = None if uploader.path == INTEROP else interop_unavailable(device)
        timings = []
        for index in range(frames + 3):   # three untimed: first-use allocation and registration
            started = time.perf_counter()
            uploader.upload(frame)
            uploader.wait()
            if index >= 3:
                timings.append((time.perf_counter() - started) * 1000.0)
        got = np.frombuffer(uploader.texture.read(), dtype=np.uint8).reshape(size, size, 4)[::-1, :, :3]
        expected = (frame[0].float().clamp(0, 1).cpu().permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
        error = int(np.abs(got.astype(np.int16) - expected.astype(np.int16)).max())
        result.update(ms_p50=_percentile(timings, 50), ms_p99=_percentile(timings, 99), max_error=error,
                      exact=error == 0)
        # The other direction: a float target (what the warp pass draws) back into a tensor.
        target = RenderTarget(ctx, size, size)
        target.write_array(frame[0].float().cpu().permute(1, 2, 0).numpy())
        reader = TextureDownload(target.texture, device, prefer=None if prefer != HOST else HOST)
        back_timings = []
        for index in range(frames + 3):
            started = time.perf_counter()
            back = reader.read()
            if back.is_cuda:
                torch.cuda.current_stream(back.device).synchronize()
            if index >= 3:
                back_timings.append((time.perf_counter() - started) * 1000.0)
        back_error = float((back.float().cpu() - frame.float().cpu()).abs().max())
        result.update(download_path=reader.path, download_ms_p50=_percentile(back_timings, 50),
                      download_ms_p99=_percentile(back_timings, 99), download_max_error=back_error)
    finally:
        for item in (reader, uploader, target):
            if item is not None:
                item.release()
        if own:
            ctx.release()
    return result


__all__ = ["CudaGLUpload", "GLSync", "HOST", "HostTensorUpload", "INTEROP", "InteropError", "PATHS",
           "PINNED_PBO", "PinnedPBOUpload", "PixelBufferUpload", "RGBA8Converter", "TensorUpload",
           "TextureDownload", "interop_unavailable", "make_tensor_upload", "measure_handoff", "texture_to_tensor"]
