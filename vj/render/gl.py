"""GL plumbing shared by every pass: contexts, shader files, fullscreen programs, render targets.

Nothing here assumes a headless context except ``create_headless_context``: the same programs and
targets draw into a GLFW window's context live and into an EGL context offline. Shaders are files
in ``shaders/``, loaded by name, so a new pass is a GLSL file plus a few lines of Python.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import moderngl
import numpy as np

import vj

#: The shared vertex shader every fullscreen pass uses (a single triangle covering the target).
FULLSCREEN_VERTEX = "fullscreen.vert"

_MISSING_GL_HELP = (
    "vj could not create a headless OpenGL context through EGL ({error}). "
    "Install the Mesa EGL/GL drivers (Debian/Ubuntu: apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri), "
    "or, on a machine with an NVIDIA GPU, its driver's EGL library."
)


class GLUnavailableError(RuntimeError):
    """No OpenGL context can be made here: a message for people, naming the packages to install."""


def create_headless_context(require: int = 330) -> moderngl.Context:
    """A standalone (windowless) GL context through EGL, for rehearsals, tests and tools.

    ``require`` is the minimum GL version (330 = 3.3 core, what the shaders need).
    """
    try:
        return moderngl.create_standalone_context(require=require, backend="egl")
    except Exception as exc:  # moderngl/glcontext raise bare Exceptions for missing libraries
        raise GLUnavailableError(_MISSING_GL_HELP.format(error=exc)) from exc


def release_context(ctx: moderngl.Context) -> None:
    """Release a headless context and leave no EGL context current on this thread."""
    ctx.release()
    release_egl_thread()


def release_egl_thread() -> None:
    """Un-make any EGL context current on this thread. moderngl's ``release`` leaves a headless
    context current, and a GLFW (GLX) window later made current on the same thread is then
    refused by the X server (BadAccess), which ends the process. Nothing happens when EGL was
    never loaded."""
    import ctypes
    import os

    try:
        egl = ctypes.CDLL("libEGL.so.1", mode=os.RTLD_NOLOAD)
    except OSError:
        return
    egl.eglReleaseThread()


def _shader_directories() -> list[Path]:
    package = Path(vj.__file__).resolve().parent
    # A source checkout keeps shaders/ beside the package; an installed wheel may ship them inside it.
    return [package.parent / "shaders", package / "shaders"]


def shader_path(name: str) -> Path:
    """The file for shader ``name`` (``"warp"`` → ``shaders/warp.glsl``); the one place shaders are looked up."""
    filename = name if name.endswith(".glsl") else f"{name}.glsl"
    searched = _shader_directories()
    for directory in searched:
        candidate = directory / filename
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"shader '{filename}' not found; looked in {', '.join(str(d) for d in searched)}")


def load_shader_source(name: str) -> str:
    """The GLSL text of shader ``name`` (see ``shader_path``)."""
    return shader_path(name).read_text(encoding="utf-8")


class Readback8:
    """Reads a float texture back as H×W×3 uint8 (row 0 at the top) through an RGBA8 framebuffer:
    GL converts and rounds while blitting, so a quarter of the bytes cross and numpy does no float
    work. For outputs (the rehearsal's encoder), allocated once."""

    def __init__(self, ctx: moderngl.Context, width: int, height: int) -> None:
        self.ctx = ctx
        self.size = (width, height)
        self._texture = ctx.texture((width, height), 4, dtype="f1")
        self.framebuffer = ctx.framebuffer(color_attachments=[self._texture])
        self._sources: dict[int, moderngl.Framebuffer] = {}

    def read(self, texture: moderngl.Texture) -> np.ndarray:
        if texture.size != self.size:
            raise ValueError(f"texture is {texture.size}, readback is {self.size}")
        source = self._sources.get(texture.glo)
        if source is None:
            source = self._sources[texture.glo] = self.ctx.framebuffer(color_attachments=[texture])
        self.ctx.copy_framebuffer(self.framebuffer, source)
        raw = self.framebuffer.read(components=3, alignment=1)
        width, height = self.size
        return np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)[::-1].copy()

    def release(self) -> None:
        for framebuffer in self._sources.values():
            framebuffer.release()
        self.framebuffer.release()
        self._texture.release()


