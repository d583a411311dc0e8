"""The hot loop: one img2img frame as a short fixed sequence of tensor ops on the device.

Per frame: encode the input picture → noise it to the first timestep with the seed's fixed noise →
1–4 UNet steps (or one batched call with stream batching) → decode. No diffusers ``__call__``, no
scheduler state, no host round trip. Everything that depends only on (strength, steps) — timesteps
and the per-step coefficients — is computed once and cached.

Both samplers are written in the "sigma" form Euler uses (x = x0 + σ·noise, the model sees
x / √(σ²+1)), so they share one step: ``x_next = A·x0 + B·x + C·noise``.

- ``euler``: the trailing-spaced Euler step sd-turbo / sdxl-turbo ship with (deterministic).
- ``lcm``: the LCM step (boundary-condition skip/out scalings, re-noised with the seed's noise).

SDXL: the prompt embedding is a ``PooledEmbedding`` and every UNet call also gets diffusers'
``added_cond_kwargs`` — the pooled text embedding and the time ids (output size, crop 0,0, target
size = output size) — in the plain, CFG-batched and stream-batched calls alike.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from vj.generators.diffusion.prompts import PooledEmbedding

log = logging.getLogger(__name__)

#: (sample, timesteps (B,), encoder_hidden_states) -> model output: eager UNet, compiled or a TensorRT engine.
#: SDXL calls add a fourth argument, ``{"text_embeds": (B, proj), "time_ids": (B, 6)}`` (diffusers'
#: ``added_cond_kwargs``); SD calls pass three, so a three-argument callable serves SD models.
UNetCall = Callable[..., Any]


@dataclass(frozen=True)
class NoiseSchedule:
    """Timesteps and coefficients for one (strength, steps) pair, as device tensors (B,1,1,1)."""

    timesteps: Any        # (k,) float, what the UNet is given
    sigmas: Any           # (k,1,1,1)
    input_scale: Any      # 1/√(σ²+1)
    x0_skip: Any          # x0 = x0_skip·x + x0_out·model_out (epsilon or v prediction)
    x0_out: Any
    next_x0: Any          # A
    next_x: Any           # B
    next_noise: Any       # C
    first_sigma: float


def strength_timesteps(strength: float, steps: int, train_steps: int = 1000) -> np.ndarray:
    """img2img strength → the ``steps`` timesteps to run, trailing-spaced over [0, strength·T].

    At strength = k/N this is exactly diffusers' img2img with ``num_inference_steps=N`` and a
    trailing schedule (e.g. strength 0.5, 1 step → t=499, as ``StableDiffusionImg2ImgPipeline``
    with 2 steps at strength 0.5); between those points it moves continuously, so a strength fader
    is smooth instead of jumping between a few quantised steps."""
    strength = min(max(float(strength), 0.0), 1.0)
    span = strength * train_steps
    ticks = np.array([np.round(span * (steps - i) / steps) for i in range(steps)], dtype=np.float32) - 1
    return np.clip(ticks, 0, train_steps - 1)


class Sampler:
    """Turns (strength, steps) into a cached NoiseSchedule from the scheduler's noise table."""

    kind = "euler"

    def __init__(self, scheduler_config: Any, device: Any, dtype: Any) -> None:
        import torch

        self.device, self.dtype = device, dtype
        self.prediction = getattr(scheduler_config, "prediction_type", "epsilon")
        self.train_steps = int(scheduler_config.num_train_timesteps)
        betas = _betas(scheduler_config)
        self.alphas_cumprod = np.cumprod(1.0 - betas, dtype=np.float64)
        self.train_sigmas = ((1 - self.alphas_cumprod) / self.alphas_cumprod) ** 0.5
        self._cache: dict[int, list[NoiseSchedule]] = {}
        self._torch = torch

    def sigma(self, t: np.ndarray) -> np.ndarray:
        # Same linear interpolation EulerDiscreteScheduler uses (exact at integer timesteps).
        return np.interp(t, np.arange(len(self.train_sigmas)), self.train_sigmas).astype(np.float32)

    #: Strength resolution of the precomputed tables (timesteps are whole numbers: finer buys nothing).
    resolution = 1000

    def schedule(self, strength: float, steps: int) -> NoiseSchedule:
        """The schedule for (strength, steps): views into a table built once per step count, so an
        audio-driven strength that changes every frame costs no host→device copy (no GPU sync)."""
        table = self._cache.get(steps)
        if table is None:
            table = self._cache[steps] = self._table(steps)
        index = int(round(min(max(strength, 0.0), 1.0) * self.resolution))
        return table[index]

    def _table(self, steps: int) -> list[NoiseSchedule]:
        torch = self._torch
        rows = [self._numbers(i / self.resolution, steps) for i in range(self.resolution + 1)]
        # Built as inference tensors, like every other input of the compiled UNet, whether the table
        # is first asked for in prepare or inside a frame: Dynamo guards on the tensor's kind.
        with torch.inference_mode():
            stacked = torch.tensor(np.stack([np.stack(r) for r in rows]), device=self.device)  # (R, 8, k)
        schedules = []
        for index, numbers in enumerate(rows):
            column = stacked[index]

            def col(j: int, column: Any = column) -> Any:
                return column[j].view(-1, 1, 1, 1)

            schedules.append(NoiseSchedule(timesteps=column[0], sigmas=col(1), input_scale=col(2), x0_skip=col(3),
                                      x0_out=col(4), next_x0=col(5), next_x=col(6), next_noise=col(7),
                                      first_sigma=float(numbers[1][0])))
        return schedules

    def _coefficients(self, t: np.ndarray, sigma: np.ndarray, sigma_next: np.ndarray) -> tuple[np.ndarray, ...]:
        # Euler: x_next = x + (σ_next − σ)·(x − x0)/σ  =  (1 − σ_next/σ)·x0 + (σ_next/σ)·x
        ratio = np.where(sigma > 0, sigma_next / np.maximum(sigma, 1e-12), 0.0)
        return 1.0 - ratio, ratio, np.zeros_like(sigma)

    def _numbers(self, strength: float, steps: int) -> list[np.ndarray]:
        """[timesteps, σ, 1/√(σ²+1), x0 skip, x0 out, A, B, C] for one strength, each of length steps."""
        t = strength_timesteps(strength, steps, self.train_steps)
        sigma = self.sigma(t)
        sigma_next = np.append(sigma[1:], 0.0).astype(np.float32)
        if self.prediction == "v_prediction":
            skip, out = 1.0 / (sigma**2 + 1), -sigma / np.sqrt(sigma**2 + 1)
        else:
            skip, out = np.ones_like(sigma), -sigma
        a, b, c = self._coefficients(t, sigma, sigma_next)
        values = [t, sigma, 1.0 / np.sqrt(sigma**2 + 1), skip, out, a, b, c]
        return [np.asarray(v, dtype=np.float32) for v in values]


