"""The diffusion generator: each frame is the previous one, moved by the camera, repainted by a
few-step diffusion model (Disco Diffusion's animation idea at StreamDiffusion-class speed).

``prepare`` does every slow thing (load, size check, accelerator, encode all known prompts);
``step`` is a fixed short sequence on the device. Failures in ``step`` raise (the engine falls back
to the procedural generator on the last good frame); they are never swallowed here.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from vj.frame import Frame
from vj.frame_params import FrameParams, PromptMix
from vj.generators.base import Generator, GeneratorContext, GeneratorError
from vj.generators.diffusion.coherence import AntiDrift, ColourCoherence, PixelNoise, prepare_input
from vj.generators.diffusion.loader import DEFAULT_MODEL, LoadedModel, ModelNotFoundError, check_size, load_model
from vj.generators.diffusion.prompts import PromptBank, PromptEncoder, slerp
from vj.generators.diffusion.stream import ImageStream, make_sampler

log = logging.getLogger(__name__)

__all__ = ["DiffusionGenerator", "ModelNotFoundError"]


class DiffusionGenerator(Generator):
    """Few-step img2img feedback loop. See docs/diffusion.md for every option and style name."""

    name = "diffusion"

    def __init__(self, model: str = DEFAULT_MODEL, *, device: Any = None, dtype: Any = None, vae: str = "full",
                 tiny_vae_path: str | None = None, accelerator: str = "eager", allow_download: bool = False,
                 similarity_filter: float | None = None, stream_batch: bool = False, sampler: str | None = None,
                 cfg: str = "full", engine_cache: Path | None = None, lora: str | None = None,
                 lora_scale: float = 1.0) -> None:
        if vae not in ("full", "tiny"):
            raise GeneratorError(f"vae must be 'full' or 'tiny' (got {vae!r})")
        if accelerator not in ("eager", "compile", "tensorrt"):
            raise GeneratorError(f"accelerator must be eager, compile or tensorrt (got {accelerator!r})")
        self.model = model
        self.options = dict(device=device, dtype=dtype, vae=vae, tiny_vae_path=tiny_vae_path,
                            allow_download=allow_download, lora=lora, lora_scale=lora_scale)
        self.accelerator = accelerator
        self.similarity_filter = similarity_filter
        self.stream_batch = stream_batch
        self.sampler_kind = sampler
        self.cfg = cfg
        self.engine_cache = engine_cache
        self.loaded: LoadedModel | None = None
        self.stream: ImageStream | None = None
        self.prompts: PromptBank | None = None
        self.coherence = ColourCoherence()
        self._pixel_noise: PixelNoise | None = None
        self._held: dict[str, Any] = {}   # last embedding per role, held while a new prompt encodes
        self._zero_negative: Any = None    # SDXL: "no negative prompt" is the zero embedding
        self._blocking_prompts = False     # rehearsal: encode unseen prompts at once (repeatable frames)

    # -- set-up ------------------------------------------------------------------------------------
    def prepare(self, context: GeneratorContext) -> None:
        """Load the model, check the size, set up the accelerator, encode every known prompt."""
        self._context = context
        self._blocking_prompts = bool(context.options.get("blocking_prompts", False))
        loaded = self.loaded = load_model(self.model, **self.options)
        check_size(loaded, context.width, context.height, static_shapes=self.accelerator == "tensorrt")
        from vj.generators.diffusion.accelerate import accelerate

        steps_hint = int(context.options.get("max_steps", 1))
        batch = steps_hint if self.stream_batch else 1
        unet_call, vae = accelerate(self.accelerator, loaded, width=context.width, height=context.height,
                                    batch=batch, cache_dir=self.engine_cache)
        scale = loaded.vae_scale_factor
        self.stream = ImageStream(
            unet_call=unet_call, vae=vae, vae_kind=loaded.vae_kind, scaling_factor=loaded.scaling_factor,
            sampler=make_sampler(loaded.scheduler, loaded.device, loaded.dtype, self.sampler_kind),
            latent_shape=(int(loaded.unet.config.in_channels), context.height // scale, context.width // scale),
            device=loaded.device, dtype=loaded.dtype, stream_batch=self.stream_batch, cfg=self.cfg,
            similarity_filter=self.similarity_filter, seed=context.seed, vae_dtype=loaded.vae_dtype)
        for steps in range(1, 5):  # every (strength, steps) schedule table, built before the show
            self.stream.sampler.schedule(0.5, steps)
        self.prompts = PromptBank(PromptEncoder.for_model(loaded))
        for mix in context.prompts:
            self.prompts.encode_now(tuple(mix))
        for text in list(context.negative_prompts) + [""]:
            self.prompts.negative_now(text)
        if loaded.zero_empty_negative:  # as diffusers' SDXL pipelines do when no negative prompt is given
            self._zero_negative = self.prompts.negative_now("").zeros_like()
        self._pixel_noise = PixelNoise((1, 3, context.height, context.width), loaded.device, context.seed)
        log.info("diffusion generator ready: %s at %dx%d (%s, %s VAE, %s)", self.model, context.width,
                 context.height, self.accelerator, loaded.vae_kind, self.stream.sampler.kind)

    # -- per frame ---------------------------------------------------------------------------------
    def _embedding(self, role: str, mix: PromptMix) -> Any:
        """The mix's embedding, or the last one held for ``role`` while it encodes in the background."""
        assert self.prompts is not None
        found = self.prompts.encode_now(mix) if self._blocking_prompts else self.prompts.get(mix)
        if found is None:
            held = self._held.get(role)
            if held is None:  # nothing to hold yet (very first frame): encode now, once
                found = self.prompts.encode_now(mix)
            else:
                return held
        self._held[role] = found
        return found

    def conditioning(self, params: FrameParams) -> tuple[Any, Any]:
        """(prompt embedding, negative embedding) for this frame: slerp from → to by ``blend``."""
        source = self._embedding("from", params.conditioning_from.prompt)
        target = self._embedding("to", params.conditioning_to.prompt)
        embeds = slerp(source, target, float(params.blend)) if source is not target else target
        negative = None
        if params.guidance > 1.0:
            neg_a = self._negative("neg_from", params.conditioning_from.negative_prompt)
            neg_b = self._negative("neg_to", params.conditioning_to.negative_prompt)
            negative = slerp(neg_a, neg_b, float(params.blend)) if neg_a is not neg_b else neg_b
        return embeds, negative

    def _negative(self, role: str, text: str) -> Any:
        """The negative prompt's embedding; for SDXL (force_zeros_for_empty_prompt) no negative prompt is
        the zero embedding, as in diffusers' SDXL pipelines, rather than the encoded empty string."""
        if self._zero_negative is not None and not text.strip():
            return self._zero_negative
        return self._embedding(role, ((text, 1.0),))

    def step(self, previous: Frame, params: FrameParams) -> Frame:
        if self.stream is None or self.loaded is None:
            raise GeneratorError("the diffusion generator was not prepared")
        import torch

        settings = AntiDrift.from_style(params.style)
        try:
            image = previous.to_tensor(self.loaded.device)
            if image.shape[-2:] != (self.height, self.width):
                raise GeneratorError(f"frame is {image.shape[-1]}x{image.shape[-2]}, the generator was prepared "
                                     f"for {self.width}x{self.height}")
            source = image
            image = prepare_input(image, settings, self._pixel_noise, params.index)
            embeds, negative = self.conditioning(params)
            previous_latent = self.stream.last_latent
            hook = None
            if settings.latent_blend > 0 and previous_latent is not None:
                def hook(latent: Any) -> Any:
                    return torch.lerp(latent, previous_latent.to(latent.dtype), settings.latent_blend)
            output = self.stream(image, embeds, strength=params.strength, steps=params.steps, seed=params.seed,
                                 next_seed=params.next_seed, seed_blend=params.seed_blend,
                                 guidance=params.guidance, negative=negative, latent_hook=hook)
            if settings.frame_blend > 0:
                output = torch.lerp(output, source.float(), settings.frame_blend)
            if settings.coherence > 0:
                reference = self.coherence.reference(output, params.cue_index, settings)
                output = self.coherence.apply(output, reference, settings.coherence)
        except torch.cuda.OutOfMemoryError as exc:
            raise GeneratorError(f"out of GPU memory at {self.width}x{self.height} with {self.model}: lower the "
                                 f"resolution, use vae: tiny, or close other GPU programs") from exc
        return Frame(tensor=output)

    def first_frame(self, params: FrameParams) -> Frame:
        """The model's own picture of the first prompt: a full-strength pass over mid-grey."""
        import torch

        if self.stream is None or self.loaded is None:
            return super().first_frame(params)
        grey = torch.full((1, 3, self.height, self.width), 0.5, device=self.loaded.device)
        embeds, negative = self.conditioning(params)
        output = self.stream(grey, embeds, strength=1.0, steps=max(params.steps, 1), seed=params.seed,
                             guidance=params.guidance, negative=negative)
        self.stream.reset()
        return Frame(tensor=output)

    def reset(self) -> None:
        """A new song: forget in-flight latents and the colour reference."""
        if self.stream is not None:
            self.stream.reset()
        self.coherence.reset()

    def close(self) -> None:
        if self.prompts is not None:
            self.prompts.close()
        self.stream = None
        self.loaded = None
        self.prompts = None
