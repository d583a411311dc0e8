"""Prompt embeddings: encoded once, cached, blended by weight and by spherical interpolation.

A prompt the setlist knows is encoded in ``prepare``; one that arrives live is encoded on a
background thread while the render keeps the last embedding, so a new prompt never stalls a frame.

SD 1.x/2.x embeddings are one tensor (1×77×dim). SDXL's are a ``PooledEmbedding``: both text
encoders' penultimate hidden states side by side plus the second encoder's pooled vector; every
blend here treats the two parts alike.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from vj.frame_params import PromptMix

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class PooledEmbedding:
    """SDXL conditioning for one prompt, as diffusers' ``StableDiffusionXLImg2ImgPipeline.encode_prompt``
    makes it: ``hidden`` (1×tokens×(dim₁+dim₂)) is the penultimate hidden states of both text encoders
    concatenated, ``pooled`` (1×projection) the second encoder's pooled, projected output (the UNet's
    added ``text_embeds``)."""

    hidden: Any
    pooled: Any

    def zeros_like(self) -> "PooledEmbedding":
        """The all-zero conditioning SDXL uses for "no negative prompt" (force_zeros_for_empty_prompt)."""
        import torch

        return PooledEmbedding(torch.zeros_like(self.hidden), torch.zeros_like(self.pooled))


def slerp(a: Any, b: Any, t: float, *, dot_threshold: float = 0.9995) -> Any:
    """Spherical interpolation between two embeddings, token by token (along the last axis).

    Each token vector turns along the great circle and its length moves linearly, so a blend
    keeps the scale of real embeddings (a plain average of two prompts shrinks toward zero).
    Nearly parallel tokens (the start token is the same in every prompt) fall back to a lerp.
    SDXL ``PooledEmbedding``s blend both parts by the same ``t`` (the pooled vector as one token)."""
    import torch

    if t <= 0.0:
        return a
    if t >= 1.0:
        return b
    if isinstance(a, PooledEmbedding):
        return PooledEmbedding(slerp(a.hidden, b.hidden, t, dot_threshold=dot_threshold),
                               slerp(a.pooled, b.pooled, t, dot_threshold=dot_threshold))
    a32, b32 = a.float(), b.float()
    norm_a = a32.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    norm_b = b32.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    unit_a, unit_b = a32 / norm_a, b32 / norm_b
    dot = (unit_a * unit_b).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    theta = torch.acos(dot)
    sin_theta = torch.sin(theta).clamp_min(1e-8)
    direction = (torch.sin((1 - t) * theta) * unit_a + torch.sin(t * theta) * unit_b) / sin_theta
    lerped = (1 - t) * unit_a + t * unit_b
    direction = torch.where(dot.abs() > dot_threshold, lerped / lerped.norm(dim=-1, keepdim=True).clamp_min(1e-8),
                            direction)
    return (direction * ((1 - t) * norm_a + t * norm_b)).to(a.dtype)


def weighted_blend(embeddings: list[Any], weights: list[float]) -> Any:
    """Blend several embeddings by weight: a running slerp, so two prompts at 0.7/0.3 sit 30% of the
    way from the first to the second, and equal weights give each the same pull."""
    if not embeddings:
        raise ValueError("weighted_blend needs at least one embedding")
    if any(w <= 0 for w in weights):
        raise ValueError(f"prompt weights must be positive (got {weights})")
    result, total = embeddings[0], weights[0]
    for embedding, weight in zip(embeddings[1:], weights[1:]):
        total += weight
        result = slerp(result, embedding, weight / total)
    return result


class PromptEncoder:
    """Text → embedding with CLIP, cached by text. Thread-safe (one lock around the text encoder).

    With ``text_encoder_2`` (SDXL) an embedding is a ``PooledEmbedding`` of both encoders."""

    def __init__(self, tokenizer: Any, text_encoder: Any, device: Any, dtype: Any, *, tokenizer_2: Any = None,
                 text_encoder_2: Any = None) -> None:
        if (tokenizer_2 is None) != (text_encoder_2 is None):
            raise ValueError("SDXL prompts need both tokenizer_2 and text_encoder_2")
        self.tokenizer = tokenizer
        self.text_encoder = text_encoder
        self.tokenizer_2 = tokenizer_2
        self.text_encoder_2 = text_encoder_2
        self.device = device
        self.dtype = dtype
        self._cache: dict[str, Any] = {}
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    @classmethod
    def for_model(cls, loaded: Any) -> "PromptEncoder":
        """The encoder for a ``LoadedModel`` (one CLIP for SD, both for SDXL)."""
        return cls(loaded.tokenizer, loaded.text_encoder, loaded.device, loaded.dtype,
                   tokenizer_2=getattr(loaded, "tokenizer_2", None),
                   text_encoder_2=getattr(loaded, "text_encoder_2", None))

    @property
    def max_length(self) -> int:
        return int(self.tokenizer.model_max_length)

    def encode(self, text: str) -> Any:
        """1×tokens×dim embedding of ``text`` (the last hidden state, as diffusers' encode_prompt), or
        for SDXL a ``PooledEmbedding`` (penultimate hidden states of both encoders + the pooled vector)."""
        import torch

        with self._lock:
            if text in self._cache:
                return self._cache[text]
            ids = self.tokenizer(text, padding="max_length", max_length=self.max_length, truncation=True,
                                 return_tensors="pt").input_ids
            # An explicit large max_length: measures the whole prompt without the tokenizer's own warning.
            full = self.tokenizer(text, truncation=True, max_length=100_000, return_tensors="pt").input_ids
            if full.shape[-1] > ids.shape[-1] and text not in self._warned:
                self._warned.add(text)
                dropped = self.tokenizer.batch_decode(full[:, self.max_length - 1:-1])[0]
                log.warning("prompt is longer than the model's %d tokens; it was cut, dropping: '%s'",
                            self.max_length, dropped)
            if not text.strip() and text not in self._warned:
                self._warned.add(text)
                log.info("empty prompt: the model follows the picture only (unconditional embedding)")
            if self.text_encoder_2 is not None:
                embedding = self._encode_xl(text, ids)
            else:
                mask = None
                if getattr(self.text_encoder.config, "use_attention_mask", False):
                    mask = torch.ones_like(ids).to(self.device)
                with torch.inference_mode():
                    embedding = self.text_encoder(ids.to(self.device), attention_mask=mask)[0]
                embedding = embedding.to(dtype=self.dtype)
            self._cache[text] = embedding
            return embedding

    def _encode_xl(self, text: str, ids: Any) -> PooledEmbedding:
        """SDXL, as diffusers' ``encode_prompt`` (no clip skip): each encoder's penultimate hidden
        state, concatenated on the feature axis; the pooled vector of the encoder that has one (the
        second, ``CLIPTextModelWithProjection``)."""
        import torch

        hidden, pooled = [], None
        ids_2 = self.tokenizer_2(text, padding="max_length", max_length=int(self.tokenizer_2.model_max_length),
                                 truncation=True, return_tensors="pt").input_ids
        with torch.inference_mode():
            for token_ids, encoder in ((ids, self.text_encoder), (ids_2, self.text_encoder_2)):
                out = encoder(token_ids.to(self.device), output_hidden_states=True)
                if pooled is None and out[0].ndim == 2:
                    pooled = out[0]
                hidden.append(out.hidden_states[-2])
        if pooled is None:
            raise ValueError("SDXL's second text encoder gave no pooled embedding "
                             "(expected a CLIPTextModelWithProjection)")
        return PooledEmbedding(torch.cat(hidden, dim=-1).to(dtype=self.dtype), pooled.to(dtype=self.dtype))

    def cached(self, text: str) -> Any | None:
        with self._lock:
            return self._cache.get(text)


class PromptBank:
    """Embeddings for prompt mixes and negative prompts; unseen ones are encoded off the render path."""

    def __init__(self, encoder: PromptEncoder) -> None:
        self.encoder = encoder
        self._mixes: dict[PromptMix, Any] = {}
        self._pending: dict[str, Future] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vj-prompts")
        self._lock = threading.Lock()

    def encode_now(self, mix: PromptMix) -> Any:
        """Blocking: for ``prepare`` (every prompt the setlist knows) and tests."""
        if mix not in self._mixes:
            embeddings = [self.encoder.encode(text) for text, _ in mix]
            self._mixes[mix] = weighted_blend(embeddings, [float(w) for _, w in mix])
        return self._mixes[mix]

    def negative_now(self, text: str) -> Any:
        return self.encoder.encode(text)

    def get(self, mix: PromptMix) -> Any | None:
        """The mix's embedding if every text is encoded; otherwise queue the missing texts on the
        background thread and return None (the caller keeps its last embedding meanwhile)."""
        found = self._mixes.get(mix)
        if found is not None:
            return found
        missing = [text for text, _ in mix if self.encoder.cached(text) is None]
        if not missing:
            return self.encode_now(mix)
        with self._lock:
            for text in missing:
                if text not in self._pending:
                    log.info("encoding new prompt off the render path: '%s'", text)
                    self._pending[text] = self._executor.submit(self.encoder.encode, text)
            for text in missing:  # surface encoder failures instead of waiting forever
                future = self._pending[text]
                if future.done() and future.exception() is not None:
                    del self._pending[text]
                    raise future.exception()  # type: ignore[misc]
        return None

    def wait(self) -> None:
        """Block until background encodes finish (tests, and ``close``)."""
        with self._lock:
            pending = list(self._pending.values())
        for future in pending:
            future.result()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
