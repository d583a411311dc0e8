"""Helpers shared by the diffusion tests (imported by name: this folder is on sys.path)."""
from __future__ import annotations

import torch


def params(prompt=(("a storm", 1.0),), **changes):
    """FrameParams with one prompt, as the director builds them."""
    from vj.features import Features
    from vj.frame_params import CameraMotion, Conditioning, FrameParams

    conditioning = Conditioning(prompt=prompt, negative_prompt=changes.pop("negative_prompt", ""))
    fields = dict(index=0, time=0.0, features=Features(), camera=CameraMotion(), conditioning_from=conditioning,
                  conditioning_to=changes.pop("conditioning_to", conditioning), strength=0.5)
    fields.update(changes)
    return FrameParams(**fields)


def picture(width: int = 64, height: int = 64, seed: int = 0):
    """A smooth colourful test picture, 1×3×H×W 0..1."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, max(height // 8, 1), max(width // 8, 1), generator=generator)
    return torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
