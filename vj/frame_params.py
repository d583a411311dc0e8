"""What the director decides for one frame, and all a generator or render pass may read.

Frozen and small: built once per frame by the director (no I/O), then handed read-only to the
generator, the camera warp, the post pass, the HUD and the recorder.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vj.features import Features

#: A weighted prompt: ((text, weight), ...), weights > 0. One entry for a plain prompt.
PromptMix = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Conditioning:
    """What the picture should show: the full prompt (style prefix/suffix already applied)."""

    prompt: PromptMix
    negative_prompt: str = ""
    #: Index of this prompt in the song's prompt list; the procedural generator keys its palette
    #: and pattern seed on it, the diffusion generator uses ``prompt`` itself.
    prompt_id: int = 0


@dataclass(frozen=True)
class CameraMotion:
    """Camera motion for this one frame (Disco Diffusion / Deforum units, applied to the previous frame).

    zoom:          scale factor per frame (1.0 = none, >1 zooms in).
    angle:         2D rotation, degrees per frame (counter-clockwise positive, as Disco).
    translation_x, translation_y: 2D pixels per frame (3D mode: world units per frame).
    translation_z: 3D only, world units per frame toward the scene.
    rotation_3d_x/y/z: 3D only, degrees per frame.
    fov, near, far: 3D only: vertical field of view in degrees, clip planes in world units.

    The numbers are the parameter table's camera frame values (``vj.param_table.FRAME_VALUES``,
    with how each adds up over several frames); a test checks names and defaults agree.
    """

    mode: str = "2d"
    zoom: float = 1.0
    angle: float = 0.0
    translation_x: float = 0.0
    translation_y: float = 0.0
    translation_z: float = 0.0
    rotation_3d_x: float = 0.0
    rotation_3d_y: float = 0.0
    rotation_3d_z: float = 0.0
    fov: float = 40.0
    near: float = 200.0
    far: float = 10000.0


@dataclass(frozen=True)
class PostSettings:
    """Colour and post settings, applied after the generator (all neutral at their defaults).
    The fields are the parameter table's post frame values (``vj.param_table.FRAME_VALUES``)."""

    brightness: float = 1.0   # multiplier
    contrast: float = 1.0     # multiplier around mid-grey
    saturation: float = 1.0   # multiplier
    hue_shift: float = 0.0    # degrees
    vignette: float = 0.0     # 0..1
    blackout: bool = False


@dataclass(frozen=True)
class FrameParams:
    """Everything about frame ``index`` at song time ``time`` (seconds).

    The conditioning moves from ``conditioning_from`` to ``conditioning_to`` as ``blend`` goes 0→1
    (a cue transition); outside a transition both are the same and blend is 1.
    ``seed`` blends into ``next_seed`` by ``seed_blend`` the same way.
    """

    index: int
    time: float
    features: Features
    camera: CameraMotion
    conditioning_from: Conditioning
    conditioning_to: Conditioning
    blend: float = 1.0
    style_name: str = "default"
    strength: float = 0.5       # img2img strength 0..1: how much of the previous frame is repainted
    guidance: float = 0.0       # classifier-free guidance scale (0/1 = off for turbo models)
    steps: int = 1              # denoising steps
    seed: int = 0
    next_seed: int = 0
    seed_blend: float = 0.0
    border: str = "reflect"     # reflect | wrap | clamp: what fills pixels the camera moved in
    #: Procedural-generator parameters (palette/pattern), free-form numbers by name, 0..1 mostly.
    look: dict[str, float] = field(default_factory=dict)
    post: PostSettings = field(default_factory=PostSettings)
    #: Style parameters a generator may use: colour coherence, noise, contrast schedules, etc.
    style: dict[str, float] = field(default_factory=dict)
    cue_index: int = 0
    cue_label: str = ""
    #: The song's depth spec for the 3D camera ("plane", "model:<source>", a mapping; None: the
    #: generator context's), so a live set whose songs differ in depth switches with the song.
    depth: Any = None
