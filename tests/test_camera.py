"""2D camera matrices (Deforum's anim_frame_warp_2d semantics), poses and the numpy reference warp."""
from __future__ import annotations

import math

import numpy as np
import pytest

from vj.camera.motion2d import reference_warp, rotation_matrix_2d, warp_matrix_2d
from vj.frame_params import CameraMotion

W, H = 96, 64


def cv2_style(angle: float, zoom: float, tx: float, ty: float, width: int, height: int) -> np.ndarray:
    """What Deforum computes, written out by hand from OpenCV's getRotationMatrix2D formula."""
    cx, cy = width / 2, height / 2
    a, b = zoom * math.cos(math.radians(angle)), zoom * math.sin(math.radians(angle))
    rot = np.array([[a, b, (1 - a) * cx - b * cy], [-b, a, b * cx + (1 - a) * cy], [0, 0, 1]])
    trans = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
    return rot @ trans


@pytest.mark.parametrize("angle, zoom, tx, ty", [(0, 1, 0, 0), (10, 1.05, 3, -2), (-33, 0.8, -7.5, 12)])
def test_warp_matrix_matches_cv2_formula(angle: float, zoom: float, tx: float, ty: float) -> None:
    motion = CameraMotion(zoom=zoom, angle=angle, translation_x=tx, translation_y=ty)
    np.testing.assert_allclose(warp_matrix_2d(motion, W, H), cv2_style(angle, zoom, tx, ty, W, H), atol=1e-12)


def test_directions_follow_disco() -> None:
    # +tx moves content right, +ty down; zoom > 1 pushes points away from the centre.
    moved = warp_matrix_2d(CameraMotion(translation_x=5, translation_y=2), W, H) @ [10, 10, 1]
    assert tuple(moved[:2]) == (15, 12)
    zoomed = warp_matrix_2d(CameraMotion(zoom=2.0), W, H) @ [W / 2 + 10, H / 2, 1]
    assert zoomed[0] == pytest.approx(W / 2 + 20)
    # +angle turns counter-clockwise on screen (y down): a point right of centre moves up.
    turned = warp_matrix_2d(CameraMotion(angle=90), W, H) @ [W / 2 + 10, H / 2, 1]
    np.testing.assert_allclose(turned[:2], [W / 2, H / 2 - 10], atol=1e-9)


def test_fractional_frames_compose_to_whole() -> None:
    motion = CameraMotion(zoom=1.1, angle=6.0)   # pure zoom + rotation about one centre commute
    half = warp_matrix_2d(motion, W, H, frames=0.5)
    np.testing.assert_allclose(half @ half, warp_matrix_2d(motion, W, H), atol=1e-12)


def test_rotation_matrix_is_cv2s() -> None:
    np.testing.assert_allclose(rotation_matrix_2d((48, 32), 30, 1.5), cv2_style(30, 1.5, 0, 0, 96, 64), atol=1e-12)


def test_reference_warp_moves_content_and_borders() -> None:
    image = np.random.default_rng(1).random((H, W, 3)).astype(np.float32)
    shifted = reference_warp(image, warp_matrix_2d(CameraMotion(translation_x=5, translation_y=3), W, H), "clamp")
    np.testing.assert_allclose(shifted[3:, 5:], image[:-3, :-5], atol=1e-6)
    np.testing.assert_allclose(shifted[10, :5], np.repeat(image[7, :1], 5, axis=0), atol=1e-6)   # edge repeated
    wrapped = reference_warp(image, warp_matrix_2d(CameraMotion(translation_x=5), W, H), "wrap")
    np.testing.assert_allclose(wrapped[:, :5], image[:, -5:], atol=1e-6)
    mirrored = reference_warp(image, warp_matrix_2d(CameraMotion(translation_x=5), W, H), "reflect")
    np.testing.assert_allclose(mirrored[:, :5], image[:, 4::-1], atol=1e-6)
    with pytest.raises(ValueError, match="border"):
        reference_warp(image, np.eye(3), "zeros")
