"""The procedural generator: a GLSL dream-feedback source that needs no weights.

Each frame paints a domain-warped fbm pattern (Inigo Quilez's ``f(p + 4 r(p + 4 q(p)))``)
coloured by a cosine palette, and mixes it over the previous frame the camera already moved —
the Disco Diffusion 2D loop with a shader in place of the model; ``strength`` says how much is
repainted (0 keeps the previous frame, 1 paints all new). The pattern rides the same 2D camera
(``ZoomLayers``: two copies an octave apart, cross-faded), so new paint lands on the moved old
paint and a steady zoom becomes an endless dive into the pattern instead of a radial smear. Runs at full float precision (RGBA32F) and is deterministic: the same sequence of
``FrameParams`` gives bit-identical frames.

Prompts choose the look: each prompt text (with its ``prompt_id``) hashes to one of a set of
curated palettes, a small palette phase shift and a pattern seed; a weighted prompt mix averages
them, and a cue transition (``blend`` 0→1) crossfades palette and pattern from
``conditioning_from`` to ``conditioning_to``. ``seed`` → ``next_seed`` by ``seed_blend`` slides the
pattern's domain.

Audio (``params.features``): ``onset`` flashes the new paint, paints more of it and kicks the
domain warp; ``low`` zooms into the pattern and deepens the warp; ``high`` adds fine detail and
sparkle on the ridges; ``beat_phase`` pulses the brightness on each beat, scaled by ``rms``.

Look numbers (``params.look``, from a style's ``look:``; missing names take the default):

========  =======  ===================================================================
name      default  meaning
========  =======  ===================================================================
warp      0.5      domain-warp amount, 0 (plain fbm clouds) .. 1.5 (marbled, folded)
detail    0.5      fine structure: fbm octave gain, 0 (soft) .. 1 (crisp)
speed     1.0      how fast the pattern evolves (× song time)
hue       0.0      palette rotation in turns, 0..1 (1 = a full turn back to the start)
scale     0.5      pattern size, 0 (large forms) .. 1 (many small forms)
flow      0.3      how far the previous frame flows along the pattern per frame, 0..1
drift     0.1      how fast the fed-back colours turn around the colour wheel, 0..1
sparkle   0.5      glints on the ridges (grows with the ``high`` band), 0..1
react     1.0      how strongly the audio features act, 0 (ignore audio) .. 2
========  =======  ===================================================================
"""
from __future__ import annotations

import hashlib
import math
import struct
from typing import TYPE_CHECKING

import numpy as np

from vj.camera.motion2d import warp_matrix_2d
from vj.render.frame import Frame
from vj.frame_params import CameraMotion, Conditioning, FrameParams
from vj.generators.base import Generator, GeneratorContext
from vj.render.gl import Program, RenderTarget, create_headless_context

if TYPE_CHECKING:
    import moderngl

#: Look names and defaults (see the module docstring).
LOOK_DEFAULTS: dict[str, float] = {
    "warp": 0.5, "detail": 0.5, "speed": 1.0, "hue": 0.0, "scale": 0.5,
    "flow": 0.3, "drift": 0.1, "sparkle": 0.5, "react": 1.0,
}

def _two_tone(dark: tuple[float, float, float], bright: tuple[float, float, float],
              spread: float = 0.06) -> tuple[tuple[float, float, float], ...]:
    """A cosine palette that swings from ``dark`` to ``bright`` (channels a little out of phase)."""
    a = tuple((b + d) / 2 for b, d in zip(bright, dark))
    b = tuple((b - d) / 2 for b, d in zip(bright, dark))
    return a, b, (1.0, 1.0, 1.0), (0.0, spread, 2 * spread)


