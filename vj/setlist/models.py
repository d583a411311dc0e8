"""Setlists: YAML → validated, typed models; every error names file, line and field.

A setlist holds output settings, the model, named styles and songs. Songs hold camera
keyframes, reactivity mappings and cues. Schedules (keyframe strings) are checked here too,
so a typo is found by ``vj check`` and never on stage. See docs/setlist.md for the format.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator,
                      model_validator)

from vj.errors import SetlistError
from vj.features import AUDIO_SOURCES
from vj.param_table import FRAME_VALUES, PARAM, frame_value_names
from vj.setlist.depth_spec import check_depth_spec
from vj.setlist.source import PathKey, format_path, line_for, load_yaml_with_lines, validation_error

#: A number, or a keyframe string / expression (see vj.setlist.schedule).
ScheduleValue = Union[float, str]

# The scheduled numbers, from the parameter table (vj.param_table.FRAME_VALUES); the models below
# name them again as fields, and tests/test_setlist.py checks they agree (names and defaults).
CAMERA_2D_FIELDS = frame_value_names("camera", space="2d")
CAMERA_3D_FIELDS = frame_value_names("camera", space="3d")
CAMERA_FIELDS = frame_value_names("camera")
POST_FIELDS = frame_value_names("post")
STYLE_NUMBER_FIELDS = frame_value_names("frame") + frame_value_names("style")
#: The setlist's ranges for numbers a control may also set (bpm, seed), from the parameter table.
_BPM, _SEED = PARAM["bpm"], PARAM["seed"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class Output(_Strict):
    """Render size and rate. Sizes are multiples of 8 (what diffusion models take)."""

    width: int = Field(512, ge=64, le=4096)
    height: int = Field(512, ge=64, le=4096)
    fps: float = Field(24, gt=0, le=240)

    @field_validator("width", "height")
    @classmethod
    def _multiple_of_8(cls, value: int) -> int:
        if value % 8:
            raise ValueError(f"must be a multiple of 8 (got {value}); try {value // 8 * 8}")
        return value


class Post(_Strict):
    brightness: ScheduleValue = 1.0
    contrast: ScheduleValue = 1.0
    saturation: ScheduleValue = 1.0
    hue_shift: ScheduleValue = 0.0
    vignette: ScheduleValue = 0.0


class Style(_Strict):
    """A named look: prompt wrapping, img2img settings, colour/post, procedural look."""

    prefix: str = ""
    suffix: str = ""
    negative: str = ""
    strength: ScheduleValue = 0.5
    guidance: ScheduleValue = 0.0
    steps: int = Field(1, ge=1, le=4)
    seed: int = Field(0, ge=_SEED.minimum, le=_SEED.maximum)
    #: What fills the edge a camera move uncovers. 2D: reflect, wrap, clamp (= stretch);
    #: 3D also: noise (fresh noise the model paints over, Deforum's 'zeros'-like fill).
    border: Literal["reflect", "wrap", "clamp", "stretch", "noise"] = "reflect"
    #: Anti-drift settings read by the diffusion generator (see docs/diffusion.md).
    coherence: ScheduleValue = 0.0
    coherence_reference: Literal["cue_first_frame", "palette"] = "cue_first_frame"
    frame_blend: ScheduleValue = 0.0
    noise: ScheduleValue = 0.0
    contrast_drift: ScheduleValue = 0.0
    post: Post = Field(default_factory=Post)
    #: Procedural generator look: warp, detail, speed, hue, ... (numbers or schedules).
    look: dict[str, ScheduleValue] = Field(default_factory=dict)


class Camera(_Strict):
    """Camera keyframes (Disco/Deforum units per frame). 2D: zoom, angle, translation_x/y (px).
    3D: translation_x/y/z, rotation_3d_x/y/z (degrees), fov, near, far."""

    mode: Literal["2d", "3d"] = "2d"
    interpolation: Literal["linear", "cubic", "step"] = "linear"
    zoom: ScheduleValue = 1.0
    angle: ScheduleValue = 0.0
    translation_x: ScheduleValue = 0.0
    translation_y: ScheduleValue = 0.0
    translation_z: ScheduleValue = 0.0
    rotation_3d_x: ScheduleValue = 0.0
    rotation_3d_y: ScheduleValue = 0.0
    rotation_3d_z: ScheduleValue = 0.0
    fov: ScheduleValue = 40.0
    near: ScheduleValue = 200.0
    far: ScheduleValue = 10000.0
    #: Depth for 3D: "plane", "plane:400", "model:<folder or hub id>" or a mapping (docs/camera3d.md).
    depth: Union[str, float, dict[str, Any]] = "plane"


REACTIVITY_TARGETS = tuple(value.name for value in FRAME_VALUES if value.reactive)


class Reactivity(_Strict):
    """Audio-driven motion on top of the keyframes: target += amount × envelope(source)."""

    name: str | None = None
    source: Literal["onset", "low", "mid", "high", "rms", "perc", "harm", "beat_phase"]
    target: str
    amount: float
    attack: float = Field(0.01, ge=0, le=10)
    release: float = Field(0.2, ge=0, le=30)
    threshold: float = Field(0.0, ge=0, le=1)

    @field_validator("target")
    @classmethod
    def _known_target(cls, value: str) -> str:
        if value in REACTIVITY_TARGETS or value.startswith("look."):
            return value
        raise ValueError(f"unknown target '{value}'; use one of {', '.join(REACTIVITY_TARGETS)} or look.<name>")


PromptSpec = Union[str, list[str]]

_ADVANCE = re.compile(r"^\s*(?:every\s+)?(\d+(?:\.\d+)?)?\s*(onsets?|beats?|bars?)\s*$", re.IGNORECASE)


class Cue(_Strict):
    """A change at a moment of the song: prompt and/or style, blended over ``transition``."""

    at: Union[str, float]
    snap: Literal["none", "onset", "beat", "downbeat"] = "none"
    label: str | None = None
    prompt: PromptSpec | None = None
    style: str | None = None
    seed: int | None = Field(None, ge=_SEED.minimum, le=_SEED.maximum)
    transition: Union[str, float] = "1b"
    sequence: list[PromptSpec] | None = None
    advance: str = "4 beats"
    camera_mode: Literal["2d", "3d"] | None = None

    @field_validator("advance")
    @classmethod
    def _advance_form(cls, value: str) -> str:
        if not _ADVANCE.match(value):
            raise ValueError(f"'{value}' is not an advance rule; write e.g. 'onset', '4 onsets', '2 beats', '1 bar'")
        return value

    @model_validator(mode="after")
    def _something_changes(self) -> "Cue":
        if self.sequence is not None and not self.sequence:
            raise ValueError("sequence is empty")
        if self.sequence is not None and self.prompt is not None:
            raise ValueError("give either prompt or sequence, not both")
        return self


class LyricPrompts(_Strict):
    """How the song's lyric lines become prompt cues (see docs/setlist.md, "Lyrics as prompts")."""

    #: {line}: the sung line; {setting}, {style}: the texts below; {n}: the line's number in the file.
    template: str = "{line}, {setting}, {style}"
    setting: str = ""
    style: str = ""
    snap: Literal["none", "onset", "beat", "downbeat"] = "beat"
    #: A line closer than this to the lyric cue before it is skipped (a length: 2b, 1bar, 1.5s, 0).
    min_gap: Union[str, float] = 0
    #: Lines that contain one of these (any case), or nothing else but punctuation, make no cue.
    skip: list[str] = Field(default_factory=lambda: ["instrumental", "♪"])
    transition: Union[str, float] = "1b"
    #: Line number (in the lyrics file) or the line's text → the prompt to use instead.
    rewrite: dict[Union[int, str], str] = Field(default_factory=dict)

    @field_validator("template")
    @classmethod
    def _known_fields(cls, value: str) -> str:
        try:
            value.format(line="", setting="", style="", n=0)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"the template may use {{line}}, {{setting}}, {{style}} and {{n}} ({exc})") from None
        if "{line}" not in value and "{n}" not in value:
            raise ValueError("the template needs {line} (the sung line)")
        return value