class LCMSampler(Sampler):
    """LCM (latent consistency) steps, for SD 1.5 + LCM-LoRA and LCM checkpoints."""

    kind = "lcm"
    timestep_scaling = 10.0
    sigma_data = 0.5

    def _coefficients(self, t: np.ndarray, sigma: np.ndarray, sigma_next: np.ndarray) -> tuple[np.ndarray, ...]:
        scaled = t.astype(np.float64) * self.timestep_scaling
        c_skip = self.sigma_data**2 / (scaled**2 + self.sigma_data**2)
        c_out = scaled / np.sqrt(scaled**2 + self.sigma_data**2)
        # LCM works on x_ddpm = √ᾱ·x; in sigma form its skip term is c_skip·√ᾱ = c_skip/√(σ²+1).
        alpha_sqrt = 1.0 / np.sqrt(sigma.astype(np.float64) ** 2 + 1)
        return c_out, c_skip * alpha_sqrt, sigma_next


def _betas(config: Any) -> np.ndarray:
    if getattr(config, "trained_betas", None) is not None:
        return np.asarray(config.trained_betas, dtype=np.float64)
    start, end, count = float(config.beta_start), float(config.beta_end), int(config.num_train_timesteps)
    if config.beta_schedule == "scaled_linear":
        return np.linspace(start**0.5, end**0.5, count, dtype=np.float64) ** 2
    if config.beta_schedule == "linear":
        return np.linspace(start, end, count, dtype=np.float64)
    raise ValueError(f"beta schedule {config.beta_schedule!r} is not supported")


