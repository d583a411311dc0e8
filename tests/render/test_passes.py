"""The GL passes against their numpy references, on real GL (headless EGL)."""
from __future__ import annotations

import moderngl
import numpy as np
import pytest

from vj.camera.motion2d import reference_warp, warp_matrix_2d
from vj.render.frame import Frame
from vj.frame_params import CameraMotion, PostSettings
from vj.render.gl import Program, RenderTarget, TargetPool, load_shader_source, shader_path
from vj.render.passes import CrossfadePass, PostPass, WarpPass, colour_matrix, read_frame, upload

W, H = 96, 64

MOTIONS = {
    "zoom in": CameraMotion(zoom=1.25),
    "zoom out": CameraMotion(zoom=0.7),
    "rotate": CameraMotion(angle=17.0),
    "translate": CameraMotion(translation_x=13.5, translation_y=-7.25),
    "combined": CameraMotion(zoom=0.85, angle=-28.0, translation_x=-20.0, translation_y=9.0),
}


def checker_gradient() -> np.ndarray:
    """A checkerboard over two gradients: edges and slopes, different in every channel."""
    ys, xs = np.mgrid[0:H, 0:W]
    image = np.empty((H, W, 3), dtype=np.float32)
    image[..., 0] = ((xs // 8 + ys // 8) % 2) * 0.8 + 0.1
    image[..., 1] = xs / (W - 1)
    image[..., 2] = ys / (H - 1)
    return image


@pytest.fixture(scope="module")
def warp(gl: moderngl.Context) -> WarpPass:
    return WarpPass(gl)


@pytest.mark.parametrize("border", ["reflect", "wrap", "clamp"])
@pytest.mark.parametrize("name", list(MOTIONS))
def test_warp_matches_reference(gl: moderngl.Context, warp: WarpPass, name: str, border: str) -> None:
    image = checker_gradient()
    source = Frame(array=image).to_texture(gl)
    target = RenderTarget(gl, W, H)
    matrix = warp_matrix_2d(MOTIONS[name], W, H)
    result = read_frame(warp.apply(source, matrix, border, target))
    expected = reference_warp(image, matrix, border)
    error = np.abs(result - expected)
    assert error.mean() < 0.01
    assert error[4:-4, 4:-4].max() < 0.02
    target.release()
    source.release()


def test_warp_moves_content_the_disco_way(gl: moderngl.Context, warp: WarpPass) -> None:
    image = checker_gradient()
    source = Frame(array=image).to_texture(gl)
    target = RenderTarget(gl, W, H)
    result = read_frame(warp.apply(source, warp_matrix_2d(CameraMotion(translation_x=6, translation_y=4), W, H),
                                   "clamp", target))
    np.testing.assert_allclose(result[4:, 6:], image[:-4, :-6], atol=1e-6)   # right and down
    identity = read_frame(warp.apply(source, np.eye(3), "reflect", target))
    np.testing.assert_array_equal(identity, image)


def test_warp_rejects_unknown_border(gl: moderngl.Context, warp: WarpPass) -> None:
    target = RenderTarget(gl, 8, 8)
    with pytest.raises(ValueError, match="border mode 'mirror'"):
        warp.apply(target.texture, np.eye(3), "mirror", target)


def test_warp_is_one_draw_into_reused_target(gl: moderngl.Context, warp: WarpPass) -> None:
    source = Frame(array=checker_gradient()).to_texture(gl)
    target = RenderTarget(gl, W, H)
    first = warp.apply(source, warp_matrix_2d(MOTIONS["rotate"], W, H), "wrap", target)
    second = warp.apply(source, warp_matrix_2d(MOTIONS["zoom in"], W, H), "wrap", target)
    assert first is second is target.texture


def test_post_neutral_is_identity_and_zero_brightness_black(gl: moderngl.Context) -> None:
    image = checker_gradient()
    source = Frame(array=image).to_texture(gl)
    target = RenderTarget(gl, W, H)
    post = PostPass(gl)
    np.testing.assert_array_equal(colour_matrix(PostSettings()), np.eye(4))
    np.testing.assert_allclose(read_frame(post.apply(source, PostSettings(), target)), image, atol=1e-6)
    assert read_frame(post.apply(source, PostSettings(brightness=0.0), target)).max() == 0.0
    assert read_frame(post.apply(source, PostSettings(blackout=True), target)).max() == 0.0


def test_post_colour_controls(gl: moderngl.Context) -> None:
    red = np.zeros((H, W, 3), dtype=np.float32)
    red[..., 0] = 0.8
    source = Frame(array=red).to_texture(gl)
    target = RenderTarget(gl, W, H)
    post = PostPass(gl)
    grey = read_frame(post.apply(source, PostSettings(saturation=0.0), target))
    np.testing.assert_allclose(grey[0, 0], [0.8 * 0.2126] * 3, atol=1e-5)
    turned = read_frame(post.apply(source, PostSettings(hue_shift=120.0), target))
    assert turned[0, 0, 1] > 0.7 and turned[0, 0, 0] < 0.05   # red turns to green
    flat = read_frame(post.apply(source, PostSettings(contrast=0.0), target))
    np.testing.assert_allclose(flat, 0.5, atol=1e-6)
    vignetted = read_frame(post.apply(source, PostSettings(vignette=1.0), target))
    assert vignetted[0, 0, 0] < 0.1 and vignetted[H // 2, W // 2, 0] == pytest.approx(0.8, abs=1e-6)


def test_crossfade(gl: moderngl.Context) -> None:
    a = Frame(array=np.zeros((H, W, 3), dtype=np.float32)).to_texture(gl)
    b = Frame(array=checker_gradient()).to_texture(gl)
    target = RenderTarget(gl, W, H)
    fade = CrossfadePass(gl)
    np.testing.assert_allclose(read_frame(fade.apply(a, b, 0.25, target)), 0.25 * checker_gradient(), atol=1e-6)
    np.testing.assert_array_equal(read_frame(fade.apply(a, b, 1.0, target)), checker_gradient())
    small = RenderTarget(gl, W // 2, H // 2)   # other sizes are scaled
    assert read_frame(fade.apply(a, b, 1.0, small)).shape == (H // 2, W // 2, 3)


def test_upload_reuses_frame_textures(gl: moderngl.Context) -> None:
    target = RenderTarget(gl, W, H)
    on_gpu = Frame(texture=target.texture)
    assert upload(on_gpu, target) is target.texture
    staging = RenderTarget(gl, W, H)
    texture = upload(Frame(array=checker_gradient()), staging)
    assert texture is staging.texture
    np.testing.assert_array_equal(read_frame(texture), checker_gradient())


def test_target_pool_reallocates_only_on_resize(gl: moderngl.Context) -> None:
    pool = TargetPool(gl)
    first = pool.get("moved", 32, 16)
    assert pool.get("moved", 32, 16) is first
    resized = pool.get("moved", 16, 16)
    assert resized is not first and resized.size == (16, 16)
    pool.release()


def test_shaders_load_by_name(gl: moderngl.Context) -> None:
    assert shader_path("warp").name == "warp.glsl"
    assert "#version" in load_shader_source("fullscreen.vert")
    with pytest.raises(FileNotFoundError, match="no-such-pass.glsl"):
        load_shader_source("no-such-pass")
    program = Program(gl, "crossfade")
    program.set("u_not_there", 1.0)   # uniforms a shader drops are ignored, not errors
    assert program.has("u_mix")


def test_readback8_equals_the_float_readback_rounded(gl) -> None:
    """The rehearsal's encoder reads uint8 through GL's own conversion: the same pixels as rounding
    the float readback, out-of-range values clamped, row 0 at the top."""
    from vj.render.gl import Readback8

    rng = np.random.default_rng(3)
    image = rng.uniform(-0.2, 1.2, size=(40, 56, 3)).astype(np.float32)
    image[0, :, :] = 1.0   # a white top row: orientation
    target = RenderTarget(gl, 56, 40)
    target.write_array(image)
    readback = Readback8(gl, 56, 40)
    pixels = readback.read(target.texture)
    assert pixels.shape == (40, 56, 3) and pixels.dtype == np.uint8
    assert np.array_equal(pixels, Frame(texture=target.texture).to_uint8())
    assert (pixels[0] == 255).all()
    readback.release()
    target.release()
