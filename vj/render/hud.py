"""The HUD: text and meters drawn over the projector picture (FPS, tempo and beat, cue, audio
input, flags), refreshed a few dozen times a second rather than every frame."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

_OVERLAY_VERTEX = """
#version 330 core
uniform vec4 u_rect;   // x, y, w, h in normalised device coordinates
out vec2 v_uv;
void main() {
    vec2 corner = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1));
    v_uv = vec2(corner.x, 1.0 - corner.y);
    gl_Position = vec4(u_rect.xy + corner * u_rect.zw, 0.0, 1.0);
}
"""
_OVERLAY_FRAGMENT = """
#version 330 core
uniform sampler2D u_image;
in vec2 v_uv;
out vec4 fragColor;
void main() { fragColor = texture(u_image, v_uv); }
"""


@dataclass
class HudState:
    """Everything the HUD shows, gathered once per HUD refresh."""

    fps: float = 0.0
    generator_fps: float = 0.0
    bpm: float = 120.0
    tempo_source: str = ""
    beat: float = 0.0
    bar: float = 0.0
    beat_phase: float = 0.0
    beats_per_bar: int = 4
    cue: str = ""
    song: str = ""
    audio: str = ""
    audio_state: str = ""
    level_db: float = -120.0
    onset_flash: float = 0.0
    upload: str = ""
    flags: str = ""
    dropped: int = 0


class Hud:
    """Text and meters over the picture: drawn with Pillow into a small texture (refreshed a few
    dozen times a second, not per frame) and blended in a corner with one draw call."""

    WIDTH, HEIGHT = 520, 118

    def __init__(self, ctx: Any) -> None:
        import moderngl
        from PIL import ImageFont

        self.ctx = ctx
        try:
            self.font = ImageFont.load_default(size=13)
        except TypeError:  # Pillow < 10.1: the bitmap font
            self.font = ImageFont.load_default()
        self.texture = ctx.texture((self.WIDTH, self.HEIGHT), 4)
        self.texture.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self.program = ctx.program(vertex_shader=_OVERLAY_VERTEX, fragment_shader=_OVERLAY_FRAGMENT)
        self.vertex_array = ctx.vertex_array(self.program, [])
        self.visible = False
        self._last_update = 0.0
        self._flash_shown = False

    def update(self, state: HudState, *, force: bool = False) -> None:
        """Redraw the HUD image (at most ~30 times a second, but at once when the onset flash
        turns on or off: a flash that shows a frame late is a flash in the wrong place)."""
        now = time.monotonic()
        flash_changed = (state.onset_flash > 0) != self._flash_shown
        if not force and not flash_changed and now - self._last_update < 1 / 30:
            return
        self._last_update = now
        self._flash_shown = state.onset_flash > 0
        self.texture.write(self.render_image(state).tobytes())

    def render_image(self, s: HudState) -> Any:
        from PIL import Image, ImageDraw

        image = Image.new("RGBA", (self.WIDTH, self.HEIGHT), (0, 0, 0, 170))
        draw = ImageDraw.Draw(image)
        white, dim, warn = (255, 255, 255, 255), (170, 170, 170, 255), (255, 170, 60, 255)
        lines = [
            (f"{s.fps:5.1f} fps   generator {s.generator_fps:5.1f} fps   upload: {s.upload}"
             + (f"   dropped {s.dropped}" if s.dropped else ""), white),
            (f"BPM {s.bpm:6.1f} ({s.tempo_source})   bar {int(s.bar) + 1}  beat {int(s.beat % s.beats_per_bar) + 1}", white),
            (f"{s.song} · {s.cue}"[:80], white),
            (f"audio: {s.audio}  {s.level_db:5.0f} dB", white if s.audio_state == "running" else warn),
            (s.flags, warn),
        ]
        for i, (text, colour) in enumerate(lines):
            draw.text((8, 6 + 18 * i), text, fill=colour, font=self.font)
        # Beat phase: one box per beat of the bar, the current one filled by the phase.
        x0, y0 = self.WIDTH - 130, 24
        current = int(s.beat % s.beats_per_bar)
        for b in range(s.beats_per_bar):
            box = (x0 + b * 26, y0, x0 + b * 26 + 20, y0 + 12)
            draw.rectangle(box, outline=dim)
            if b == current:
                draw.rectangle((box[0], box[1], box[0] + int(20 * (1 - s.beat_phase)), box[3]), fill=white)
        # Audio meter (-60..0 dBFS) and the onset flash.
        level = min(max((s.level_db + 60.0) / 60.0, 0.0), 1.0)
        draw.rectangle((x0, 60, x0 + 100, 70), outline=dim)
        draw.rectangle((x0, 60, x0 + int(100 * level), 70), fill=(80, 220, 120, 255))
        flash = int(255 * min(max(s.onset_flash, 0.0), 1.0))
        draw.rectangle((x0 + 106, 56, x0 + 122, 74), fill=(flash, flash, 0, 255), outline=dim)
        return image

    def draw(self, framebuffer_size: tuple[int, int]) -> None:
        """Blend the HUD into the top-left corner of the bound framebuffer."""
        import moderngl

        if not self.visible:
            return
        width, height = framebuffer_size
        w, h = 2.0 * self.WIDTH / max(width, 1), 2.0 * self.HEIGHT / max(height, 1)
        self.program["u_rect"].value = (-1.0, 1.0 - h, w, h)
        self.texture.use(location=0)
        self.program["u_image"].value = 0
        self.ctx.enable(moderngl.BLEND)
        self.ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        self.vertex_array.render(moderngl.TRIANGLE_STRIP, vertices=4)
        self.ctx.disable(moderngl.BLEND)

    def release(self) -> None:
        self.vertex_array.release()
        self.program.release()
        self.texture.release()


__all__ = ["Hud", "HudState"]
