"""``vj rehearse --preview``: watch a rehearsal as it renders, and steer it from OSC and MIDI.

The frames are rendered in the preview window's own GL context (no second, headless context)
and written to the MP4 as usual, so what the window showed is what the file holds. While a
controller moves parameters the render follows them, so a steered preview is not repeatable:
leave the controllers alone for a bit-exact rehearsal.

Keys are the live ones (docs/live.md): → / ← cue, B blackout, Esc or closing the window stops
the rehearsal and keeps what was rendered so far (a shorter MP4 with its audio cut to match).
"""
from __future__ import annotations

import logging
from typing import Any

from vj.director.director import Director
from vj.frame_params import FrameParams

log = logging.getLogger(__name__)

#: The longest side of the preview window, in pixels (the picture is letterboxed into it).
PREVIEW_SIDE = 768


class RehearsalPreview:
    """The rehearsal's window: an output of the show loop that draws each frame, the keys and
    the OSC/MIDI surface that may steer the render, and the surface's feedback."""

    def __init__(self, title: str, size: tuple[int, int], director: Director, surface: Any = None) -> None:
        from vj.control.params import ParamStore
        from vj.render.passes import CrossfadePass
        from vj.render.window import OutputWindow

        scale = min(1.0, PREVIEW_SIDE / max(size))
        self.window = OutputWindow(title, (max(64, int(size[0] * scale)), max(64, int(size[1] * scale))), vsync=False)
        self.ctx = self.window.ctx
        self.size = size
        self.director = director
        self.surface = surface
        self.store = surface.store if surface is not None else ParamStore()
        self._blit = CrossfadePass(self.ctx)
        web = getattr(surface, "web", None)
        self._thumbnail = web.thumbnail_output() if web is not None else None  # the control page's preview

    def keys(self) -> list[Any]:
        """The keys pressed since the last frame (the show loop's action table applies them)."""
        return self.window.poll()

    def write(self, texture: Any, params: FrameParams, tick: Any) -> bool:
        """Draw the frame letterboxed and swap; a tablet's feedback follows the rehearsal."""
        from vj.render.window import letterbox

        screen = self.ctx.screen
        width, height = self.window.framebuffer_size
        screen.use()
        screen.viewport = (0, 0, width, height)
        self.ctx.clear(0.0, 0.0, 0.0, 1.0)
        screen.viewport = letterbox((width, height), self.size)
        self._blit.apply(texture, texture, 0.0, screen)
        screen.viewport = (0, 0, width, height)
        self.window.swap()
        if self._thumbnail is not None:
            self._thumbnail.write(texture, params, tick)
        if self.surface is not None:
            grid, beat = self.director.grid, self.director.grid.beat_at(params.time)
            self.surface.publish_state(cue=params.cue_index, cue_label=params.cue_label,
                                       bpm=60.0 / grid.seconds_per_beat, beat=beat, beat_phase=beat % 1.0,
                                       bar=int(beat // grid.beats_per_bar), song=self.director.song.name,
                                       style=params.style_name)
        return True

    def close(self, failed: bool = False) -> None:
        """The window stays open until the caller is done with its GL context (``release``)."""

    def release(self) -> None:
        if self._thumbnail is not None:
            self._thumbnail.close()
        self._blit.release()
        self.window.close()


__all__ = ["RehearsalPreview", "PREVIEW_SIDE"]
