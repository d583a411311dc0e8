"""How generator frames reach the display's GL context: a strategy chosen once (the HUD names it).

- ``SharedTextureHandoff``: the generator's GL context shares textures with the window's (a
  hidden GLFW window); frames are copied GPU-side into one of four slot textures. Zero host copies.
  The copy is followed by a GL fence, flushed; the display makes its own GPU queue wait on that
  fence (``glWaitSync``) before sampling the slot, so neither thread blocks (no ``finish()``).
- ``HostUploadHandoff``: the generator has its own headless context; frames come back to host
  memory **once, as RGBA8** (a quarter of the float32 bytes, converted by GL while blitting), and
  the display uploads them through alternating pixel-buffer objects guarded by fences
  (``vj.render.cuda_interop.PixelBufferUpload``).

A CUDA frame reaches the generator's GL context before either of these: ``FramePipeline`` writes
it into a render target with ``RenderTarget.write_tensor``, which copies device to device through
CUDA–GL interop (or through a pinned RGBA8 buffer where interop is unavailable); see
``vj.render.cuda_interop``.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from vj.render.frame import Frame

#: Slot textures: two on screen (crossfade from/to), one published, one being written.
SLOTS = 4


@dataclass(frozen=True)
class GeneratedFrame:
    """A finished generator frame, ready for the display."""

    slot: int
    display_index: int
    params_time: float
    made_at: float            # time.monotonic() when it was published
    seconds: float            # how long the generator took
    pixels: np.ndarray | None = None   # host path only: H×W×4 uint8, GL row order (bottom row first)


class SharedTextureHandoff:
    """Generator and display share GL objects through a shared context: a GPU-side copy per frame."""

    label = "shared GL texture (no host copy)"

    def __init__(self, window: Any, width: int, height: int) -> None:
        self.window = window
        self.width, self.height = width, height
        self._hidden = window.make_shared_context()
        self._display_textures: list[Any] = []
        self._slots: list[Any] = []
        self._fbos: dict[int, Any] = {}
        self.gen_ctx: Any = None
        self._fences: dict[int, int] = {}   # slot → GL fence after its last copy (0: none)
        self._fence_lock = threading.Lock()
        self._sync: Any = None

    def generator_context(self) -> Any:
        """Generator thread: make the shared context current there and return a moderngl context."""
        import glfw
        import moderngl

        glfw.make_context_current(self._hidden)
        self.gen_ctx = moderngl.create_context()
        from vj.render.gl import RenderTarget

        self._slots = [RenderTarget(self.gen_ctx, self.width, self.height) for _ in range(SLOTS)]
        self.gen_ctx.finish()   # once, at start-up: the slots exist before the display names them
        from vj.render.cuda_interop import GLSync

        self._sync = GLSync.load()
        return self.gen_ctx

    def publish(self, frame: Frame, slot: int) -> np.ndarray | None:
        """Generator thread: copy the frame into ``slot`` and fence the copy (flushed, so the
        display's wait on it can complete); without fences, wait for the GPU as before."""
        texture = frame.to_texture(self.gen_ctx)
        source = self._fbos.get(texture.glo)
        if source is None:
            source = self._fbos[texture.glo] = self.gen_ctx.framebuffer(color_attachments=[texture])
        self.gen_ctx.copy_framebuffer(self._slots[slot].framebuffer, source)
        if self._sync is None:
            self.gen_ctx.finish()  # the display may sample the slot as soon as it is published
            return None
        fence = self._sync.fence()
        self._sync.flush()
        with self._fence_lock:
            stale = self._fences.get(slot, 0)
            self._fences[slot] = fence
        if stale:   # a superseded frame's fence the display never waited on
            self._sync.delete(stale)
        return None

    def display_texture(self, ctx: Any, frame: GeneratedFrame) -> Any:
        """Display thread: the slot's texture as an object of the window's context; the window's
        GPU queue waits for the generator's copy into it (no host block)."""
        with self._fence_lock:
            fence = self._fences.pop(frame.slot, 0)
        if fence and self._sync is not None:
            self._sync.gpu_wait(fence)
            self._sync.delete(fence)   # deleted once no longer waited on (GL keeps it until then)
        if not self._display_textures:
            self._display_textures = [ctx.external_texture(s.texture.glo, (self.width, self.height), 4, 0, "f4")
                                      for s in self._slots]
            for texture in self._display_textures:
                texture.repeat_x = texture.repeat_y = False
        return self._display_textures[frame.slot]

    def generator_done(self) -> None:
        import glfw

        if self._sync is not None:
            with self._fence_lock:
                fences, self._fences = list(self._fences.values()), {}
            for fence in fences:
                self._sync.delete(fence)
        for fbo in self._fbos.values():
            fbo.release()
        for slot in self._slots:
            slot.release()
        if self.gen_ctx is not None:
            self.gen_ctx.release()
        glfw.make_context_current(None)


class HostUploadHandoff:
    """The generator renders in its own headless context; pixels go through host memory once, as
    RGBA8: GL converts while blitting into an RGBA8 framebuffer on the generator side, and the
    display uploads through alternating pixel-buffer objects guarded by GL fences."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.gen_ctx: Any = None
        self._readback: Any = None
        self._sources: dict[int, Any] = {}
        self._uploads: list[Any] = []
        self.label = "host upload (RGBA8, PBO)"

    def generator_context(self) -> Any:
        from vj.render.gl import create_headless_context

        self.gen_ctx = create_headless_context()
        self._readback = self.gen_ctx.texture((self.width, self.height), 4, dtype="f1")
        self._readback_fbo = self.gen_ctx.framebuffer(color_attachments=[self._readback])
        return self.gen_ctx

    def publish(self, frame: Frame, slot: int) -> np.ndarray:
        """Generator thread: the frame as H×W×4 uint8 in GL row order (one readback, 4 bytes/pixel)."""
        texture = frame.texture_in(self.gen_ctx)
        if texture is None:   # a host or tensor frame (not drawn by the pipeline): convert here
            return self._host_rgba8(frame)
        source = self._sources.get(texture.glo)
        if source is None:
            source = self._sources[texture.glo] = self.gen_ctx.framebuffer(color_attachments=[texture])
        self.gen_ctx.copy_framebuffer(self._readback_fbo, source)
        raw = self._readback_fbo.read(components=4, alignment=1)
        return np.frombuffer(raw, dtype=np.uint8).reshape(self.height, self.width, 4)

    def _host_rgba8(self, frame: Frame) -> np.ndarray:
        rgba = np.full((self.height, self.width, 4), 255, dtype=np.uint8)
        rgba[:, :, :3] = frame.to_uint8()[::-1]
        return rgba

    def display_texture(self, ctx: Any, frame: GeneratedFrame) -> Any:
        from vj.render.cuda_interop import PixelBufferUpload

        if not self._uploads:
            self._uploads = [PixelBufferUpload(ctx, self.width, self.height) for _ in range(SLOTS)]
        upload = self._uploads[frame.slot]
        if frame.pixels is not None:
            upload.upload(frame.pixels)
        return upload.texture

    def generator_done(self) -> None:
        if self.gen_ctx is None:
            return
        with self.gen_ctx:   # GL deletes by name in the *current* context: make it ours first
            for source in self._sources.values():
                source.release()
            if self._readback is not None:
                self._readback_fbo.release()
                self._readback.release()
        from vj.render.gl import release_context

        release_context(self.gen_ctx)


__all__ = ["GeneratedFrame", "HostUploadHandoff", "SharedTextureHandoff", "SLOTS"]
