"""Depth for the 3D camera: pluggable providers that give the previous frame's depth in world units.

``plane`` (a flat plane at a set distance: 3D motion with no model; z-travel is a perspective-correct
zoom) and ``model`` (a monocular depth model through transformers, from a local folder or the local
Hugging Face cache). ``load_depth_provider(spec)`` builds either from a setlist value and falls back
to ``plane`` with a warning when weights are missing.
"""
from vj.depth.base import DepthFallbackWarning, DepthProvider, sanitize_depth
from vj.depth.model import ModelDepth, load_depth_provider
from vj.setlist.depth_spec import check_depth_spec
from vj.depth.plane import PlaneDepth

__all__ = ["DepthFallbackWarning", "DepthProvider", "ModelDepth", "PlaneDepth", "check_depth_spec", "load_depth_provider",
           "sanitize_depth"]
