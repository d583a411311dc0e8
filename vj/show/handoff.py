"""The generator thread and how its frames reach the display's GL context.

The generator runs as fast as it can in its own thread (15–60 fps for a diffusion model); the
display runs at the monitor's rate and never waits for it. They meet in two latest-wins slots:

- the display posts a ``Request`` each frame: the newest ``FrameParams`` and the camera motion
  accumulated since the generator last took one (so the generator's own warp of its previous
  frame covers exactly the motion between its two frames);
- the generator posts a ``GeneratedFrame``: which texture slot holds it and which display frame's
  camera pose it was made at (so the display can re-apply the motion since then).

How pixels travel is a strategy chosen once (the HUD names it):

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

import contextlib
import logging
import math
import sys
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from vj.render.frame import Frame
from vj.frame_params import CameraMotion, FrameParams, PostSettings

log = logging.getLogger(__name__)

#: Slot textures: two on screen (crossfade from/to), one published, one being written.
SLOTS = 4


def motion_from_matrix(matrix: np.ndarray, width: int, height: int) -> CameraMotion:
    """The 2D CameraMotion whose ``warp_matrix_2d`` is ``matrix`` (a similarity transform about the
    centre followed by a translation, which any product of 2D camera steps is)."""
    a, b = float(matrix[0, 0]), float(matrix[0, 1])
    zoom = math.hypot(a, b)
    angle = math.degrees(math.atan2(b, a))
    cx, cy = width / 2.0, height / 2.0
    rhs = np.array([matrix[0, 2] - ((1.0 - a) * cx - b * cy), matrix[1, 2] - (b * cx + (1.0 - a) * cy)])
    tx, ty = np.linalg.solve(np.array([[a, b], [-b, a]]), rhs) if zoom > 1e-9 else (0.0, 0.0)
    return CameraMotion(mode="2d", zoom=zoom, angle=angle, translation_x=float(tx), translation_y=float(ty))


@dataclass(frozen=True)
class Request:
    """What the display asks the generator to make next."""

    params: FrameParams
    motion: np.ndarray        # forward 3×3: camera motion since the generator's previous request
    frames: float             # setlist frames of 3D motion accumulated (3D mode scales params.camera)
    display_index: int        # the display frame whose camera pose this request represents


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
        self.gen_ctx.release()


class FrameStream:
    """One dedicated CUDA stream for everything a generator frame does (model, TensorRT engines,
    the tensor → GL copy), never the legacy default stream, on which TensorRT adds a
    synchronisation per call and every kernel serialises with every other stream.

    ``frame()`` makes it the thread's current stream for one frame, after a GPU-side wait for the
    default stream (so work a model's ``prepare`` queued there, on another thread, is ordered
    first). Without torch imported, or without CUDA, it does nothing: a procedural show never
    imports torch for this."""

    def __init__(self) -> None:
        self.stream: Any = None
        self._checked = False

    def frame(self) -> Any:
        torch = sys.modules.get("torch")   # imported by a model's loader, if any; never imported here
        if torch is None:
            return contextlib.nullcontext()
        if not self._checked:
            self._checked = True
            if torch.cuda.is_available():
                self.stream = torch.cuda.Stream()
                log.info("generator frames run on a dedicated CUDA stream")
        if self.stream is None:
            return contextlib.nullcontext()
        self.stream.wait_stream(torch.cuda.default_stream(self.stream.device))
        return torch.cuda.stream(self.stream)


class GeneratorWorker:
    """Runs ``make_pipeline(ctx)`` (an ``engine.FramePipeline``) in its own thread on the newest request."""

    def __init__(self, handoff: Any, make_pipeline: Callable[[Any], Any], width: int, height: int) -> None:
        self.handoff = handoff
        self._make_pipeline = make_pipeline
        self.width, self.height = width, height
        self._lock = threading.Lock()   # held only to swap a reference or two, never across work
        self._request: Request | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.latest: GeneratedFrame | None = None
        self._in_use: tuple[int, ...] = ()
        self._reset = False
        self.frames = 0
        self.superseded = 0
        self.fps = 0.0
        self.warming = False            # a model still loading (the procedural generator plays meanwhile)
        self.generator_name = "?"       # the generator that made the latest frame
        self.notice: str | None = None  # the generator's own line for the HUD (e.g. a compile fell back to eager)
        self._frame_stream = FrameStream()
        self._thread = threading.Thread(target=self._run, name="vj-generator", daemon=True)

    def start(self) -> None:
        self._thread.start()

    # ---- display side ----------------------------------------------------------------------

    def post(self, params: FrameParams, step: np.ndarray, frames: float, display_index: int) -> None:
        """Offer the newest parameters; motion accumulates until the generator takes a request."""
        with self._lock:
            pending = self._request
            if pending is not None:
                step = step @ pending.motion
                frames += pending.frames
            self._request = Request(params, step, frames, display_index)
        self._wake.set()

    def take_latest(self, showing: tuple[int, ...]) -> GeneratedFrame | None:
        """The newest finished frame (None when nothing new), and which slots the display holds."""
        with self._lock:
            frame, self.latest = self.latest, None
            self._in_use = showing + ((frame.slot,) if frame else ())
        return frame

    def reset(self) -> None:
        """Start the generator again from its first frame (a new song)."""
        self._reset = True

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10.0)

    # ---- generator thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            ctx = self.handoff.generator_context()
            pipeline = self._make_pipeline(ctx)
        except BaseException as exc:  # reported to the display thread, which decides
            log.exception("the generator could not start")
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        average = None
        try:
            while not self._stop.is_set():
                self._wake.wait(0.1)
                self._wake.clear()
                with self._lock:
                    request, self._request = self._request, None
                    slot = self._free_slot()
                if request is None:
                    continue
                if slot is None:  # the display holds every slot (frozen, or busy): try again shortly
                    with self._lock:  # put it back, merged under any newer one so no motion is lost
                        newer = self._request
                        self._request = request if newer is None else Request(
                            newer.params, newer.motion @ request.motion, newer.frames + request.frames,
                            newer.display_index)
                    self._stop.wait(0.005)
                    continue
                if self._reset:
                    self._reset = False
                    pipeline.reset()
                started = time.monotonic()
                params = self._generator_params(request)
                with self._frame_stream.frame():
                    frame = pipeline.render(params)
                    self.warming = getattr(pipeline, "warming", False)
                    self.generator_name = getattr(pipeline.generator, "name", "?")
                    self.notice = getattr(pipeline.generator, "notice", None)
                    pixels = self.handoff.publish(frame, slot)
                done = time.monotonic()
                made = GeneratedFrame(slot, request.display_index, request.params.time, done, done - started, pixels)
                with self._lock:
                    self.latest = made
                self.frames += 1
                average = (done - started) if average is None else 0.9 * average + 0.1 * (done - started)
                self.fps = 1.0 / max(average, 1e-6)
        except BaseException as exc:  # FramePipeline already degrades to procedural; this is worse
            log.exception("the generator thread stopped")
            self.error = exc
        finally:
            try:
                pipeline.close()
            finally:
                self.handoff.generator_done()

    def _free_slot(self) -> int | None:
        """A slot the display is not showing (call with the lock held). A published frame the
        display has not taken yet is superseded: its slot is reused and it counts as dropped."""
        busy = set(self._in_use)
        if self.latest is not None:
            busy.add(self.latest.slot)
        for slot in range(SLOTS):
            if slot not in busy:
                return slot
        if self.latest is not None:
            slot, self.latest = self.latest.slot, None
            self.superseded += 1
            return slot
        return None

    def _generator_params(self, request: Request) -> FrameParams:
        """The request's parameters with the accumulated camera motion and neutral post (post is
        applied at display rate, so blackout and flashes never wait for the generator)."""
        params = request.params
        if params.camera.mode == "2d":
            camera = motion_from_matrix(request.motion, self.width, self.height)
        else:
            c, n = params.camera, max(request.frames, 0.0)
            camera = replace(c, zoom=c.zoom ** n, angle=c.angle * n, translation_x=c.translation_x * n,
                             translation_y=c.translation_y * n, translation_z=c.translation_z * n,
                             rotation_3d_x=c.rotation_3d_x * n, rotation_3d_y=c.rotation_3d_y * n,
                             rotation_3d_z=c.rotation_3d_z * n)
        return replace(params, camera=camera, post=PostSettings())


__all__ = ["FrameStream", "GeneratedFrame", "GeneratorWorker", "HostUploadHandoff", "Request", "SharedTextureHandoff",
           "motion_from_matrix", "SLOTS"]
