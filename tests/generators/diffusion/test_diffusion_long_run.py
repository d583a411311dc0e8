"""A long tiny-model rehearsal with colour coherence on stays near its reference colours."""
from __future__ import annotations

import torch

from diffusion_helpers import params, picture
from vj.render.frame import Frame
from vj.frame_params import CameraMotion
from vj.generators.base import GeneratorContext
from vj.generators.diffusion.coherence import AntiDrift, lab_stats, lab_to_rgb, rgb_to_lab
from vj.generators.diffusion.generator import DiffusionGenerator

FRAMES = 2000


def test_lab_round_trip():
    image = picture(16, 16)
    assert (lab_to_rgb(rgb_to_lab(image)) - image).abs().max() < 1e-4
    white = rgb_to_lab(torch.ones(1, 3, 2, 2))
    assert abs(white[0, 0].mean().item() - 100) < 0.01 and white[0, 1:].abs().max() < 0.01


def test_style_names_are_read():
    settings = AntiDrift.from_style({"coherence": 0.8, "coherence_reference_palette": 1.0, "frame_blend": 0.2,
                                     "latent_blend": 0.1, "noise": 0.3, "contrast_drift": 0.05, "bogus": 9})
    assert settings.coherence == 0.8 and settings.palette and settings.frame_blend == 0.2
    assert settings.latent_blend == 0.1 and settings.noise == 0.3 and abs(settings.contrast - 1.05) < 1e-9
    assert AntiDrift.from_style({"coherence_reference": "palette"}).palette


def saturate(frame: Frame) -> Frame:
    """What a real feedback loop does to colours, frame after frame: more contrast, brighter, warmer.
    A random tiny model repaints everything and settles instead of drifting, so the test brings its
    own drift, and a high ``frame_blend`` keeps most of each picture as a trained model at low
    strength does: then the push compounds frame after frame, as on stage."""
    image = frame.to_tensor()
    pushed = (image - 0.5) * 1.06 + 0.5 + torch.tensor([0.012, 0.004, -0.006]).view(1, 3, 1, 1)
    return Frame(tensor=pushed.clamp(0, 1))


def _run(tiny_model, style, frames):
    generator = DiffusionGenerator(str(tiny_model), device="cpu")
    prompt = (("a storm", 1.0),)
    generator.prepare(GeneratorContext(width=32, height=32, prompts=[prompt]))
    frame = Frame(tensor=picture(32, 32, seed=11))
    stats = []
    try:
        for index in range(frames):
            # The camera's zoom is applied by the render pass in vj; the loop itself is what drifts.
            frame = generator.step(saturate(frame), params(prompt, index=index, strength=0.6, style=style,
                                                 camera=CameraMotion(zoom=1.02)))
            if index == 0 or index % 100 == 99:
                stats.append(lab_stats(frame.to_tensor()))
    finally:
        generator.close()
    return stats


def test_without_coherence_the_loop_drifts(tiny_model):
    """The control: the same loop with coherence off leaves the reference bounds quickly."""
    stats = _run(tiny_model, {"frame_blend": 0.9}, 200)
    (mean0, std0), (mean, std) = stats[0], stats[-1]
    assert (mean - mean0).abs().max() > 6.0 or (std / std0).max() > 1.5


def test_long_run_with_coherence_keeps_colour_statistics(tiny_model):
    stats = _run(tiny_model, {"coherence": 1.0, "frame_blend": 0.9, "noise": 0.05}, FRAMES)
    reference_mean, reference_std = stats[0]
    for mean, std in stats[1:]:
        assert torch.isfinite(mean).all()
        assert (mean - reference_mean).abs().max() < 3.0          # LAB units (L is 0..100)
        ratio = std / reference_std.clamp_min(0.5)
        assert ratio.min() > 0.8 and ratio.max() < 1.25


def test_palette_reference_pulls_to_the_palette(tiny_model):
    style = {"coherence": 1.0, "coherence_reference_palette": 1.0, "palette_l": 40.0, "palette_a": 20.0,
             "palette_b": -10.0, "palette_l_spread": 15.0, "palette_ab_spread": 12.0}
    stats = _run(tiny_model, style, 200)
    mean, std = stats[-1]
    assert (mean.flatten() - torch.tensor([40.0, 20.0, -10.0])).abs().max() < 3.0
    assert (std.flatten() - torch.tensor([15.0, 12.0, 12.0])).abs().max() < 3.0
