"""The parameter table: every number a performer moves, declared once.

Three tables, declarations only (no behaviour, no imports from the rest of vj, so the setlist,
the director and the control surface can all read them):

- ``FRAME_VALUES``: the per-frame numbers the setlist schedules and the director computes
  (camera motion, style numbers, post): where they live, their default, how a per-frame value
  adds up over several frames.
- ``PARAMS``: what a control (OSC, MIDI, keys) may set: type, range, default, unit, smoothing,
  group, doc line, and how the director combines it with the setlist's value (``target`` +
  ``combine``). The parameter store's specs, the OSC address space, MIDI mapping and learn
  targets and the tables in docs/osc.md are all derived from it.
- ``ACTION_SPECS``: events a control fires (next cue, tap…), with their extra OSC addresses.

Adding a parameter is one ``Param`` entry in ``PARAMS``; a new combine rule or frame value needs
code where it is applied (the director), a new parameter never does.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class ParamKind(str, enum.Enum):
    """How a parameter's values are read, clamped, smoothed and normalised."""

    FLOAT = "float"
    INT = "int"
    BOOL = "bool"
    CHOICE = "choice"   # one of a list of names (the setlist's styles); set by name or index
    TEXT = "text"       # free text (a prompt)


class Combine(str, enum.Enum):
    """How the director combines a control's value with the setlist's value of its target."""

    REPLACE = "replace"    # the control's value replaces the setlist's
    ADD = "add"            # added to the setlist's
    MULTIPLY = "multiply"  # multiplies the setlist's
    SPEED = "speed"        # multiplies the motion: default + (value - default) × control (zoom: 1 + (zoom-1)×c)
    AT_LEAST = "at_least"  # the larger of the two
    NONE = "none"          # not combined: read by name where ``Param.used_by`` says


class PerFrame(str, enum.Enum):
    """How a frame value adds up over ``n`` setlist frames (a display or generator step that
    spans several frames of motion)."""

    POWER = "power"    # a factor per frame: n frames = value ** n (zoom)
    LINEAR = "linear"  # an amount per frame: n frames = value × n (angle, translation, rotation)
    NONE = "none"      # a state, not a step: the same over any number of frames (fov, post, style)


@dataclass(frozen=True)
class FrameValue:
    """A number the setlist schedules (or a cue sets) and the director computes for each frame.

    part:       where it lives. ``camera``: a song's ``camera:`` key and a ``CameraMotion`` field;
                ``frame``: a style key and a ``FrameParams`` field; ``style``: a style key read by
                the generator from ``FrameParams.style``; ``post``: a style's ``post:`` key and a
                ``PostSettings`` field; ``cue``: set by the cue, not scheduled (the seed).
    default:    the setlist's value when a song or style leaves it out (and, for camera motion,
                the value that does nothing, which ``Combine.SPEED`` scales from).
    per_frame:  how a per-frame value adds up over several frames (see ``PerFrame``).
    space:      camera only: the camera modes that use it (``2d``, ``3d``).
    scheduled:  the setlist gives it as a number or keyframes (False: only a control sets it).
    reactive:   a reactivity mapping may drive it (``target:``).
    """

    name: str
    part: str
    default: float = 0.0
    per_frame: PerFrame = PerFrame.NONE
    space: tuple[str, ...] = ()
    scheduled: bool = True
    reactive: bool = False
    unit: str = ""
    doc: str = ""

    def over_frames(self, value: float, frames: float) -> float:
        """``value`` (one frame's) accumulated over ``frames`` frames."""
        if self.per_frame is PerFrame.POWER:
            return value ** frames
        if self.per_frame is PerFrame.LINEAR:
            return value * frames
        return value


