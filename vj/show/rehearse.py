"""Offline rehearsal: render a song of a setlist against its audio file into an MP4 with the
song's audio, plus a timeline picture. A file clock steps frame n at t = n / fps, so the same
setlist and seed give the same frames, bit for bit.
"""
from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from vj.audio.decode import AudioError
from vj.audio.offline import TrackAnalysis, analyse_track
from vj.director.director import Director, OnsetLog
from vj.errors import SetlistError
from vj.frame_params import FrameParams
from vj.generators.base import Generator, GeneratorContext
from vj.show.generators import generator_options, make_generator, make_procedural
from vj.output.timeline import render_timeline
from vj.setlist.models import Setlist, Song
from vj.show.actions import ShowActions
from vj.show.clocks import FileClock, PacedFileClock, Tick
from vj.show.loop import ShowLoop
from vj.show.pipeline import FramePipeline
from vj.show.songs import SongDeck, SongState
from vj.show.sources import TrackFeatures

if TYPE_CHECKING:
    import moderngl

    from vj.show.preview import RehearsalPreview

log = logging.getLogger(__name__)

#: How many thumbnails the timeline picture shows.
THUMBNAILS = 12


@dataclass
class RehearsalPlan:
    """Everything resolved before the first frame: what, how big, how long, where to."""

    setlist: Setlist
    song: Song
    audio_path: Path
    output: Path
    timeline: Path
    width: int
    height: int
    fps: float
    frames: int
    analysis: TrackAnalysis
    director: Director


@dataclass
class RehearsalResult:
    output: Path
    timeline: Path
    frames: int
    seconds: float
    generator: str
    frame_hashes: list[str] = field(default_factory=list)


def plan_rehearsal(setlist: Setlist, song_name: str | None = None, output: Path | None = None,
                   size: tuple[int, int] | None = None, fps: float | None = None,
                   seconds: float | None = None) -> RehearsalPlan:
    """Validate everything that can fail before a single frame is rendered."""
    song = setlist.song(song_name)
    index = setlist.song_index(song)
    audio_path = setlist.audio_path(song)
    if audio_path is None:
        raise setlist.error("a song needs an audio file to rehearse against", ("songs", index, "name"))
    if not audio_path.is_file():
        raise setlist.error(f"audio file not found: {audio_path}", ("songs", index, "audio"))
    try:
        analysis = analyse_track(audio_path)
    except AudioError as exc:
        raise setlist.error(str(exc), ("songs", index, "audio")) from None
    width, height = size or (setlist.output.width, setlist.output.height)
    for value, name in ((width, "width"), (height, "height")):
        if value % 8 or value < 64:
            raise SetlistError(f"--size: {name} must be a multiple of 8 and at least 64 (got {value})")
    fps = fps or setlist.output.fps
    duration = analysis.duration if seconds is None else min(seconds, analysis.duration)
    frames = max(1, int(math.floor(duration * fps + 1e-6)))
    analysis = analysis.pinned(beats_per_bar=song.beats_per_bar, bpm=song.bpm,
                               first_downbeat=song.downbeat_pin)
    grid = analysis.grid(bpm=song.bpm, offset=song.downbeat_pin, beats_per_bar=song.beats_per_bar)
    onsets = OnsetLog(list(map(float, analysis.onset_times)), list(map(float, analysis.onset_strengths)))
    director = Director(setlist, song, grid, fps, duration=analysis.duration, onsets=onsets)
    if output is None:
        output = default_output(setlist, song)
    timeline = output.with_suffix(".timeline.png")
    return RehearsalPlan(setlist, song, audio_path, output, timeline, width, height, fps, frames,
                         analysis, director)


def default_output(setlist: Setlist, song: Song, folder: Path = Path("renders")) -> Path:
    """``<folder>/<setlist>-<song>.mp4``: where a song's rehearsal goes unless told otherwise."""
    stem = setlist.source_path.stem if setlist.source_path else "setlist"
    return folder / f"{stem}-{_slug(song.name)}.mp4"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-") or "song"


def render_rehearsal(plan: RehearsalPlan, generator: Generator | None = None, *,
                     progress: Callable[[int, int], None] | None = None,
                     keep_hashes: bool = False, preview: "RehearsalPreview | None" = None,
                     extra_outputs: Sequence[Any] = ()) -> RehearsalResult:
    """Render every frame, encode the MP4 with audio, and draw the timeline picture: the show loop
    with a file clock (paced to the song when a ``preview`` window watches and steers it; closing
    the window stops early, and the MP4 then holds the frames so far, its audio cut to match)."""
    from vj.output.recover import recover_unfinished
    from vj.render.gl import create_headless_context, release_context

    recover_unfinished(plan.output.parent, reserved=[plan.output])  # what a killed run left there
    ctx = preview.ctx if preview is not None else create_headless_context()
    generator = generator or make_generator(plan.setlist)
    director = plan.director
    song = SongState(plan.setlist.song_index(plan.song), plan.song, director, director.grid,
                     duration=plan.analysis.duration)
    songs = SongDeck([song])
    clock = FileClock(plan.fps, plan.frames) if preview is None else PacedFileClock(plan.fps, plan.frames)
    store = preview.store if preview is not None else None
    actions = ShowActions(songs, clock, store, keys=preview.keys if preview is not None else None, confirm_quit=False)
    stage = InlineStage(ctx, plan, generator)
    output = RehearsalOutput(plan, ctx, keep_hashes, progress)
    outputs: list[Any] = [output] + ([preview] if preview is not None else []) + list(extra_outputs)
    try:
        ShowLoop(clock, songs, TrackFeatures(plan.analysis), actions, stage, outputs).run()
    finally:
        if preview is None:
            release_context(ctx)
    duration = output.frames / plan.fps
    render_timeline(plan.timeline, **_timeline_data(plan, duration, output.thumbnails, generator.name))
    return RehearsalResult(plan.output, plan.timeline, output.frames, duration, generator.name, output.hashes)


