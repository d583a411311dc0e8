"""Monocular depth through transformers (Depth Anything V2 / DPT / MiDaS checkpoints), made live-safe.

Relative depth models output affine-invariant inverse depth (disparity): larger = nearer, with an
unknown scale per frame. ``ModelDepth`` maps it into world units the way the 3D camera expects:

1. run the model on the frame at reduced resolution (``resolution`` on the short side) on the
   generator's device, without gradients;
2. take robust bounds of the disparity (2nd/98th percentiles), smoothed over time (EMA) so the
   scene's scale does not pump from frame to frame;
3. interpolate inverse depth between 1/near and 1/far (nearest content at ``near``, farthest at
   ``far``), smoothed over time (EMA in inverse depth) so depth does not flicker;
4. upsample to the frame's size and sanitise (non-finite → the fallback plane, clamp to [near, far]).

Metric models (``depth_estimation_type: metric``) are inverted to disparity first and treated alike.
Weights load only from a local folder (``save_pretrained`` layout) or the local Hugging Face cache
(``local_files_only``): a show never downloads. ``load_depth_provider`` falls back to a plane with a
``DepthFallbackWarning`` when they are missing.
"""
from __future__ import annotations

import json
import logging
import math
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from vj.camera.motion3d import sanitize_depth
from vj.depth.base import DepthFallbackWarning, DepthProvider
from vj.depth.plane import PlaneDepth
from vj.render.frame import Frame
from vj.frame_params import CameraMotion
from vj.setlist.depth_spec import DEFAULT_PLANE_DISTANCE, validated_depth_spec

log = logging.getLogger(__name__)

#: ImageNet statistics: Depth Anything's; DPT checkpoints ship their own (read from the folder).
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_DEFAULTS = CameraMotion()


