"""The hot loop's behaviour: strength edges, seeds, stream batching, similarity filter, generator wiring."""
from __future__ import annotations

import pytest
import torch

from diffusion_helpers import params, picture
from vj.render.frame import Frame
from vj.generators.base import GeneratorContext
from vj.generators.diffusion.accelerate import eager_unet
from vj.generators.diffusion.generator import DiffusionGenerator
from vj.generators.diffusion.prompts import PromptEncoder, slerp
from vj.generators.diffusion.stream import ImageStream, NoiseBank, make_sampler


def make_stream(loaded, size=32, **options):
    return ImageStream(unet_call=eager_unet(loaded.unet), vae=loaded.vae, vae_kind=loaded.vae_kind,
                       scaling_factor=loaded.scaling_factor,
                       sampler=make_sampler(loaded.scheduler, loaded.device, loaded.dtype, options.pop("sampler", None)),
                       latent_shape=(4, size // 8, size // 8), device=loaded.device, dtype=loaded.dtype, **options)


@pytest.fixture()
def embeds(loaded):
    return PromptEncoder(loaded.tokenizer, loaded.text_encoder, loaded.device, loaded.dtype).encode("a storm")


def test_strength_zero_passes_the_picture_through(loaded, embeds):
    image = picture(32, 32)
    assert torch.equal(make_stream(loaded)(image, embeds, strength=0.0, steps=1), image)


def test_strength_one_repaints_from_the_seed(loaded, embeds):
    stream = make_stream(loaded)
    a = stream(picture(32, 32, 1), embeds, strength=1.0, steps=1, seed=5, next_seed=5)
    b = stream(picture(32, 32, 2), embeds, strength=1.0, steps=1, seed=5, next_seed=5)
    assert torch.isfinite(a).all() and a.min() >= 0 and a.max() <= 1
    # At full strength the input barely matters (t=999: almost all noise).
    assert (a - b).abs().mean() < 0.05


def test_same_seed_same_frame_and_seed_blending(loaded, embeds):
    stream = make_stream(loaded)
    image = picture(32, 32)
    run = lambda **kw: stream(image, embeds, strength=0.8, steps=1, **kw)  # noqa: E731
    a, a_again, b = run(seed=1, next_seed=1), run(seed=1, next_seed=1), run(seed=2, next_seed=2)
    assert torch.equal(a, a_again) and not torch.equal(a, b)
    assert torch.allclose(run(seed=1, next_seed=2, seed_blend=0.0), a)
    assert torch.allclose(run(seed=1, next_seed=2, seed_blend=1.0), b)
    middle = run(seed=1, next_seed=2, seed_blend=0.5)
    assert not torch.allclose(middle, a) and not torch.allclose(middle, b)
    # Smooth: small seed_blend steps give small picture steps.
    frames = [run(seed=1, next_seed=2, seed_blend=t / 10) for t in range(11)]
    jumps = [(x - y).abs().mean().item() for x, y in zip(frames, frames[1:])]
    assert max(jumps) < 0.5 * (a - b).abs().mean().item() + 1e-6


def test_seed_noise_slerp_keeps_unit_variance():
    bank = NoiseBank((1, 4, 32, 32), "cpu", torch.float32)
    for blend in (0.25, 0.5, 0.75):
        assert abs(bank.blended(1, 2, blend).std().item() - 1.0) < 0.05


@pytest.mark.parametrize("sampler", ["euler", "lcm"])
def test_stream_batch_prefills_from_the_first_input(loaded, embeds, sampler):
    """No brown/grey warm-up frames: with a model that keeps what it is given (predicts no noise), the
    first stream-batched output is already the input picture, lightly noised; StreamDiffusion's
    zero-filled buffer gives a blank frame instead."""
    image = picture(32, 32)
    probe = make_stream(loaded, sampler=sampler)
    clean = probe.encode(image).float()

    def keep(sample, timesteps, hidden):
        return torch.zeros_like(sample)

    def stream(**options):
        made = make_stream(loaded, stream_batch=True, sampler=sampler, **options)
        made.unet_call = keep
        return made

    made = stream()
    made(image, embeds, strength=0.5, steps=3, seed=3, next_seed=3)
    schedule = made.sampler.schedule(0.5, 3)
    # Its first output is the input's own latent at the last step's noise level, not a blank.
    expected = clean + schedule.sigmas[2] * made.noise.get(3)[2]
    if sampler == "lcm":  # LCM's boundary scalings at that timestep
        expected = (schedule.next_x0[2] + schedule.next_x[2]) * expected
    assert (made.last_latent - expected).abs().max() < 1e-5
    cold = stream()
    cold._buffer, cold._buffer_key = torch.zeros(2, 4, 4, 4), (0, 3)
    cold(image, embeds, strength=0.5, steps=3, seed=3, next_seed=3)
    assert cold.last_latent.abs().max() == 0          # the cold start's first frame is blank


@pytest.mark.parametrize("sampler", ["euler", "lcm"])
def test_stream_batch_settles_on_sequential_stepping(loaded, embeds, sampler):
    image = picture(32, 32)
    sequential = make_stream(loaded, sampler=sampler)(image, embeds, strength=0.5, steps=3, seed=3, next_seed=3)
    batched = make_stream(loaded, stream_batch=True, sampler=sampler)
    for _ in range(4):   # output lags steps−1 frames; fed the same picture it settles exactly
        settled = batched(image, embeds, strength=0.5, steps=3, seed=3, next_seed=3)
    assert (settled - sequential).abs().max() < 1e-3


def test_similarity_filter_skips_unchanged_input(loaded, embeds):
    stream = make_stream(loaded, similarity_filter=0.5)
    image = picture(32, 32)
    first = stream(image, embeds, strength=0.5, steps=1)
    assert stream(image.clone(), embeds, strength=0.5, steps=1) is first  # cos = 1: always skipped


def test_generator_prompt_change_holds_then_blends(tiny_model):
    generator = DiffusionGenerator(str(tiny_model), device="cpu")
    known = (("a storm", 1.0),)
    generator.prepare(GeneratorContext(width=32, height=32, prompts=[known]))
    try:
        frame = generator.first_frame(params(known))
        assert frame.size == (32, 32)
        new = (("a quiet sea", 0.6), ("paper birds", 0.4))
        from vj.frame_params import Conditioning

        moving = params(known, conditioning_to=Conditioning(prompt=new), blend=0.5)
        held, _ = generator.conditioning(moving)     # new prompt not encoded yet: hold the last one
        assert torch.equal(held, generator.prompts.encode_now(known))
        out = generator.step(frame, moving)           # renders without waiting
        assert isinstance(out, Frame) and out.to_tensor().shape == (1, 3, 32, 32)
        generator.prompts.wait()
        blended, _ = generator.conditioning(moving)
        assert not torch.equal(blended, held)
        assert torch.allclose(generator.conditioning(params(known, conditioning_to=Conditioning(prompt=new),
                                                            blend=1.0))[0], generator.prompts.encode_now(new))
    finally:
        generator.close()


def test_generator_guidance_uses_negative_prompt(tiny_model):
    generator = DiffusionGenerator(str(tiny_model), device="cpu")
    known = (("a storm", 1.0),)
    generator.prepare(GeneratorContext(width=32, height=32, prompts=[known], negative_prompts=["blurry"]))
    try:
        frame = Frame(tensor=picture(32, 32))
        plain = generator.step(frame, params(known, guidance=0.0)).to_tensor()
        guided = generator.step(frame, params(known, guidance=4.0, negative_prompt="blurry")).to_tensor()
        assert torch.isfinite(guided).all() and not torch.allclose(plain, guided)
    finally:
        generator.close()


def test_step_errors_propagate(tiny_model):
    """The engine falls back to procedural on an exception: step must raise, never swallow."""
    from vj.generators.base import GeneratorError

    generator = DiffusionGenerator(str(tiny_model), device="cpu")
    generator.prepare(GeneratorContext(width=32, height=32))
    try:
        with pytest.raises(GeneratorError, match="prepared for 32x32"):
            generator.step(Frame(tensor=picture(64, 64)), params())
    finally:
        generator.close()


def test_blocking_prompts_option_encodes_at_once(tiny_model):
    """Rehearsals that must repeat exactly can ask for unseen prompts to be encoded on the spot."""
    generator = DiffusionGenerator(str(tiny_model), device="cpu")
    generator.prepare(GeneratorContext(width=32, height=32, options={"blocking_prompts": True}))
    try:
        from vj.frame_params import Conditioning

        new = (("never listed", 1.0),)
        embeds, _ = generator.conditioning(params(new, conditioning_to=Conditioning(prompt=new)))
        assert torch.equal(embeds, generator.prompts.encoder.encode("never listed"))
    finally:
        generator.close()


# -- SDXL ------------------------------------------------------------------------------------------------
def test_sdxl_stream_batch_settles_on_sequential_stepping(loaded_sdxl):
    """The batched call carries one pooled embedding and one set of time ids per in-flight frame."""
    embeds = PromptEncoder.for_model(loaded_sdxl).encode("a storm")
    image = picture(32, 32)
    sequential = make_stream(loaded_sdxl)(image, embeds, strength=0.5, steps=3, seed=3, next_seed=3)
    batched = make_stream(loaded_sdxl, stream_batch=True)
    for _ in range(4):
        settled = batched(image, embeds, strength=0.5, steps=3, seed=3, next_seed=3)
    assert (settled - sequential).abs().max() < 1e-3


def test_sdxl_generator_weighted_prompts_and_prompt_change(tiny_sdxl):
    from vj.frame_params import Conditioning
    from vj.generators.diffusion.prompts import PooledEmbedding, weighted_blend

    generator = DiffusionGenerator(str(tiny_sdxl), device="cpu")
    known = (("a storm", 0.7), ("paper birds", 0.3))
    generator.prepare(GeneratorContext(width=32, height=32, prompts=[known], negative_prompts=["blurry"]))
    try:
        encode = generator.prompts.encoder.encode
        weighted, _ = generator.conditioning(params(known))
        expected = weighted_blend([encode("a storm"), encode("paper birds")], [0.7, 0.3])
        assert isinstance(weighted, PooledEmbedding)
        assert torch.equal(weighted.hidden, expected.hidden) and torch.equal(weighted.pooled, expected.pooled)
        frame = generator.first_frame(params(known))
        assert frame.size == (32, 32)
        new = (("a quiet sea", 1.0),)
        moving = params(known, conditioning_to=Conditioning(prompt=new), blend=0.5)
        held, _ = generator.conditioning(moving)      # new prompt not encoded yet: hold the last one
        assert held is generator.prompts.encode_now(known)
        out = generator.step(frame, moving).to_tensor()  # renders without waiting
        assert out.shape == (1, 3, 32, 32) and torch.isfinite(out).all()
        generator.prompts.wait()
        blended, _ = generator.conditioning(moving)
        sea = encode("a quiet sea")
        assert torch.allclose(blended.pooled, slerp(weighted.pooled, sea.pooled, 0.5))
        assert torch.allclose(blended.hidden, slerp(weighted.hidden, sea.hidden, 0.5))
        still = generator.step(frame, params(known)).to_tensor()
        changed = generator.step(frame, moving).to_tensor()
        assert torch.isfinite(changed).all() and (changed - still).abs().max() > 1e-3
        # Guidance: no negative prompt is SDXL's zero embedding (as diffusers), a negative prompt is encoded.
        _, zero = generator.conditioning(params(known, guidance=3.0))
        assert not zero.hidden.any() and not zero.pooled.any()
        _, blurry = generator.conditioning(params(known, guidance=3.0, negative_prompt="blurry"))
        assert torch.equal(blurry.pooled, encode("blurry").pooled)
        guided = generator.step(frame, params(known, guidance=3.0, negative_prompt="blurry")).to_tensor()
        assert torch.isfinite(guided).all()
    finally:
        generator.close()


def test_sdxl_generator_stream_batch_and_self_cfg(tiny_sdxl):
    generator = DiffusionGenerator(str(tiny_sdxl), device="cpu", stream_batch=True, cfg="self")
    known = (("a storm", 1.0),)
    generator.prepare(GeneratorContext(width=32, height=32, prompts=[known], options={"max_steps": 2}))
    try:
        frame = Frame(tensor=picture(32, 32))
        for _ in range(2):
            frame = generator.step(frame, params(known, steps=2, guidance=2.0))
        assert torch.isfinite(frame.to_tensor()).all()
    finally:
        generator.close()
