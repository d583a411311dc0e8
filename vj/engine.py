"""The frame pipeline shared by rehearsal and live: move the previous frame by the camera,
make the next one with the generator, apply the post settings.

A generator failure during a show never stops the render: the pipeline switches to the
procedural generator and carries on from the last good frame.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

from vj.camera import warp_matrix_2d
from vj.frame import Frame
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
        self.previous: Frame | None = None
        self.failures = 0

    def reset(self) -> None:
        """Start again from the generator's first frame (a new song)."""
        self.previous = None

    def move(self, frame: Frame, params: FrameParams) -> Frame:
        """The camera stage: the previous frame moved by this frame's motion."""
        texture = upload(frame, self._previous_upload)
        if params.camera.mode == "3d":
            return Frame(texture=self._reproject(frame, texture, params))
        matrix = warp_matrix_2d(params.camera, self.width, self.height)
        return Frame(texture=self.warp.apply(texture, matrix, params.border, self._moved))

    def _reproject(self, frame: Frame, texture: "moderngl.Texture", params: FrameParams) -> "moderngl.Texture":
        from vj.render.reproject import ReprojectPass  # 3D only: loaded when a song asks for it
        from vj.depth import load_depth_provider

        if self._reprojector is None:
            self._reprojector = ReprojectPass(self.ctx)
            self._depth = load_depth_provider(self.context.options.get("depth", "plane"))
        depth = self._depth.estimate(frame, params.camera)
        return self._reprojector.apply(texture, depth, params.camera, params.border, self._moved)

    def render(self, params: FrameParams) -> Frame:
        """Make frame ``params.index``; returns the post-processed frame (the previous frame for
        the next call is kept before post, so post settings never feed back)."""
        previous = self.previous if self.previous is not None else self.generator.first_frame(params)
        moved = self.move(previous, params)
        try:
            made = self.generator.step(moved, params)
        except Exception as exc:  # any generator failure: degrade, never stop the show
            made = self._recover(exc, moved, params)
        self.previous = made
        return Frame(texture=self.post.apply(upload(made, self._made_upload), params.post, self._output))

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
        self.generator.close()