class LaterReadback:
    """Reads a float texture back as RGBA8 a frame later, never waiting on the GPU: ``start``
    converts it by a framebuffer blit (GL rounds; a tenth of a shader pass's cost on a software
    GL) and queues a read into a pixel buffer; ``take`` returns the bytes of the last ``start``
    (H×W×4 uint8, GL row order: bottom row first), by when they have landed. For the outputs that
    must not slow the display: the live recording and the frame sinks. Allocated on first use in
    the context of the first texture."""

    def __init__(self, width: int, height: int) -> None:
        self.size = (width, height)
        self._gl: tuple[moderngl.Texture, moderngl.Framebuffer, moderngl.Buffer] | None = None
        self._sources: dict[int, moderngl.Framebuffer] = {}
        self._pending = False

    def start(self, texture: moderngl.Texture) -> None:
        ctx = texture.ctx
        if self._gl is None:
            target = ctx.texture(self.size, 4, dtype="f1")
            self._gl = (target, ctx.framebuffer(color_attachments=[target]),
                        ctx.buffer(reserve=self.size[0] * self.size[1] * 4))
        target, framebuffer, buffer = self._gl
        source = self._sources.get(texture.glo)
        if source is None:   # a framebuffer over each texture handed in (the stage reuses one or two)
            if len(self._sources) >= 8:
                for old in self._sources.values():
                    old.release()
                self._sources.clear()
            source = self._sources[texture.glo] = ctx.framebuffer(color_attachments=[texture])
        ctx.copy_framebuffer(framebuffer, source)
        target.read_into(buffer, alignment=1)
        self._pending = True

    def take(self) -> bytes | None:
        """The last ``start``'s bytes (None when there is none since the last ``take``)."""
        if not self._pending or self._gl is None:
            return None
        self._pending = False
        return self._gl[2].read()

    def release(self) -> None:
        target, framebuffer, buffer = self._gl or (None, None, None)
        for part in (*self._sources.values(), framebuffer, target, buffer):
            if part is None:
                continue
            try:
                part.release()
            except Exception:  # its context is gone with the window
                pass
        self._sources.clear()
        self._gl = None
        self._pending = False


class RenderTarget:
    """A texture and the framebuffer that draws into it: RGBA32F, allocated once and reused.

    Frame-time code draws into targets made in ``prepare``/``__init__`` so a frame allocates no GL
    memory. Textures clamp at the edges and filter linearly (for scaled display).
    """

    def __init__(self, ctx: moderngl.Context, width: int, height: int) -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f"render target size must be positive, got {width}x{height}")
        self.ctx = ctx
        self.texture = ctx.texture((width, height), 4, dtype="f4")
        self.texture.repeat_x = False
        self.texture.repeat_y = False
        self.texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self.framebuffer = ctx.framebuffer(color_attachments=[self.texture])
        self._tensor_upload: Any = None      # vj.render.cuda_interop strategies, made on first use
        self._upload_framebuffer: Any = None
        self._download: Any = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.texture.size

    @property
    def width(self) -> int:
        return self.texture.width

    @property
    def height(self) -> int:
        return self.texture.height

    def write_array(self, image: np.ndarray) -> None:
        """Upload an H×W×3 (or ×4) float image, row 0 at the top, into this target's texture."""
        height, width = image.shape[:2]
        if (width, height) != self.size:
            raise ValueError(f"image is {width}x{height}, target is {self.width}x{self.height}")
        rgba = np.ones((height, width, 4), dtype=np.float32)
        rgba[:, :, : image.shape[2]] = image[::-1, :, :4]
        self.texture.write(rgba.tobytes())

    def read_array(self) -> np.ndarray:
        """H×W×4 float32, row 0 at the top (a GPU sync: for outputs and tests, not the render loop)."""
        raw = np.frombuffer(self.texture.read(), dtype=np.float32)
        return raw.reshape(self.height, self.width, 4)[::-1].copy()

    def write_tensor(self, tensor: Any, stream: Any = None) -> None:
        """Write a 1×3×H×W torch frame (0..1, row 0 at the top) into this target without a host
        round trip where CUDA–GL interop works (``vj.render.cuda_interop``): converted to RGBA8 on
        its device, copied into an RGBA8 texture, then blitted into this one on the GPU. The
        strategy is chosen on the first call and kept (``upload_path`` names it)."""
        from vj.render.cuda_interop import make_tensor_upload

        if self._tensor_upload is None or self._tensor_upload.device != tensor.device:
            self._release_tensor_upload()
            self._tensor_upload = make_tensor_upload(self.ctx, self.width, self.height, tensor.device)
            self._upload_framebuffer = self.ctx.framebuffer(color_attachments=[self._tensor_upload.texture])
        self._tensor_upload.upload(tensor, stream)
        self.ctx.copy_framebuffer(self.framebuffer, self._upload_framebuffer)

    @property
    def upload_path(self) -> str | None:
        """How ``write_tensor`` moves pixels ("cuda-gl interop", "pinned PBO", "host"), once used."""
        return None if self._tensor_upload is None else self._tensor_upload.path

    def read_tensor(self, device: Any, stream: Any = None) -> Any:
        """This target's pixels as a new 1×3×H×W float32 tensor on ``device`` (row 0 at the top):
        device to device through interop on CUDA, else one texture read through the host."""
        import torch

        from vj.render.cuda_interop import TextureDownload

        if self._download is None or self._download.device != torch.device(device):
            if self._download is not None:
                self._download.release()
            self._download = TextureDownload(self.texture, device)
        return self._download.read(stream)

    def _release_tensor_upload(self) -> None:
        if self._upload_framebuffer is not None:
            self._upload_framebuffer.release()
            self._upload_framebuffer = None
        if self._tensor_upload is not None:
            self._tensor_upload.release()
            self._tensor_upload = None

    def release(self) -> None:
        self._release_tensor_upload()
        if self._download is not None:
            self._download.release()
            self._download = None
        self.framebuffer.release()
        self.texture.release()


