"""Weighted prompts: ``"storm"`` or ``["storm:0.7", "paper birds:0.3"]`` → ((text, weight), ...)."""
from __future__ import annotations

from vj.frame_params import PromptMix


def parse_prompt(spec: str | list[str]) -> PromptMix:
    """Weights follow the last colon when it parses as a number; otherwise the weight is 1.
    Raises ValueError on an empty prompt list or a non-positive weight."""
    items = [spec] if isinstance(spec, str) else list(spec)
    if not items:
        raise ValueError("a prompt list needs at least one prompt")
    mix: list[tuple[str, float]] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"a prompt must be text (got {item!r})")
        text, weight = item, 1.0
        head, colon, tail = item.rpartition(":")
        if colon:
            try:
                weight = float(tail)
                text = head
            except ValueError:
                pass
        if weight <= 0:
            raise ValueError(f"prompt weight must be positive in '{item}'")
        mix.append((text.strip(), weight))
    return tuple(mix)


def wrap_prompt(mix: PromptMix, prefix: str, suffix: str) -> PromptMix:
    """Apply a style's prefix and suffix to every prompt of a mix."""
    return tuple((f"{prefix}{text}{suffix}".strip(), weight) for text, weight in mix)


def describe(mix: PromptMix) -> str:
    """Human text for HUDs and timelines."""
    if len(mix) == 1:
        return mix[0][0]
    return " | ".join(f"{text} ({weight:g})" for text, weight in mix)
