"""Depth providers: plane, a tiny real-class model saved and loaded like a real one, fallbacks."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from vj.depth import DepthFallbackWarning, DepthProvider, ModelDepth, PlaneDepth, load_depth_provider
from vj.render.frame import Frame
from vj.frame_params import CameraMotion

CAMERA = CameraMotion(mode="3d")


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from vj.depth.tiny import build_tiny_depth_model

    return build_tiny_depth_model(tmp_path_factory.mktemp("depth") / "tiny-depth-anything")


def frame(seed: int = 0, width: int = 96, height: int = 64) -> Frame:
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width] / width
    base = np.stack([xs, ys, 0.5 * (xs + ys)], axis=-1)
    return Frame(array=np.clip(base + 0.05 * rng.random((height, width, 3)), 0, 1).astype(np.float32))


def test_plane_provider():
    provider = load_depth_provider("plane:500")
    assert isinstance(provider, PlaneDepth) and isinstance(provider, DepthProvider)
    depth = provider.estimate(frame(), CAMERA)
    assert depth.shape == (64, 96) and depth.dtype == np.float32 and (depth == 500.0).all()
    # Clamped into the camera's range.
    assert (provider.estimate(frame(), CameraMotion(near=600.0, far=900.0)) == 600.0).all()
    assert isinstance(load_depth_provider(None), PlaneDepth)
    assert load_depth_provider({"kind": "plane", "distance": 250}).distance == 250.0
    assert load_depth_provider(provider) is provider


def test_tiny_model_saves_loads_and_runs(tiny_model_dir):
    provider = load_depth_provider({"kind": "model", "source": str(tiny_model_dir), "resolution": 56,
                                    "smoothing": 0.5})
    assert isinstance(provider, ModelDepth) and isinstance(provider, DepthProvider)
    depth = provider.estimate(frame(), CAMERA)
    assert depth.shape == (64, 96) and depth.dtype == np.float32
    assert np.isfinite(depth).all() and depth.min() >= CAMERA.near and depth.max() <= CAMERA.far
    assert depth.std() > 1.0, "a random model still gives a varied depth map"
    provider.close()


def test_temporal_smoothing_damps_flicker(tiny_model_dir):
    smooth = load_depth_provider({"kind": "model", "source": str(tiny_model_dir), "resolution": 56,
                                  "smoothing": 0.8})
    raw = load_depth_provider({"kind": "model", "source": str(tiny_model_dir), "resolution": 56,
                               "smoothing": 0.0})

    def flicker(provider) -> float:
        maps = [1.0 / provider.estimate(frame(seed=i % 2 * 7), CAMERA) for i in range(6)]
        return float(np.mean([np.abs(a - b).mean() for a, b in zip(maps[2:], maps[3:])]))

    assert flicker(smooth) < 0.5 * flicker(raw)
    smooth.reset()
    assert smooth._inverse is None


def test_model_nan_output_gives_finite_depth(tiny_model_dir):
    provider = load_depth_provider({"kind": "model", "source": str(tiny_model_dir), "resolution": 56})
    import torch

    provider._disparity = lambda f: torch.full((1, 1, 8, 8), float("nan"))  # a broken model
    depth = provider.estimate(frame(), CAMERA)
    assert np.isfinite(depth).all() and (depth == 400.0).all()
    provider._disparity = lambda f: torch.zeros((1, 1, 8, 8))  # all zeros: a flat, degenerate map
    assert np.isfinite(provider.estimate(frame(), CAMERA)).all()


def test_missing_weights_fall_back_to_plane_with_warning(tmp_path):
    with pytest.warns(DepthFallbackWarning, match="flat plane"):
        provider = load_depth_provider({"kind": "model", "source": str(tmp_path / "no-such-model")})
    assert isinstance(provider, PlaneDepth)
    assert provider.fallback_reason and "no-such-model" in provider.fallback_reason
    with pytest.warns(DepthFallbackWarning):
        provider = load_depth_provider("model:someone/not-in-the-cache-depth")
    assert isinstance(provider, PlaneDepth)


@pytest.mark.parametrize("spec", ["model:", {"kind": "volume"}, {"kind": "model"},
                                  {"kind": "model", "source": "x", "smoothing": 1.5},
                                  {"kind": "plane", "distance": -3}, {"kind": "model", "source": "x", "colour": 1}])
def test_bad_specs_are_errors_not_fallbacks(spec):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DepthFallbackWarning)
        with pytest.raises(ValueError):
            load_depth_provider(spec)


def test_end_to_end_3d_loop(tiny_model_dir, reproject_pass):
    """depth estimate -> reproject, a few frames, the way the engine runs 3D mode."""
    provider = load_depth_provider({"kind": "model", "source": str(tiny_model_dir), "resolution": 56})
    motion = CameraMotion(mode="3d", translation_z=10.0, rotation_3d_y=1.0)
    current = frame()
    for index in range(4):
        depth = provider.estimate(current, motion)
        current = reproject_pass.apply_frame(current, depth, motion, "noise", seed=index)
        current = Frame(array=current.to_array().copy())  # the generator would repaint here
    out = current.to_array()
    assert np.isfinite(out).all() and out.shape == (64, 96, 3)


def test_check_depth_spec_for_setlist_validation():
    from vj.depth import check_depth_spec

    assert check_depth_spec("plane") == [] and check_depth_spec("model:/not/there") == []
    assert check_depth_spec({"kind": "model", "source": "x", "device": "cuda", "smoothing": 0.3}) == []
    problems = check_depth_spec({"kind": "model", "source": "x", "smoothing": 2})
    assert len(problems) == 1 and "smoothing" in problems[0]
    assert "unknown depth kind" in check_depth_spec({"kind": "lidar"})[0]
    assert check_depth_spec("plane:abc")