@dataclass(frozen=True)
class Param:
    """One parameter a control may set (a row of the table). The store's ``ParamSpec`` is this
    row plus value handling; the field order is the old ``ParamSpec``'s, so positional rows work.

    minimum, maximum:  the range in real units (clamped on every write; for CHOICE the index range).
    default:           the value before any write (FLOAT/INT/BOOL), and the base for relative moves
                       of a parameter that follows the setlist.
    smoothing_seconds: FLOAT only: a new value is reached over this glide time (0 = at once).
    follows_setlist:   absent from the control snapshot until a control sets it (the setlist leads).
    action:            a control's write also queues this action with the new value (so the
                       render loop can react to a toggle it owns, such as the HUD).
    group:             the docs' and surfaces' grouping (look, camera, audio, tempo, show, post).
    target, combine:   the director applies the value to this ``FrameValue`` by this rule.
    used_by:           for ``Combine.NONE``: who reads it by name (for the docs and the tests).
    osc:               extra OSC addresses (besides ``/vj/param/<name>`` and ``/vj/<name>``); an
                       address shared with another parameter goes to the one whose kind takes the
                       argument (an INT takes whole numbers, TEXT takes text).
    osc_second:        a second OSC argument sets this parameter first (``/vj/style ink 0.5``).
    """

    name: str
    minimum: float = 0.0
    maximum: float = 1.0
    default: Any = 0.0
    smoothing_seconds: float = 0.0
    kind: ParamKind = ParamKind.FLOAT
    doc: str = ""
    unit: str = ""
    choices: tuple[str, ...] = ()
    follows_setlist: bool = False
    action: str | None = None
    group: str = "misc"
    target: str | None = None
    combine: Combine = Combine.NONE
    used_by: str = ""
    osc: tuple[str, ...] = ()
    osc_second: str | None = None


@dataclass(frozen=True)
class ActionSpec:
    """An event a control fires; the render loop drains them from a queue.

    needs_value: a trigger without a value is dropped (``cue`` N, ``song`` name).
    value:       what the value is, for the docs.
    osc:         OSC addresses besides ``/vj/<name>`` (``/vj/cue/next``…).
    steps:       a step target: (parameter, direction) it steps through instead of queuing.
    """

    name: str
    doc: str
    needs_value: bool = False
    value: str = ""
    osc: tuple[str, ...] = ()
    steps: tuple[str, int] | None = None


_F, _I, _B, _C, _T = ParamKind.FLOAT, ParamKind.INT, ParamKind.BOOL, ParamKind.CHOICE, ParamKind.TEXT
_2D, _3D, _BOTH = ("2d",), ("3d",), ("2d", "3d")
_POW, _LIN = PerFrame.POWER, PerFrame.LINEAR

#: The per-frame numbers, in the setlist's order (camera, style, post).
FRAME_VALUES: tuple[FrameValue, ...] = (
    # camera (Disco Diffusion / Deforum units, per frame)
    FrameValue("zoom", "camera", 1.0, _POW, _2D, reactive=True, unit="× per frame",
               doc="Scale factor per frame (1 = none, > 1 zooms in)."),
    FrameValue("angle", "camera", 0.0, _LIN, _2D, reactive=True, unit="° per frame",
               doc="2D rotation per frame (counter-clockwise positive)."),
    FrameValue("translation_x", "camera", 0.0, _LIN, _BOTH, reactive=True, unit="per frame",
               doc="2D: pixels per frame; 3D: world units per frame."),
    FrameValue("translation_y", "camera", 0.0, _LIN, _BOTH, reactive=True, unit="per frame",
               doc="2D: pixels per frame; 3D: world units per frame."),
    FrameValue("translation_z", "camera", 0.0, _LIN, _3D, reactive=True, unit="per frame",
               doc="3D: world units per frame toward the scene."),
    FrameValue("rotation_3d_x", "camera", 0.0, _LIN, _3D, reactive=True, unit="° per frame", doc="3D rotation."),
    FrameValue("rotation_3d_y", "camera", 0.0, _LIN, _3D, reactive=True, unit="° per frame", doc="3D rotation."),
    FrameValue("rotation_3d_z", "camera", 0.0, _LIN, _3D, reactive=True, unit="° per frame", doc="3D rotation."),
    FrameValue("fov", "camera", 40.0, space=_3D, reactive=True, unit="°", doc="3D vertical field of view."),
    FrameValue("near", "camera", 200.0, space=_3D, reactive=True, doc="3D near clip plane (world units)."),
    FrameValue("far", "camera", 10000.0, space=_3D, reactive=True, doc="3D far clip plane (world units)."),
    # style
    FrameValue("strength", "frame", 0.5, reactive=True, doc="img2img strength 0..1."),
    FrameValue("guidance", "frame", 0.0, reactive=True, doc="Classifier-free guidance scale."),
    FrameValue("coherence", "style", 0.0, doc="Colour coherence (docs/diffusion.md)."),
    FrameValue("frame_blend", "style", 0.0, doc="Blend of the previous frame (docs/diffusion.md)."),
    FrameValue("noise", "style", 0.0, doc="Added noise (docs/diffusion.md)."),
    FrameValue("contrast_drift", "style", 0.0, doc="Contrast drift correction (docs/diffusion.md)."),
    # post
    FrameValue("brightness", "post", 1.0, reactive=True, unit="×", doc="Brightness multiplier."),
    FrameValue("contrast", "post", 1.0, reactive=True, unit="×", doc="Contrast multiplier around mid-grey."),
    FrameValue("saturation", "post", 1.0, reactive=True, unit="×", doc="Saturation multiplier."),
    FrameValue("hue_shift", "post", 0.0, reactive=True, unit="°", doc="Hue shift."),
    FrameValue("vignette", "post", 0.0, reactive=True, doc="Vignette 0..1."),
    FrameValue("blackout", "post", 0.0, scheduled=False, doc="Black output (on/off)."),
    # cue
    FrameValue("seed", "cue", 0.0, scheduled=False, doc="The noise seed the frame blends into."),
)

