"""Flat-plane depth: 3D camera motion without a model (z-travel becomes a perspective-correct zoom)."""
from __future__ import annotations

import numpy as np

from vj.camera.motion3d import DEFAULT_PLANE_DISTANCE
from vj.render.frame import Frame
from vj.frame_params import CameraMotion


class PlaneDepth:
    """Every pixel at ``distance`` world units (clamped to the camera's [near, far]).

    The returned array is cached and read-only: the same object while size and distance hold, so a
    frame costs nothing.
    """

    def __init__(self, distance: float = DEFAULT_PLANE_DISTANCE) -> None:
        distance = float(distance)
        if not np.isfinite(distance) or distance <= 0.0:
            raise ValueError(f"plane depth distance must be a positive number, got {distance!r}")
        self.distance = distance
        self.name = f"plane {distance:g}"
        #: Why a model was not used, when this plane stands in for one (None when asked for).
        self.fallback_reason: str | None = None
        self._cache: np.ndarray | None = None

    def estimate(self, frame: Frame, camera: CameraMotion | None = None) -> np.ndarray:
        value = self.distance
        if camera is not None:
            value = min(max(value, camera.near), camera.far)
        cache = self._cache
        if cache is None or cache.shape != (frame.height, frame.width) or cache[0, 0] != np.float32(value):
            cache = np.full((frame.height, frame.width), value, dtype=np.float32)
            cache.flags.writeable = False
            self._cache = cache
        return cache

    def reset(self) -> None:
        pass

    def close(self) -> None:
        self._cache = None