#: Cosine palettes (a, b, c, d): colour(t) = a + b·cos(2π(c·t + d)). Hand-picked for rich colour
#: without mud: some of Inigo Quilez's, the rest two-tone swings from a deep to a luminous colour.
PALETTES: tuple[tuple[tuple[float, float, float], ...], ...] = (
    _two_tone((0.10, 0.00, 0.25), (1.00, 0.55, 0.20)),          # indigo → ember orange
    ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), (1.0, 1.0, 1.0), (0.00, 0.10, 0.20)),   # amber / slate / ice
    ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), (1.0, 1.0, 1.0), (0.30, 0.20, 0.20)),   # rose / charcoal / teal
    ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), (1.0, 1.0, 0.5), (0.80, 0.90, 0.30)),   # lilac / violet
    ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), (1.0, 0.7, 0.4), (0.00, 0.15, 0.20)),   # gold / black
    _two_tone((0.08, 0.02, 0.20), (1.00, 0.62, 0.72)),          # deep violet → peach pink
    _two_tone((0.15, 0.00, 0.05), (1.00, 0.86, 0.60)),          # crimson → cream
    ((0.35, 0.45, 0.55), (0.35, 0.4, 0.45), (1.0, 1.0, 1.0), (0.55, 0.65, 0.75)),   # navy / ice blue
    ((0.6, 0.35, 0.3), (0.4, 0.35, 0.3), (1.0, 1.0, 1.0), (0.00, 0.12, 0.25)),      # orange / charcoal
    ((0.5, 0.4, 0.6), (0.45, 0.4, 0.4), (1.0, 1.0, 1.0), (0.80, 0.55, 0.30)),       # cyan / umber
    _two_tone((0.00, 0.08, 0.12), (0.70, 1.00, 0.78)),          # deep teal → mint
    _two_tone((0.02, 0.10, 0.05), (0.98, 0.84, 0.38)),          # forest → gold
)


def _digest(text: str) -> bytes:
    # A stable hash (Python's hash() is salted per process and would break determinism).
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def _unit(digest: bytes, index: int) -> float:
    """A number in 0..1 from two bytes of a digest."""
    return int.from_bytes(digest[2 * index: 2 * index + 2], "little") / 65535.0


def prompt_look(text: str, prompt_id: int) -> tuple[np.ndarray, np.ndarray]:
    """The palette (4×3: a, b, c, d) and pattern seed (4 domain offsets) one prompt text picks."""
    digest = _digest(f"{prompt_id}\x1f{text}")
    palette = np.array(PALETTES[(digest[0] + prompt_id) % len(PALETTES)], dtype=np.float64)
    palette[3] += palette[2] * _best_phase(palette, _unit(digest, 1))
    seed = np.array([_unit(digest, i) for i in range(2, 6)]) * 64.0 - 32.0
    return palette, seed


def _shader_tones() -> tuple[np.ndarray, np.ndarray]:
    """Typical (tone, shade) pairs of the shader's colouring: v ~ the field 0..1, q ~ the first warp."""
    v = np.clip(np.linspace(-2.0, 2.0, 41) * 0.22 + 0.5, 0.0, 1.0)
    q = np.array([0.2, 0.35, 0.5])
    tones = (0.8 * v[:, None] + 0.4 * q[None, :]).ravel()
    shade = np.repeat(0.12 + np.clip(v / 0.95, 0.0, 1.0) ** 1.2, len(q))
    weights = np.repeat(np.exp(-0.5 * np.linspace(-2.0, 2.0, 41) ** 2), len(q))
    return tones, shade * weights / weights.mean()


_TONES, _SHADES = _shader_tones()


def _best_phase(palette: np.ndarray, pick: float) -> float:
    """A shift along the palette (in tones) that makes the shaded picture bright and colourful
    where the shader's tones mostly fall: one of the three best of sixteen, chosen by ``pick``."""
    scores = []
    for shift in np.arange(16) / 16.0:
        phase = 2 * np.pi * (palette[2] * (_TONES[:, None] + shift) + palette[3])
        colours = np.clip(palette[0] + palette[1] * np.cos(phase), 0, 1)
        luma = (colours @ np.array([0.2126, 0.7152, 0.0722])) * _SHADES
        chroma = (colours.max(axis=1) - colours.min(axis=1)).mean()
        scores.append(-2.0 * abs(luma.mean() - 0.4) + 0.5 * chroma + 0.5 * luma.std())
    best = np.argsort(scores)[::-1][:3]
    return float(best[min(int(pick * 3), 2)]) / 16.0


def conditioning_look(conditioning: Conditioning) -> tuple[np.ndarray, np.ndarray]:
    """Palette and seed of a (possibly weighted) prompt: the weighted mean of its texts' looks."""
    total = sum(max(weight, 0.0) for _, weight in conditioning.prompt) or 1.0
    palette, seed = np.zeros((4, 3)), np.zeros(4)
    for text, weight in conditioning.prompt:
        text_palette, text_seed = prompt_look(text, conditioning.prompt_id)
        palette += text_palette * (max(weight, 0.0) / total)
        seed += text_seed * (max(weight, 0.0) / total)
    return palette, seed


def seed_offset(seed: int) -> np.ndarray:
    """Domain offsets for ``params.seed``: a new seed moves the pattern to another place."""
    digest = _digest(f"seed\x1f{seed}")
    return np.array([_unit(digest, i) for i in range(4)]) * 16.0 - 8.0


