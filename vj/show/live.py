"""``vj live``: the show loop on the display clock.

Each display frame (``vj.show.loop.ShowLoop``):

1. **tick**: predict when this frame will reach the screen (the swap), and read the song time
   there, shifted by the latency offset: every visual decision is made for the moment it is seen.
2. **drain**: keys, control actions (the one action table), and audio events (onsets →
   director, beats → tempo clock), without blocking.
3. **update**: the director turns time + features + controls into ``FrameParams``.
4. **stage**: the frame's camera motion, at display rate, is offered to the generator thread
   (which makes frames as fast as it can); the newest generator frame (and the one before,
   crossfading) is warped by the motion since it was made and graded (post, blackout).
5. **outputs**: draw letterboxed, HUD on top; swap at the predicted time (vsync, or the loop's own
   pacing where the platform ignores it); hand the picture to the recorder, which drops frames
   rather than slow this loop; controller feedback.
"""
from __future__ import annotations

import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from vj.camera.motion2d import warp_matrix_2d
from vj.camera.motion3d import plane_homography
from vj.control.params import ParamStore
from vj.frame_params import FrameParams
from vj.show.generators import generator_options
from vj.render.compositor import Compositor
from vj.render.handoff import GeneratedFrame, HostUploadHandoff, SharedTextureHandoff
from vj.render.hud import Hud, HudState
from vj.show.actions import ShowActions
from vj.show.clocks import DisplayClock, Tick
from vj.show.loop import ShowLoop
from vj.show.songs import SongDeck, SongState, live_song, live_song_states
from vj.show.sources import LiveFeatures
from vj.show.worker import GeneratorWorker

log = logging.getLogger(__name__)


@dataclass
class LiveOptions:
    """How the show runs (CLI flags land here).

    latency_offset:  seconds added to the song time of every frame (positive: visuals earlier),
                     to calibrate a projector's own delay (a ``latency_offset_ms`` control overrides it).
    quit_after:      stop after this many seconds (soundchecks, tests).
    display_rate:    frames per second to pace at (None: the monitor's refresh).
    crossfade:       seconds to fade between generator frames (None: the generator's frame interval).
    upload:          "auto" | "shared" | "host": how generator frames reach the window.
    hud:             show the HUD from the start.
    keep_frame_log:  keep per-frame timing records (benchmarks, tests).
    """

    latency_offset: float = 0.0
    quit_after: float | None = None
    display_rate: float | None = None
    crossfade: float | None = None
    upload: str = "auto"
    hud: bool = False
    keep_frame_log: bool = False


@dataclass
class FrameRecord:
    """Timing of one display frame (clock seconds), for the HUD's numbers and the benchmark."""

    index: int
    started: float
    predicted_swap: float
    music_time: float
    swap: float = 0.0
    rendered: float = 0.0
    onsets: list = field(default_factory=list)      # LiveHop records first included in this frame
    drained_at: float = 0.0
    beat: float = 0.0
    beat_phase: float = 0.0
    cue_index: int = 0
    blackout: bool = False


