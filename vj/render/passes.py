"""The render passes: camera warp, post, crossfade — one draw call each, no per-frame allocation.

Each pass compiles its program once and draws into a ``RenderTarget`` (or a window's framebuffer)
the caller allocated once. ``apply`` returns the target's texture so passes chain::

    moved = warp.apply(previous, warp_matrix_2d(motion, w, h), "reflect", moved_target)
    shown = post.apply(made, params.post, output_target)
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import moderngl
import numpy as np

from vj.camera.motion2d import BORDER_MODES
from vj.render.frame import Frame
from vj.frame_params import PostSettings
from vj.render.gl import Program, RenderTarget

if TYPE_CHECKING:
    Destination = RenderTarget | moderngl.Framebuffer

#: Luma weights (Rec. 709) for saturation: greys keep their brightness when desaturated.
LUMA = np.array([0.2126, 0.7152, 0.0722])

_BORDER_CODES = {name: code for code, name in enumerate(BORDER_MODES)}
# The 3D camera's names, for the 2D warp (and the live display, which re-applies 3D motion as a
# plane homography): stretch is clamp; the warp has no noise fill, so noise mirrors.
_BORDER_CODES.update(stretch=_BORDER_CODES["clamp"], noise=_BORDER_CODES["reflect"])


def _size_of(destination: "Destination") -> tuple[int, int]:
    if isinstance(destination, RenderTarget):
        return destination.size
    return destination.viewport[2], destination.viewport[3]


def _matrix_bytes(matrix: np.ndarray) -> bytes:
    """A numpy (row-major) matrix as the column-major float32 bytes GLSL expects."""
    return np.ascontiguousarray(matrix.T, dtype=np.float32).tobytes()


def border_code(border: str) -> int:
    """The shader's number for a border mode (checked here so a typo fails loudly, not as clamp)."""
    try:
        return _BORDER_CODES[border]
    except KeyError:
        raise ValueError(f"unknown border mode '{border}'; use one of {', '.join(BORDER_MODES)}") from None


class WarpPass:
    """Moves a frame by a forward 3×3 pixel matrix (see ``vj.camera.motion2d``): bilinear, with a border mode."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self.program = Program(ctx, "warp")

    def apply(self, source: moderngl.Texture, matrix: np.ndarray, border: str,
              target: "Destination") -> moderngl.Texture | None:
        """Draw ``source`` moved by ``matrix`` (source → destination pixels) into ``target``;
        returns the target's texture (None when drawing into a bare framebuffer)."""
        self.program.write("u_inverse", _matrix_bytes(np.linalg.inv(matrix)))
        self.program.set("u_border", border_code(border))
        self.program.set("u_target_size", _size_of(target))
        self.program.bind("u_source", source)
        self.program.draw(target)
        return target.texture if isinstance(target, RenderTarget) else None

    def release(self) -> None:
        self.program.release()


def colour_matrix(settings: PostSettings) -> np.ndarray:
    """The 4×4 affine colour matrix (on rgb1) for contrast → saturation → hue → brightness.

    Composed on the CPU so the shader does one multiply; neutral settings give the identity exactly.
    """
    contrast = np.eye(4)
    contrast[:3, :3] *= settings.contrast
    contrast[:3, 3] = 0.5 * (1.0 - settings.contrast)

    saturation = np.eye(4)
    saturation[:3, :3] = settings.saturation * np.eye(3) + (1.0 - settings.saturation) * np.outer(np.ones(3), LUMA)

    hue = np.eye(4)
    angle = math.radians(settings.hue_shift)
    axis = np.ones(3) / math.sqrt(3.0)   # rotate colours about the grey diagonal
    cross = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    hue[:3, :3] = math.cos(angle) * np.eye(3) + math.sin(angle) * cross + (1.0 - math.cos(angle)) * np.outer(axis, axis)

    brightness = np.diag([settings.brightness] * 3 + [1.0])
    return brightness @ hue @ saturation @ contrast


class PostPass:
    """Brightness, contrast, saturation, hue shift, vignette and blackout from ``PostSettings``."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self.program = Program(ctx, "post")
        self._settings: PostSettings | None = None

    def apply(self, source: moderngl.Texture, settings: PostSettings,
              target: "Destination") -> moderngl.Texture | None:
        """Draw ``source`` graded by ``settings`` into ``target``; returns the target's texture."""
        if settings != self._settings:   # settings change rarely: skip the matrix maths when they hold
            self.program.write("u_colour", _matrix_bytes(colour_matrix(settings)))
            self.program.set("u_vignette", float(settings.vignette))
            self.program.set("u_visible", 0.0 if settings.blackout else 1.0)
            self._settings = settings
        self.program.set("u_target_size", _size_of(target))
        self.program.bind("u_source", source)
        self.program.draw(target)
        return target.texture if isinstance(target, RenderTarget) else None

    def release(self) -> None:
        self.program.release()


class CrossfadePass:
    """``mix(a, b, x)``: live mode fades from the shown frame to a new generator frame."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self.program = Program(ctx, "crossfade")

    def apply(self, a: moderngl.Texture, b: moderngl.Texture, x: float,
              target: "Destination") -> moderngl.Texture | None:
        """Draw ``a`` (x = 0) fading to ``b`` (x = 1) into ``target``; returns the target's texture."""
        self.program.set("u_mix", float(x))
        self.program.set("u_target_size", _size_of(target))
        self.program.bind("u_a", a)
        self.program.bind("u_b", b)
        self.program.draw(target)
        return target.texture if isinstance(target, RenderTarget) else None

    def release(self) -> None:
        self.program.release()


def upload(frame: Frame, target: RenderTarget) -> moderngl.Texture:
    """A texture holding ``frame`` in ``target``'s context: the frame's own texture when it lives
    there already, else its pixels written into ``target`` (reused, so nothing is allocated)."""
    texture = frame.texture_in(target.ctx)
    if texture is not None:
        return texture
    tensor = frame.cuda_tensor
    if tensor is not None:  # a GPU frame: device to device (CUDA–GL interop), no host round trip
        target.write_tensor(tensor)
        return target.texture
    target.write_array(frame.to_array())
    return target.texture


def read_frame(texture: moderngl.Texture) -> np.ndarray:
    """H×W×3 float32 0..1, row 0 at the top, from a texture (a GPU sync: outputs and tests only)."""
    return Frame(texture=texture).to_array()
