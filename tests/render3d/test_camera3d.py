"""3D camera maths: Disco/Deforum conventions, pose accumulation, validation and sanitising."""
from __future__ import annotations

import math

import numpy as np
import pytest

from vj.camera.motion3d import (MAX_ROTATION_DEG_PER_FRAME, Pose3D, check_camera3d, euler_xyz, normalize_border,
                         sanitize_depth, sanitize_motion, validate_camera3d)
from vj.frame_params import CameraMotion


def test_euler_matches_pytorch3d_xyz():
    """PyTorch3D's euler_angles_to_matrix(..., "XYZ") composes Rx @ Ry @ Rz of right-handed rotations."""
    rx, ry, rz = 0.1, -0.2, 0.3
    expected = np.array([[math.cos(ry) * math.cos(rz), -math.cos(ry) * math.sin(rz), math.sin(ry)],
                         [0, 0, 0], [0, 0, 0]])
    matrix = euler_xyz(rx, ry, rz)
    assert np.allclose(matrix[0], expected[0])
    assert np.allclose(matrix @ matrix.T, np.eye(3))


def test_pose_from_motion_is_discos_transform():
    """Disco: x_new = x @ R + T, T = (-tx, ty, -tz) (its 1/200 scale folded into the depth)."""
    motion = CameraMotion(mode="3d", translation_x=3.0, translation_y=4.0, translation_z=5.0,
                          rotation_3d_x=10.0, rotation_3d_y=-20.0, rotation_3d_z=30.0)
    pose = Pose3D.from_motion(motion)
    point = np.array([[1.0, -2.0, 300.0]])
    rotation = euler_xyz(*(math.radians(a) for a in (10.0, -20.0, 30.0)))
    disco = point @ rotation + np.array([-3.0, 4.0, -5.0])
    assert np.allclose(pose.apply(point), disco)


def test_pose_accumulation():
    motion = CameraMotion(mode="3d", translation_z=10.0, rotation_3d_y=2.0)
    two = Pose3D.identity().advance(motion).advance(motion)
    halves = Pose3D.identity()
    for _ in range(4):
        halves = halves.advance(motion, 0.5)
    # Pure yaw plus forward travel in the turning frame: halves and wholes differ only slightly.
    assert np.allclose(two.rotation, halves.rotation)
    assert np.allclose(two.translation, halves.translation, atol=0.5)
    delta = two.delta_since(Pose3D.identity().advance(motion))
    assert np.allclose(delta.matrix(), Pose3D.from_motion(motion).matrix())
    assert np.allclose(two.then(two.inverse()).matrix(), np.eye(4))


def test_validation_messages():
    assert validate_camera3d(40.0, 200.0, 10000.0) == []
    assert any("fov" in p for p in validate_camera3d(0.0, 200.0, 10000.0))
    assert any("fov" in p for p in validate_camera3d(180.0, 200.0, 10000.0))
    assert any("far" in p and "near" in p for p in validate_camera3d(40.0, 500.0, 500.0))
    assert any("near must be positive" in p for p in validate_camera3d(40.0, 0.0, 100.0))
    huge = validate_camera3d(40.0, 200.0, 10000.0, rotation_3d_y=90.0)
    assert len(huge) == 1 and "rotation_3d_y" in huge[0] and "per frame" in huge[0]
    assert any("finite" in p for p in validate_camera3d(float("nan"), 200.0, 10000.0))
    assert any("number" in p for p in validate_camera3d("wide", 200.0, 10000.0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fov"):
        check_camera3d(fov=200.0, near=200.0, far=10000.0)


def test_sanitize_motion_clamps_everything():
    motion = sanitize_motion(CameraMotion(fov=0.0, near=-3.0, far=1.0, rotation_3d_x=500.0,
                                          rotation_3d_y=float("nan"), translation_z=float("inf")))
    assert 0.0 < motion.fov < 180.0
    assert 0.0 < motion.near < motion.far
    assert motion.rotation_3d_x == MAX_ROTATION_DEG_PER_FRAME
    assert motion.rotation_3d_y == 0.0 and motion.translation_z == 0.0
    good = CameraMotion(mode="3d", translation_z=3.0)
    assert sanitize_motion(good) == good


def test_sanitize_depth():
    depth = np.array([[np.nan, np.inf, -np.inf], [0.0, -1.0, 50.0], [1e9, 300.0, 500.0]], dtype=np.float32)
    clean = sanitize_depth(depth, 200.0, 1000.0, fallback=400.0)
    assert np.isfinite(clean).all()
    assert clean[0, 0] == 400.0 and clean[1, 0] == 400.0 and clean[1, 1] == 400.0
    assert clean[1, 2] == 200.0 and clean[2, 0] == 1000.0 and clean[2, 1] == 300.0


def test_border_names():
    assert normalize_border("clamp") == "stretch"
    assert normalize_border("Reflect") == "reflect"
    assert normalize_border("noise") == "noise"
    with pytest.raises(ValueError, match="stretch"):
        normalize_border("smear")


@pytest.mark.parametrize("field, axis, sign", [("rotation_3d_x", 1, 1), ("rotation_3d_y", 0, -1),
                                               ("translation_x", 0, -1), ("translation_y", 1, 1),
                                               ("rotation_3d_z", None, 0)])
def test_directions_as_documented(field, axis, sign):
    """docs/camera3d.md's table: where a point straight ahead moves on screen (x right, y down)."""
    moved = Pose3D.from_motion(CameraMotion(mode="3d", **{field: 5.0})).apply(np.array([[0.0, 0.0, 400.0]]))[0]
    if axis is None:
        assert np.allclose(moved[:2], 0.0)
    else:
        assert np.sign(moved[axis]) == sign and abs(moved[1 - axis]) < 1e-9
    ahead = Pose3D.from_motion(CameraMotion(mode="3d", translation_z=10.0)).apply(np.array([[0.0, 0.0, 400.0]]))[0]
    assert ahead[2] == pytest.approx(390.0)