class DisplayStage:
    """The live stage: camera motion at display rate offered to the generator thread, and the
    compositor that shows its newest frames moved by the motion since they were made."""

    def __init__(self, display: Any, setlist: Any, songs: SongDeck, make_generator: Callable[[], Any],
                 options: LiveOptions, store: ParamStore, now: Callable[[], float]) -> None:
        self.display, self.setlist, self.options, self.store, self.now = display, setlist, options, store, now
        self.width, self.height = setlist.output.width, setlist.output.height
        self.fps = float(setlist.output.fps)
        self.compositor = Compositor(display.ctx, self.width, self.height)
        self._steps: deque[tuple[int, np.ndarray]] = deque(maxlen=1200)
        self._shown: list[tuple[GeneratedFrame, Any, np.ndarray]] = []   # (frame, texture, delta since made)
        self._fade_started = 0.0
        self._fade_length = 0.1
        self.handoff = self._handoff(options.upload)
        self.worker = GeneratorWorker(self.handoff, self._pipeline_maker(songs, make_generator), self.width, self.height)
        self.worker.start()

    def _handoff(self, upload: str) -> Any:
        if upload in ("auto", "shared"):
            try:
                return SharedTextureHandoff(self.display, self.width, self.height)
            except Exception as exc:  # no shared contexts on this platform: go through the host
                if upload == "shared":
                    raise
                log.warning("no shared GL context (%s); generator frames go through host memory", exc)
        return HostUploadHandoff(self.width, self.height)

    def _pipeline_maker(self, songs: SongDeck, make_generator: Callable[[], Any]) -> Callable[[Any], Any]:
        from vj.generators.base import GeneratorContext
        from vj.show.generators import make_procedural
        from vj.show.pipeline import FramePipeline

        prompts, negatives = [], []
        for state in songs.songs:
            for mix, negative in zip(state.director.prompt_table, state.director.negative_table):
                if mix not in prompts:
                    prompts.append(mix)
                    negatives.append(negative)
        options = generator_options(self.setlist, songs.current.song, rehearsal=False)

        def make_pipeline(ctx: Any) -> Any:
            context = GeneratorContext(width=self.width, height=self.height, gl=ctx, prompts=prompts,
                                       negative_prompts=negatives, seed=self.setlist.seed, options=options)
            generator = make_generator()
            if getattr(generator, "name", "") == "procedural":
                generator.prepare(context)
                return FramePipeline(ctx, context, generator, fallback=make_procedural)
            # A model loads for seconds: the show starts on the procedural generator and switches
            # when the model is ready (or stays, saying why, if it cannot load).
            procedural = make_procedural()
            procedural.prepare(context)
            pipeline = FramePipeline(ctx, context, procedural, fallback=make_procedural)
            pipeline.warm_start(generator)
            return pipeline

        return make_pipeline

    @property
    def showing(self) -> bool:
        """Whether a generator frame is on screen yet (black until the first one)."""
        return bool(self._shown)

    def render(self, params: FrameParams, tick: Tick, song: SongState) -> Any:
        frozen = bool(self.store.value("freeze"))
        if not frozen:
            frames = tick.dt * self.fps
            if frames <= 0:
                step = np.eye(3)
            elif params.camera.mode == "2d":
                step = warp_matrix_2d(params.camera, self.width, self.height, frames)
            else:
                step = plane_homography(params.camera, self.width, self.height, frames, song.plane_distance)
            self._steps.append((tick.index, step))
            self._shown = [(f, t, step @ d) for f, t, d in self._shown]
            self.worker.post(params, step, frames, tick.index)
            self._adopt_new_frame(tick.started)
        if not self._shown:
            return self.compositor.black()
        mix = 1.0 if frozen else min(max((tick.started - self._fade_started) / max(self._fade_length, 1e-3), 0.0), 1.0)
        _, b_texture, b_delta = self._shown[-1]
        a_texture, a_delta = (self._shown[0][1], self._shown[0][2]) if len(self._shown) > 1 else (None, np.eye(3))
        return self.compositor.compose(a_texture, a_delta, b_texture, b_delta, mix, params.border, params)

    def _adopt_new_frame(self, now: float) -> None:
        frame = self.worker.take_latest(tuple(f.slot for f, _, _ in self._shown))
        if frame is None:
            return
        texture = self.handoff.display_texture(self.display.ctx, frame)
        delta = np.eye(3)
        for index, step in self._steps:  # the motion since the display frame the request came from
            if index > frame.display_index:
                delta = step @ delta
        if self._shown:
            interval = max(frame.made_at - self._shown[-1][0].made_at, 1e-3)
            self._fade_length = self.options.crossfade if self.options.crossfade is not None else min(interval, 0.25)
        self._shown = (self._shown[-1:] if self._shown else []) + [(frame, texture, delta)]
        self._fade_started = now

    def reset(self) -> None:
        """A new song: the generator starts again from its first frame."""
        self.worker.reset()

    def close(self) -> None:
        self.worker.stop()
        self.compositor.release()


