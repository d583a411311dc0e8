"""The frame pipeline shared by rehearsal and live: move the previous frame by the camera,
make the next one with the generator, apply the post settings.

A generator failure during a show never stops the render: the pipeline switches to the
procedural generator and carries on from the last good frame.
"""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Callable

import numpy as np

from vj.camera.motion2d import warp_matrix_2d
from vj.camera.motion3d import scaled_motion
from vj.render.frame import Frame
from vj.frame_params import FrameParams
from vj.generators.base import Generator, GeneratorContext
from vj.render.gl import RenderTarget
from vj.render.passes import PostPass, WarpPass, upload

if TYPE_CHECKING:
    import moderngl

log = logging.getLogger(__name__)


class FramePipeline:
    """warp (camera) → generator → post, on one GL context. Allocates its targets once."""

    def __init__(self, ctx: "moderngl.Context", context: GeneratorContext, generator: Generator,
                 fallback: Callable[[], Generator] | None = None) -> None:
        self.ctx = ctx
        self.context = context
        self.width, self.height = context.width, context.height
        self.generator = generator
        self._fallback = fallback
        self.warp = WarpPass(ctx)
        self.post = PostPass(ctx)
        self._moved = RenderTarget(ctx, self.width, self.height)
        self._output = RenderTarget(ctx, self.width, self.height)
        # Host frames (a diffusion model's output) are written into these, never into new textures.
        self._previous_upload = RenderTarget(ctx, self.width, self.height)
        self._made_upload = RenderTarget(ctx, self.width, self.height)
        self._reprojector = None
        self._depth = None
        self._depth_key: str | None = None
        self.previous: Frame | None = None
        self.failures = 0
        self._pending: tuple[Generator, threading.Thread, list[BaseException]] | None = None

    def reset(self) -> None:
        """Start again from the generator's first frame (a new song): the generator forgets its
        own state too (a diffusion model's colour-coherence reference, a procedural seed)."""
        self.previous = None
        reset = getattr(self.generator, "reset", None)
        if reset is not None:
            try:
                reset()
            except Exception:  # a generator that cannot start over keeps playing, as after any failure
                log.exception("generator '%s' could not reset for the new song", self.generator.name)

    def move(self, frame: Frame, params: FrameParams, motion: np.ndarray | None = None,
             frames: float = 1.0) -> Frame:
        """The camera stage: the previous frame moved by this frame's motion — or, live, by
        ``motion`` (the 2D matrix the display accumulated since the generator's last frame) or
        ``frames`` setlist frames of 3D motion."""
        texture = upload(frame, self._previous_upload)
        if params.camera.mode == "3d":
            return Frame(texture=self._reproject(frame, texture, params, frames))
        matrix = warp_matrix_2d(params.camera, self.width, self.height) if motion is None else motion
        return Frame(texture=self.warp.apply(texture, matrix, params.border, self._moved))

    def _reproject(self, frame: Frame, texture: "moderngl.Texture", params: FrameParams,
                   frames: float) -> "moderngl.Texture":
        from vj.render.reproject import ReprojectPass  # 3D only: loaded when a song asks for it
        from vj.depth import load_depth_provider

        if self._reprojector is None:
            self._reprojector = ReprojectPass(self.ctx)
        spec = params.depth if params.depth is not None else self.context.options.get("depth", "plane")
        key = repr(spec)
        if key != self._depth_key:  # a new song with other depth: load its provider (once per song)
            if self._depth is not None:
                self._depth.close()
            self._depth, self._depth_key = load_depth_provider(spec), key
        camera = scaled_motion(params.camera, frames)
        depth = self._depth.estimate(frame, camera)
        return self._reprojector.apply(texture, depth, camera, params.border, self._moved)

    def warm_start(self, generator: Generator) -> None:
        """Live: keep rendering with the current (procedural) generator while ``generator`` loads
        in the background, and switch to it on the first frame after it is ready — a model that
        takes seconds to load never holds the projector on black. If it fails to load, the show
        stays on the current generator and says why."""
        failures: list[BaseException] = []

        def prepare() -> None:
            try:
                generator.prepare(self.context)
            except BaseException as exc:  # reported on the render thread by _adopt_pending
                failures.append(exc)

        thread = threading.Thread(target=prepare, name=f"vj-prepare-{generator.name}", daemon=True)
        self._pending = (generator, thread, failures)
        thread.start()

    @property
    def warming(self) -> bool:
        """True while a generator given to ``warm_start`` is still loading."""
        return self._pending is not None

    def _adopt_pending(self) -> None:
        generator, thread, failures = self._pending  # type: ignore[misc]
        if thread.is_alive():
            return
        self._pending = None
        if failures:
            log.error("generator '%s' failed to prepare (%s); staying on '%s'", generator.name, failures[0],
                      self.generator.name)
            return
        log.info("generator '%s' ready: switching from '%s'", generator.name, self.generator.name)
        if self.previous is not None:  # it may live in the old generator's targets: keep a copy
            self.previous = Frame(array=self.previous.to_array())
        old, self.generator = self.generator, generator
        try:
            old.close()
        except Exception:  # the old one is done with either way
            log.exception("closing generator '%s'", old.name)

    def render(self, params: FrameParams, *, motion: np.ndarray | None = None, frames: float = 1.0,
               post: bool = True) -> Frame:
        """Make frame ``params.index``; returns the post-processed frame (the previous frame for
        the next call is kept before post, so post settings never feed back). ``motion`` and
        ``frames`` as for ``move``; ``post=False`` leaves post to the display (live grades at
        display rate, so a blackout never waits for the generator)."""
        if self._pending is not None:
            self._adopt_pending()
        previous = self.previous if self.previous is not None else self.generator.first_frame(params)
        moved = self.move(previous, params, motion, frames)
        try:
            made = self.generator.step(moved, params)
        except Exception as exc:  # any generator failure: degrade, never stop the show
            made = self._recover(exc, moved, params)
        self.previous = made
        texture = upload(made, self._made_upload)
        return Frame(texture=self.post.apply(texture, params.post, self._output) if post else texture)

    def _recover(self, exc: Exception, moved: Frame, params: FrameParams) -> Frame:
        self.failures += 1
        if self._fallback is None:
            raise exc
        log.error("generator '%s' failed (%s); switching to the procedural generator on the last good frame",
                  self.generator.name, exc)
        try:
            self.generator.close()
        except Exception:  # closing a broken generator may fail too; the show goes on
            log.exception("closing the failed generator")
        self.generator = self._fallback()
        self._fallback = None
        self.generator.prepare(self.context)
        return self.generator.step(moved, params)

    def close(self) -> None:
        if self._pending is not None:  # a model still loading: let it finish, then close it too
            generator, thread, failures = self._pending
            thread.join()
            self._pending = None
            if not failures:
                generator.close()
        if self._depth is not None:
            self._depth.close()
            self._depth = None
        self.generator.close()
