"""The GL 3D reprojection against the numpy reference, and against 2D warps where the answer is known."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from vj.camera.motion2d import reference_warp, warp_matrix_2d
from vj.camera.motion3d import Pose3D, reference_reproject, tan_half_fov
from vj.render.frame import Frame
from vj.frame_params import CameraMotion

MOVES = {
    "translation_z": CameraMotion(mode="3d", translation_z=10.0),
    "rotation_3d_y": CameraMotion(mode="3d", rotation_3d_y=3.0),
    "translation_x": CameraMotion(mode="3d", translation_x=15.0),
    "combined": CameraMotion(mode="3d", translation_z=-20.0, translation_y=5.0, rotation_3d_x=2.0,
                             rotation_3d_z=4.0),
}


def gl_reproject(rp, image, depth, motion, border="stretch", **options) -> np.ndarray:
    return rp.apply_frame(Frame(array=image), depth, motion, border, **options).to_array()


@pytest.mark.parametrize("depth_name", ["plane", "slanted", "two_planes"])
@pytest.mark.parametrize("move", list(MOVES))
@pytest.mark.parametrize("border", ["stretch", "noise"])
def test_gl_matches_reference(reproject_pass, image, depths, depth_name, move, border):
    depth, motion = depths[depth_name], MOVES[move]
    out = gl_reproject(reproject_pass, image, depth, motion, border)
    ref, valid = reference_reproject(image, depth, motion, border)
    assert np.isfinite(out).all()
    assert valid.mean() > 0.6, "the move should keep most of the frame in view"
    error = np.abs(out - ref).mean(axis=-1)[valid]
    assert error.mean() < 2e-3, f"mean abs error {error.mean():.4f}"
    assert np.quantile(error, 0.99) < 0.05


def test_disocclusion_is_masked_and_filled(reproject_pass, image, depths):
    """Two planes and a sideways move open a gap at the depth edge: masked in the reference,
    painted with noise on the GPU (noise mode), stretched texture otherwise."""
    motion = MOVES["translation_x"]
    ref, valid = reference_reproject(image, depths["two_planes"], motion, "noise")
    columns = valid[10:-10].mean(axis=0)
    gap = np.nonzero(columns[10:-10] < 0.5)[0] + 10
    assert gap.size >= 2, "expected an invalid band where the far plane is uncovered"
    noise = gl_reproject(reproject_pass, image, depths["two_planes"], motion, "noise", seed=3)
    stretch = gl_reproject(reproject_pass, image, depths["two_planes"], motion, "stretch")
    band = (slice(20, -20), gap)
    # The noise band is not the texture: far from the stretched fill, and it varies with the seed.
    assert np.abs(noise[band] - stretch[band]).mean() > 0.1
    other_seed = gl_reproject(reproject_pass, image, depths["two_planes"], motion, "noise", seed=4)
    assert np.abs(noise[band] - other_seed[band]).mean() > 0.1


def test_plane_z_travel_is_a_perspective_correct_zoom(reproject_pass, image, depths):
    """A plane at D flown toward by t is the image scaled by D / (D - t) about its centre."""
    distance, travel = 400.0, 10.0
    motion = CameraMotion(mode="3d", translation_z=travel)
    out = gl_reproject(reproject_pass, image, depths["plane"], motion)
    zoomed = reference_warp(image, warp_matrix_2d(CameraMotion(zoom=distance / (distance - travel)),
                                                  image.shape[1], image.shape[0]), "clamp")
    assert np.abs(out - zoomed)[2:-2, 2:-2].mean() < 2e-3
    # Backing off (zoom out): the centre matches and the stretch border fills the rim, no black.
    back = gl_reproject(reproject_pass, image, depths["plane"], dataclasses.replace(motion, translation_z=-travel))
    shrunk = reference_warp(image, warp_matrix_2d(CameraMotion(zoom=distance / (distance + travel)),
                                                  image.shape[1], image.shape[0]), "clamp")
    assert np.abs(back - shrunk).mean() < 3e-3


def test_disco_directions(reproject_pass, image, depths):
    """Disco/Deforum signs: +translation_x slides content left by t / (D tan_x) of the half-width,
    +rotation_3d_z turns content counter-clockwise like the 2D angle."""
    height, width = image.shape[:2]
    tan_x, _ = tan_half_fov(CameraMotion().fov, width, height)
    shift = 20.0 / (400.0 * tan_x) * width / 2
    out = gl_reproject(reproject_pass, image, depths["plane"], CameraMotion(mode="3d", translation_x=20.0))
    slid = reference_warp(image, warp_matrix_2d(CameraMotion(translation_x=-shift), width, height), "clamp")
    assert np.abs(out - slid).mean() < 2e-3
    out = gl_reproject(reproject_pass, image, depths["plane"], CameraMotion(mode="3d", rotation_3d_z=5.0))
    turned = reference_warp(image, warp_matrix_2d(CameraMotion(angle=5.0), width, height), "clamp")
    assert np.abs(out - turned)[8:-8, 8:-8].mean() < 2e-3


@pytest.mark.parametrize("border", ["stretch", "reflect", "wrap", "noise"])
def test_non_finite_depth_gives_finite_frames(reproject_pass, image, border):
    bad = np.full(image.shape[:2], np.nan, dtype=np.float32)
    bad[:, :10] = np.inf
    bad[:10] = 0.0
    bad[-10:] = -5.0
    bad[40:50, 40:50] = 1e30
    out = gl_reproject(reproject_pass, image, bad, CameraMotion(mode="3d", translation_z=30.0,
                                                               rotation_3d_y=10.0), border)
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0
    zeros = gl_reproject(reproject_pass, image, np.zeros(image.shape[:2], np.float32),
                         CameraMotion(mode="3d", translation_z=500.0), border)
    assert np.isfinite(zeros).all()


def test_bad_camera_numbers_never_reach_the_screen(reproject_pass, image, depths):
    motion = CameraMotion(mode="3d", fov=0.0, near=-1.0, far=-5.0, rotation_3d_y=float("nan"),
                          translation_z=float("inf"), rotation_3d_x=720.0)
    out = gl_reproject(reproject_pass, image, depths["slanted"], motion)
    assert np.isfinite(out).all()


def test_depth_texture_input_and_lower_resolution_depth(reproject_pass, gl_ctx, image, depths):
    """A half-resolution depth map (a model's output) and an R32F texture both work."""
    motion = MOVES["rotation_3d_y"]
    full = gl_reproject(reproject_pass, image, depths["slanted"], motion)
    half = gl_reproject(reproject_pass, image, depths["slanted"][::2, ::2], motion)
    assert np.abs(full - half).mean() < 5e-3
    texture = gl_ctx.texture((image.shape[1], image.shape[0]), 1,
                             np.ascontiguousarray(depths["slanted"][::-1]).tobytes(), dtype="f4")
    from_texture = gl_reproject(reproject_pass, image, texture, motion)
    texture.release()
    assert np.abs(full - from_texture)[:, 4:-4].mean() < 2e-3


def test_accumulated_pose_reapplies_two_frames(reproject_pass, image, depths):
    """Live re-application: the pose of two frames applied once equals the reference of that pose."""
    motion = CameraMotion(mode="3d", translation_z=6.0, rotation_3d_y=1.5)
    pose = Pose3D.identity().advance(motion).advance(motion, 0.5)
    out = gl_reproject(reproject_pass, image, depths["slanted"], motion, pose=pose)
    ref, valid = reference_reproject(image, depths["slanted"], motion, pose=pose)
    assert np.abs(out - ref).mean(axis=-1)[valid].mean() < 2e-3


def test_identity_move_is_the_identity(reproject_pass, image, depths):
    out = gl_reproject(reproject_pass, image, depths["two_planes"], CameraMotion(mode="3d"))
    assert np.abs(out - image).max() < 1e-3


def test_result_can_be_fed_back(reproject_pass, image, depths):
    """apply(None target) alternates two targets, so feeding the output back never reads the target."""
    motion = CameraMotion(mode="3d", translation_z=5.0)
    frame = Frame(array=image)
    for _ in range(3):
        frame = reproject_pass.apply_frame(frame, depths["plane"], motion)
    three = frame.to_array()
    zoom = (400.0 / 395.0) ** 3
    expected = reference_warp(image, warp_matrix_2d(CameraMotion(zoom=zoom), image.shape[1], image.shape[0]),
                              "clamp")
    assert np.abs(three - expected)[4:-4, 4:-4].mean() < 5e-3


@pytest.mark.parametrize("border", ["stretch", "reflect", "wrap"])
def test_out_of_frame_fill_matches_reference_everywhere(reproject_pass, image, depths, border):
    """On a plane the background pass is exact, so with the camera turning and backing off the
    whole frame — border fill included — matches the reference."""
    motion = CameraMotion(mode="3d", rotation_3d_y=8.0, translation_z=-40.0)
    out = gl_reproject(reproject_pass, image, depths["plane"], motion, border)
    ref, valid = reference_reproject(image, depths["plane"], motion, border)
    assert valid.mean() < 0.9, "a real part of the frame is out-of-frame fill"
    assert np.abs(out - ref).mean() < 1e-3


@pytest.mark.parametrize("border", ["stretch", "noise"])
def test_plane_fast_path_equals_mesh(reproject_pass, gl_ctx, image, depths, border):
    """Flat depth skips the mesh (background pass only); drawing the mesh gives the same picture."""
    motion = MOVES["combined"]
    fast = gl_reproject(reproject_pass, image, depths["plane"], motion, border, seed=1)
    texture = gl_ctx.texture((image.shape[1], image.shape[0]), 1, depths["plane"].tobytes(), dtype="f4")
    mesh = gl_reproject(reproject_pass, image, texture, motion, border, seed=1, background_depth=400.0)
    texture.release()
    assert np.abs(fast - mesh)[2:-2, 2:-2].mean() < 1e-3


@pytest.mark.parametrize("move", list(MOVES))
def test_plane_homography_is_the_plane_reprojection(reproject_pass, image, depths, move):
    """Live mode re-applies 3D motion at display rate as a 2D warp: for a plane that warp is exact,
    so the 2D warp by ``plane_homography`` equals the GL reprojection of the plane."""
    from vj.camera.motion3d import plane_homography

    motion = MOVES[move]
    height, width = image.shape[:2]
    matrix = plane_homography(motion, width, height, distance=400.0)
    warped = reference_warp(image, matrix, "clamp")
    out = gl_reproject(reproject_pass, image, depths["plane"], motion)
    assert np.abs(out - warped)[3:-3, 3:-3].mean() < 3e-3
    # half a frame twice lands within half a pixel of one frame (the plane's distance changes a
    # little after the first half, so this is close, not exact)
    half = plane_homography(motion, width, height, 0.5, distance=400.0)
    corners = np.array([[0, 0, 1], [width, 0, 1], [0, height, 1], [width, height, 1]], dtype=np.float64).T
    once, twice = matrix @ corners, half @ half @ corners
    assert np.abs(once[:2] / once[2] - twice[:2] / twice[2]).max() < 0.5
