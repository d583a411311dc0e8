"""The director: time + audio features + controls + setlist → FrameParams. No I/O.

The same code runs offline (a file clock, features from the whole-track analysis) and live
(the audio clock, features from the analysis thread). Frames must be asked for in time order:
cue transitions and envelope followers keep a little state between calls.
"""
from __future__ import annotations

import bisect
import logging
import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

from vj.grid import Grid
from vj.errors import SetlistError
from vj.setlist.expressions import Expression, ExpressionError
from vj.features import Features, impulse_envelope
from vj.frame_params import CameraMotion, Conditioning, FrameParams, PostSettings, PromptMix
from vj.param_table import FRAME_VALUE, FRAME_VALUES, PARAMS, Combine, Param, frame_value_names
from vj.setlist.prompts import describe, parse_prompt, wrap_prompt
from vj.setlist.schedule import KeyTiming, Schedule, ScheduleError, parse_schedule
from vj.setlist.models import (CAMERA_FIELDS, POST_FIELDS, STYLE_NUMBER_FIELDS, Setlist, Song,
                        advance_rule, reactivity_name)
from vj.setlist.timecode import format_time, parse_cue_time, parse_length

log = logging.getLogger(__name__)

#: How a control's value meets the setlist's (``vj.param_table.Combine``):
#: f(setlist value, control value, the frame value's default) → the frame's value.
_COMBINE: dict[Combine, Callable[[float, float, float], float]] = {
    Combine.REPLACE: lambda setlist, control, default: control,
    Combine.ADD: lambda setlist, control, default: setlist + control,
    Combine.MULTIPLY: lambda setlist, control, default: setlist * control,
    Combine.SPEED: lambda setlist, control, default: default + (setlist - default) * control,
    Combine.AT_LEAST: lambda setlist, control, default: max(setlist, control),
}
#: Frame values only a control (or the cue) sets: their starting value each frame.
_UNSCHEDULED = {value.name: float(value.default) for value in FRAME_VALUES if not value.scheduled}
_FRAME_NUMBERS = frame_value_names("frame")    # style numbers FrameParams carries itself
_STYLE_NUMBERS = frame_value_names("style")    # style numbers in FrameParams.style


@dataclass(frozen=True)
class ControlRule:
    """One parameter of the table the director applies: ``target = combine(target, control)``."""

    name: str
    target: str
    combine: Callable[[float, float, float], float]
    default: float


def control_rules(params: Sequence[Param] = PARAMS) -> list[ControlRule]:
    """The director's rules for the parameters of ``params`` that act on a frame value."""
    rules = []
    for param in params:
        if param.target is None or param.combine is Combine.NONE:
            continue
        if param.target not in FRAME_VALUE:
            raise ValueError(f"parameter {param.name}: no frame value '{param.target}' to act on")
        rules.append(ControlRule(param.name, param.target, _COMBINE[param.combine],
                                 float(FRAME_VALUE[param.target].default)))
    return rules


@dataclass
class OnsetLog:
    """Onset times (s) and strengths (0..1) in time order: the whole track offline, appended live."""

    times: list[float] = field(default_factory=list)
    strengths: list[float] = field(default_factory=list)

    def add(self, time: float, strength: float = 1.0) -> None:
        if self.times and time < self.times[-1]:
            return  # out of order (a late duplicate): ignore rather than corrupt the order
        self.times.append(time)
        self.strengths.append(strength)

    def count_between(self, start: float, end: float) -> int:
        """Onsets in (start, end]."""
        return bisect.bisect_right(self.times, end) - bisect.bisect_right(self.times, start)

    def next_after(self, time: float) -> float | None:
        i = bisect.bisect_left(self.times, time)
        return self.times[i] if i < len(self.times) else None

    def envelope(self, time: float, attack: float, release: float) -> float:
        """Strength × (linear rise over ``attack``, then exp decay with ``release``), summed, 0..1."""
        return impulse_envelope(self.times, self.strengths, time, attack, max(release, 1e-3))


@dataclass(frozen=True)
class CuePlan:
    """A cue resolved against the song's grid: start in seconds, prompts already parsed."""

    index: int
    start: float
    start_beat: float
    label: str
    prompts: tuple[PromptMix, ...]
    style: str
    seed: int
    transition: float
    advance: tuple[float, str] | None
    camera_mode: str


