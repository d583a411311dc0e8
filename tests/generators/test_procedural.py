"""The procedural generator on real GL: deterministic, prompt- and audio-reactive, stable in feedback."""
from __future__ import annotations

import hashlib
from dataclasses import replace

import moderngl
import numpy as np
import pytest

from vj.camera.motion2d import warp_matrix_2d
from vj.features import Features
from vj.render.frame import Frame
from vj.frame_params import CameraMotion, Conditioning, FrameParams
from vj.generators.base import GeneratorContext
from vj.generators.procedural import LOOK_DEFAULTS, ProceduralGenerator, ZoomLayers, conditioning_look
from vj.render.gl import RenderTarget, create_headless_context
from vj.render.passes import WarpPass

SIZE = 64
FOREST = Conditioning((("a forest of glass", 1.0),), prompt_id=0)
OCEAN = Conditioning((("the deep ocean at night", 1.0),), prompt_id=1)
MOTION = CameraMotion(zoom=1.03, angle=0.7)


@pytest.fixture(scope="module")
def gl_module() -> moderngl.Context:
    ctx = create_headless_context()
    yield ctx
    ctx.release()


@pytest.fixture()
def gl(gl_module: moderngl.Context) -> moderngl.Context:
    """The module's context, made current for this test (another test may have left none current)."""
    gl_module.__enter__()
    return gl_module


def make(gl: moderngl.Context) -> ProceduralGenerator:
    generator = ProceduralGenerator()
    generator.prepare(GeneratorContext(SIZE, SIZE, gl=gl))
    return generator


def params(index: int, conditioning: Conditioning = FOREST, **changes: object) -> FrameParams:
    base = FrameParams(index=index, time=index / 24.0, features=Features(), camera=MOTION,
                       conditioning_from=conditioning, conditioning_to=conditioning, strength=0.4)
    return replace(base, **changes)


def run(gl: moderngl.Context, generator: ProceduralGenerator, frames: int,
        make_params=params) -> list[np.ndarray]:
    """The Disco loop: warp the previous frame by the camera, step; returns every frame's pixels."""
    warp, moved = WarpPass(gl), RenderTarget(gl, SIZE, SIZE)
    frame = generator.first_frame(make_params(0))
    images = [frame.to_array()]
    for index in range(1, frames + 1):
        p = make_params(index)
        matrix = warp_matrix_2d(p.camera, SIZE, SIZE)
        frame = generator.step(Frame(texture=warp.apply(frame.to_texture(gl), matrix, p.border, moved)), p)
        images.append(frame.to_array())
    moved.release()
    warp.release()
    return images


def digest(images: list[np.ndarray]) -> str:
    return hashlib.sha256(b"".join(image.tobytes() for image in images)).hexdigest()


def test_deterministic(gl: moderngl.Context) -> None:
    first, second = make(gl), make(gl)
    assert digest(run(gl, first, 20)) == digest(run(gl, second, 20))
    first.close()
    second.close()


def test_first_frame_is_a_colourful_pattern(gl: moderngl.Context) -> None:
    generator = make(gl)
    image = generator.first_frame(params(0)).to_array()
    assert image.shape == (SIZE, SIZE, 3)
    assert image.std(axis=(0, 1)).min() > 0.02   # structure in every channel
    generator.close()


def test_prompt_changes_palette_and_pattern(gl: moderngl.Context) -> None:
    generator = make(gl)
    forest = generator.first_frame(params(0, FOREST)).to_array()
    ocean = generator.first_frame(params(0, OCEAN)).to_array()
    assert np.abs(forest - ocean).mean() > 0.05
    assert not np.allclose(conditioning_look(FOREST)[0], conditioning_look(OCEAN)[0])
    # Mid-transition is between the two ends, not either of them.
    halfway = generator.first_frame(params(0, conditioning_from=FOREST, conditioning_to=OCEAN, blend=0.5)).to_array()
    assert np.abs(halfway - forest).mean() > 0.01 and np.abs(halfway - ocean).mean() > 0.01
    assert np.abs(halfway - 0.5 * (forest + ocean)).mean() < 0.02   # a crossfade of the two
    generator.close()


def test_seed_and_look_change_the_picture(gl: moderngl.Context) -> None:
    generator = make(gl)
    base = generator.first_frame(params(0)).to_array()
    reseeded = generator.first_frame(params(0, seed=7, next_seed=7, seed_blend=1.0)).to_array()
    turned = generator.first_frame(params(0, look={"hue": 0.5})).to_array()
    assert np.abs(base - reseeded).mean() > 0.03
    assert np.abs(base - turned).mean() > 0.03
    defaults = generator.first_frame(params(0, look=dict(LOOK_DEFAULTS))).to_array()
    np.testing.assert_array_equal(base, defaults)
    generator.close()