_CAM, _POST = "camera", "post"

#: Every parameter every show has (``gain_<mapping>`` ones are added per song: ``REACTIVITY_GAIN``).
PARAMS: tuple[Param, ...] = (
    # look
    Param("style", 0, 0, None, kind=_C, follows_setlist=True, group="look", used_by="director: the style",
          osc_second="style_crossfade",
          doc="Style by name or index into the setlist's styles; replaces the cue's style."),
    Param("style_crossfade", 0, 30, 2.0, unit="s", group="look", used_by="director: live change blend",
          doc="Seconds a live style or prompt change blends over (prompt suffix embedding, strength, guidance, post)."),
    Param("prompt", kind=_T, default=None, follows_setlist=True, group="look", used_by="director: the prompt",
          doc="Live prompt text; replaces the cue's prompt (the style's prefix and suffix still apply)."),
    Param("prompt_index", 0, 999, None, kind=_I, follows_setlist=True, group="look", used_by="store: sets `prompt`",
          osc=("/vj/prompt",),
          doc="Prompt by index into the current song's prompts (also sets `prompt`)."),
    Param("prompt_blend", 0, 1, 1.0, smoothing_seconds=0.1, group="look", used_by="director: prompt crossfade",
          doc="Crossfader from the cue's prompt (0) to the live prompt (1)."),
    Param("strength", 0, 1, 0.5, smoothing_seconds=0.1, follows_setlist=True, group="look",
          target="strength", combine=Combine.REPLACE,
          doc="img2img strength: how much of the moved previous frame is repainted."),
    Param("guidance", 0, 20, 0.0, smoothing_seconds=0.1, follows_setlist=True, group="look",
          target="guidance", combine=Combine.REPLACE,
          doc="Classifier-free guidance scale (0/1 = off, as turbo models want)."),
    Param("seed", 0, 2**32 - 1, 0, kind=_I, follows_setlist=True, group="look", target="seed",
          combine=Combine.REPLACE, doc="Noise seed; a change blends into the new seed like a cue transition."),
    # camera
    Param("zoom_speed", -2, 4, 1.0, smoothing_seconds=0.15, unit="×", group=_CAM, target="zoom",
          combine=Combine.SPEED, doc="Multiplies the schedule's zoom rate (zoom-1); 0 stops, negative reverses."),
    Param("angle_speed", -2, 4, 1.0, smoothing_seconds=0.15, unit="×", group=_CAM, target="angle",
          combine=Combine.SPEED, doc="Multiplies the schedule's rotation (degrees per frame)."),
    Param("translation_x_speed", -2, 4, 1.0, smoothing_seconds=0.15, unit="×", group=_CAM, target="translation_x",
          combine=Combine.SPEED, doc="Multiplies the schedule's horizontal translation."),
    Param("translation_y_speed", -2, 4, 1.0, smoothing_seconds=0.15, unit="×", group=_CAM, target="translation_y",
          combine=Combine.SPEED, doc="Multiplies the schedule's vertical translation."),
    Param("translation_z_speed", -2, 4, 1.0, smoothing_seconds=0.15, unit="×", group=_CAM, target="translation_z",
          combine=Combine.SPEED, doc="3D: multiplies the schedule's forward motion."),
    # audio
    Param("reactivity_gain", 0, 2, 1.0, smoothing_seconds=0.05, unit="×", group="audio",
          used_by="director: reactivity", doc="Master gain of every audio reactivity mapping."),
    Param("input_gain", 0, 4, 1.0, smoothing_seconds=0.05, unit="×", group="audio", used_by="live loop: audio input",
          doc="Linear gain on the audio input before analysis."),
    Param("onset_threshold", 0, 1, 0.3, follows_setlist=True, group="audio", used_by="live loop: onset detector",
          doc="Onset detector threshold: for the live default `fast`, a 0..1 sensitivity (lower fires "
              "on softer hits); for aubio methods, aubio's own units. Until set, the detector keeps "
              "its method's default (see docs/live.md)."),
    # tempo
    Param("bpm", 20, 400, 120.0, follows_setlist=True, action="bpm", unit="BPM", group="tempo",
          used_by="live loop: tempo clock", osc=("/composition/tempocontroller/tempo",),
          doc="Manual tempo; leads when the song's tempo lead is 'setlist'."),
    Param("latency_offset_ms", -500, 500, 0.0, follows_setlist=True, unit="ms", group="tempo",
          used_by="live loop: song time", doc="Shifts every visual hit earlier (positive) to calibrate a projector's delay."),
    # show
    Param("blackout", kind=_B, default=False, action="blackout", group="show", target="blackout",
          combine=Combine.REPLACE, doc="Black output (has priority over everything)."),
    Param("freeze", kind=_B, default=False, action="freeze", group="show", used_by="live loop",
          doc="Hold the current frame."),
    Param("hud", kind=_B, default=False, action="hud", group="show", used_by="live loop",
          doc="On-screen HUD (fps, BPM, beat, cue, prompt, meter)."),
    # post
    Param("brightness", 0, 2, 1.0, smoothing_seconds=0.05, unit="×", group=_POST, target="brightness",
          combine=Combine.MULTIPLY, doc="Master brightness, multiplies the style's."),
    Param("contrast", 0, 2, 1.0, smoothing_seconds=0.05, unit="×", group=_POST, target="contrast",
          combine=Combine.MULTIPLY, doc="Multiplies the style's contrast."),
    Param("saturation", 0, 2, 1.0, smoothing_seconds=0.05, unit="×", group=_POST, target="saturation",
          combine=Combine.MULTIPLY, doc="Multiplies the style's saturation."),
    Param("hue_shift", -180, 180, 0.0, smoothing_seconds=0.05, unit="°", group=_POST, target="hue_shift",
          combine=Combine.ADD, doc="Added to the style's hue shift."),
    Param("vignette", 0, 1, 0.0, smoothing_seconds=0.05, group=_POST, target="vignette", combine=Combine.AT_LEAST,
          doc="Vignette at least this strong (the style's, if larger, wins)."),
)

