"""The form of a song's ``camera.depth`` value: checked when the setlist loads, without loading
any model (a missing model is not an error here: it falls back to a plane when the show loads it)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

#: Distance of the default flat-plane depth, in world units: Disco's ``translation_z: 10`` then
#: zooms about 2.6% per frame, close to what the same setting looked like in Disco.
DEFAULT_PLANE_DISTANCE = 400.0


def _parse_spec(spec: Any) -> dict[str, Any]:
    if spec is None:
        return {"kind": "plane"}
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return {"kind": "plane", "distance": float(spec)}
    if isinstance(spec, (str, Path)):
        text = str(spec).strip()
        kind, _, rest = text.partition(":")
        if kind == "plane":
            return {"kind": "plane", **({"distance": float(rest)} if rest else {})}
        if kind == "model":
            if not rest:
                raise ValueError("depth 'model' needs a checkpoint: model:<folder or hub id>")
            return {"kind": "model", "source": rest}
        return {"kind": "model", "source": text}  # a bare path or hub id
    if isinstance(spec, Mapping):
        options = dict(spec)
        options.setdefault("kind", "model" if "source" in options else "plane")
        return options
    raise ValueError(f"depth must be 'plane', 'plane:<distance>', 'model:<folder or hub id>' or a mapping, "
                     f"got {spec!r}")


_MODEL_OPTIONS = {"source", "fallback_distance", "device", "dtype", "resolution", "smoothing", "near", "far",
                  "multiple", "square"}


def validated_depth_spec(spec: Any) -> tuple[str, dict[str, Any]]:
    """(kind, options) of a depth spec, or ValueError naming what is wrong. Loads nothing."""
    options = _parse_spec(spec)
    kind = options.pop("kind")
    if kind == "plane":
        unknown = set(options) - {"distance"}
        if unknown:
            raise ValueError(f"unknown plane depth option(s): {', '.join(sorted(unknown))}")
        distance = float(options.get("distance", DEFAULT_PLANE_DISTANCE))
        if not math.isfinite(distance) or distance <= 0.0:
            raise ValueError(f"plane depth distance must be a positive number, got {distance:g}")
        return kind, options
    if kind != "model":
        raise ValueError(f"unknown depth kind '{kind}'; use plane or model")
    if not options.get("source"):
        raise ValueError("depth 'model' needs a source: a local folder or a Hugging Face hub id in the cache")
    unknown = set(options) - _MODEL_OPTIONS
    if unknown:
        raise ValueError(f"unknown depth model option(s): {', '.join(sorted(unknown))}")
    smoothing = float(options.get("smoothing", 0.6))
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"depth smoothing must be in [0, 1), got {smoothing:g}")
    resolution = int(options.get("resolution", 256))
    if resolution < 16:
        raise ValueError(f"depth resolution must be at least 16 pixels, got {resolution}")
    fallback = float(options.get("fallback_distance", DEFAULT_PLANE_DISTANCE))
    if not math.isfinite(fallback) or fallback <= 0.0:
        raise ValueError(f"depth fallback_distance must be a positive number, got {fallback:g}")
    near, far = options.get("near"), options.get("far")
    if near is not None and far is not None and not 0.0 < float(near) < float(far):
        raise ValueError(f"depth near ({near}) must be positive and less than far ({far})")
    return kind, options


def model_source(spec: Any) -> str | None:
    """The folder or hub id a ``model`` depth spec names (None for a plane); loads nothing."""
    kind, options = validated_depth_spec(spec)
    return str(options["source"]) if kind == "model" else None


def plane_distance(spec: Any) -> float:
    """The plane a depth spec stands for: its own distance for ``plane``, the fallback distance
    for ``model``. Live mode re-applies 3D motion at display rate on this plane."""
    kind, options = validated_depth_spec(spec)
    key = "distance" if kind == "plane" else "fallback_distance"
    return float(options.get(key, DEFAULT_PLANE_DISTANCE))


def check_depth_spec(spec: Any) -> list[str]:
    """Problems with a depth spec, as messages (empty = fine), without loading any model: for
    setlist validation. A missing model is not a problem here (it falls back at load time)."""
    try:
        validated_depth_spec(spec)
    except (ValueError, TypeError) as exc:
        return [str(exc)]
    return []


__all__ = ["DEFAULT_PLANE_DISTANCE", "check_depth_spec", "model_source", "plane_distance", "validated_depth_spec"]