class Song(_Strict):
    name: str
    audio: str | None = None
    bpm: float | None = Field(None, gt=_BPM.minimum, lt=_BPM.maximum)   # None: detected
    beats_per_bar: int | None = Field(None, ge=1, le=16)    # None: detected (3 or 4)
    first_downbeat: float | None = Field(None, ge=0)        # seconds of bar 1's first beat; None: detected
    beat_offset: float | None = None                        # the older name of first_downbeat
    latency_offset_ms: float = 0.0
    style: str | None = None
    prompt: PromptSpec = "a dreamlike landscape"
    camera: Camera = Field(default_factory=Camera)
    reactivity: list[Reactivity] = Field(default_factory=list)
    cues: list[Cue] = Field(default_factory=list)
    tempo_lead: Literal["detected", "setlist", "tap", "midi_clock", "link"] = "detected"
    cue_mode: Literal["time", "bars", "manual"] = "time"
    #: Synced lyrics (.lrc or .srt, relative to the setlist): each line a prompt cue.
    lyrics: str | None = None
    lyric_prompts: LyricPrompts = Field(default_factory=LyricPrompts)
    #: The lyric lines read by load_setlist (vj.setlist.lyrics.LyricLine), and from which file.
    _lyric_lines: list = PrivateAttr(default_factory=list)
    _lyrics_file: str | None = PrivateAttr(default=None)

    @property
    def lyric_lines(self) -> list:
        return self._lyric_lines


    @model_validator(mode="after")
    def _one_downbeat_name(self) -> "Song":
        if self.first_downbeat is not None and self.beat_offset is not None:
            raise ValueError("give first_downbeat or beat_offset (its older name), not both")
        return self

    @property
    def downbeat_pin(self) -> float | None:
        """The pinned time of the first downbeat (``first_downbeat``, or ``beat_offset``), if any."""
        return self.first_downbeat if self.first_downbeat is not None else self.beat_offset

    @property
    def meter(self) -> int:
        """Beats per bar where a number is needed before any analysis (live start): pinned, else 4."""
        return self.beats_per_bar or 4