def _palette_bytes(palette: np.ndarray) -> bytes:
    # GLSL mat4 columns a, b, c, d (rgb + padding), column-major.
    columns = np.zeros((4, 4), dtype=np.float32)
    columns[:, :3] = palette
    return columns.tobytes()


class ZoomLayers:
    """Where the pattern is: two copies that ride the camera, an octave (×2) apart.

    Each step moves both by the camera's inverse, so fresh paint lands exactly on the previous
    frame the camera moved (no smear). A layer that has zoomed in by 2 has faded to nothing
    (weight sin²(π·level)) and comes back as the coarser copy at a new place: an endless zoom
    whose numbers stay small however long the show runs.
    """

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        # GL window pixels (y up) → image pixels (y down, as the camera matrices use).
        self._flip = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, float(height)], [0.0, 0.0, 1.0]])
        self.reset()

    def reset(self) -> None:
        self.levels = [0.0, 0.5]
        self._resets = [0, 0]
        self.maps = [self._base(layer, level) for layer, level in enumerate(self.levels)]

    def _base(self, layer: int, level: float) -> np.ndarray:
        """Pixels → pattern coordinates at ``level`` (0..1 octaves zoomed in), centred, 1 unit = height."""
        digest = _digest(f"layer\x1f{layer}\x1f{self._resets[layer]}")
        scale = 2.0 ** -level / self.height
        return np.array([
            [scale, 0.0, -scale * self.width / 2 + _unit(digest, 0) * 64.0],
            [0.0, scale, -scale * self.height / 2 + _unit(digest, 1) * 64.0],
            [0.0, 0.0, 1.0],
        ])

    def advance(self, motion: CameraMotion) -> None:
        """Follow one frame of 2D camera motion (3D motion leaves the pattern in place)."""
        if motion.mode != "2d":
            return
        forward = warp_matrix_2d(motion, self.width, self.height)
        inverse = np.linalg.inv(forward)
        octaves = math.log2(max(abs(motion.zoom), 1e-6))
        for layer in range(2):
            self.maps[layer] = self.maps[layer] @ inverse
            level = self.levels[layer] + octaves
            if level >= 1.0 or level < 0.0:   # faded out: come back an octave away, somewhere new
                level -= math.floor(level)
                self._resets[layer] += 1
                self.maps[layer] = self._base(layer, level)
            self.levels[layer] = level

    def uniforms(self) -> tuple[bytes, bytes, tuple[float, float]]:
        """The two layer matrices (column-major mat3) and their weights."""
        matrices = [np.ascontiguousarray((m @ self._flip).T, dtype=np.float32).tobytes() for m in self.maps]
        weights = tuple(max(math.sin(math.pi * level) ** 2, 1e-4) for level in self.levels)
        return matrices[0], matrices[1], (weights[0], weights[1])