def _preprocessor_stats(source: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """image_mean/std from the checkpoint's preprocessor_config.json (folder or cache), else ImageNet."""
    path: Path | None = Path(source) / "preprocessor_config.json"
    if not path.is_file():
        path = None
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(source, "preprocessor_config.json")
            if isinstance(cached, str):
                path = Path(cached)
        except Exception:  # not a hub id, or no hub library: the defaults are right for Depth Anything
            path = None
    if path is not None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return tuple(data.get("image_mean", _IMAGENET_MEAN)), tuple(data.get("image_std", _IMAGENET_STD))
        except (OSError, ValueError):
            pass
    return _IMAGENET_MEAN, _IMAGENET_STD


class ModelDepth:
    """A transformers depth-estimation model as a ``DepthProvider`` (see module docstring).

    ``smoothing`` (0..1) is the EMA weight of the past: 0 = none, 0.6 = default (depth settles in a
    few frames), close to 1 = very slow. ``near``/``far`` override the camera's range for the mapping
    (less parallax: a narrower range); the reprojection still clamps to the camera's own.
    """

    def __init__(self, model: Any, *, device: Any = "cpu", resolution: int = 256, smoothing: float = 0.6,
                 mean: tuple[float, ...] = _IMAGENET_MEAN, std: tuple[float, ...] = _IMAGENET_STD,
                 multiple: int | None = None, square: bool | None = None, near: float | None = None,
                 far: float | None = None, dtype: Any = None, name: str = "model") -> None:
        import torch

        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"depth smoothing must be in [0, 1), got {smoothing}")
        if resolution < 16:
            raise ValueError(f"depth resolution must be at least 16 pixels, got {resolution}")
        self.device = torch.device(device)
        self.dtype = dtype or torch.float32
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        config = getattr(model, "config", None)
        model_type = getattr(config, "model_type", "")
        backbone = getattr(config, "backbone_config", None)
        patch = getattr(backbone, "patch_size", None) or getattr(config, "patch_size", None) or 16
        # Depth Anything (DINOv2) takes any multiple of its patch; DPT's ViT wants a square input.
        self.multiple = int(multiple or (patch if model_type == "depth_anything" else 32))
        self.square = bool(model_type != "depth_anything") if square is None else square
        self.metric = getattr(config, "depth_estimation_type", "relative") == "metric"
        self.resolution = int(resolution)
        self.smoothing = float(smoothing)
        self.mean = torch.tensor(mean, device=self.device, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=self.device, dtype=torch.float32).view(1, 3, 1, 1)
        self.near, self.far = near, far
        self.name = name
        self._bounds: tuple[float, float] | None = None
        self._inverse: Any = None  # smoothed inverse depth at model resolution (torch)

    @classmethod
    def from_pretrained(cls, source: str | Path, *, device: Any = "cpu", dtype: Any = None,
                        **options: Any) -> "ModelDepth":
        """Load a checkpoint from a local folder or the local HF cache (never the network).

        Raises OSError when the weights are not there (``load_depth_provider`` turns that into a
        plane fallback with a warning).
        """
        from transformers import AutoModelForDepthEstimation

        source = str(source)
        folder = Path(source).expanduser()
        if not folder.is_dir():
            # A hub id: its snapshot in the local cache. transformers' own local_files_only still
            # asks the network for adapter files (a 20 s stall offline); a folder path never does.
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(source, local_files_only=True))
        model = AutoModelForDepthEstimation.from_pretrained(str(folder), local_files_only=True)
        mean, std = _preprocessor_stats(source)
        options.setdefault("mean", mean)
        options.setdefault("std", std)
        options.setdefault("name", f"model {Path(source).name or source} on {device}")
        return cls(model, device=device, dtype=dtype, **options)

    def _input_size(self, width: int, height: int) -> tuple[int, int]:
        m = self.multiple
        if self.square:
            side = max(m, int(round(self.resolution / m)) * m)
            return side, side
        scale = self.resolution / min(width, height)
        return (max(m, int(round(width * scale / m)) * m), max(m, int(round(height * scale / m)) * m))

    def _disparity(self, frame: Frame) -> Any:
        import torch
        import torch.nn.functional as F

        image = frame.to_tensor(self.device, torch.float32)
        width, height = self._input_size(frame.width, frame.height)
        pixels = F.interpolate(image, size=(height, width), mode="bilinear", align_corners=False,
                               antialias=True)
        pixels = ((pixels.clamp(0, 1) - self.mean) / self.std).to(self.dtype)
        with torch.inference_mode():
            predicted = self.model(pixel_values=pixels).predicted_depth
        predicted = predicted.reshape(1, 1, *predicted.shape[-2:]).float()
        if self.metric:
            predicted = 1.0 / predicted.clamp_min(1e-6)
        return predicted

    def estimate(self, frame: Frame, camera: CameraMotion | None = None) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        near = float(self.near if self.near is not None else (camera.near if camera else _DEFAULTS.near))
        far = float(self.far if self.far is not None else (camera.far if camera else _DEFAULTS.far))
        clamp_near = camera.near if camera is not None else near
        clamp_far = camera.far if camera is not None else far
        if not (math.isfinite(near) and math.isfinite(far) and 0.0 < near < far):
            near, far = _DEFAULTS.near, _DEFAULTS.far
        fallback = min(max(DEFAULT_PLANE_DISTANCE, near), far)

        disparity = torch.nan_to_num(self._disparity(frame), nan=0.0, posinf=0.0, neginf=0.0)
        flat = disparity.flatten()
        if flat.numel() > 65536:
            flat = flat[:: flat.numel() // 65536 + 1]
        lo, hi = (float(x) for x in torch.quantile(flat, torch.tensor([0.02, 0.98], device=flat.device)))
        if self._bounds is not None and self.smoothing > 0.0:
            a = self.smoothing
            lo, hi = a * self._bounds[0] + (1 - a) * lo, a * self._bounds[1] + (1 - a) * hi
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi - lo < 1e-6 * max(1.0, abs(hi)):
            inverse = torch.full_like(disparity, 1.0 / fallback)  # flat or broken output: a plane
        else:
            self._bounds = (lo, hi)
            s = ((disparity - lo) / (hi - lo)).clamp(0.0, 1.0)
            inverse = s / near + (1.0 - s) / far
        if self._inverse is not None and self._inverse.shape == inverse.shape and self.smoothing > 0.0:
            inverse = self.smoothing * self._inverse + (1.0 - self.smoothing) * inverse
        self._inverse = inverse
        full = F.interpolate(inverse, size=(frame.height, frame.width), mode="bilinear", align_corners=False)
        depth = (1.0 / full.clamp_min(1e-12))[0, 0].cpu().numpy()
        return sanitize_depth(depth, clamp_near, clamp_far, fallback)

    def reset(self) -> None:
        self._bounds = None
        self._inverse = None

    def close(self) -> None:
        self.reset()
        self.model = None


def load_depth_provider(spec: Any = None) -> DepthProvider:
    """A depth provider from a setlist value; missing model weights fall back to a plane, with a
    ``DepthFallbackWarning`` that says why and how to fix it (the show goes on).

    ``spec``: None / ``"plane"`` / ``"plane:400"`` / a number (plane distance) /
    ``"model:<folder or hub id>"`` / a mapping ``{kind: plane, distance: 400}`` or
    ``{kind: model, source: ..., device: cuda, resolution: 256, smoothing: 0.6, near: .., far: ..,
    fallback_distance: 400}``; an existing provider is returned as is. Malformed specs raise ValueError.
    """
    if spec is not None and not isinstance(spec, (str, Path, Mapping, int, float)) and hasattr(spec, "estimate"):
        return spec
    kind, options = validated_depth_spec(spec)
    if kind == "plane":
        return PlaneDepth(float(options.get("distance", DEFAULT_PLANE_DISTANCE)))
    source = options.pop("source")
    fallback = float(options.pop("fallback_distance", DEFAULT_PLANE_DISTANCE))
    if isinstance(options.get("dtype"), str):
        import torch

        options["dtype"] = getattr(torch, options["dtype"])
    try:
        return ModelDepth.from_pretrained(source, **options)
    except (OSError, ValueError, ImportError, KeyError, RuntimeError, AssertionError) as exc:
        # AssertionError: torch's answer to device='cuda' on a machine without CUDA.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        message = (f"depth model '{source}' could not be loaded ({reason}); the 3D camera uses a flat plane "
                   f"at {fallback:g} instead. Put the weights in a local folder (save_pretrained layout) or "
                   f"the Hugging Face cache (e.g. `huggingface-cli download "
                   f"depth-anything/Depth-Anything-V2-Small-hf` on a connected machine) and name it as the source.")
        warnings.warn(message, DepthFallbackWarning, stacklevel=2)
        log.warning("%s", message)
        plane = PlaneDepth(fallback)
        plane.fallback_reason = message
        plane.name = f"plane {fallback:g} (model '{source}' missing)"
        return plane