class ModelSettings(_Strict):
    vae: Literal["full", "tiny"] = "full"
    tiny_vae: str | None = None
    accelerator: Literal["eager", "compile", "tensorrt"] = "eager"
    similarity_filter: float | None = Field(None, ge=0, le=1)
    stream_batch: bool = False
    sampler: Literal["euler", "lcm"] | None = None   # None: chosen from the model's scheduler
    cfg: Literal["full", "self"] = "full"
    lora: str | None = None          # e.g. latent-consistency/lcm-lora-sdv1-5 for an SD 1.5 model
    lora_scale: float = Field(1.0, ge=0, le=2)


class Setlist(_Strict):
    """The whole set: one file, many songs."""

    title: str = "untitled set"
    output: Output = Field(default_factory=Output)
    model: str = "procedural"
    model_settings: ModelSettings = Field(default_factory=ModelSettings)
    seed: int = Field(0, ge=_SEED.minimum, le=_SEED.maximum)
    styles: dict[str, Style] = Field(default_factory=lambda: {"default": Style()})
    songs: list[Song] = Field(min_length=1)

    # Not part of the YAML: where it came from, for relative paths and error messages.
    source_path: Path | None = Field(default=None, exclude=True)
    source_lines: dict[Any, int] = Field(default_factory=dict, exclude=True, repr=False)

    @model_validator(mode="after")
    def _references(self) -> "Setlist":
        if not self.styles:
            raise ValueError("styles: at least one style is needed")
        return self

    def song(self, name: str | None = None) -> Song:
        """The song called ``name`` (case-insensitive), or the first one."""
        if name is None:
            return self.songs[0]
        for song in self.songs:
            if song.name.lower() == name.lower():
                return song
        names = ", ".join(s.name for s in self.songs)
        raise SetlistError(f"no song named '{name}'; the setlist has: {names}", file=str(self.source_path))

    def song_index(self, song: Song) -> int:
        return self.songs.index(song)

    def lyrics_path(self, song: Song) -> Path | None:
        """The song's lyrics file, relative paths taken from the setlist's folder."""
        if song.lyrics is None:
            return None
        path = Path(song.lyrics).expanduser()
        if not path.is_absolute() and self.source_path is not None:
            path = self.source_path.parent / path
        return path

    def audio_path(self, song: Song) -> Path | None:
        """The song's audio file, relative paths taken from the setlist's folder."""
        if song.audio is None:
            return None
        path = Path(song.audio).expanduser()
        if not path.is_absolute() and self.source_path is not None:
            path = self.source_path.parent / path
        return path

    def default_style_name(self, song: Song) -> str:
        return song.style or next(iter(self.styles))

    def error(self, message: str, where: PathKey) -> SetlistError:
        """A SetlistError pointing at ``where`` (a path into the YAML)."""
        return SetlistError(message, file=str(self.source_path) if self.source_path else None,
                            line=line_for(self.source_lines, where), field=format_path(where))


