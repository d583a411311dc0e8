"""Randomly initialised depth models of the real transformers classes, for tests and benchmarks.

No weights can be downloaded in CI, so tests build a tiny ``DepthAnythingForDepthEstimation`` (or
``DPTForDepthEstimation``), save it with ``save_pretrained`` and load it back through the same
``load_depth_provider`` a show uses. ``random_depth_model(size="small")`` is the real Depth Anything
V2 Small architecture (24.8 M parameters) with random weights: the right cost for GPU benchmarks.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_IMAGENET = {"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}


def depth_config(kind: str = "depth_anything", size: str = "tiny") -> Any:
    """A transformers config: ``kind`` depth_anything | dpt, ``size`` tiny (~0.1 M parameters, a
    few ms on a CPU at 64 px) or small (Depth Anything V2 Small / a ViT-S DPT: real cost)."""
    from transformers import DepthAnythingConfig, Dinov2Config, DPTConfig

    if size not in ("tiny", "small"):
        raise ValueError(f"size must be tiny or small, got {size!r}")
    if kind == "depth_anything":
        if size == "small":
            return DepthAnythingConfig()  # the defaults are Depth Anything (V2) Small
        # A wide initialiser (0.2, not 0.02) so random weights give a varied depth map, not ~0.
        backbone = Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, mlp_ratio=2,
                                image_size=70, patch_size=14, out_indices=[1, 2, 3, 4],
                                reshape_hidden_states=False, initializer_range=0.2)
        return DepthAnythingConfig(backbone_config=backbone, neck_hidden_sizes=[8, 16, 16, 32],
                                   fusion_hidden_size=16, head_hidden_size=8, reassemble_hidden_size=32,
                                   initializer_range=0.2)
    if kind == "dpt":
        if size == "small":
            return DPTConfig(hidden_size=384, num_hidden_layers=12, num_attention_heads=6,
                             intermediate_size=1536, image_size=384, patch_size=16,
                             neck_hidden_sizes=[48, 96, 192, 384], fusion_hidden_size=64,
                             backbone_out_indices=[2, 5, 8, 11])
        return DPTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
                         image_size=64, patch_size=16, neck_hidden_sizes=[8, 16, 16, 32],
                         fusion_hidden_size=16, backbone_out_indices=[0, 1, 2, 3], initializer_range=0.2)
    raise ValueError(f"kind must be depth_anything or dpt, got {kind!r}")


def random_depth_model(kind: str = "depth_anything", size: str = "tiny", seed: int = 0) -> Any:
    """The model class for ``kind`` with random weights (seeded: the same model every time)."""
    import torch
    from transformers import DepthAnythingForDepthEstimation, DPTForDepthEstimation

    torch.manual_seed(seed)
    config = depth_config(kind, size)
    cls = DepthAnythingForDepthEstimation if kind == "depth_anything" else DPTForDepthEstimation
    return cls(config).eval()


def build_tiny_depth_model(path: str | Path, kind: str = "depth_anything", size: str = "tiny",
                           seed: int = 0) -> Path:
    """Save a random model (``save_pretrained``) plus a preprocessor_config.json to ``path``: a
    checkpoint folder ``load_depth_provider({"kind": "model", "source": path})`` loads like a real one."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    random_depth_model(kind, size, seed).save_pretrained(path)
    stats = _IMAGENET if kind == "depth_anything" else {"image_mean": [0.5] * 3, "image_std": [0.5] * 3}
    (path / "preprocessor_config.json").write_text(json.dumps(stats, indent=2), encoding="utf-8")
    return path