#: Names of per-song parameters: ``gain_<mapping>`` for each reactivity mapping of the song.
GAIN_PREFIX = "gain_"
#: The row each ``gain_<mapping>`` parameter is made from (its name and doc filled in per mapping).
REACTIVITY_GAIN = Param(
    f"{GAIN_PREFIX}<mapping>", 0, 2, 1.0, smoothing_seconds=0.05, unit="×", group="audio",
    used_by="director: reactivity",
    doc="Gain of one reactivity mapping of the current song (its `name:`, or `<source>_<target>_<index>`).")

#: Events (see docs/osc.md); each is also reachable at ``/vj/<name>``.
ACTION_SPECS: tuple[ActionSpec, ...] = (
    ActionSpec("next_cue", "jump to the next cue now", osc=("/vj/cue/next",)),
    ActionSpec("previous_cue", "jump to the previous cue now", osc=("/vj/cue/previous", "/vj/cue/prev")),
    ActionSpec("cue", "jump to cue N (0 = the song's start)", needs_value=True, value="N / name"),
    ActionSpec("arm_downbeat", "the next cue fires on the next downbeat", osc=("/vj/cue/arm/downbeat",)),
    ActionSpec("arm_onset", "the next cue fires on the next onset", osc=("/vj/cue/arm/onset",)),
    ActionSpec("next_song", "next song of the setlist", osc=("/vj/song/next",)),
    ActionSpec("previous_song", "previous song", osc=("/vj/song/previous", "/vj/song/prev")),
    ActionSpec("song", "song by name or index", needs_value=True, value="N / name"),
    ActionSpec("tap", "tap tempo (the action's time is when the tap arrived)",
               osc=("/composition/tempocontroller/tempotap",)),
    ActionSpec("resync", "now is a downbeat", osc=("/composition/tempocontroller/resync",)),
    ActionSpec("bpm_up", "BPM + 1", osc=("/vj/bpm/up",)),
    ActionSpec("bpm_down", "BPM − 1", osc=("/vj/bpm/down",)),
    ActionSpec("bpm", "manual BPM (queued when the `bpm` parameter is set)", needs_value=True, value="BPM"),
    ActionSpec("blackout", "blackout on/off (queued when `blackout` is set; no value: toggle)"),
    ActionSpec("freeze", "freeze on/off (queued when `freeze` is set; no value: toggle)"),
    ActionSpec("hud", "HUD on/off (queued when `hud` is set; no value: toggle)"),
    ActionSpec("midi_clock_beat", "MIDI clock: a quarter note at the action's time; value = estimated BPM"),
    ActionSpec("midi_clock_start", "MIDI clock Start (the next beat is beat 0)"),
    ActionSpec("midi_clock_stop", "MIDI clock Stop"),
    ActionSpec("next_style", "steps `style` forward (wraps)", osc=("/vj/style/next",), steps=("style", 1)),
    ActionSpec("previous_style", "steps `style` back (wraps)", osc=("/vj/style/previous", "/vj/style/prev"),
               steps=("style", -1)),
    ActionSpec("next_prompt", "steps `prompt_index` forward (wraps)", osc=("/vj/prompt/next",),
               steps=("prompt_index", 1)),
    ActionSpec("previous_prompt", "steps `prompt_index` back (wraps)",
               osc=("/vj/prompt/previous", "/vj/prompt/prev"), steps=("prompt_index", -1)),
)

