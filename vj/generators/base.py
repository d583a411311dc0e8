"""The generator slot: ``step(previous frame moved by the camera, frame parameters) -> next frame``.

A generator does its slow work in ``prepare`` (compile shaders, load weights, encode prompts) so
``step`` is a short fixed sequence. It never owns the clock, the camera or the outputs.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vj.render.frame import Frame
from vj.frame_params import FrameParams, PromptMix

if TYPE_CHECKING:
    import moderngl


class GeneratorError(RuntimeError):
    """A generator cannot run (missing weights, bad size, out of memory): a message for people."""


@dataclass
class GeneratorContext:
    """What ``prepare`` gets: the output size, the GL context the render passes use, and every
    prompt the setlist can ask for (so they can be encoded before the show)."""

    width: int
    height: int
    gl: "moderngl.Context | None" = None
    prompts: list[PromptMix] = field(default_factory=list)
    negative_prompts: list[str] = field(default_factory=list)
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)


class Generator(ABC):
    """One frame source. Implementations: ``procedural`` (GLSL, no weights), ``diffusion``."""

    name: str = "generator"

    @abstractmethod
    def prepare(self, context: GeneratorContext) -> None:
        """Slow set-up before the first frame."""

    @abstractmethod
    def step(self, previous: Frame, params: FrameParams) -> Frame:
        """The next frame from the previous one (already moved by the camera)."""

    def first_frame(self, params: FrameParams) -> Frame:
        """The frame to start from (before any previous exists). Default: mid-grey."""
        return Frame.blank(self.width, self.height, 0.5)

    def close(self) -> None:
        """Release GPU memory and threads."""

    @property
    def width(self) -> int:
        return self._context.width  # type: ignore[attr-defined]

    @property
    def height(self) -> int:
        return self._context.height  # type: ignore[attr-defined]