def load_setlist(path: str | Path) -> Setlist:
    """Read and validate a setlist file. Raises SetlistError naming file, line and field."""
    path = Path(path)
    data, lines = load_yaml_with_lines(path)
    if not isinstance(data, dict):
        raise SetlistError("a setlist is a mapping with 'songs:' (and optional output, model, styles)",
                           file=str(path), line=1)
    try:
        setlist = Setlist.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, path, lines) from None
    setlist.source_path = path
    setlist.source_lines = lines
    _check_references(setlist)
    _read_lyrics(setlist)
    return setlist


def _read_lyrics(setlist: Setlist) -> None:
    """Each song's lyrics file, read once here (the director does no I/O)."""
    from vj.setlist.lyrics import read_lyrics

    for s, song in enumerate(setlist.songs):
        path = setlist.lyrics_path(song)
        if path is None:
            continue
        if not path.is_file():
            raise setlist.error(f"lyrics file not found: {path}", ("songs", s, "lyrics"))
        song._lyric_lines = read_lyrics(path, field=format_path(("songs", s, "lyrics")))
        song._lyrics_file = str(path)


def _check_references(setlist: Setlist) -> None:
    """Names that must exist elsewhere in the file: styles used by songs and cues."""
    for s, song in enumerate(setlist.songs):
        if song.style is not None and song.style not in setlist.styles:
            raise setlist.error(_unknown_style(song.style, setlist), ("songs", s, "style"))
        for c, cue in enumerate(song.cues):
            if cue.style is not None and cue.style not in setlist.styles:
                raise setlist.error(_unknown_style(cue.style, setlist), ("songs", s, "cues", c, "style"))
        problems = check_depth_spec(song.camera.depth)
        if problems:
            raise setlist.error(problems[0], ("songs", s, "camera", "depth"))
        names = [m.name for m in song.reactivity if m.name]
        if len(names) != len(set(names)):
            raise setlist.error("two reactivity mappings share a name", ("songs", s, "reactivity"))
    seen = set()
    for s, song in enumerate(setlist.songs):
        if song.name.lower() in seen:
            raise setlist.error(f"two songs are called '{song.name}'", ("songs", s, "name"))
        seen.add(song.name.lower())


def _unknown_style(name: str, setlist: Setlist) -> str:
    return f"unknown style '{name}'; the setlist defines: {', '.join(setlist.styles)}"


def advance_rule(text: str) -> tuple[float, str]:
    """'4 onsets' -> (4, 'onset'); 'bar' -> (1, 'bar')."""
    match = _ADVANCE.match(text)
    assert match is not None  # validated by Cue
    count = float(match.group(1) or 1)
    unit = match.group(2).lower().rstrip("s")
    return max(count, 1.0), unit


def reactivity_name(mapping: Reactivity, index: int) -> str:
    return mapping.name or f"{mapping.source}_{mapping.target.replace('.', '_')}_{index}"


__all__ = ["Setlist", "Song", "LyricPrompts", "Style", "Cue", "Camera", "Reactivity", "Output", "load_setlist",
           "SetlistError", "advance_rule", "AUDIO_SOURCES", "reactivity_name"]