#: Lookups by name (built from the tables above).
FRAME_VALUE: dict[str, FrameValue] = {value.name: value for value in FRAME_VALUES}
PARAM: dict[str, Param] = {param.name: param for param in PARAMS}
#: Actions that queue an event (name → what it does); the step targets are ``STEP_TARGETS``.
ACTIONS: dict[str, str] = {spec.name: spec.doc for spec in ACTION_SPECS if spec.steps is None}
#: Targets that step a list parameter rather than set it: name → (parameter, direction).
STEP_TARGETS: dict[str, tuple[str, int]] = {spec.name: spec.steps for spec in ACTION_SPECS if spec.steps}
#: Actions that need a value (a trigger with no value is dropped).
VALUE_ACTIONS = frozenset(spec.name for spec in ACTION_SPECS if spec.needs_value)


def frame_value_names(part: str, *, space: str | None = None, scheduled_only: bool = True) -> tuple[str, ...]:
    """Names of the frame values of one ``part``, in table order: by default only those the setlist
    schedules; ``space`` keeps the camera values one camera mode uses."""
    return tuple(v.name for v in FRAME_VALUES if v.part == part and (space is None or space in v.space)
                 and (v.scheduled or not scheduled_only))


__all__ = ["ParamKind", "Combine", "PerFrame", "FrameValue", "Param", "ActionSpec", "FRAME_VALUES", "PARAMS",
           "ACTION_SPECS", "REACTIVITY_GAIN", "GAIN_PREFIX", "FRAME_VALUE", "PARAM", "ACTIONS", "STEP_TARGETS",
           "VALUE_ACTIONS", "frame_value_names"]