class ProceduralGenerator(Generator):
    """Domain-warped fbm with cosine palettes over the camera-moved previous frame (GLSL)."""

    name = "procedural"

    def __init__(self) -> None:
        self._context: GeneratorContext | None = None
        self._gl: "moderngl.Context | None" = None
        self._owns_gl = False
        self._program: Program | None = None
        self._targets: list[RenderTarget] = []
        self._upload: RenderTarget | None = None
        self._black: "moderngl.Texture | None" = None
        self._next = 0
        self._clock = 0.0
        self._last_time: float | None = None
        self._looks: dict[Conditioning, tuple[bytes, np.ndarray]] = {}
        self._layers: ZoomLayers | None = None

    def prepare(self, context: GeneratorContext) -> None:
        """Compile the shader and allocate the output ring once (uses ``context.gl`` when given)."""
        self._context = context
        if context.gl is not None:
            self._gl, self._owns_gl = context.gl, False
        else:
            self._gl, self._owns_gl = create_headless_context(), True
        self._program = Program(self._gl, "procedural")
        # Two outputs in turn: a step never draws into the texture it reads.
        self._targets = [RenderTarget(self._gl, context.width, context.height) for _ in range(2)]
        self._upload = RenderTarget(self._gl, context.width, context.height)
        self._black = self._gl.texture((1, 1), 4, np.zeros(4, dtype=np.float32).tobytes(), dtype="f4")
        self._program.set("u_size", (float(context.width), float(context.height)))
        self._layers = ZoomLayers(context.width, context.height)

    def first_frame(self, params: FrameParams) -> Frame:
        """The pure pattern (nothing fed back)."""
        self._require()
        self._clock = params.time * self._number(params, "speed")
        self._last_time = params.time
        assert self._layers is not None
        self._layers.reset()
        return self._draw(self._black, params, strength=1.0)

    def step(self, previous: Frame, params: FrameParams) -> Frame:
        """Paint the pattern over ``previous`` by ``params.strength``.

        The returned frame's texture is one of two this generator reuses: it stays valid until
        two more steps (read or copy it before then).
        """
        self._require()
        if self._last_time is not None:
            # Integrate the pattern clock so a change of look.speed never jumps the pattern.
            elapsed = min(max(params.time - self._last_time, 0.0), 0.25)
            self._clock += elapsed * self._number(params, "speed")
        else:
            self._clock = params.time * self._number(params, "speed")
        self._last_time = params.time
        assert self._layers is not None
        self._layers.advance(params.camera)   # the camera moved ``previous``; the pattern follows
        source = previous.texture_in(self._gl)
        if source is None:
            assert self._upload is not None
            self._upload.write_array(previous.to_array())
            source = self._upload.texture
        return self._draw(source, params, strength=min(max(params.strength, 0.0), 1.0))

    def close(self) -> None:
        """Release the program, textures and (if this generator made it) the GL context."""
        for target in self._targets:
            target.release()
        self._targets = []
        for resource in (self._upload, self._program, self._black):
            if resource is not None:
                resource.release()
        self._upload = self._program = self._black = None
        if self._owns_gl and self._gl is not None:
            self._gl.release()
        self._gl = None
        self._looks.clear()

    # -- internals ------------------------------------------------------------------------------

    def _require(self) -> None:
        if self._program is None:
            raise RuntimeError("ProceduralGenerator.prepare() must run before frames are made")

    @staticmethod
    def _number(params: FrameParams, name: str) -> float:
        return float(params.look.get(name, LOOK_DEFAULTS[name]))

    def _look(self, conditioning: Conditioning) -> tuple[bytes, np.ndarray]:
        look = self._looks.get(conditioning)
        if look is None:
            palette, seed = conditioning_look(conditioning)
            look = self._looks[conditioning] = (_palette_bytes(palette), seed)
        return look

    def _draw(self, source: "moderngl.Texture", params: FrameParams, strength: float) -> Frame:
        program = self._program
        assert program is not None and self._context is not None and self._layers is not None
        height = self._context.height
        number = self._number
        palette_to, seed_to = self._look(params.conditioning_to)
        palette_from, seed_from = self._look(params.conditioning_from)
        seed_shift = (1.0 - params.seed_blend) * seed_offset(params.seed) + params.seed_blend * seed_offset(params.next_seed)
        blend = min(max(params.blend, 0.0), 1.0)
        if params.conditioning_from == params.conditioning_to:
            blend = 1.0   # the shader skips the second pattern

        features, react = params.features, max(number(params, "react"), 0.0)
        pulse = (1.0 - min(max(features.beat_phase, 0.0), 1.0)) ** 3 * features.rms
        audio = tuple(min(max(v * react, 0.0), 2.0) for v in (features.onset, features.low, features.high, pulse))

        program.set("u_time", self._clock * 0.35)
        program.set("u_strength", strength)
        program.set("u_blend", blend)
        program.write("u_palette_from", palette_from)
        program.write("u_palette_to", palette_to)
        program.write("u_seed_from", struct.pack("4f", *(seed_from + seed_shift)))
        program.write("u_seed_to", struct.pack("4f", *(seed_to + seed_shift)))
        program.set("u_audio", audio)
        program.set("u_look", (
            max(number(params, "warp"), 0.0),
            0.3 + 0.3 * min(max(number(params, "detail"), 0.0), 1.0),
            1.0 + 3.0 * max(number(params, "scale"), 0.0),
            number(params, "hue"),
        ))
        program.set("u_look2", (
            max(number(params, "flow"), 0.0) * 0.01 * height,
            number(params, "drift") * 0.02,
            max(number(params, "sparkle"), 0.0),
            0.0,
        ))
        layer0, layer1, weights = self._layers.uniforms()
        program.write("u_layer0", layer0)
        program.write("u_layer1", layer1)
        program.set("u_layer_weight", weights)
        target = self._targets[self._next]
        if target.texture is source:
            self._next ^= 1
            target = self._targets[self._next]
        self._next ^= 1
        program.bind("u_previous", source)
        program.draw(target)
        return Frame(texture=target.texture)
