"""No host work per frame where a GPU would wait for it: colour coherence makes no tensors from host
numbers and inverts no matrix per frame, and the lazy similarity filter never reads a device scalar
it has to wait for (it judges a frame by the newest cosine already on the host)."""
from __future__ import annotations

import torch

from diffusion_helpers import picture
from vj.generators.diffusion import coherence
from vj.generators.diffusion.coherence import AntiDrift, ColourCoherence, lab_to_rgb, rgb_to_lab
from vj.generators.diffusion.stream import SimilarityFilter


def test_colour_matrices_are_exact_inverses():
    forward = torch.tensor(coherence._RGB_TO_XYZ, dtype=torch.float64)
    inverse = torch.tensor(coherence._XYZ_TO_RGB, dtype=torch.float64)
    assert torch.allclose(forward @ inverse, torch.eye(3, dtype=torch.float64), atol=1e-12)
    image = picture(32, 32, seed=4)
    assert (lab_to_rgb(rgb_to_lab(image)) - image).abs().max() < 1e-4


def test_coherence_makes_no_host_tensors_after_its_first_frame(monkeypatch):
    """Counts the calls that copy host numbers to the device (``torch.tensor``) or invert on the CPU
    (``torch.linalg.inv``) while coherence runs frame after frame, with both reference kinds."""
    made: list[str] = []
    real_tensor, real_inv = torch.tensor, torch.linalg.inv
    cue = AntiDrift.from_style({"coherence": 0.8})
    palette = AntiDrift.from_style({"coherence": 0.8, "coherence_reference": "palette", "palette_l": 40.0})
    colour = ColourCoherence()
    frames = [picture(32, 32, seed=s) for s in range(4)]
    for settings in (cue, palette):  # the first frame of each may make its constants
        colour.apply(frames[0], colour.reference(frames[0], 0, settings), settings.coherence)

    def counting_tensor(*args, **kwargs):
        made.append("tensor")
        return real_tensor(*args, **kwargs)

    def counting_inv(*args, **kwargs):
        made.append("inv")
        return real_inv(*args, **kwargs)

    monkeypatch.setattr(torch, "tensor", counting_tensor)
    monkeypatch.setattr(torch.linalg, "inv", counting_inv)
    outputs = []
    for index, frame in enumerate(frames * 2):
        settings = palette if index % 2 else cue
        outputs.append(colour.apply(frame, colour.reference(frame, 0, settings), settings.coherence))
    assert made == []
    assert all(torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1 for out in outputs)


def test_lazy_filter_judges_by_the_cosine_already_on_the_host():
    image = picture(64, 64)
    exact = SimilarityFilter(0.95, lazy=False)
    lazy = SimilarityFilter(0.95, lazy=True)
    # Exact: the second identical frame is already skipped (cos = 1).
    assert [exact.should_skip(image.clone()) for _ in range(3)] == [False, True, True]
    # Lazy: one frame later, because frame 2's cosine is only read at frame 3.
    assert [lazy.should_skip(image.clone()) for _ in range(3)] == [False, False, True]
    # A cut (cosine about 0.87 < threshold: never skipped) is seen one frame late too: the cut
    # frame itself is judged by the still scene's cosine, the frame after it by the cut's.
    other = picture(64, 64, seed=9)
    assert lazy.should_skip(other) is True
    assert lazy.should_skip(other.clone()) is False
    assert lazy.should_skip(other.clone()) is True        # the new scene holds still: skipping again
    lazy.reset()
    assert lazy.should_skip(image) is False and lazy._known is None