class TargetPool:
    """Named render targets that are reallocated only when their size changes."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self._targets: dict[str, RenderTarget] = {}

    def get(self, name: str, width: int, height: int) -> RenderTarget:
        """The target called ``name`` at this size (the same object every call while the size holds)."""
        target = self._targets.get(name)
        if target is None or target.size != (width, height):
            if target is not None:
                target.release()
            target = self._targets[name] = RenderTarget(self.ctx, width, height)
        return target

    def release(self) -> None:
        for target in self._targets.values():
            target.release()
        self._targets.clear()


class Program:
    """A fullscreen pass: the shared vertex shader plus one fragment shader file, drawn as one triangle.

    Set uniforms with ``set`` (unknown or optimised-away names are ignored, so a shader may drop a
    uniform without breaking its Python side), bind textures with ``bind``, then ``draw`` into a
    ``RenderTarget`` or any framebuffer (``ctx.screen`` in a window).
    """

    def __init__(self, ctx: moderngl.Context, fragment: str, vertex: str = FULLSCREEN_VERTEX) -> None:
        self.ctx = ctx
        self.name = fragment
        try:
            self.program = ctx.program(vertex_shader=load_shader_source(vertex),
                                       fragment_shader=load_shader_source(fragment))
        except moderngl.Error as exc:
            raise RuntimeError(f"shader '{fragment}' failed to compile: {exc}") from exc
        self.vertex_array = ctx.vertex_array(self.program, [])
        self._samplers: dict[str, int] = {}

    def has(self, name: str) -> bool:
        """Whether the linked program still uses uniform ``name``."""
        return name in self.program

    def set(self, name: str, value: Any) -> None:
        """Set a uniform (a number or a tuple); names the compiler removed are ignored."""
        if name in self.program:
            self.program[name].value = value

    def write(self, name: str, data: bytes) -> None:
        """Set a uniform from raw bytes (matrices: column-major float32)."""
        if name in self.program:
            self.program[name].write(data)

    def bind(self, name: str, texture: moderngl.Texture) -> None:
        """Bind ``texture`` to sampler ``name`` (each sampler keeps its own texture unit)."""
        unit = self._samplers.get(name)
        if unit is None:
            unit = self._samplers[name] = len(self._samplers)
            self.set(name, unit)
        texture.use(location=unit)

    def draw(self, target: "RenderTarget | moderngl.Framebuffer") -> None:
        """One draw call covering the whole target."""
        framebuffer = target.framebuffer if isinstance(target, RenderTarget) else target
        framebuffer.use()
        self.ctx.disable(moderngl.BLEND)   # a window's HUD may leave blending on; passes replace pixels
        self.vertex_array.render(moderngl.TRIANGLES, vertices=3)

    def release(self) -> None:
        self.vertex_array.release()
        self.program.release()
