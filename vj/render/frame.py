"""A frame that lives where the stage that made it lives, converted only when a consumer needs it.

Frames stay on the device that made them (a GL texture, a torch tensor) until an output asks for
host pixels; each conversion is cached on the frame so two consumers never pay twice.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # imported lazily: torch and moderngl are heavy and optional per path
    import moderngl
    import torch


class Frame:
    """An RGB image, 0..1, of a fixed size (width, height).

    Construct with exactly one of: ``array`` (H×W×3 float32 0..1, row 0 at the top),
    ``texture`` (a moderngl texture holding RGBA, row 0 at the bottom as GL stores it) or
    ``tensor`` (torch, 1×3×H×W, 0..1, row 0 at the top).
    """

    __slots__ = ("width", "height", "_array", "_texture", "_tensor")

    def __init__(
        self,
        *,
        array: np.ndarray | None = None,
        texture: "moderngl.Texture | None" = None,
        tensor: "torch.Tensor | None" = None,
    ) -> None:
        given = [x is not None for x in (array, texture, tensor)]
        if sum(given) != 1:
            raise ValueError("Frame needs exactly one of array, texture or tensor")
        self._array = None
        self._texture = texture
        self._tensor = tensor
        if array is not None:
            if array.ndim != 3 or array.shape[2] != 3:
                raise ValueError(f"Frame array must be H×W×3, got {array.shape}")
            self._array = np.ascontiguousarray(array, dtype=np.float32)
            self.height, self.width = array.shape[:2]
        elif texture is not None:
            self.width, self.height = texture.size
        else:
            assert tensor is not None
            self.height, self.width = int(tensor.shape[-2]), int(tensor.shape[-1])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.width, self.height

    @classmethod
    def blank(cls, width: int, height: int, value: float = 0.0) -> "Frame":
        return cls(array=np.full((height, width, 3), value, dtype=np.float32))

    def to_array(self) -> np.ndarray:
        """H×W×3 float32 0..1, row 0 at the top (cached)."""
        if self._array is None:
            if self._texture is not None:
                components = self._texture.components
                dtype = np.float32 if self._texture.dtype == "f4" else (
                    np.float16 if self._texture.dtype == "f2" else np.uint8)
                raw = np.frombuffer(self._texture.read(), dtype=dtype)
                image = raw.reshape(self.height, self.width, components)[::-1, :, :3]
                image = image.astype(np.float32)
                if dtype == np.uint8:
                    image /= 255.0
                self._array = np.ascontiguousarray(np.clip(image, 0.0, 1.0))
            else:
                tensor = self._tensor.detach().float().clamp(0, 1)
                self._array = np.ascontiguousarray(
                    tensor[0].permute(1, 2, 0).cpu().numpy(), dtype=np.float32)
        return self._array

    def to_uint8(self) -> np.ndarray:
        """H×W×3 uint8, row 0 at the top, rounded (what encoders and PNG writers take)."""
        return (self.to_array() * 255.0 + 0.5).astype(np.uint8)

    def texture_in(self, ctx: "moderngl.Context") -> "moderngl.Texture | None":
        """The frame's own texture when it already lives in ``ctx``, else None (no upload, no readback)."""
        if self._texture is not None and self._texture.ctx == ctx:
            return self._texture
        return None

    def to_texture(self, ctx: "moderngl.Context") -> "moderngl.Texture":
        """An RGBA32F texture in ``ctx`` (uploads once; reuses the frame's own texture if it has one).

        A new texture per call on a host frame: the caller owns and releases it. The render loop
        uploads into targets it allocated once instead (``vj.render.passes.upload``)."""
        if self._texture is not None and self._texture.ctx == ctx:
            return self._texture
        image = self.to_array()
        rgba = np.ones((self.height, self.width, 4), dtype=np.float32)
        rgba[:, :, :3] = image[::-1]
        texture = ctx.texture((self.width, self.height), 4, rgba.tobytes(), dtype="f4")
        self._texture = texture
        return texture

    @property
    def cuda_tensor(self) -> "torch.Tensor | None":
        """The frame's own tensor when it is a CUDA tensor and no host copy exists (so an upload can
        go device to device), else None."""
        tensor = self._tensor
        if tensor is not None and self._array is None and getattr(tensor, "is_cuda", False):
            return tensor
        return None

    def to_tensor(self, device: Any = "cpu", dtype: Any = None) -> "torch.Tensor":
        """1×3×H×W torch tensor, 0..1, on ``device`` (cached for the last device asked). A texture
        frame asked for on CUDA is copied device to device (``vj.render.cuda_interop``), not read
        back through the host."""
        import torch

        dtype = dtype or torch.float32
        if (self._tensor is None and self._array is None and self._texture is not None
                and torch.device(device).type == "cuda" and self._texture.dtype == "f4"):
            from vj.render.cuda_interop import texture_to_tensor

            self._tensor = texture_to_tensor(self._texture, device).to(dtype=dtype)
            return self._tensor
        if self._tensor is None or self._tensor.device != torch.device(device) or self._tensor.dtype != dtype:
            source = self._tensor if self._tensor is not None else torch.from_numpy(self.to_array()).permute(2, 0, 1)[None]
            self._tensor = source.to(device=device, dtype=dtype)
        return self._tensor

    def __repr__(self) -> str:
        where = "array" if self._array is not None else "texture" if self._texture is not None else "tensor"
        return f"Frame({self.width}x{self.height}, on {where})"