class DisplayOutput:
    """The projector: the picture letterboxed into the display with the HUD over it, the swap at
    the predicted time; then the recording and the controllers' feedback."""

    def __init__(self, show: "LiveShow") -> None:
        self.show = show
        self.hud = Hud(show.display.ctx)
        self.hud.visible = show.options.hud
        self.frame_log: deque[FrameRecord] = deque(maxlen=20000 if show.options.keep_frame_log else 1)
        self.fps_average = 0.0
        self._last_swap: float | None = None

    def write(self, picture: Any, params: FrameParams, tick: Tick) -> bool:
        show, display = self.show, self.show.display
        song, features = show.songs.current, show.features
        record = FrameRecord(tick.index, tick.started, tick.due, tick.time, onsets=features.onsets,
                             drained_at=features.drained_at)
        beat = song.clock.beat_at(tick.time)
        record.beat, record.beat_phase = beat, beat - math.floor(beat)
        record.cue_index, record.blackout = params.cue_index, params.post.blackout
        show.stage.compositor.present(picture, display.framebuffer_size, display.screen)
        self.hud.visible = bool(show.store.value("hud"))
        self._draw_hud(params, song, record)
        record.rendered = show.now()
        if show.on_frame is not None:
            show.on_frame(show, record)
        if show.surface is not None:  # throttled inside; cheap
            show.surface.publish_state(cue=params.cue_index, cue_label=params.cue_label, bpm=song.clock.bpm,
                                       beat=record.beat, beat_phase=record.beat_phase,
                                       bar=math.floor(song.clock.bar_at(tick.time)), song=song.song.name,
                                       style=params.style_name,
                                       **({"link_peers": show.tempo_lead.peers} if show.tempo_lead is not None else {}))
        display.ctx.finish()  # nothing queued behind the swap: lowest latency, honest timings
        record.swap = show.clock.swap(display, tick)
        if show.recorder is not None:
            show.recorder.offer(show.stage.compositor.output, record.swap)
        self.frame_log.append(record)
        if self._last_swap is not None:
            rate = 1.0 / max(record.swap - self._last_swap, 1e-4)
            self.fps_average = rate if not self.fps_average else 0.95 * self.fps_average + 0.05 * rate
        self._last_swap = record.swap
        return True

    def _draw_hud(self, params: FrameParams, song: SongState, record: FrameRecord) -> None:
        if not self.hud.visible:
            return
        show, clock = self.show, song.clock
        worker, audio = show.stage.worker, show.audio
        status = audio.status if audio is not None else None
        flags = [name.upper() if name != "freeze" else "FROZEN" for name in ("blackout", "freeze")
                 if show.store.value(name)]
        if show.actions.quit_pending(show.now()):
            flags.append("press Esc again to quit")
        if status is not None and status.state != "running":
            flags.append(status.message or f"audio {status.state}")
        if not worker.ready.is_set():
            flags.append("generator loading…")
        elif worker.warming:
            flags.append(f"model loading… ({worker.generator_name} meanwhile)")
        if worker.error is not None:
            flags.append(f"generator stopped: {worker.error}")
        if worker.notice:
            flags.append(worker.notice)
        self.hud.update(HudState(
            fps=self.fps_average, generator_fps=worker.fps, bpm=clock.bpm,
            tempo_source=f"{clock.lead.value}" + ("" if clock.locked else ", waiting for beats")
            + (f" ({show.tempo_lead.label})" if show.tempo_lead is not None else ""),
            beat=record.beat, bar=clock.bar_at(record.music_time), beat_phase=record.beat_phase,
            beats_per_bar=clock.beats_per_bar, cue=params.cue_label, song=song.song.name,
            audio=(f"{status.device} {status.sample_rate} Hz hop {status.hop}" if status and status.device
                   else "no input"),
            audio_state=status.state if status else "off", level_db=status.level_db if status else -120.0,
            onset_flash=1.0 if record.onsets or show.now() < show.features.flash_until else 0.0,
            upload=getattr(show.stage.handoff, "label", "?"), flags="   ".join(flags),
            dropped=getattr(show.recorder, "dropped", 0) if show.recorder else 0))
        show.display.screen.use()
        self.hud.draw(show.display.framebuffer_size)

    def close(self, failed: bool = False) -> None:
        """Finish the recording (what was recorded is kept even when the show failed)."""
        try:
            if self.show.recorder is not None:
                self.show.recorder.close()
                self.show.recorder = None
        finally:
            self.hud.release()