def make_sampler(scheduler: Any, device: Any, dtype: Any, kind: str | None = None) -> Sampler:
    """The model's own scheduler family picks the sampler unless ``kind`` says otherwise."""
    kind = kind or ("lcm" if type(scheduler).__name__ == "LCMScheduler" else "euler")
    if kind not in ("euler", "lcm"):
        raise ValueError(f"sampler must be 'euler' or 'lcm' (got {kind!r})")
    return (LCMSampler if kind == "lcm" else Sampler)(scheduler.config, device, dtype)


class NoiseBank:
    """Fixed noise per seed (CPU generator, so a seed gives the same picture on every machine)."""

    def __init__(self, shape: tuple[int, ...], device: Any, dtype: Any, capacity: int = 8) -> None:
        self.shape, self.device, self.dtype, self.capacity = shape, device, dtype, capacity
        self._cache: dict[int, Any] = {}

    def get(self, seed: int) -> Any:
        import torch

        found = self._cache.get(seed)
        if found is None:
            generator = torch.Generator("cpu").manual_seed(int(seed) % 2**63)
            found = torch.randn(self.shape, generator=generator).to(self.device, self.dtype)
            if len(self._cache) >= self.capacity:
                self._cache.pop(next(iter(self._cache)))
            self._cache[seed] = found
        return found

    def put(self, seed: int, noise: Any) -> None:
        """Use this exact noise for ``seed`` (tests match diffusers' generator draws this way)."""
        self._cache[seed] = noise.to(self.device, self.dtype).reshape(self.shape)

    def blended(self, seed: int, next_seed: int, blend: float) -> Any:
        """Slerp between two seeds' noise: keeps unit variance (a lerp would fade the noise midway)."""
        if blend <= 0.0 or seed == next_seed:
            return self.get(seed)
        if blend >= 1.0:
            return self.get(next_seed)
        import torch

        a, b = self.get(seed).float(), self.get(next_seed).float()
        # All on the device (no .item()): a seed change must not sync the GPU every frame.
        dot = ((a * b).sum() / (a.norm() * b.norm())).clamp(-1, 1)
        theta = torch.acos(dot)
        sin_theta = torch.sin(theta).clamp_min(1e-6)
        spherical = (torch.sin((1 - blend) * theta) * a + torch.sin(blend * theta) * b) / sin_theta
        linear = (1 - blend) * a + blend * b
        return torch.where(theta < 1e-4, linear, spherical).to(self.dtype)


class SimilarityFilter:
    """StreamDiffusion's stochastic similar-image filter: skip the model when the input barely changed.

    skip probability = max(0, 1 − (1 − cos)/(1 − threshold)), drawn from a seeded generator so a
    rehearsal with the filter on is still repeatable; never more than ``max_skips`` in a row.

    ``lazy`` (the default on CUDA) never waits for the GPU: each frame's cosine is copied to pinned
    host memory without blocking, and a frame is judged by the newest cosine that has already
    arrived (the previous frame's, in a steady show), so the decision lags one frame instead of
    costing a device sync every frame. On the CPU reading the cosine costs nothing: it is exact."""

    def __init__(self, threshold: float, seed: int = 0, max_skips: int = 10, lazy: bool | None = None) -> None:
        self.threshold = float(threshold)
        self.max_skips = max_skips
        self.lazy = lazy
        self._previous: Any = None
        self._skipped = 0
        self._rng = np.random.default_rng(seed)
        self._pending: list[tuple[Any, Any]] = []   # lazy: (pinned host scalar, CUDA event) in flight
        self._known: float | None = None            # lazy: the newest cosine that has arrived
        self._ring: list[tuple[Any, Any]] = []
        self._next = 0

    def reset(self) -> None:
        """Forget the previous input (a new song, or after the warm-up's frames)."""
        self._previous = None
        self._skipped = 0
        self._pending.clear()
        self._known = None

    def _cosine(self, previous: Any, current: Any) -> Any:
        import torch

        return torch.nn.functional.cosine_similarity(previous.flatten(), current.flatten(), dim=0)

    #: Lazy mode: pinned host slots for cosines in flight (a GPU that far behind drops the oldest).
    slots = 4

    def _lazy_cosine(self, cos: Any) -> float | None:
        """Queue this frame's cosine for the host and return the newest one already there."""
        import torch

        # Judge this frame by what has arrived before queueing its own cosine: the decision lags
        # one frame on every device alike (the CPU tests check what the GPU will do).
        while self._pending and (self._pending[0][1] is None or self._pending[0][1].query()):
            self._known = float(self._pending.pop(0)[0])
        if cos.device.type == "cuda":
            if not self._ring:  # allocated once: pinned allocations per frame would cost more than the sync
                self._ring = [(torch.empty((), dtype=torch.float32, pin_memory=True), torch.cuda.Event())
                              for _ in range(self.slots)]
            host, event = self._ring[self._next]
            self._next = (self._next + 1) % self.slots
            host.copy_(cos, non_blocking=True)
            event.record()
        else:
            host, event = cos.detach().to("cpu", torch.float32), None
        self._pending.append((host, event))
        del self._pending[:-self.slots]
        return self._known

    def should_skip(self, image: Any) -> bool:
        import torch

        current = torch.nn.functional.avg_pool2d(image.float(), 4) if image.shape[-1] >= 64 else image.float()
        previous, self._previous = self._previous, current
        if previous is None or previous.shape != current.shape:
            return False
        lazy = self.lazy if self.lazy is not None else current.device.type == "cuda"
        if lazy:
            cos = self._lazy_cosine(self._cosine(previous, current))
            if cos is None:
                return False
        else:
            cos = float(self._cosine(previous, current))
        probability = max(0.0, 1.0 - (1.0 - cos) / max(1.0 - self.threshold, 1e-9))
        if self._skipped < self.max_skips and self._rng.random() < probability:
            self._skipped += 1
            return True
        self._skipped = 0
        return False


