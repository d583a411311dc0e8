"""The depth provider contract the 3D camera codes against.

A provider turns a ``Frame`` into an H×W float32 depth map in world units (the units of the camera's
``translation_*``, ``near`` and ``far``; see ``vj.camera.motion3d``), row 0 at the top, always finite and
inside [near, far]. Providers may keep temporal state (smoothing), cleared by ``reset`` at a cut.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from vj.camera.motion3d import sanitize_depth
from vj.render.frame import Frame
from vj.frame_params import CameraMotion

__all__ = ["DepthFallbackWarning", "DepthProvider", "sanitize_depth"]


class DepthFallbackWarning(UserWarning):
    """A depth model could not be used; the 3D camera runs on plane depth instead."""


@runtime_checkable
class DepthProvider(Protocol):
    """Estimates the depth of a frame for reprojection."""

    #: Short description for HUDs and logs ("plane 400", "model depth-anything-small on cuda").
    name: str

    def estimate(self, frame: Frame, camera: CameraMotion | None = None) -> np.ndarray:
        """H×W float32 depth in world units for ``frame`` (finite, within the camera's [near, far]
        when ``camera`` is given, which also sets the range a relative model is mapped into)."""
        ...

    def reset(self) -> None:
        """Forget temporal state (a hard cut: the next frame's depth should not blend with the last)."""
        ...

    def close(self) -> None:
        """Free the model and its device memory."""
        ...
