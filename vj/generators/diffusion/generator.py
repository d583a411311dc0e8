"""The diffusion generator: each frame is the previous one, moved by the camera, repainted by a
few-step diffusion model (Disco Diffusion's animation idea at StreamDiffusion-class speed).

``prepare`` does every slow thing (load, size check, accelerator, encode all known prompts, and
the warm-up: one frame of every shape the setlist can produce, so nothing compiles or autotunes
during the show); ``step`` is a fixed short sequence on the device. Failures in ``step`` raise (the
engine falls back to the procedural generator on the last good frame); they are never swallowed
here. The one exception is a compile the warm-up missed: that call runs eager instead (see
``compiled.py``) and ``notice`` says so for the HUD.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from vj.render.frame import Frame
from vj.frame_params import FrameParams, PromptMix
from vj.generators.base import Generator, GeneratorContext, GeneratorError
from vj.generators.diffusion.coherence import AntiDrift, ColourCoherence, PixelNoise, prepare_input
from vj.generators.diffusion.compiled import CompileGuard
from vj.generators.diffusion.device_thread import DeviceThread
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
                 lora_scale: float = 1.0, compile_backend: Any = "inductor", warm_up: bool | None = None,
                 preloaded: LoadedModel | None = None) -> None:
        """``compile_backend``: torch.compile's backend with ``accelerator="compile"`` (inductor for
        shows; tests use Dynamo's "eager" backend, whose guards and recompiles are the same).
        ``warm_up``: run the warm-up in ``prepare`` (default: with compile, and eager on CUDA, where
        cuDNN autotunes each shape once). ``preloaded``: an already loaded model (benchmarks, the GPU check)."""
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
        self.compile_backend = compile_backend
        self.warm_up_in_prepare = warm_up
        self.preloaded = preloaded
        self.guard: CompileGuard | None = None
        self.device_thread: DeviceThread | None = None
        self.warmed: list[tuple[int, float]] = []   # (steps, guidance) pairs the warm-up ran
        self._max_steps = 1
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
        loaded = self.loaded = self.preloaded or load_model(self.model, **self.options)
        check_size(loaded, context.width, context.height, static_shapes=self.accelerator == "tensorrt")
        from vj.generators.diffusion.accelerate import accelerate

        steps_hint = self._max_steps = max(1, min(int(context.options.get("max_steps", 1)), 4))
        batch = steps_hint if self.stream_batch else 1
        if self.accelerator == "compile":
            self.guard = CompileGuard()
            self.device_thread = DeviceThread.shared()
        unet_call, vae = accelerate(self.accelerator, loaded, width=context.width, height=context.height,
                                    batch=batch, cache_dir=self.engine_cache, guard=self.guard,
                                    compile_backend=self.compile_backend)
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
        warm = self.warm_up_in_prepare
        if warm is None:  # TensorRT engines are built ahead (vj compile); their profiles say which shapes run
            warm = self.accelerator == "compile" or (self.accelerator == "eager" and loaded.device.type == "cuda")
        if warm:
            self.warm_up()
        log.info("diffusion generator ready: %s at %dx%d (%s, %s VAE, %s)", self.model, context.width,
                 context.height, self.accelerator, loaded.vae_kind, self.stream.sampler.kind)

    # -- warm-up -------------------------------------------------------------------------------------
    def warm_up_plan(self) -> list[tuple[int, float]]:
        """(steps, guidance) for one frame of each UNet/VAE shape a show can ask for at this size.

        Without stream batching every step count runs the UNet at batch 1 (batch 2 with full CFG);
        with it, k steps run one batch of k (2k with CFG), so each k up to the setlist's most steps
        is its own shape. Self-CFG (``cfg: self``) keeps batch 1."""
        steps = list(range(1, self._max_steps + 1)) if self.stream_batch else sorted({1, self._max_steps})
        guidances = [0.0, 2.0] if self.cfg == "full" else [0.0]
        return [(k, g) for g in guidances for k in steps]

    def warm_up(self) -> None:
        """Run every shape once (three times on CUDA, where CUDA graphs record on the second run),
        on the thread that will make the frames, then refuse compiles for the rest of the show."""
        if self.stream is None or self.prompts is None:
            raise GeneratorError("the diffusion generator was not prepared")
        if self.guard is not None:
            self.guard.unlock()
        self._on_device(self._warm_up_frames)
        if self.guard is not None:
            self.guard.lock()

    def _warm_up_frames(self) -> None:
        import torch

        assert self.stream is not None and self.prompts is not None and self.loaded is not None
        stream = self.stream
        repeats = 3 if self.loaded.device.type == "cuda" else 1
        grey = torch.full((1, 3, self.height, self.width), 0.5, device=self.loaded.device)
        cond = self.prompts.negative_now("")
        negative = self._zero_negative if self._zero_negative is not None else cond
        held_filter, stream.filter = stream.filter, None  # identical warm-up frames must not be skipped
        try:
            self.warmed = []
            for steps, guidance in self.warm_up_plan():
                for _ in range(repeats):
                    stream(grey, cond, strength=0.5, steps=steps, seed=self._context.seed, guidance=guidance,
                           negative=negative)
                stream.reset()
                self.warmed.append((steps, guidance))
            if self.loaded.device.type == "cuda":
                torch.cuda.synchronize()
        finally:
            stream.filter = held_filter
            stream.reset()
        log.info("diffusion warm-up: %d shapes at %dx%d (%s)", len(self.warmed), self.width, self.height,
                 ", ".join(f"{k} step{'s' if k > 1 else ''}{' CFG' if g > 1 else ''}" for k, g in self.warmed))

    def _on_device(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` on the generator's device thread (compile), else right here.

        On CUDA the caller's current stream goes along: the live loop runs each frame on a dedicated
        stream of its generator thread (model and tensor → GL copy alike), and the hop to the device
        thread must not move the model's kernels back onto the legacy default stream."""
        if self.device_thread is None:
            return fn(*args)
        if self.loaded is None or self.loaded.device.type != "cuda":
            return self.device_thread.run(fn, *args)
        import torch

        stream = torch.cuda.current_stream(self.loaded.device)

        def on_callers_stream() -> Any:
            with torch.cuda.stream(stream):
                return fn(*args)

        return self.device_thread.run(on_callers_stream)

    @property
    def notice(self) -> str | None:
        """A line for the HUD when the show is not running as prepared (a compile the warm-up
        missed, now running eager), else None."""
        return self.guard.message if self.guard is not None else None

    @property
    def compile_fallbacks(self) -> int:
        """Calls that ran eager because they would have compiled during the show."""
        return self.guard.fallbacks if self.guard is not None else 0

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
        import torch

        with torch.inference_mode():  # blends are plain tensor maths: no autograd records
            return self._conditioning(params)

    def _conditioning(self, params: FrameParams) -> tuple[Any, Any]:
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

        try:
            image = previous.to_tensor(self.loaded.device)  # here: a GL texture reads on this thread's context
            if image.shape[-2:] != (self.height, self.width):
                raise GeneratorError(f"frame is {image.shape[-1]}x{image.shape[-2]}, the generator was prepared "
                                     f"for {self.width}x{self.height}")
            return Frame(tensor=self._on_device(self._step, image, params))
        except torch.cuda.OutOfMemoryError as exc:
            raise GeneratorError(f"out of GPU memory at {self.width}x{self.height} with {self.model}: lower the "
                                 f"resolution, use vae: tiny, or close other GPU programs") from exc

    def _step(self, image: Any, params: FrameParams) -> Any:
        """The device part of ``step``: input → output tensor (1×3×H×W float 0..1)."""
        import torch

        assert self.stream is not None
        settings = AntiDrift.from_style(params.style)
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
        return output

    def first_frame(self, params: FrameParams) -> Frame:
        """The model's own picture of the first prompt: a full-strength pass over mid-grey."""
        if self.stream is None or self.loaded is None:
            return super().first_frame(params)
        return Frame(tensor=self._on_device(self._first_frame, params))

    def _first_frame(self, params: FrameParams) -> Any:
        import torch

        assert self.stream is not None and self.loaded is not None
        grey = torch.full((1, 3, self.height, self.width), 0.5, device=self.loaded.device)
        embeds, negative = self.conditioning(params)
        output = self.stream(grey, embeds, strength=1.0, steps=max(params.steps, 1), seed=params.seed,
                             guidance=params.guidance, negative=negative)
        self.stream.reset()
        return output

    def reset(self) -> None:
        """A new song: forget in-flight latents and the colour reference."""
        if self.stream is not None:
            self.stream.reset()
        self.coherence.reset()

    def close(self) -> None:
        if self.prompts is not None:
            self.prompts.close()
        self.device_thread = None  # the shared thread stays for the next generator
        self.stream = None
        self.loaded = None
        self.prompts = None