class InlineStage:
    """Rehearsal: the frame pipeline on the loop's own thread (warp → generator → post)."""

    def __init__(self, ctx: "moderngl.Context", plan: RehearsalPlan, generator: Generator) -> None:
        director = plan.director
        context = GeneratorContext(width=plan.width, height=plan.height, gl=ctx,
                                   prompts=list(director.prompt_table),
                                   negative_prompts=list(director.negative_table), seed=plan.setlist.seed,
                                   options=generator_options(plan.setlist, plan.song, rehearsal=True))
        generator.prepare(context)
        self.ctx = ctx
        self.pipeline = FramePipeline(ctx, context, generator, fallback=make_procedural)

    def render(self, params: FrameParams, tick: Tick, song: SongState) -> "moderngl.Texture":
        return self.pipeline.render(params).to_texture(self.ctx)

    def reset(self) -> None:
        self.pipeline.reset()

    def close(self) -> None:
        self.pipeline.close()


class RehearsalOutput:
    """The MP4 (frame n at n / fps, the song's audio cut to match), frame hashes, timeline
    thumbnails and the progress bar."""

    def __init__(self, plan: RehearsalPlan, ctx: "moderngl.Context", keep_hashes: bool,
                 progress: Callable[[int, int], None] | None) -> None:
        from vj.output.recorder import Recorder, SongAudio
        from vj.render.gl import Readback8

        self.plan, self.keep_hashes, self.progress = plan, keep_hashes, progress
        self.readback = Readback8(ctx, plan.width, plan.height)
        self.thumb_every = max(1, plan.frames // THUMBNAILS)
        self.thumbnails: list[tuple[float, np.ndarray]] = []
        self.hashes: list[str] = []
        self.frames = 0
        plan.output.parent.mkdir(parents=True, exist_ok=True)
        self.recorder = Recorder(plan.output, plan.width, plan.height, plan.fps, audio=SongAudio(plan.audio_path))

    def write(self, picture: "moderngl.Texture", params: FrameParams, tick: Tick) -> bool:
        pixels = self.readback.read(picture)
        self.recorder.write(pixels)
        self.frames = tick.index + 1
        if self.keep_hashes:
            self.hashes.append(hashlib.sha256(pixels.tobytes()).hexdigest())
        if tick.index % self.thumb_every == self.thumb_every // 2:
            self.thumbnails.append((tick.time, _thumbnail(pixels)))
        if self.progress:
            self.progress(tick.index + 1, self.plan.frames)
        return True

    def close(self, failed: bool) -> None:
        """Finish the MP4 with the frames so far (the last frame, or a preview closed early);
        a failed render leaves no file posing as a finished one."""
        self.readback.release()
        if failed:
            self.recorder.abort()
        else:
            self.recorder.close()


def _thumbnail(pixels: np.ndarray, width: int = 160) -> np.ndarray:
    step = max(1, pixels.shape[1] // width)
    return np.ascontiguousarray(pixels[::step, ::step])


def _timeline_data(plan: RehearsalPlan, duration: float, thumbnails: list, generator: str) -> dict:
    analysis, director = plan.analysis, plan.director
    grid = director.grid
    keep = lambda times: [float(t) for t in times if t <= duration]  # noqa: E731
    preview = analysis.waveform_preview
    bars = []
    bar = math.ceil(grid.bar_at(0.0))
    while grid.time_of_bar(bar) <= duration:
        if grid.time_of_bar(bar) >= 0:
            bars.append(grid.time_of_bar(bar))
        bar += 1
    bands = {name: analysis.series(name) for name in ("low", "mid", "high")}
    beats = range(math.ceil(grid.beat_at(0.0)), math.floor(grid.beat_at(duration)) + 1)
    return dict(
        duration=duration,
        waveform_times=preview[0], waveform_min=preview[1], waveform_max=preview[2],
        onset_times=keep(analysis.onset_times),
        onset_strengths=[float(s) for t, s in zip(analysis.onset_times, analysis.onset_strengths) if t <= duration],
        beat_times=[grid.time_of_beat(b) for b in beats if grid.time_of_beat(b) >= 0],
        downbeat_times=bars,
        bands=bands,
        cues=[(t, text, style) for t, text, style in director.cue_changes() if t <= duration],
        thumbnails=thumbnails,
        title=f"{plan.setlist.title} — {plan.song.name}  ({plan.width}×{plan.height}, {plan.fps:g} fps, {generator})",
        bar_times=bars,
        curves=director.camera_curves(duration),
        lyrics=[(t, sung) for t, _, sung, _ in director.lyric_cues if t <= duration],
    )
