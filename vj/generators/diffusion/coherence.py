"""Anti-drift for the feedback loop: colour coherence, frame/latent blending, noise and contrast.

An img2img loop fed its own output drifts within seconds to minutes: colours saturate or go grey,
detail turns to mush (Deforum's colour coherence and noise/contrast schedules exist for this). These
are the style parameters that hold a show together for hours; all are cheap tensor ops on the device.

Style parameters read from ``FrameParams.style`` (missing names take the default):

=============================  =======  ============================================================
name                           default  meaning
=============================  =======  ============================================================
coherence                      0.0      0..1: how far each output's LAB mean/spread is pulled to the reference
coherence_reference_palette    0.0      1 = the style's palette (below) is the reference; 0 = the cue's first frame
palette_l, palette_a, palette_b  55, 0, 0  palette reference: LAB means (L 0..100, a/b about −100..100)
palette_l_spread               20.0     palette reference: spread (std) of L
palette_ab_spread              18.0     palette reference: spread (std) of a and b
frame_blend                    0.0      0..1: mix of the incoming (camera-moved) frame kept in the output
latent_blend                   0.0      0..1: mix of the previous output's latent kept in this one
noise                          0.0      0..1: seeded pixel noise added to the input (keeps detail alive)
contrast                       1.0      contrast multiplier applied to the input around its mean
contrast_drift                 0.0      added to ``contrast`` (the setlist's per-style schedule)
=============================  =======  ============================================================
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

# sRGB (D65) → XYZ, and the D65 white point.
_RGB_TO_XYZ = ((0.4124564, 0.3575761, 0.1804375),
               (0.2126729, 0.7151522, 0.0721750),
               (0.0193339, 0.1191920, 0.9503041))
_WHITE = (0.95047, 1.0, 1.08883)
_EPS = 216 / 24389
_KAPPA = 24389 / 27


def _inverse_3x3(m: tuple[tuple[float, ...], ...]) -> tuple[tuple[float, ...], ...]:
    """The exact inverse of a 3×3 matrix (cofactors, in float64 Python arithmetic), once at import."""
    (a, b, c), (d, e, f), (g, h, i) = m
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    return ((+(e * i - f * h) / det, -(b * i - c * h) / det, +(b * f - c * e) / det),
            (-(d * i - f * g) / det, +(a * i - c * g) / det, -(a * f - c * d) / det),
            (+(d * h - e * g) / det, -(a * h - b * g) / det, +(a * e - b * d) / det))


_XYZ_TO_RGB = _inverse_3x3(_RGB_TO_XYZ)
_CONSTANTS: dict[tuple[Any, ...], Any] = {}


def _constant(values: Any, device: Any, shape: tuple[int, ...] | None = None) -> Any:
    """``values`` as a float32 tensor on ``device``, made once and reused.

    Colour coherence runs every frame; a ``torch.tensor(..., device="cuda")`` there is a blocking
    host-to-device copy each time (up to six a frame with a palette reference), so the matrices,
    the white point and palette numbers are kept on the device instead."""
    import torch

    key = (values, str(device), shape)
    found = _CONSTANTS.get(key)
    if found is None:
        found = torch.tensor(values, dtype=torch.float32, device=device)
        if shape is not None:
            found = found.view(shape)
        if len(_CONSTANTS) > 256:  # a palette swept live: keep the cache small
            _CONSTANTS.clear()
        _CONSTANTS[key] = found
    return found


@dataclass(frozen=True)
class AntiDrift:
    """The anti-drift numbers for one frame, read once from the style dict."""

    coherence: float = 0.0
    palette: bool = False
    palette_mean: tuple[float, float, float] = (55.0, 0.0, 0.0)
    palette_std: tuple[float, float, float] = (20.0, 18.0, 18.0)
    frame_blend: float = 0.0
    latent_blend: float = 0.0
    noise: float = 0.0
    contrast: float = 1.0

    @classmethod
    def from_style(cls, style: Mapping[str, Any]) -> "AntiDrift":
        def number(name: str, default: float, low: float, high: float) -> float:
            value = style.get(name, default)
            try:
                value = float(value)
            except (TypeError, ValueError):
                return default
            return min(max(value, low), high)

        reference = style.get("coherence_reference")
        palette = (reference == "palette") or number("coherence_reference_palette", 0.0, 0.0, 1.0) >= 0.5
        return cls(
            coherence=number("coherence", 0.0, 0.0, 1.0), palette=palette,
            palette_mean=(number("palette_l", 55.0, 0, 100), number("palette_a", 0.0, -128, 128),
                          number("palette_b", 0.0, -128, 128)),
            palette_std=(number("palette_l_spread", 20.0, 0.5, 60), number("palette_ab_spread", 18.0, 0.5, 80),
                         number("palette_ab_spread", 18.0, 0.5, 80)),
            frame_blend=number("frame_blend", 0.0, 0.0, 1.0), latent_blend=number("latent_blend", 0.0, 0.0, 1.0),
            noise=number("noise", 0.0, 0.0, 1.0),
            contrast=number("contrast", 1.0, 0.0, 4.0) + number("contrast_drift", 0.0, -1.0, 3.0))


def rgb_to_lab(image: Any) -> Any:
    """N×3×H×W sRGB 0..1 → CIE LAB (L 0..100)."""
    import torch

    rgb = image.float().clamp(0, 1)
    linear = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    matrix = _constant(_RGB_TO_XYZ, image.device)
    xyz = torch.einsum("ij,njhw->nihw", matrix, linear)
    xyz = xyz / _constant(_WHITE, image.device, (1, 3, 1, 1))
    f = torch.where(xyz > _EPS, xyz.clamp_min(1e-12) ** (1 / 3), (_KAPPA * xyz + 16) / 116)
    return torch.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], dim=1)


def lab_to_rgb(lab: Any) -> Any:
    """CIE LAB → N×3×H×W sRGB 0..1 (clipped)."""
    import torch

    fy = (lab[:, 0] + 16) / 116
    fx = fy + lab[:, 1] / 500
    fz = fy - lab[:, 2] / 200
    f = torch.stack([fx, fy, fz], dim=1)
    xyz = torch.where(f**3 > _EPS, f**3, (116 * f - 16) / _KAPPA)
    xyz = xyz * _constant(_WHITE, lab.device, (1, 3, 1, 1))
    inverse = _constant(_XYZ_TO_RGB, lab.device)  # inverted once at import, not per frame on the CPU
    linear = torch.einsum("ij,njhw->nihw", inverse, xyz).clamp(0, 1)
    return torch.where(linear > 0.0031308, 1.055 * linear.clamp_min(1e-12) ** (1 / 2.4) - 0.055, 12.92 * linear)


def lab_stats(image: Any) -> tuple[Any, Any]:
    """Per-channel LAB mean and spread (std), each a 1×3×1×1 tensor."""
    lab = rgb_to_lab(image)
    return lab.mean(dim=(2, 3), keepdim=True), lab.std(dim=(2, 3), keepdim=True)


class ColourCoherence:
    """Holds the reference statistics and pulls each frame toward them in LAB."""

    def __init__(self) -> None:
        self._cue: int | None = None
        self._reference: tuple[Any, Any] | None = None

    def reset(self) -> None:
        self._cue = None
        self._reference = None

    def reference(self, frame: Any, cue_index: int, settings: AntiDrift) -> tuple[Any, Any]:
        """The cue's first frame (captured the first time a cue is seen) or the style's palette."""
        if settings.palette:
            return (_constant(settings.palette_mean, frame.device, (1, 3, 1, 1)),
                    _constant(settings.palette_std, frame.device, (1, 3, 1, 1)))
        if self._reference is None or self._cue != cue_index:
            self._cue = cue_index
            mean, std = lab_stats(frame)
            self._reference = (mean, std.clamp_min(0.5))
        return self._reference

    def apply(self, frame: Any, reference: tuple[Any, Any], strength: float) -> Any:
        """Match mean and spread per LAB channel, mixed in by ``strength`` (0..1)."""
        if strength <= 0.0:
            return frame
        lab = rgb_to_lab(frame)
        mean, std = lab.mean(dim=(2, 3), keepdim=True), lab.std(dim=(2, 3), keepdim=True).clamp_min(0.5)
        ref_mean, ref_std = reference
        matched = (lab - mean) * (ref_std / std).clamp(0.2, 5.0) + ref_mean
        return lab_to_rgb(lab + strength * (matched - lab))


class PixelNoise:
    """A small bank of seeded noise images, cycled by frame index (no per-frame RNG cost)."""

    def __init__(self, shape: tuple[int, ...], device: Any, seed: int = 0, count: int = 7) -> None:
        import torch

        generator = torch.Generator("cpu").manual_seed(seed + 7919)
        self._bank = [torch.randn(shape, generator=generator).to(device) for _ in range(count)]

    def get(self, index: int) -> Any:
        return self._bank[index % len(self._bank)]


def prepare_input(image: Any, settings: AntiDrift, noise: PixelNoise | None, index: int) -> Any:
    """Contrast and noise on the incoming frame, before the model sees it."""
    out = image.float()
    if settings.contrast != 1.0:
        mean = out.mean(dim=(2, 3), keepdim=True)
        out = (out - mean) * settings.contrast + mean
    if settings.noise > 0.0 and noise is not None:
        out = out + 0.25 * settings.noise * noise.get(index)
    return out.clamp(0, 1)