@dataclass
class _Target:
    key: tuple[int, int]
    raw: PromptMix
    conditioning: Conditioning
    style: str
    seed: int


class _Follower:
    """One-pole envelope follower with separate attack and release times (seconds)."""

    def __init__(self, attack: float, release: float) -> None:
        self.attack, self.release = max(attack, 1e-4), max(release, 1e-4)
        self.value = 0.0
        self.last_time: float | None = None

    def __call__(self, time: float, target: float) -> float:
        dt = 0.0 if self.last_time is None else max(time - self.last_time, 0.0)
        self.last_time = time
        constant = self.attack if target > self.value else self.release
        if dt > 0:
            self.value += (target - self.value) * (1.0 - math.exp(-dt / constant))
        return self.value


class Director:
    """Builds one FrameParams per frame for one song of a setlist."""

    def __init__(self, setlist: Setlist, song: Song, grid: Grid, fps: float, *,
                 duration: float | None = None, onsets: OnsetLog | None = None,
                 params: Sequence[Param] = PARAMS) -> None:
        """``params``: the parameter table whose combine rules apply the controls (``vj.param_table``)."""
        self.setlist = setlist
        self.song = song
        self.song_index = setlist.song_index(song)
        self.grid = grid
        self.fps = fps
        self.duration = duration
        self.onsets = onsets or OnsetLog()
        self.max_frames = int(round((duration or 0) * fps)) or 1
        self.timing = KeyTiming.from_grid(fps, grid, max_frames=self.max_frames, seed=setlist.seed)
        self.cue_mode = song.cue_mode
        self.prompt_table: list[PromptMix] = []
        self.negative_table: list[str] = []
        self._camera = self._compile_camera()
        self._styles = {name: self._compile_style(name) for name in setlist.styles}
        self._placed_grid = (grid.seconds_per_beat, grid.time_of_beat(0.0))  # the grid the keys were placed on
        self.cues = self._compile_cues()
        self._reactivity = [(reactivity_name(m, i), m, _Follower(m.attack, m.release))
                            for i, m in enumerate(song.reactivity)]
        self._override_cue: int | None = None
        self._override_set_at_index: int | None = None
        self._armed: tuple[int, str] | None = None
        self._target: _Target | None = None
        self._previous: _Target | None = None
        self._change_time = -math.inf
        self._transition = 0.0
        self._live_key: tuple[Any, Any] = (None, None)
        self._last_values: dict[str, float] = {}
        self._rules = control_rules(params)

    # ---- compile (slow, once) -------------------------------------------------------------

    def _schedule(self, value: Any, where: tuple, interpolation: str = "linear") -> Schedule:
        try:
            return parse_schedule(value, self.timing, interpolation)
        except (ScheduleError, ExpressionError) as exc:
            raise self.setlist.error(f"{exc} (song '{self.song.name}')", where) from None

    def _compile_camera(self) -> dict[str, Schedule]:
        camera = self.song.camera
        base = ("songs", self.song_index, "camera")
        schedules = {name: self._schedule(getattr(camera, name), base + (name,), camera.interpolation)
                     for name in CAMERA_FIELDS}
        if camera.mode == "3d" or any(cue.camera_mode == "3d" for cue in self.song.cues):
            self._check_camera3d(schedules, base)
        return schedules

    def _check_camera3d(self, schedules: dict[str, Schedule], base: tuple) -> None:
        """Every numeric 3D keyframe checked before the show (expressions are clamped at render time)."""
        from vj.camera.motion3d import validate_camera3d

        names = ("fov", "near", "far", "rotation_3d_x", "rotation_3d_y", "rotation_3d_z")
        numeric = {n: [k for k in schedules[n].keyframes if not isinstance(k.value, Expression)]
                   for n in names}
        frames = sorted({k.frame for n in names for k in schedules[n].keyframes})
        at = dict.fromkeys(names, 0)  # per schedule: its last numeric key at or before the frame
        for frame in frames:  # one sweep: linear in the keys
            values: dict[str, float] = {}
            for name in names:
                keys = numeric[name]
                while at[name] + 1 < len(keys) and keys[at[name] + 1].frame <= frame:
                    at[name] += 1
                values[name] = float(keys[at[name]].value) if keys else (40.0 if name == "fov" else 0.0)
            problems = validate_camera3d(**values)
            if problems:
                field = problems[0].split()[0]  # every message starts with the field it is about
                field = field if field in names else "fov"
                raise self.setlist.error(f"{problems[0]} (song '{self.song.name}')", base + (field,))

    def _compile_style(self, name: str) -> dict[str, Any]:
        style = self.setlist.styles[name]
        base = ("styles", name)
        numbers = {f: self._schedule(getattr(style, f), base + (f,)) for f in STYLE_NUMBER_FIELDS}
        post = {f: self._schedule(getattr(style.post, f), base + ("post", f)) for f in POST_FIELDS}
        look = {k: self._schedule(v, base + ("look", k)) for k, v in style.look.items()}
        return {"numbers": numbers, "post": post, "look": look, "style": style}

    def _register_prompt(self, mix: PromptMix, negative: str) -> int:
        if mix in self.prompt_table:
            return self.prompt_table.index(mix)
        self.prompt_table.append(mix)
        self.negative_table.append(negative)
        return len(self.prompt_table) - 1

    def _compile_cues(self) -> list[CuePlan]:
        song, base = self.song, ("songs", self.song_index)
        style_name = self.setlist.default_style_name(song)
        try:
            prompts: tuple[PromptMix, ...] = (parse_prompt(song.prompt),)
        except ValueError as exc:
            raise self.setlist.error(str(exc), base + ("prompt",)) from None
        plans = [CuePlan(0, -math.inf, -math.inf, "start", prompts, style_name, self._style_seed(style_name),
                         0.0, None, song.camera.mode)]
        inherits: set[int] = set()    # hand cues that keep the prompt before them
        previous_start = -math.inf
        for i, cue in enumerate(song.cues):
            where = base + ("cues", i)
            try:
                start = parse_cue_time(cue.at, self.grid)
            except ValueError as exc:
                raise self.setlist.error(str(exc), where + ("at",)) from None
            if self.duration is not None and start > self.duration:
                raise self.setlist.error(
                    f"cue at {cue.at} ({format_time(start)}) is past the end of the song ({format_time(self.duration)})",
                    where + ("at",))
            start = self._snap(start, cue.snap)
            if start < previous_start:
                raise self.setlist.error(f"cue at {cue.at} comes before the cue above it; list cues in time order",
                                         where + ("at",))
            previous_start = start
            try:
                transition = parse_length(cue.transition, self.grid)
            except ValueError as exc:
                raise self.setlist.error(str(exc), where + ("transition",)) from None
            try:
                if cue.sequence is not None:
                    cue_prompts = tuple(parse_prompt(p) for p in cue.sequence)
                elif cue.prompt is not None:
                    cue_prompts = (parse_prompt(cue.prompt),)
                else:
                    cue_prompts = plans[-1].prompts[-1:]
                    inherits.add(i + 1)
            except ValueError as exc:
                raise self.setlist.error(str(exc), where + ("sequence" if cue.sequence else "prompt",)) from None
            style_name = cue.style or plans[-1].style
            seed = cue.seed if cue.seed is not None else (
                self._style_seed(style_name) if cue.style else plans[-1].seed)
            plans.append(CuePlan(
                index=i + 1, start=start, start_beat=self.grid_beat(start),
                label=cue.label or f"cue {i + 1}", prompts=cue_prompts, style=style_name, seed=seed,
                transition=transition, advance=advance_rule(cue.advance) if cue.sequence else None,
                camera_mode=cue.camera_mode or plans[-1].camera_mode))
        plans = self._merge_lyrics(plans, inherits)
        for plan in plans:
            style = self.setlist.styles[plan.style]
            for mix in plan.prompts:
                self._register_prompt(wrap_prompt(mix, style.prefix, style.suffix), style.negative)
        return plans

    def _merge_lyrics(self, plans: list[CuePlan], inherits: set[int]) -> list[CuePlan]:
        """The song's lyric lines as cues among the hand-written ones, in time order.

        A lyric cue keeps the style, seed and camera mode of the cue before it; a hand cue without
        a prompt keeps the lyric's. On one time the hand cue comes last, so its prompt wins."""
        self.lyric_cues: list[tuple[float, int, str, str]] = []   # (start, file line, sung, prompt)
        song = self.song
        lines = song.lyric_lines
        if not lines:
            return plans
        settings = song.lyric_prompts
        base = ("songs", self.song_index, "lyric_prompts")
        try:
            gap = parse_length(settings.min_gap, self.grid)
        except ValueError as exc:
            raise self.setlist.error(str(exc), base + ("min_gap",)) from None
        try:
            transition = parse_length(settings.transition, self.grid)
        except ValueError as exc:
            raise self.setlist.error(str(exc), base + ("transition",)) from None
        self._check_rewrites(lines, base)
        entries: list[tuple[float, Any, str]] = []
        last_start = -math.inf
        for line in lines:
            if self.duration is not None and line.time > self.duration:
                raise SetlistError(f"the lyric line at {format_time(line.time)} is past the end of the song "
                                   f"({format_time(self.duration)}) (song '{song.name}')",
                                   file=song._lyrics_file, line=line.line,
                                   field=f"songs[{self.song_index}].lyrics")
            prompt = _lyric_prompt(line, settings)
            if prompt is None:
                continue
            start = self._snap(line.time, settings.snap)
            if start - last_start < gap - 1e-9:
                continue
            last_start = start
            entries.append((start, line, prompt))
        events = sorted([(p.start, 1, n, p) for n, p in enumerate(plans[1:])] +
                        [(start, 0, n, (line, prompt)) for n, (start, line, prompt) in enumerate(entries)],
                        key=lambda e: (e[0], e[1], e[2]))
        merged = [plans[0]]
        index = len(plans)
        for start, kind, _, item in events:
            before = merged[-1]
            if kind == 1:
                merged.append(replace(item, prompts=before.prompts[-1:]) if item.index in inherits else item)
                continue
            line, prompt = item
            merged.append(CuePlan(index=index, start=start, start_beat=self.grid_beat(start),
                                  label=f"lyric {line.line}", prompts=(((prompt, 1.0),),), style=before.style,
                                  seed=before.seed, transition=transition, advance=None,
                                  camera_mode=before.camera_mode))
            self.lyric_cues.append((start, line.line, line.text, prompt))
            index += 1
        return merged

    def _check_rewrites(self, lines: Sequence[Any], base: tuple) -> None:
        numbers = {line.line for line in lines}
        texts = {line.text.strip().lower() for line in lines}
        for key in self.song.lyric_prompts.rewrite:
            if isinstance(key, int) and key not in numbers:
                raise self.setlist.error(f"rewrite: no lyric line {key} in {self.song.lyrics} (lines with a time: "
                                         f"{_ranges(sorted(numbers))})", base + ("rewrite", key))
            if isinstance(key, str) and key.strip().lower() not in texts:
                raise self.setlist.error(f"rewrite: no lyric line reads {key!r} in {self.song.lyrics}",
                                         base + ("rewrite", key))

    def _style_seed(self, style_name: str) -> int:
        return (self.setlist.seed + self.setlist.styles[style_name].seed) % 2**32

    def _snap(self, start: float, snap: str) -> float:
        if snap == "onset":
            nxt = self.onsets.next_after(start)
            # Only snap to an onset within a beat; past that the cue would drift audibly.
            return nxt if nxt is not None and nxt - start <= self.grid.seconds_per_beat else start
        if snap in ("beat", "downbeat"):
            beat = self.grid_beat(start)
            step = self.grid.beats_per_bar if snap == "downbeat" else 1
            return self.grid.time_of_beat(math.ceil(beat / step - 1e-9) * step)
        return start

    def grid_beat(self, time: float) -> float:
        """Beats elapsed at ``time`` (0 at the grid's beat 0)."""
        return self.grid.beat_at(time)

    # ---- live cue control -----------------------------------------------------------------

    def next_cue(self, time: float) -> None:
        """Jump to the next cue now; the clock's own progression resumes at the next cue it reaches."""
        self._jump(self.cue_index_at(time) + 1, time)

    def previous_cue(self, time: float) -> None:
        self._jump(self.cue_index_at(time) - 1, time)

    def arm_cue(self, index: int, on: str = "downbeat") -> None:
        """Fire cue ``index`` (0 = the song's start state) on the next onset or downbeat."""
        self._armed = (max(0, min(index, len(self.cues) - 1)), on)

    def notify_onset(self, time: float, strength: float = 1.0) -> None:
        """Live: an onset was detected at ``time`` (song seconds)."""
        self.onsets.add(time, strength)
        if self._armed and self._armed[1] == "onset":
            self._jump(self._armed[0], time)
            self._armed = None

    def notify_downbeat(self, time: float) -> None:
        if self._armed and self._armed[1] == "downbeat":
            self._jump(self._armed[0], time)
            self._armed = None

    def _jump(self, index: int, time: float) -> None:
        self._override_cue = max(0, min(index, len(self.cues) - 1))
        self._override_set_at_index = self._clock_cue_index(time)

    def _clock_cue_index(self, time: float) -> int:
        if self.cue_mode == "manual":
            return 0
        if self.cue_mode == "bars":
            beat = self.grid_beat(time)
            starts = [c.start_beat for c in self.cues]
            return max(0, bisect.bisect_right(starts, beat + 1e-9) - 1)
        starts = [c.start for c in self.cues]
        return max(0, bisect.bisect_right(starts, time + 1e-9) - 1)

    def cue_index_at(self, time: float) -> int:
        clock = self._clock_cue_index(time)
        if self._override_cue is not None:
            if clock != self._override_set_at_index and self.cue_mode != "manual":
                self._override_cue = None  # the clock reached a new cue: it leads again
            else:
                return self._override_cue
        return clock

    # ---- per frame (fast) -----------------------------------------------------------------

    def environment(self, index: int, time: float, features: Features) -> dict[str, float]:
        env = features.as_dict()
        # The clock comes from the grid (the analysed grid offline, the live tempo clock live),
        # so schedules read the same beat the cues are placed on.
        # Keys count frames at the setlist's fps: live, the display runs at its own rate, so the
        # frame number comes from the song time (offline they agree: index = time × fps).
        frame = time * self.fps
        frame = float(round(frame)) if abs(frame - round(frame)) < 1e-6 else frame
        beat = self.grid_beat(time)
        env.update(frame=frame, t=frame, max_f=float(self.max_frames - 1), s=float(self.setlist.seed), sec=time,
                   fps=self.fps, beat=beat, bar=beat / self.grid.beats_per_bar,
                   beat_phase=beat - math.floor(beat), bpm=60.0 / self.grid.seconds_per_beat)
        return env

    def _follow_tempo(self) -> None:
        """Live, the tempo clock moves: keys written in beats and bars (``16b``, ``8bar``) are
        placed again once the grid has drifted by half a frame (at bar 16, for the tempo)."""
        spb, origin = self.grid.seconds_per_beat, self.grid.time_of_beat(0.0)
        placed_spb, placed_origin = self._placed_grid
        half_frame = 0.5 / self.fps
        if (abs(spb - placed_spb) * 16 * self.grid.beats_per_bar < half_frame
                and abs(origin - placed_origin) < half_frame):
            return
        self._placed_grid = (spb, origin)
        # Only the schedules the grid moves (keys in beats or bars, beat-reading ramps) are placed
        # again, and nothing is parsed or compiled again (Schedule.retimed is linear in its keys).
        self.timing = timing = KeyTiming.from_grid(self.fps, self.grid, max_frames=self.max_frames,
                                                   seed=self.setlist.seed)
        self._camera = {name: schedule.retimed(timing) for name, schedule in self._camera.items()}
        for compiled in self._styles.values():
            for group in ("numbers", "post", "look"):
                compiled[group] = {name: schedule.retimed(timing)
                                   for name, schedule in compiled[group].items()}

    def _value(self, name: str, schedule: Schedule, env: Mapping[str, float]) -> float:
        """Evaluate, never a non-finite number: a frame whose expression fails or is NaN/inf is
        interpolated over from the good frames around it (as Deforum); with none near, the last
        good value holds (or the value's default)."""
        value = schedule.finite_value(env)
        if value is None:
            log.debug("schedule %s has no finite value near frame %s", name, env.get("frame"))
            return self._last_values.get(name, _DEFAULTS.get(name.rsplit(".", 1)[-1], 0.0))
        self._last_values[name] = value
        return value

    def _target_at(self, time: float, cue: CuePlan) -> _Target:
        position = 0
        if cue.advance is not None and len(cue.prompts) > 1:
            count, unit = cue.advance
            start = cue.start if math.isfinite(cue.start) else 0.0
            if unit == "onset":
                events = self.onsets.count_between(start, time)
            else:
                per = 1 if unit == "beat" else self.grid.beats_per_bar
                events = max(0, math.floor((self.grid_beat(time) - self.grid_beat(start)) / per + 1e-9))
            position = int(events // count) % len(cue.prompts)
        style = self.setlist.styles[cue.style]
        mix = wrap_prompt(cue.prompts[position], style.prefix, style.suffix)
        conditioning = Conditioning(prompt=mix, negative_prompt=style.negative,
                                    prompt_id=self._register_prompt(mix, style.negative))
        return _Target((cue.index, position), cue.prompts[position], conditioning, cue.style, cue.seed)

    def frame_params(self, index: int, time: float, features: Features,
                     controls: Mapping[str, Any] | None = None) -> FrameParams:
        """The parameters of frame ``index`` at song time ``time`` (seconds)."""
        controls = controls or {}
        self._follow_tempo()
        env = self.environment(index, time, features)
        cue = self.cues[self.cue_index_at(time)]
        target = self._target_at(time, cue)
        live_key = (controls.get("prompt") or None, controls.get("style") or None)
        target = self._apply_prompt_controls(target, controls)
        if self._target is None:
            self._target = self._previous = target
        elif target.key != self._target.key or target.conditioning != self._target.conditioning:
            self._previous, self._target = self._target, target
            self._change_time = time
            if live_key != self._live_key:    # a controller changed prompt or style: its crossfade
                self._transition = float(controls.get("style_crossfade", cue.transition))
            elif target.key == self._previous.key and target.style == self._previous.style:
                self._transition = 0.0        # only the prompt_blend fader moved: it is the blend
            else:
                self._transition = cue.transition
        self._live_key = live_key
        blend = 1.0 if self._transition <= 0 else min(max((time - self._change_time) / self._transition, 0.0), 1.0)
        assert self._previous is not None
        previous, current = self._previous, self._target

        style_from, style_to = self._styles[previous.style], self._styles[current.style]
        numbers = {name: _mix(self._value(f"{previous.style}.{name}", style_from["numbers"][name], env),
                              self._value(f"{current.style}.{name}", style_to["numbers"][name], env), blend)
                   for name in STYLE_NUMBER_FIELDS}
        post = {name: _mix(self._value(f"{previous.style}.post.{name}", style_from["post"][name], env),
                           self._value(f"{current.style}.post.{name}", style_to["post"][name], env), blend)
                for name in POST_FIELDS}
        look = self._look(style_from, style_to, previous.style, current.style, env, blend)
        camera = {name: self._value(f"camera.{name}", self._camera[name], env) for name in self._camera}
        targets = {**camera, **{k: numbers[k] for k in _FRAME_NUMBERS}, **post, **_UNSCHEDULED,
                   "seed": float(current.seed), **{f"look.{k}": v for k, v in look.items()}}
        self._apply_reactivity(targets, time, features, controls)
        self._apply_controls(targets, controls)
        _camera_safe(targets)

        style_to_def = style_to["style"]
        motion = CameraMotion(mode=cue.camera_mode, **{name: targets[name] for name in CAMERA_FIELDS})
        post_settings = PostSettings(**{name: targets[name] for name in POST_FIELDS},
                                     blackout=bool(targets["blackout"]))
        seed = int(targets["seed"]) % 2**32
        return FrameParams(
            index=index, time=time, features=features, camera=motion,
            conditioning_from=previous.conditioning, conditioning_to=current.conditioning, blend=blend,
            style_name=current.style, strength=min(max(targets["strength"], 0.0), 1.0),
            guidance=max(targets["guidance"], 0.0), steps=style_to_def.steps,
            seed=previous.seed, next_seed=seed, seed_blend=blend if previous.seed != seed else 1.0,
            border=style_to_def.border,
            look={k[5:]: v for k, v in targets.items() if k.startswith("look.")},
            post=post_settings,
            style={**{name: numbers[name] for name in _STYLE_NUMBERS},
                   "coherence_reference_palette": 1.0 if style_to_def.coherence_reference == "palette" else 0.0},
            cue_index=cue.index, cue_label=f"{cue.label}: {describe(current.conditioning.prompt)}",
            depth=self.song.camera.depth)

    def _look(self, style_from: dict, style_to: dict, name_from: str, name_to: str,
              env: Mapping[str, float], blend: float) -> dict[str, float]:
        keys = set(style_from["look"]) | set(style_to["look"])
        look = {}
        for key in sorted(keys):
            a = self._value(f"{name_from}.look.{key}", style_from["look"][key], env) if key in style_from["look"] else None
            b = self._value(f"{name_to}.look.{key}", style_to["look"][key], env) if key in style_to["look"] else None
            look[key] = _mix(a if a is not None else b, b if b is not None else a, blend)
        return look

    def _apply_reactivity(self, targets: dict[str, float], time: float, features: Features,
                          controls: Mapping[str, Any]) -> None:
        master = float(controls.get("reactivity_gain", 1.0))
        for name, mapping, follower in self._reactivity:
            if mapping.source == "onset":
                level = self.onsets.envelope(time, mapping.attack, mapping.release)
            else:
                level = follower(time, float(getattr(features, mapping.source)))
            if mapping.threshold > 0:
                level = max(0.0, (level - mapping.threshold) / (1.0 - mapping.threshold))
            gain = master * float(controls.get(f"gain_{name}", 1.0))
            targets[mapping.target] = targets.get(mapping.target, 0.0) + mapping.amount * level * gain

    def _apply_controls(self, targets: dict[str, float], controls: Mapping[str, Any]) -> None:
        """Live controls meet the setlist's values by each parameter's combine rule (the table's
        ``target`` and ``combine``: speeds scale the camera's motion, post values scale the style's…)."""
        if not controls:
            return
        for rule in self._rules:
            if rule.name not in controls:
                continue
            try:
                value = float(controls[rule.name])
            except (TypeError, ValueError):
                log.debug("control %s = %r is not a number: ignored", rule.name, controls[rule.name])
                continue
            targets[rule.target] = rule.combine(targets[rule.target], value, rule.default)

    def _apply_prompt_controls(self, target: _Target, controls: Mapping[str, Any]) -> _Target:
        """A live prompt or style from a controller replaces the cue's own."""
        text = controls.get("prompt") or None
        style_name = controls.get("style") or None
        if style_name not in self.setlist.styles:
            style_name = None
        if text is None and style_name is None:
            return target
        try:
            raw = parse_prompt(str(text)) if text is not None else target.raw
        except ValueError:
            raw = target.raw
        if text is not None:
            raw = _crossfade_prompts(target.raw, raw, controls.get("prompt_blend", 1.0))
        style_name = style_name or target.style
        style = self.setlist.styles[style_name]
        mix = wrap_prompt(raw, style.prefix, style.suffix)
        conditioning = Conditioning(prompt=mix, negative_prompt=style.negative,
                                    prompt_id=self._register_prompt(mix, style.negative))
        return _Target(target.key, raw, conditioning, style_name, target.seed)

    # ---- for timelines and HUDs -----------------------------------------------------------

    def schedule_warnings(self) -> list[tuple[str, str]]:
        """(field, warning) for each schedule whose loose syntax was read one way."""
        out = [(f"camera.{name}", w) for name, schedule in self._camera.items() for w in schedule.warnings]
        for style, compiled in self._styles.items():
            for group in ("numbers", "post", "look"):
                prefix = f"styles.{style}." + ("" if group == "numbers" else f"{group}.")
                out.extend((prefix + name, w) for name, schedule in compiled[group].items()
                           for w in schedule.warnings)
        return out

    def camera_curves(self, duration: float, points: int = 1200) -> dict[str, tuple[list[float], list[float]]]:
        """(times, values) of each camera schedule that is not constant, for the timeline picture:
        the schedules alone, as the show evaluates them with the clock at each time and the audio
        features at 0 (reactivity and controls come on top of them in the show)."""
        curves: dict[str, tuple[list[float], list[float]]] = {}
        count = max(2, min(points, int(duration * self.fps) + 1))
        times = [duration * i / (count - 1) for i in range(count)]
        envs = [self.environment(0, t, Features()) for t in times]
        for name in CAMERA_FIELDS:
            schedule = self._camera[name]
            if schedule.is_constant:
                continue
            values, last = [], _DEFAULTS.get(name, 0.0)
            for env in envs:
                value = schedule.finite_value(env)
                last = last if value is None else value
                values.append(last)
            curves[name] = (times, values)
        return curves

    def cue_changes(self) -> list[tuple[float, str, str]]:
        """(time, prompt text, style) of each cue, for the timeline picture."""
        rows = []
        for cue in self.cues:
            time = cue.start if math.isfinite(cue.start) else 0.0
            text = " → ".join(describe(p) for p in cue.prompts[:3]) + (" …" if len(cue.prompts) > 3 else "")
            rows.append((time, text, cue.style))
        return rows


#: prompt_blend steps: a fader sweep makes at most this many distinct embeddings (cached, cheap).
PROMPT_BLEND_STEPS = 32


def _crossfade_prompts(cue: PromptMix, live: PromptMix, blend: Any) -> PromptMix:
    """The ``prompt_blend`` crossfader: cue prompt at 0, live prompt at 1, weights mixed between."""
    try:
        amount = round(min(max(float(blend), 0.0), 1.0) * PROMPT_BLEND_STEPS) / PROMPT_BLEND_STEPS
    except (TypeError, ValueError):
        amount = 1.0
    if amount >= 1.0 or cue == live:
        return live
    if amount <= 0.0:
        return cue
    weights: dict[str, float] = {}
    for mix, scale in ((cue, 1.0 - amount), (live, amount)):
        total = sum(w for _, w in mix) or 1.0
        for text, weight in mix:
            weights[text] = weights.get(text, 0.0) + scale * weight / total
    return tuple((text, round(weight, 6)) for text, weight in weights.items() if weight > 0)


def _mix(a: float, b: float, x: float) -> float:
    return a + (b - a) * x


def _lyric_prompt(line: Any, settings: Any) -> str | None:
    """The prompt of one lyric line: its rewrite, else the template; None for a skipped line."""
    rewrite = settings.rewrite
    if line.line in rewrite:
        return rewrite[line.line]
    for key, prompt in rewrite.items():
        if isinstance(key, str) and key.strip().lower() == line.text.strip().lower():
            return prompt
    text = line.text
    lowered = text.lower()
    if not any(c.isalnum() for c in text) or any(word.lower() in lowered for word in settings.skip if word):
        return None
    made = settings.template.format(line=text, setting=settings.setting, style=settings.style, n=line.line)
    parts = [part.strip() for part in made.split(",")]
    return ", ".join(part for part in parts if part)


def _ranges(numbers: Sequence[int]) -> str:
    """[1, 2, 3, 7] -> "1-3, 7"."""
    groups: list[list[int]] = []
    for number in numbers:
        if groups and groups[-1][1] == number - 1:
            groups[-1][1] = number
        else:
            groups.append([number, number])
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in groups)


#: Each scheduled value's default (what a schedule with no good value near falls back to).
_DEFAULTS = {value.name: float(value.default) for value in FRAME_VALUES}
#: The smallest zoom per frame handed to the camera: 0 collapses the picture to a point (a
#: degenerate warp), a negative zoom turns it over.
MIN_ZOOM = 0.01
MAX_ZOOM = 100.0


def _camera_safe(targets: dict[str, float]) -> None:
    """Camera numbers as the camera can take them: finite, zoom within [MIN_ZOOM, MAX_ZOOM]
    (after reactivity and controls, which may push a good schedule value out)."""
    for name in CAMERA_FIELDS:
        value = targets[name]
        if not math.isfinite(value):
            targets[name] = _DEFAULTS[name]
    zoom = targets["zoom"]
    targets["zoom"] = MIN_ZOOM if zoom < MIN_ZOOM else MAX_ZOOM if zoom > MAX_ZOOM else zoom


__all__ = ["Director", "OnsetLog", "CuePlan", "ControlRule", "control_rules", "SetlistError"]