class LiveShow:
    """Plays a setlist: audio in (``audio``, may be None), frames out to ``window`` (an
    ``OutputWindow``, or a ``HeadlessDisplay``).

    make_generator: builds the generator (called in the generator thread).
    controls:       the parameter store OSC/MIDI write to (a fresh one when None: keys still go
                    through it).
    now:            the clock (``time.monotonic``; tests give a fake one).
    extra_outputs:  more outputs of the show loop after the projector (``vj.output.sinks.SinkOutput``:
                    NDI), each given the output picture every frame.
    tempo_lead:     an external tempo lead polled once a frame (``vj.audio.link.LinkLead``, or the
                    follower's leader beats), or None.
    follower:       ``vj.control.follow.Follower``: the leader's changes, applied once a frame.
    """

    def __init__(self, setlist: Any, songs: Sequence[SongState], window: Any, *,
                 audio: Any | None, make_generator: Callable[[], Any], options: LiveOptions,
                 recorder: Any | None = None, controls: ParamStore | None = None, surface: Any | None = None,
                 start_song: int = 0, now: Callable[[], float] = time.monotonic,
                 extra_outputs: Sequence[Any] = (), tempo_lead: Any | None = None,
                 follower: Any | None = None) -> None:
        self.setlist, self.display, self.audio, self.options = setlist, window, audio, options
        self.recorder, self.surface, self.now = recorder, surface, now
        self.store = controls if controls is not None else (surface.store if surface is not None else ParamStore())
        if options.hud:
            self.store.set("hud", True, source="engine")
        self.songs = SongDeck(list(songs), start_song, remake=self._remake)
        self.clock = DisplayClock(options.display_rate or window.refresh_rate, self._latency_offset, now,
                                  until=options.quit_after)
        self.tempo_lead, self.follower = tempo_lead, follower
        self.actions = ShowActions(self.songs, self.clock, self.store, keys=window.poll, confirm_quit=True,
                                   pollers=[self._poll_rig])
        self.features = LiveFeatures(audio, self.clock, now)
        self.on_frame: Callable[["LiveShow", FrameRecord], None] | None = None
        self.stage = DisplayStage(window, setlist, self.songs, make_generator, options, self.store, now)
        self.output = DisplayOutput(self)
        self.extra_outputs = list(extra_outputs)
        self.loop = ShowLoop(self.clock, self.songs, self.features, self.actions,
                             self.stage, [self.output, *self.extra_outputs])
        if surface is not None:
            self.songs.listeners.append(lambda state: surface.configure(setlist, state.song))
        web = getattr(surface, "web", None)
        if web is not None:  # the control page's preview, read after the swap like the recording
            self.loop.outputs.append(web.thumbnail_output())

    # ---- what tests, benchmarks and the HUD read ------------------------------------------------

    @property
    def worker(self) -> GeneratorWorker:
        return self.stage.worker

    @property
    def handoff(self) -> Any:
        return self.stage.handoff

    @property
    def frame_log(self) -> deque[FrameRecord]:
        return self.output.frame_log

    @property
    def song(self) -> SongState:
        return self.songs.current

    @property
    def song_start(self) -> float:
        return self.clock.song_start

    @property
    def showing(self) -> bool:
        return self.stage.showing

    # ---- set-up -----------------------------------------------------------------------------

    def _latency_offset(self) -> float:
        offset = self.store.value("latency_offset_ms") if self.store.is_set("latency_offset_ms") else None
        return self.options.latency_offset if offset is None else float(offset) / 1000.0

    def _remake(self, old: SongState) -> SongState:
        return live_song(self.setlist, old.index, bpm=old.start_bpm, lead=old.clock.lead,
                         cue_mode=old.director.cue_mode)

    def _poll_rig(self, tick: Tick) -> None:
        """Once a frame, before the actions: a Link session's tempo and phase (and its start), and
        the leader's changes when this show follows one."""
        if self.tempo_lead is not None:
            self.tempo_lead.poll(self.songs.current.clock, self.clock.song_time)
            take_start = getattr(self.tempo_lead, "take_start", None)   # Link's start/stop sync
            if take_start is not None and take_start():   # the session started: the song, from its start
                self.store.trigger("song", self.songs.current.index, source="link")
        if self.follower is not None:
            self.follower.apply(self)

    def run(self) -> int:
        """Play until quit (confirmed) or ``quit_after``; returns the exit status."""
        return self.loop.run()


#: The songs of a setlist ready for ``LiveShow`` (``vj.show.songs.live_song_states``).
build_song_states = live_song_states

__all__ = ["DisplayOutput", "DisplayStage", "FrameRecord", "LiveOptions", "LiveShow", "build_song_states"]
