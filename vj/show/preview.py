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
from typing import Any, Mapping

from vj.director.director import Director
from vj.frame_params import FrameParams

log = logging.getLogger(__name__)

#: The longest side of the preview window, in pixels (the picture is letterboxed into it).
PREVIEW_SIDE = 768


class RehearsalPreview:
    """A window that shows each rendered frame, plus the controls that may steer the render."""

    def __init__(self, title: str, size: tuple[int, int], director: Director, surface: Any = None) -> None:
        from vj.render.window import OutputWindow
        from vj.render.passes import CrossfadePass

        scale = min(1.0, PREVIEW_SIDE / max(size))
        self.window = OutputWindow(title, (max(64, int(size[0] * scale)), max(64, int(size[1] * scale))), vsync=False)
        self.ctx = self.window.ctx
        self.size = size
        self.director = director
        self.surface = surface
        self.blackout = False
        self.stopped = False
        self._blit = CrossfadePass(self.ctx)

    def controls(self) -> Mapping[str, Any]:
        """This frame's control values (parameter store snapshot, blackout) for the director."""
        values: dict[str, Any] = {}
        if self.surface is not None:
            values.update(self.surface.store.snapshot())
        values["blackout"] = self.blackout or bool(values.get("blackout", False))
        return values

    def show(self, texture: Any, params: FrameParams) -> bool:
        """Draw the frame letterboxed, swap, apply keys and controller actions; False to stop."""
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
        for action in self.window.poll():
            self._act(action.value, None, params.time)
        self._drain_surface(params.time)
        if self.surface is not None:  # a tablet's feedback follows the rehearsal
            grid, beat = self.director.grid, self.director.grid_beat(params.time)
            self.surface.publish_state(cue=params.cue_index, cue_label=params.cue_label,
                                       bpm=60.0 / grid.seconds_per_beat, beat=beat, beat_phase=beat % 1.0,
                                       bar=int(beat // grid.beats_per_bar), song=self.director.song.name,
                                       style=params.style_name)
        return not self.stopped

    def _drain_surface(self, time: float) -> None:
        actions = getattr(self.surface.store, "actions", None) if self.surface is not None else None
        while actions is not None:
            try:
                item = actions.get_nowait()
            except Exception:  # queue.Empty: nothing more this frame
                return
            self._act(str(getattr(item, "name", item)), getattr(item, "value", None), time)

    def _act(self, name: str, value: Any, time: float) -> None:
        if name == "quit":
            if value is None:  # the keyboard or the window's close button; never a controller
                log.info("preview closed: keeping the frames rendered so far")
                self.stopped = True
        elif name == "next_cue":
            self.director.next_cue(time)
        elif name == "previous_cue":
            self.director.previous_cue(time)
        elif name == "cue" and value is not None:
            self.director.arm_cue(int(value), on="downbeat")
            self.director.notify_downbeat(time)
        elif name == "blackout":
            self.blackout = (not self.blackout) if value is None else bool(value)

    def close(self) -> None:
        self._blit.release()
        self.window.close()


__all__ = ["RehearsalPreview", "PREVIEW_SIDE"]
