"""2D camera motion as Disco Diffusion / Deforum apply it, as matrices the warp pass can use.

Deforum's ``anim_frame_warp_2d`` moves the previous frame each frame by::

    rot_mat   = cv2.getRotationMatrix2D(center, angle, zoom)      # about the image centre
    trans_mat = [[1, 0, tx], [0, 1, ty]]
    xform     = rot_mat (3×3) @ trans_mat (3×3)
    next      = cv2.warpPerspective(prev, xform, size, borderMode=...)

so content moves ``tx`` pixels right and ``ty`` down, turns ``angle`` degrees counter-clockwise (as
seen on screen) and scales by ``zoom`` about the centre. ``warp_matrix_2d`` builds the same forward
(source → destination) matrix with numpy. Coordinates are continuous pixels with y down and pixel
centres at +0.5, so the centre is (W/2, H/2) exactly — cv2 puts pixel centres on integers and
Deforum uses ``(W // 2, H // 2)``, a half-pixel offset that is invisible in motion.

Live mode re-applies fractions of a frame's motion (``frames``) at display rate, so motion never
waits for the model. ``reference_warp`` is the slow numpy warp the GL pass is tested against.
"""
from __future__ import annotations

import math

import numpy as np

from vj.frame_params import CameraMotion

#: Border modes: what fills pixels the camera moved in from outside the frame.
#: reflect = mirror (Disco "reflection", cv2 BORDER_REFLECT), wrap = repeat (cv2 BORDER_WRAP),
#: clamp = repeat the edge pixel (Disco "border", cv2 BORDER_REPLICATE).
BORDER_MODES = ("reflect", "wrap", "clamp")


def rotation_matrix_2d(center: tuple[float, float], angle: float, scale: float) -> np.ndarray:
    """``cv2.getRotationMatrix2D`` as a 3×3: rotate ``angle`` degrees counter-clockwise (y down)
    and scale by ``scale`` about ``center``."""
    radians = math.radians(angle)
    alpha, beta = scale * math.cos(radians), scale * math.sin(radians)
    cx, cy = center
    return np.array([
        [alpha, beta, (1.0 - alpha) * cx - beta * cy],
        [-beta, alpha, beta * cx + (1.0 - alpha) * cy],
        [0.0, 0.0, 1.0],
    ], dtype=np.float64)


def warp_matrix_2d(motion: CameraMotion, width: int, height: int, frames: float = 1.0) -> np.ndarray:
    """The forward (source → destination) 3×3 pixel matrix that moves the previous frame.

    ``frames`` scales the motion (zoom ** frames, angle and translation × frames): live mode
    re-applies a fraction of a frame's motion at display rate. 3D fields are ignored.
    """
    zoom = motion.zoom ** frames if frames != 1.0 else motion.zoom
    rotate = rotation_matrix_2d((width / 2.0, height / 2.0), motion.angle * frames, zoom)
    translate = np.array([
        [1.0, 0.0, motion.translation_x * frames],
        [0.0, 1.0, motion.translation_y * frames],
        [0.0, 0.0, 1.0],
    ], dtype=np.float64)
    return rotate @ translate


def _border_indices(index: np.ndarray, size: int, border: str) -> np.ndarray:
    if border == "reflect":
        period = np.mod(index, 2 * size)
        return np.where(period < size, period, 2 * size - 1 - period)
    if border == "wrap":
        return np.mod(index, size)
    if border == "clamp":
        return np.clip(index, 0, size - 1)
    raise ValueError(f"unknown border mode '{border}'; use one of {', '.join(BORDER_MODES)}")


def reference_warp(image: np.ndarray, matrix: np.ndarray, border: str = "reflect") -> np.ndarray:
    """Warp an H×W×C image by a forward pixel matrix in numpy (bilinear): the GL pass's reference.

    Each destination pixel centre (x + 0.5, y + 0.5) maps back through the inverse matrix; the four
    neighbouring source pixels are fetched with ``border`` applied to each index, as the shader does.
    """
    height, width = image.shape[:2]
    inverse = np.linalg.inv(np.asarray(matrix, dtype=np.float64))
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    points = np.stack([xs + 0.5, ys + 0.5, np.ones_like(xs)], axis=0).reshape(3, -1)
    source = inverse @ points
    u = source[0] / source[2] - 0.5
    v = source[1] / source[2] - 0.5
    u0, v0 = np.floor(u), np.floor(v)
    fu, fv = (u - u0)[:, None], (v - v0)[:, None]
    x0 = _border_indices(u0.astype(np.int64), width, border)
    x1 = _border_indices(u0.astype(np.int64) + 1, width, border)
    y0 = _border_indices(v0.astype(np.int64), height, border)
    y1 = _border_indices(v0.astype(np.int64) + 1, height, border)
    pixels = np.asarray(image, dtype=np.float64)
    top = pixels[y0, x0] * (1 - fu) + pixels[y0, x1] * fu
    bottom = pixels[y1, x0] * (1 - fu) + pixels[y1, x1] * fu
    result = top * (1 - fv) + bottom * fv
    return result.reshape(height, width, -1).astype(np.float32)