def test_onset_flashes(gl: moderngl.Context) -> None:
    quiet, hit = make(gl), make(gl)
    quiet_frames = run(gl, quiet, 8)
    hit_frames = run(gl, hit, 8, lambda i: params(i, features=Features(onset=1.0 if i == 8 else 0.0)))
    np.testing.assert_array_equal(quiet_frames[7], hit_frames[7])    # nothing before the hit
    assert hit_frames[8].mean() > quiet_frames[8].mean() + 0.03        # brighter on it
    assert np.abs(hit_frames[8] - quiet_frames[8]).mean() > 0.05       # and the pattern kicks
    quiet.close()
    hit.close()


def test_strength_zero_keeps_previous_and_one_paints_new(gl: moderngl.Context) -> None:
    generator = make(gl)
    previous = Frame(array=np.full((SIZE, SIZE, 3), 0.3, dtype=np.float32))
    kept = generator.step(previous, params(1, strength=0.0, look={"flow": 0.0, "drift": 0.0})).to_array()
    np.testing.assert_allclose(kept, 0.3 * 0.995, atol=1e-5)   # only the feedback's slow fade
    still = CameraMotion()
    pure = generator.first_frame(params(1, camera=still)).to_array()
    fresh = generator.step(previous, params(1, strength=1.0, camera=still)).to_array()
    np.testing.assert_allclose(fresh, pure, atol=1e-5)
    generator.close()


def test_long_feedback_run_stays_alive(gl: moderngl.Context) -> None:
    """~500 frames of zooming feedback with audio: no white-out, no collapse to flat colour."""
    generator = make(gl)

    def song(i: int) -> FrameParams:
        beat = i / 12.0
        features = Features(onset=1.0 if i % 12 == 0 else 0.0, low=0.5 + 0.5 * np.sin(i / 9.0) ** 2,
                            high=0.3, rms=0.6, beat=beat, beat_phase=beat % 1.0)
        return params(i, features=features, strength=0.35 + 0.25 * np.sin(i / 40.0))

    images = run(gl, generator, 500, song)
    for image in images[100::50]:
        assert image.std(axis=(0, 1)).min() > 0.02, "collapsed toward a flat colour"
        assert 0.05 < image.mean() < 0.85, "drifted to black or white"
        assert (image > 0.99).mean() < 0.2, "saturating to white"
    generator.close()


def test_step_never_draws_into_its_input(gl: moderngl.Context) -> None:
    generator = make(gl)
    frame = generator.first_frame(params(0))
    for index in range(1, 4):   # feeding outputs straight back (a camera that does not move)
        after = generator.step(frame, params(index))
        assert after.to_texture(gl) is not frame.to_texture(gl)
        frame = after
    generator.close()


def test_needs_prepare() -> None:
    with pytest.raises(RuntimeError, match="prepare"):
        ProceduralGenerator().first_frame(params(0))


def test_makes_its_own_context_when_none_given() -> None:
    generator = ProceduralGenerator()
    generator.prepare(GeneratorContext(16, 16))
    assert generator.first_frame(params(0)).size == (16, 16)
    generator.close()


def test_pattern_rides_the_camera(gl: moderngl.Context) -> None:
    """New paint lands where the camera moved the old paint: a panned pattern is the same picture, panned."""
    generator = make(gl)
    pan = CameraMotion(translation_x=4.0, translation_y=2.0)
    frozen = {"speed": 0.0, "sparkle": 0.0}
    before = generator.first_frame(params(0, camera=pan, look=frozen)).to_array()
    after = generator.step(Frame(array=before), params(1, camera=pan, look=frozen, strength=1.0)).to_array()
    np.testing.assert_allclose(after[2:, 4:], before[:-2, :-4], atol=2e-3)
    generator.close()


def test_endless_zoom_keeps_numbers_small() -> None:
    layers = ZoomLayers(64, 48)
    zoom = CameraMotion(zoom=1.05, angle=1.0, translation_x=0.5)
    for _ in range(3000):
        layers.advance(zoom)
    assert all(0.0 <= level < 1.0 for level in layers.levels)
    assert max(np.abs(m).max() for m in layers.maps) < 1e3
    weights = layers.uniforms()[2]
    assert min(weights) > 0.0
    assert abs(np.sin(np.pi * layers.levels[0]) ** 2 + np.sin(np.pi * layers.levels[1]) ** 2 - 1.0) < 1e-9
