"""Prompt embeddings: slerp, weighted lists, caching, truncation, background encoding."""
from __future__ import annotations

import logging

import pytest
import torch

from vj.generators.diffusion.prompts import PromptBank, PromptEncoder, slerp, weighted_blend


@pytest.fixture()
def encoder(loaded):
    return PromptEncoder(loaded.tokenizer, loaded.text_encoder, loaded.device, loaded.dtype)


def test_slerp_endpoints_and_norm():
    a, b = torch.randn(1, 77, 32), torch.randn(1, 77, 32)
    assert torch.equal(slerp(a, b, 0.0), a) and torch.equal(slerp(a, b, 1.0), b)
    middle = slerp(a, b, 0.5)
    expected_norm = (a.norm(dim=-1) + b.norm(dim=-1)) / 2
    assert torch.allclose(middle.norm(dim=-1), expected_norm, rtol=1e-4)
    # A plain average shrinks; slerp does not.
    assert ((a + b) / 2).norm() < middle.norm()
    # Symmetric: halfway from a to b is halfway from b to a.
    assert torch.allclose(middle, slerp(b, a, 0.5), atol=1e-5)


def test_slerp_parallel_tokens_fall_back_to_lerp():
    a = torch.ones(1, 3, 8)
    out = slerp(a, 2 * a, 0.5)
    assert torch.isfinite(out).all() and torch.allclose(out, 1.5 * a, atol=1e-5)


def test_slerp_is_continuous():
    a, b = torch.randn(1, 4, 16), torch.randn(1, 4, 16)
    steps = [slerp(a, b, t / 50) for t in range(51)]
    jumps = [(x - y).norm().item() for x, y in zip(steps, steps[1:])]
    assert max(jumps) < 3 * min(jumps) + 1e-6


def test_weighted_blend(encoder):
    storm, birds = encoder.encode("storm"), encoder.encode("paper birds")
    assert torch.equal(weighted_blend([storm], [1.0]), storm)
    mostly_storm = weighted_blend([storm, birds], [0.7, 0.3])
    assert torch.allclose(mostly_storm, slerp(storm, birds, 0.3))
    assert (mostly_storm - storm).norm() < (mostly_storm - birds).norm()
    # Only relative weights matter.
    assert torch.allclose(weighted_blend([storm, birds], [7.0, 3.0]), mostly_storm)
    with pytest.raises(ValueError):
        weighted_blend([storm, birds], [1.0, 0.0])


def test_encode_is_cached_and_matches_diffusers(encoder, loaded):
    from diffusers import StableDiffusionImg2ImgPipeline

    first = encoder.encode("a storm")
    assert encoder.encode("a storm") is first
    pipe = StableDiffusionImg2ImgPipeline(vae=loaded.vae, text_encoder=loaded.text_encoder, tokenizer=loaded.tokenizer,
                                          unet=loaded.unet, scheduler=loaded.scheduler, safety_checker=None,
                                          feature_extractor=None, requires_safety_checker=False)
    reference, _ = pipe.encode_prompt("a storm", "cpu", 1, False)
    assert torch.allclose(first, reference)


def test_empty_prompt_encodes(encoder):
    empty = encoder.encode("")
    assert empty.shape == (1, 77, 32) and torch.isfinite(empty).all()


def test_too_long_prompt_is_truncated_with_one_warning(encoder, caplog):
    text = " ".join(["storm"] * 200)
    with caplog.at_level(logging.WARNING, logger="vj.generators.diffusion.prompts"):
        first = encoder.encode(text)
        encoder._cache.clear()  # even when encoded again, the warning is said once
        encoder.encode(text)
    warnings = [r for r in caplog.records if r.name == "vj.generators.diffusion.prompts" and "longer than" in r.getMessage()]
    assert len(warnings) == 1 and "77" in warnings[0].getMessage()
    assert first.shape == (1, 77, 32)


def test_unseen_prompt_encodes_in_the_background(encoder):
    bank = PromptBank(encoder)
    try:
        mix = (("a brand new prompt", 1.0),)
        assert bank.get(mix) is None          # not blocking: queued
        bank.wait()
        found = bank.get(mix)
        assert found is not None and torch.equal(found, encoder.encode("a brand new prompt"))
    finally:
        bank.close()


# -- SDXL: two text encoders, pooled embedding -----------------------------------------------------------
@pytest.fixture()
def encoder_sdxl(loaded_sdxl):
    return PromptEncoder.for_model(loaded_sdxl)


def test_sdxl_encode_matches_diffusers_encode_prompt(encoder_sdxl, loaded_sdxl):
    from diffusers import StableDiffusionXLImg2ImgPipeline

    from vj.generators.diffusion.prompts import PooledEmbedding

    first = encoder_sdxl.encode("a storm")
    assert isinstance(first, PooledEmbedding) and encoder_sdxl.encode("a storm") is first
    assert first.hidden.shape == (1, 77, 64) and first.pooled.shape == (1, 32)
    pipe = StableDiffusionXLImg2ImgPipeline(
        vae=loaded_sdxl.vae, text_encoder=loaded_sdxl.text_encoder, text_encoder_2=loaded_sdxl.text_encoder_2,
        tokenizer=loaded_sdxl.tokenizer, tokenizer_2=loaded_sdxl.tokenizer_2, unet=loaded_sdxl.unet,
        scheduler=loaded_sdxl.scheduler, add_watermarker=False)
    hidden, _, pooled, _ = pipe.encode_prompt("a storm", device="cpu", num_images_per_prompt=1,
                                              do_classifier_free_guidance=False)
    assert torch.allclose(first.hidden, hidden) and torch.allclose(first.pooled, pooled)


def test_sdxl_blends_move_hidden_states_and_pooled_alike(encoder_sdxl):
    storm, birds = encoder_sdxl.encode("storm"), encoder_sdxl.encode("paper birds")
    assert slerp(storm, birds, 0.0) is storm and slerp(storm, birds, 1.0) is birds
    middle = slerp(storm, birds, 0.3)
    assert torch.allclose(middle.hidden, slerp(storm.hidden, birds.hidden, 0.3))
    assert torch.allclose(middle.pooled, slerp(storm.pooled, birds.pooled, 0.3))
    mostly_storm = weighted_blend([storm, birds], [0.7, 0.3])
    for part in ("hidden", "pooled"):
        assert torch.allclose(getattr(mostly_storm, part), getattr(middle, part))
        assert torch.allclose(getattr(weighted_blend([storm, birds], [7.0, 3.0]), part), getattr(mostly_storm, part))
    assert (mostly_storm.pooled - storm.pooled).norm() < (mostly_storm.pooled - birds.pooled).norm()


def test_sdxl_prompt_bank_blends_in_the_background(encoder_sdxl):
    bank = PromptBank(encoder_sdxl)
    try:
        mix = (("a quiet sea", 0.6), ("paper birds", 0.4))
        assert bank.get(mix) is None          # not blocking: queued
        bank.wait()
        found = bank.get(mix)
        expected = weighted_blend([encoder_sdxl.encode("a quiet sea"), encoder_sdxl.encode("paper birds")], [0.6, 0.4])
        assert torch.equal(found.hidden, expected.hidden) and torch.equal(found.pooled, expected.pooled)
    finally:
        bank.close()
