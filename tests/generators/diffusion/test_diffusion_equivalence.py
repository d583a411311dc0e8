"""One hot-loop frame equals diffusers' own StableDiffusionImg2ImgPipeline (and, for SDXL,
StableDiffusionXLImg2ImgPipeline) for the same inputs."""
from __future__ import annotations

import pytest
import torch
from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionXLImg2ImgPipeline

from diffusion_helpers import picture
from vj.generators.diffusion.loader import load_model
from vj.generators.diffusion.prompts import PooledEmbedding, PromptEncoder
from vj.generators.diffusion.stream import ImageStream, make_sampler, strength_timesteps
from vj.generators.diffusion.accelerate import eager_unet

SEED = 1234
PROMPT = "a storm of paper birds"


def _stream(loaded, height, width):
    scale = loaded.vae_scale_factor
    return ImageStream(unet_call=eager_unet(loaded.unet), vae=loaded.vae, vae_kind=loaded.vae_kind,
                       scaling_factor=loaded.scaling_factor,
                       sampler=make_sampler(loaded.scheduler, loaded.device, loaded.dtype),
                       latent_shape=(4, height // scale, width // scale), device=loaded.device, dtype=loaded.dtype)


def _pipeline_noise(pipe, shape, draws):
    """The noise the pipeline adds: its generator's ``draws``-th randn of the latent shape (the full
    VAE samples its posterior with the first draw; TAESD draws nothing)."""
    generator = torch.Generator().manual_seed(SEED)
    for _ in range(draws):
        noise = torch.randn(shape, generator=generator)
    return noise


@pytest.mark.parametrize("steps,num_inference_steps,strength,guidance", [
    (1, 2, 0.5, 0.0),     # sd-turbo's img2img recipe: 2 steps at strength 0.5 run 1 step at t=499
    (2, 4, 0.5, 0.0),
    (3, 4, 0.75, 3.0),    # full classifier-free guidance with a negative prompt
])
def test_hot_loop_matches_diffusers_img2img(tiny_model, steps, num_inference_steps, strength, guidance):
    loaded = load_model(str(tiny_model), device="cpu")
    pipe = StableDiffusionImg2ImgPipeline(vae=loaded.vae, text_encoder=loaded.text_encoder, tokenizer=loaded.tokenizer,
                                          unet=loaded.unet, scheduler=loaded.scheduler, safety_checker=None,
                                          feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    image = picture(64, 64)
    expected = pipe(prompt=PROMPT, negative_prompt="blurry", image=image, strength=strength,
                    num_inference_steps=num_inference_steps, guidance_scale=guidance,
                    generator=torch.Generator().manual_seed(SEED), output_type="pt").images

    stream = _stream(loaded, 64, 64)
    noise = torch.zeros(4, 1, 4, 8, 8)
    noise[0] = _pipeline_noise(pipe, (1, 4, 8, 8), draws=2)
    stream.noise.put(SEED, noise)
    encoder = PromptEncoder(loaded.tokenizer, loaded.text_encoder, loaded.device, loaded.dtype)
    got = stream(image, encoder.encode(PROMPT), strength=strength, steps=steps, seed=SEED, next_seed=SEED,
                 guidance=guidance, negative=encoder.encode("blurry"))
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() <= 1e-3


def test_hot_loop_matches_diffusers_with_taesd(tiny_model, tiny_taesd):
    loaded = load_model(str(tiny_model), device="cpu", vae="tiny", tiny_vae_path=str(tiny_taesd))
    pipe = StableDiffusionImg2ImgPipeline(vae=loaded.vae, text_encoder=loaded.text_encoder, tokenizer=loaded.tokenizer,
                                          unet=loaded.unet, scheduler=loaded.scheduler, safety_checker=None,
                                          feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    image = picture(64, 64, seed=3)
    expected = pipe(prompt=PROMPT, image=image, strength=0.5, num_inference_steps=2, guidance_scale=0.0,
                    generator=torch.Generator().manual_seed(SEED), output_type="pt").images
    stream = _stream(loaded, 64, 64)
    noise = torch.zeros(4, 1, 4, 8, 8)
    noise[0] = _pipeline_noise(pipe, (1, 4, 8, 8), draws=1)
    stream.noise.put(SEED, noise)
    encoder = PromptEncoder(loaded.tokenizer, loaded.text_encoder, loaded.device, loaded.dtype)
    got = stream(image, encoder.encode(PROMPT), strength=0.5, steps=1, seed=SEED, next_seed=SEED)
    assert (got - expected).abs().max().item() <= 1e-3


def _sdxl_pipeline(loaded):
    pipe = StableDiffusionXLImg2ImgPipeline(
        vae=loaded.vae, text_encoder=loaded.text_encoder, text_encoder_2=loaded.text_encoder_2,
        tokenizer=loaded.tokenizer, tokenizer_2=loaded.tokenizer_2, unet=loaded.unet, scheduler=loaded.scheduler,
        add_watermarker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.mark.parametrize("steps,num_inference_steps,strength,guidance,width,height", [
    (1, 2, 0.5, 0.0, 64, 64),     # sdxl-turbo's img2img recipe
    (2, 4, 0.5, 0.0, 64, 64),
    (2, 4, 0.5, 3.0, 64, 32),     # full CFG (negative hidden states, pooled vectors, time ids batched); not square
])
def test_sdxl_hot_loop_matches_diffusers_img2img(tiny_sdxl, steps, num_inference_steps, strength, guidance, width,
                                                 height):
    """The same noise alignment as the SD test (posterior sample first, then the noise), with SDXL's
    added conditioning: pooled text embedding + time ids (the output size, crop 0,0)."""
    loaded = load_model(str(tiny_sdxl), device="cpu")
    pipe = _sdxl_pipeline(loaded)
    image = picture(width, height, seed=5)
    expected = pipe(prompt=PROMPT, negative_prompt="blurry", image=image, strength=strength,
                    num_inference_steps=num_inference_steps, guidance_scale=guidance,
                    generator=torch.Generator().manual_seed(SEED), output_type="pt").images

    stream = _stream(loaded, height, width)
    latent = (1, 4, height // 8, width // 8)
    noise = torch.zeros((4,) + latent)
    noise[0] = _pipeline_noise(pipe, latent, draws=2)
    stream.noise.put(SEED, noise)
    encoder = PromptEncoder.for_model(loaded)
    embeds = encoder.encode(PROMPT)
    assert isinstance(embeds, PooledEmbedding)
    run = lambda conditioning: stream(image, conditioning, strength=strength, steps=steps, seed=SEED,  # noqa: E731
                                      next_seed=SEED, guidance=guidance, negative=encoder.encode("blurry"))
    got = run(embeds)
    assert got.shape == expected.shape == (1, 3, height, width)
    assert (got - expected).abs().max().item() <= 1e-3
    # The pooled embedding reaches the UNet: without it the frame is no longer diffusers' one.
    unpooled = run(PooledEmbedding(embeds.hidden, torch.zeros_like(embeds.pooled)))
    assert (unpooled - expected).abs().max().item() > 1e-3
    if width != height:  # so do the time ids, in (height, width) order
        stream._time_ids[(height, width)] = torch.tensor([[width, height, 0, 0, width, height]], dtype=torch.float32)
        assert (run(embeds) - expected).abs().max().item() > 1e-3


def test_sdxl_hot_loop_matches_diffusers_with_taesdxl(tiny_sdxl, tiny_taesdxl):
    loaded = load_model(str(tiny_sdxl), device="cpu", vae="tiny", tiny_vae_path=str(tiny_taesdxl))
    pipe = _sdxl_pipeline(loaded)
    image = picture(64, 64, seed=3)
    expected = pipe(prompt=PROMPT, image=image, strength=0.5, num_inference_steps=2, guidance_scale=0.0,
                    generator=torch.Generator().manual_seed(SEED), output_type="pt").images
    stream = _stream(loaded, 64, 64)
    noise = torch.zeros(4, 1, 4, 8, 8)
    noise[0] = _pipeline_noise(pipe, (1, 4, 8, 8), draws=1)
    stream.noise.put(SEED, noise)
    got = stream(image, PromptEncoder.for_model(loaded).encode(PROMPT), strength=0.5, steps=1, seed=SEED,
                 next_seed=SEED)
    assert (got - expected).abs().max().item() <= 1e-3


def test_sdxl_time_ids_are_the_output_size(loaded_sdxl):
    stream = _stream(loaded_sdxl, 64, 32)
    assert stream.time_ids(64, 32).tolist() == [[64.0, 32.0, 0.0, 0.0, 64.0, 32.0]]
    assert stream.time_ids(64, 32) is stream.time_ids(64, 32)   # built once per size


@pytest.mark.parametrize("steps,strength", [(1, 0.5), (2, 0.5), (1, 0.25), (3, 0.75), (4, 1.0)])
def test_strength_maps_to_diffusers_trailing_timesteps(tiny_model, steps, strength):
    """At strength k/N the continuous mapping picks the very timesteps diffusers' img2img runs."""
    from diffusers import EulerDiscreteScheduler

    scheduler = EulerDiscreteScheduler.from_pretrained(tiny_model / "scheduler")
    total = round(steps / strength)
    scheduler.set_timesteps(total)
    start = total - int(total * strength)
    assert strength_timesteps(strength, steps).tolist() == scheduler.timesteps[start:].tolist()


def test_strength_moves_continuously():
    values = [strength_timesteps(s / 100, 1)[0] for s in range(5, 100)]
    assert all(b >= a for a, b in zip(values, values[1:]))
    assert len(set(values)) > 80


def test_lcm_step_matches_diffusers_lcm_scheduler():
    """The LCM sampler's denoised estimate equals LCMScheduler.step's at the same timestep."""
    from diffusers import LCMScheduler

    from vj.generators.diffusion.stream import LCMSampler
    from vj.generators.diffusion.tiny import SD_TURBO_SCHEDULER

    scheduler = LCMScheduler(**{k: v for k, v in SD_TURBO_SCHEDULER.items() if k != "interpolation_type"})
    scheduler.set_timesteps(4)
    assert 499 in scheduler.timesteps.tolist()
    generator = torch.Generator().manual_seed(0)
    x_ddpm, eps = torch.randn(1, 4, 8, 8, generator=generator), torch.randn(1, 4, 8, 8, generator=generator)
    scheduler._step_index = scheduler.timesteps.tolist().index(499)
    expected = scheduler.step(eps, torch.tensor(499), x_ddpm, return_dict=True).denoised

    sampler = LCMSampler(scheduler.config, "cpu", torch.float32)
    schedule = sampler.schedule(0.5, 1)
    assert schedule.timesteps.tolist() == [499.0]
    x_sigma = x_ddpm * (schedule.sigmas[0] ** 2 + 1).sqrt()          # the same state in sigma form
    assert torch.allclose(x_sigma * schedule.input_scale[0], x_ddpm, atol=1e-5)  # the model sees x_ddpm
    x0 = schedule.x0_skip[0] * x_sigma + schedule.x0_out[0] * eps
    denoised = schedule.next_x0[0] * x0 + schedule.next_x[0] * x_sigma
    assert (denoised - expected).abs().max() <= 1e-4
