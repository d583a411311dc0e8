"""Display-side GL for the live show: warp the generator frames by the camera motion since they
were made, crossfade, grade (post, blackout) and draw letterboxed into the window."""
from __future__ import annotations

from typing import Any

import numpy as np

from vj.frame_params import FrameParams
from vj.render.window import letterbox


class Compositor:
    """Display-side GL: warp the generator frames by the motion since they were made, crossfade,
    grade, and draw letterboxed into the window. Targets are allocated once."""

    def __init__(self, ctx: Any, width: int, height: int) -> None:
        from vj.render.gl import RenderTarget
        from vj.render.passes import CrossfadePass, PostPass, WarpPass

        self.ctx = ctx
        self.width, self.height = width, height
        self.warp = WarpPass(ctx)
        self.crossfade = CrossfadePass(ctx)
        self.post = PostPass(ctx)
        self.moved = [RenderTarget(ctx, width, height), RenderTarget(ctx, width, height)]
        self.mixed = RenderTarget(ctx, width, height)
        self.output = RenderTarget(ctx, width, height)

    def compose(self, a: Any | None, delta_a: np.ndarray, b: Any, delta_b: np.ndarray, mix: float,
                border: str, params: FrameParams) -> Any:
        """The graded output picture (output-size texture)."""
        moved_b = self.warp.apply(b, delta_b, border, self.moved[1])
        picture = moved_b
        if a is not None and mix < 1.0:
            moved_a = self.warp.apply(a, delta_a, border, self.moved[0])
            picture = self.crossfade.apply(moved_a, moved_b, mix, self.mixed)
        return self.post.apply(picture, params.post, self.output)

    def black(self) -> Any:
        self.output.framebuffer.use()
        self.ctx.clear(0.0, 0.0, 0.0, 1.0)
        return self.output.texture

    def present(self, picture: Any, window_size: tuple[int, int], screen: Any = None) -> None:
        """Draw the output picture letterboxed into the window (black bars); ``screen``: the
        display's framebuffer (the window's default one unless given)."""
        screen = screen if screen is not None else self.ctx.screen
        screen.use()
        screen.viewport = (0, 0, *window_size)
        self.ctx.clear(0.0, 0.0, 0.0, 1.0)
        screen.viewport = letterbox(window_size, (self.width, self.height))
        self.crossfade.apply(picture, picture, 0.0, screen)
        screen.viewport = (0, 0, *window_size)

    def release(self) -> None:
        for target in (*self.moved, self.mixed, self.output):
            target.release()
        for p in (self.warp, self.crossfade, self.post):
            p.release()


__all__ = ["Compositor"]