class ImageStream:
    """Encode → noise → UNet step(s) → decode, with optional stream batching and CFG.

    ``unet_call`` is the accelerated UNet (eager, compiled or TensorRT); the VAE is the full one or
    TAESD. Input and output are 1×3×H×W, 0..1, on the device."""

    def __init__(self, *, unet_call: UNetCall, vae: Any, vae_kind: str, scaling_factor: float, sampler: Sampler,
                 latent_shape: tuple[int, int, int], device: Any, dtype: Any, stream_batch: bool = False,
                 cfg: str = "full", similarity_filter: float | None = None, seed: int = 0,
                 vae_dtype: Any = None) -> None:
        import torch

        if cfg not in ("full", "self"):
            raise ValueError(f"cfg must be 'full' or 'self' (got {cfg!r})")
        self.unet_call, self.vae, self.vae_kind = unet_call, vae, vae_kind
        self.scaling_factor, self.sampler = scaling_factor, sampler
        self.device, self.dtype = device, dtype
        self.vae_dtype = vae_dtype or dtype  # SDXL's full VAE runs in fp32 next to an fp16 UNet
        self.stream_batch, self.cfg = stream_batch, cfg
        self.noise = NoiseBank((4, 1) + tuple(latent_shape), device, dtype)
        self.filter = SimilarityFilter(similarity_filter, seed) if similarity_filter else None
        self.last_latent: Any = None     # x0 of the last output (for latent blending)
        self.last_output: Any = None
        self._buffer: Any = None         # stream batch: in-flight latents at σ_1..σ_{k−1}
        self._buffer_key: tuple[int, int] | None = None
        self._time_ids: dict[tuple[int, int], Any] = {}   # SDXL: (height, width) -> (1, 6) on the device
        self._frame_time_ids: Any = None
        self._conditioning: dict[str, Any] = {}  # role -> persistent device buffer (see ``persist``)
        self._torch = torch

    # -- VAE ------------------------------------------------------------------------------------
    def encode(self, image: Any) -> Any:
        """0..1 image → scaled latent. The full VAE's posterior mean (deterministic; trained VAEs'
        posterior spread is negligible), TAESD's latents as they are."""
        # One memory layout whatever the frame came from (a GL readback is channels-last, a new
        # tensor is not): the compiled encoder guards on strides and would recompile on a change.
        pixels = (image.to(self.vae_dtype) * 2 - 1).contiguous()
        encoded = self.vae.encode(pixels)
        latent = encoded.latents if self.vae_kind == "tiny" else encoded.latent_dist.mean
        return latent * self.scaling_factor

    def decode(self, latent: Any) -> Any:
        decoded = self.vae.decode((latent / self.scaling_factor).to(self.vae_dtype), return_dict=False)[0]
        return (decoded.float() / 2 + 0.5).clamp(0, 1)

    # -- conditioning buffers ----------------------------------------------------------------------
    def persist(self, role: str, embeds: Any) -> Any:
        """``embeds`` copied into this stream's buffer for ``role`` ("cond" or "negative").

        The compiled UNet then always sees the same tensors: inference tensors of one shape, dtype
        and address, whatever made the embedding (a cached prompt, a crossfade's slerp, a weighted
        blend, computed in or out of inference mode). Dynamo guards on a tensor's kind, so feeding
        it the slerp's result directly recompiled the UNet on the first crossfade (``dispatch key
        set mismatch``). One small device-to-device copy a frame; no host sync."""
        if isinstance(embeds, PooledEmbedding):
            return PooledEmbedding(self.persist(role + ".hidden", embeds.hidden),
                                   self.persist(role + ".pooled", embeds.pooled))
        buffer = self._conditioning.get(role)
        if buffer is None or buffer.shape != embeds.shape:
            with self._torch.inference_mode():
                buffer = self._conditioning[role] = self._torch.empty(
                    embeds.shape, dtype=self.dtype, device=self.device)
        with self._torch.inference_mode():
            buffer.copy_(embeds)
        return buffer

    # -- SDXL added conditioning ---------------------------------------------------------------------
    def time_ids(self, height: int, width: int) -> Any:
        """SDXL's micro-conditioning for an output of ``height``×``width``: (original size, crop top-left,
        target size) = (h, w, 0, 0, h, w), as diffusers' ``_get_add_time_ids`` without aesthetic score.
        Built once per size (no host→device copy per frame)."""
        found = self._time_ids.get((height, width))
        if found is None:
            found = self._time_ids[(height, width)] = self._torch.tensor(
                [[height, width, 0, 0, height, width]], dtype=self.dtype, device=self.device)
        return found

    def _eps_pooled(self, scaled: Any, t: Any, embeds: PooledEmbedding, guidance: float, negative: Any,
                    noise: Any) -> Any:
        """``_eps`` for SDXL: the same CFG arithmetic, with the pooled embeddings and time ids batched
        alongside the hidden states."""
        torch = self._torch
        batch = scaled.shape[0]
        hidden = embeds.hidden.expand(batch, -1, -1)
        pooled = embeds.pooled.expand(batch, -1)
        if guidance > 1.0 and self.cfg == "full":
            time_ids = self._frame_time_ids.expand(2 * batch, -1)
            added = {"text_embeds": torch.cat([negative.pooled.expand(batch, -1), pooled]), "time_ids": time_ids}
            hidden = torch.cat([negative.hidden.expand(batch, -1, -1), hidden])
            model_out = self.unet_call(torch.cat([scaled, scaled]), torch.cat([t, t]), hidden, added).float()
            uncond_out, cond_out = model_out.chunk(2)
            return uncond_out + guidance * (cond_out - uncond_out)
        added = {"text_embeds": pooled, "time_ids": self._frame_time_ids.expand(batch, -1)}
        out = self.unet_call(scaled, t, hidden, added).float()
        if guidance > 1.0:
            return noise + guidance * (out - noise)
        return out

    # -- the step ----------------------------------------------------------------------------------
    def _eps(self, sample: Any, schedule: NoiseSchedule, rows: slice, embeds: Any, guidance: float,
             negative: Any, noise: Any) -> Any:
        """Model output for ``sample`` (B rows of the schedule), with full or self CFG."""
        torch = self._torch
        batch = sample.shape[0]
        scaled = (sample * schedule.input_scale[rows]).to(self.dtype)
        t = schedule.timesteps[rows]
        if isinstance(embeds, PooledEmbedding):
            return self._eps_pooled(scaled, t, embeds, guidance, negative, noise)
        cond = embeds.expand(batch, -1, -1)
        if guidance > 1.0 and self.cfg == "full":
            model_in = torch.cat([scaled, scaled])
            hidden = torch.cat([negative.expand(batch, -1, -1), cond])
            uncond_out, cond_out = self.unet_call(model_in, torch.cat([t, t]), hidden).float().chunk(2)
            return uncond_out + guidance * (cond_out - uncond_out)
        out = self.unet_call(scaled, t, cond).float()
        if guidance > 1.0:  # self-negative RCFG (StreamDiffusion): the noise we added stands in for uncond
            return noise + guidance * (out - noise)
        return out

    def _x0(self, sample: Any, out: Any, schedule: NoiseSchedule, rows: slice) -> Any:
        return schedule.x0_skip[rows] * sample + schedule.x0_out[rows] * out

    def __call__(self, image: Any, embeds: Any, *, strength: float, steps: int, seed: int = 0,
                 next_seed: int = 0, seed_blend: float = 0.0, guidance: float = 0.0, negative: Any = None,
                 latent_hook: Callable[[Any], Any] | None = None) -> Any:
        """One output frame (1×3×H×W float 0..1) from one input frame."""
        torch = self._torch
        if strength <= 0.0:  # nothing is repainted: the picture passes through untouched
            return image.float()
        if self.filter is not None and self.filter.should_skip(image) and self.last_output is not None:
            return self.last_output
        steps = max(1, min(int(steps), 4))
        if guidance > 1.0 and self.cfg == "full" and negative is None:
            raise ValueError("guidance > 1 needs a negative (unconditional) embedding")
        with torch.inference_mode():
            embeds = self.persist("cond", embeds)
            if negative is not None and guidance > 1.0:
                negative = self.persist("negative", negative)
            if isinstance(embeds, PooledEmbedding):
                self._frame_time_ids = self.time_ids(int(image.shape[-2]), int(image.shape[-1]))
            schedule = self.sampler.schedule(strength, steps)
            noise = self.noise.blended(seed, next_seed, seed_blend).float()  # (4,1,C,h,w)
            latent = self.encode(image).float()
            if self.stream_batch and steps > 1:
                x0 = self._stream_step(latent, embeds, schedule, steps, noise, guidance, negative)
            else:
                x0 = self._sequential(latent, embeds, schedule, steps, noise, guidance, negative)
            if latent_hook is not None:
                x0 = latent_hook(x0)
            self.last_latent = x0
            output = self.decode(x0)
        self.last_output = output
        return output

    def _sequential(self, latent: Any, embeds: Any, schedule: NoiseSchedule, steps: int, noise: Any,
                    guidance: float, negative: Any) -> Any:
        sample = latent + schedule.first_sigma * noise[0]
        x0 = sample
        for i in range(steps):
            rows = slice(i, i + 1)
            out = self._eps(sample, schedule, rows, embeds, guidance, negative, noise[i])
            x0 = self._x0(sample, out, schedule, rows)
            if i == steps - 1:  # the last step's output is its denoised estimate (σ_next = 0)
                x0 = schedule.next_x0[rows] * x0 + schedule.next_x[rows] * sample
            else:
                sample = (schedule.next_x0[rows] * x0 + schedule.next_x[rows] * sample
                          + schedule.next_noise[rows] * noise[i + 1])
        return x0

    def _stream_step(self, latent: Any, embeds: Any, schedule: NoiseSchedule, steps: int, noise: Any,
                     guidance: float, negative: Any) -> Any:
        """All steps in one UNet call, one frame per step in flight (output lags steps−1 frames)."""
        torch = self._torch
        levels = noise[:steps, 0]                                             # (k,C,h,w)
        if self._buffer is None or self._buffer_key is None or self._buffer_key[1] != steps:
            # Prefill from the first input at each noise level: no brown/grey warm-up frames.
            self._buffer = latent + schedule.sigmas[1:steps, 0:1, 0:1, 0:1] * levels[1:]
        self._buffer_key = (int(round(schedule.first_sigma * 1000)), steps)
        sample = torch.cat([latent + schedule.first_sigma * levels[0:1], self._buffer])
        rows = slice(0, steps)
        out = self._eps(sample, schedule, rows, embeds, guidance, negative, levels)
        x0 = self._x0(sample, out, schedule, rows)
        nxt = schedule.next_x0 * x0 + schedule.next_x * sample
        stepped = nxt[:-1] + schedule.next_noise[:-1] * levels[1:]
        self._buffer = stepped
        return nxt[-1:]

    def reset(self) -> None:
        """Forget in-flight frames (a new song or a hard cut)."""
        self._buffer = None
        self._buffer_key = None
        self.last_latent = None
        self.last_output = None
        if self.filter is not None:
            self.filter.reset()
