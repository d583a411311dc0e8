"""The live main loop: tick → drain inputs → director → camera → compose → swap, at display rate.

One visible loop on the main thread (GLFW needs it). Each display frame:

1. **tick**: predict when this frame will reach the screen (the swap), and read the song time
   there, shifted by the latency offset: every visual decision is made for the moment it is seen.
2. **drain**: window keys, control actions, and audio events (onsets → director, beats → tempo
   clock), without blocking.
3. **update**: the director turns time + features + controls into ``FrameParams``.
4. **camera**: the frame's motion, scaled from setlist frames to this display interval, is
   integrated here and offered to the generator thread, which makes frames as fast as it can.
5. **compose**: the newest generator frame (and the one before, crossfading) is warped by the
   camera motion since it was made, graded (post, blackout) and drawn letterboxed, HUD on top.
6. **swap** at the predicted time (vsync, or the loop's own pacing where the platform ignores it),
   then hand the picture to the recorder, which drops frames rather than slow this loop.
"""
from __future__ import annotations

import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from vj.camera.motion2d import warp_matrix_2d
from vj.camera.motion3d import DEFAULT_PLANE_DISTANCE, plane_homography
from vj.director.director import Director
from vj.features import Features
from vj.frame_params import FrameParams
from vj.audio.clock import TempoClock, TempoLead
from vj.show.handoff import GeneratedFrame, GeneratorWorker, HostUploadHandoff, SharedTextureHandoff
from vj.render.window import QUIT_CONFIRM_SECONDS, Action, Hud, HudState, OutputWindow, letterbox
from vj.depth.model import plane_distance
from vj.generators.factory import generator_options

log = logging.getLogger(__name__)

#: The onset impulse in ``Features.onset``: attack and release (s), as the setlist defaults.
ONSET_ATTACK, ONSET_RELEASE = 0.01, 0.2


@dataclass
class LiveOptions:
    """How the show runs (CLI flags land here).

    latency_offset:  seconds added to the song time of every frame (positive: visuals earlier),
                     to calibrate a projector's own delay.
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
    tempo_lead: str | None = None
    bpm: float | None = None
    cue_mode: str | None = None


@dataclass
class FrameRecord:
    """Timing of one display frame (monotonic seconds), for the HUD's numbers and the benchmark."""

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


class FramePacer:
    """Predicts swap times, starts each frame as late as it safely can, and paces the loop itself
    when swaps don't wait for the display.

    With working vsync the swap blocks until the vertical blank, so swaps land on a grid of
    ``period``. Where the platform ignores vsync (Xvfb, some compositors) swaps return at once;
    the pacer then holds each swap until its slot on the same grid, so timing is the same either way.

    Late start: a frame that starts right after the previous swap and then waits for its slot
    shows inputs a whole period old. ``wait_to_start`` sleeps first, until the slot minus the
    frame's recent worst work time and a margin, so onsets that arrive in the meantime still make
    this frame (the "late latching" of VR compositors). A frame that overruns just takes the next slot.
    """

    #: Seconds kept in hand beyond the frame's recent worst work time.
    MARGIN = 0.002

    def __init__(self, rate: float, late_start: bool = True) -> None:
        self.period = 1.0 / rate
        self.late_start = late_start
        self.render_estimate = 0.3 * self.period
        self.render_peak = 0.5 * self.period
        self.last_swap: float | None = None
        self.manual = False
        self._quick_swaps = 0

    def wait_to_start(self) -> None:
        """Sleep until the latest moment the next frame can start and still make its slot."""
        if not self.late_start or self.last_swap is None:
            return
        start_by = self.last_swap + self.period - self.render_peak - self.MARGIN
        _sleep_until(start_by)

    def predict(self, now: float) -> float:
        """When the frame started at ``now`` will be swapped."""
        earliest = now + self.render_estimate
        if self.last_swap is None:
            return earliest
        slots = max(1, math.ceil((earliest - self.last_swap) / self.period - 1e-3))
        return self.last_swap + slots * self.period

    def hold_until(self, target: float) -> None:
        """Manual pacing: sleep until just before ``target`` (the swap itself takes a moment)."""
        if self.manual:
            _sleep_until(target - 0.0003)

    def swapped(self, started: float, finished: float, called: float, returned: float) -> None:
        """Learn from one frame: its work took ``finished - started`` (not counting any hold);
        a swap that returns at once means vsync is not waiting for us."""
        work = min(finished - started, self.period * 3)
        self.render_estimate = 0.9 * self.render_estimate + 0.1 * work
        self.render_peak = max(work, self.render_peak * 0.98, self.render_estimate)
        if returned - called < 0.2 * self.period:
            self._quick_swaps += 1
            if self._quick_swaps > 20 and not self.manual:
                log.info("swaps don't wait for vsync here; pacing the display at %.1f Hz", 1 / self.period)
                self.manual = True
        else:
            self._quick_swaps = 0
        self.last_swap = returned


def _sleep_until(target: float) -> None:
    """Sleep to ``target`` (monotonic seconds): coarse sleeps, then a short spin for the last bit."""
    while True:
        left = target - time.monotonic()
        if left <= 0.0002:
            return
        time.sleep(left - 0.0005 if left > 0.0015 else 0.0)


class Compositor:
    """Display-side GL: warp the generator frames by the motion since they were made, crossfade,
    grade, and draw letterboxed into the window. Targets are allocated once."""

    def __init__(self, ctx: Any, width: int, height: int) -> None:
        from vj.render.gl import RenderTarget
        from vj.render.passes import CrossfadePass, PostPass, WarpPass

        self.ctx = ctx
        self.width, self.height = width, height
        self.warp = WarpPass(ctx)
        self.crossfade = CrossfadePass(ctx)
        self.post = PostPass(ctx)
        self.moved = [RenderTarget(ctx, width, height), RenderTarget(ctx, width, height)]
        self.mixed = RenderTarget(ctx, width, height)
        self.output = RenderTarget(ctx, width, height)

    def compose(self, a: Any | None, delta_a: np.ndarray, b: Any, delta_b: np.ndarray, mix: float,
                border: str, params: FrameParams) -> Any:
        """The graded output picture (output-size texture)."""
        moved_b = self.warp.apply(b, delta_b, border, self.moved[1])
        picture = moved_b
        if a is not None and mix < 1.0:
            moved_a = self.warp.apply(a, delta_a, border, self.moved[0])
            picture = self.crossfade.apply(moved_a, moved_b, mix, self.mixed)
        return self.post.apply(picture, params.post, self.output)

    def black(self) -> Any:
        self.output.framebuffer.use()
        self.ctx.clear(0.0, 0.0, 0.0, 1.0)
        return self.output.texture

    def present(self, picture: Any, window_size: tuple[int, int]) -> None:
        """Draw the output picture letterboxed into the window (black bars)."""
        screen = self.ctx.screen
        screen.use()
        screen.viewport = (0, 0, *window_size)
        self.ctx.clear(0.0, 0.0, 0.0, 1.0)
        screen.viewport = letterbox(window_size, (self.width, self.height))
        self.crossfade.apply(picture, picture, 0.0, screen)
        screen.viewport = (0, 0, *window_size)

    def release(self) -> None:
        for target in (*self.moved, self.mixed, self.output):
            target.release()
        for p in (self.warp, self.crossfade, self.post):
            p.release()


@dataclass
class SongState:
    """A song ready to play: its director and tempo clock, built before the window opens."""

    index: int
    song: Any
    director: Director
    clock: TempoClock
    start_bpm: float = 120.0
    plane_distance: float = DEFAULT_PLANE_DISTANCE   # 3D motion at display rate is re-applied on this plane


class LiveShow:
    """Plays a setlist: audio in (``audio``, may be None), frames out to ``window``.

    make_generator: builds the generator (called in the generator thread).
    controls:       optional parameter store (``snapshot()`` → mapping, ``actions`` queue).
    """

    def __init__(self, setlist: Any, songs: Sequence[SongState], window: OutputWindow, *,
                 audio: Any | None, make_generator: Callable[[], Any], options: LiveOptions,
                 recorder: Any | None = None, controls: Any | None = None, surface: Any | None = None,
                 start_song: int = 0) -> None:
        self.setlist = setlist
        self.songs = list(songs)
        self.window = window
        self.audio = audio
        self.options = options
        self.recorder = recorder
        self.controls = controls
        self.surface = surface  # vj.control.surface.ControlSurface: OSC feedback, per-song set-up
        self.width, self.height = setlist.output.width, setlist.output.height
        self.fps = float(setlist.output.fps)
        self._make_generator = make_generator
        self.ctx = window.ctx
        self.compositor = Compositor(self.ctx, self.width, self.height)
        self.hud = Hud(self.ctx)
        self.hud.visible = options.hud
        self.pacer = FramePacer(options.display_rate or window.refresh_rate)
        self.frame_log: deque[FrameRecord] = deque(maxlen=20000 if options.keep_frame_log else 1)
        self.blackout = False
        self.frozen = False
        self.quit_armed_at = -math.inf
        self.index = 0
        self.dropped_generator_frames = 0
        self._onset_peak = 1e-6
        self._flash_until = 0.0
        self._last_features_hop: Any = None
        self._fps_average = 0.0
        self._last_swap: float | None = None
        self._state: SongState = self.songs[start_song]
        self.song_start = time.monotonic()
        self._prev_bar = -math.inf
        self._prev_time: float | None = None
        self._steps: deque[tuple[int, np.ndarray]] = deque(maxlen=1200)
        self._shown: list[tuple[GeneratedFrame, Any, np.ndarray]] = []   # (frame, texture, delta since made)
        self._fade_started = 0.0
        self._fade_length = 0.1
        self.screenshots: list[np.ndarray] = []
        self.on_frame: Callable[["LiveShow", FrameRecord], None] | None = None
        self.worker = self._start_generator(options.upload)

    # ---- set-up -------------------------------------------------------------------------------

    def _start_generator(self, upload: str) -> GeneratorWorker:
        from vj.show.pipeline import FramePipeline
        from vj.generators.base import GeneratorContext
        from vj.generators.factory import make_procedural

        prompts, negatives = [], []
        for state in self.songs:
            for mix, negative in zip(state.director.prompt_table, state.director.negative_table):
                if mix not in prompts:
                    prompts.append(mix)
                    negatives.append(negative)
        song = self._state.song

        def make_pipeline(ctx: Any) -> Any:
            context = GeneratorContext(width=self.width, height=self.height, gl=ctx, prompts=prompts,
                                       negative_prompts=negatives, seed=self.setlist.seed,
                                       options=generator_options(self.setlist, song, rehearsal=False))
            generator = self._make_generator()
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

        handoff: Any
        if upload in ("auto", "shared"):
            try:
                handoff = SharedTextureHandoff(self.window, self.width, self.height)
            except Exception as exc:  # no shared contexts on this platform: go through the host
                if upload == "shared":
                    raise
                log.warning("no shared GL context (%s); generator frames go through host memory", exc)
                handoff = HostUploadHandoff(self.width, self.height)
        else:
            handoff = HostUploadHandoff(self.width, self.height)
        worker = GeneratorWorker(handoff, make_pipeline, self.width, self.height)
        worker.start()
        self.handoff = handoff
        return worker

    # ---- the loop -----------------------------------------------------------------------------

    def run(self) -> int:
        """Play until quit (confirmed) or ``quit_after``; returns the exit status."""
        started = time.monotonic()
        self.song_start = started
        try:  # the loop starts at once: black (HUD on) until the generator's first frame
            while self.options.quit_after is None or time.monotonic() - started < self.options.quit_after:
                if not self._frame():
                    break
        finally:
            self.close()
        return 0

    def _frame(self) -> bool:
        # 1. tick (after sleeping until the latest safe start: fresher inputs, same slot)
        self.pacer.wait_to_start()
        now = time.monotonic()
        controls = self._control_values()
        offset = controls.get("latency_offset_ms")
        offset = self.options.latency_offset if offset is None else float(offset) / 1000.0
        swap_at = self.pacer.predict(now)
        music_time = swap_at - self.song_start + offset
        if self._prev_time is not None:  # the director wants time in order (an offset may move back)
            music_time = max(music_time, self._prev_time)
        record = FrameRecord(self.index, now, swap_at, music_time)
        # 2. drain inputs
        for action in self.window.poll():
            if not self.handle(action, now):
                return False
        self._drain_controls(now)
        self._drain_audio(record, offset)
        record.drained_at = time.monotonic()
        if self.audio is not None and "input_gain" in controls:
            self.audio.input_gain = float(controls["input_gain"])
        if self.audio is not None and "onset_threshold" in controls:
            self.audio.onset_threshold = float(controls["onset_threshold"])
        state = self._state
        clock, director = state.clock, state.director
        # 3. update
        features = self._features(music_time, clock, director)
        params = director.frame_params(self.index, music_time, features, {**controls, "blackout": self.blackout})
        bar = math.floor(clock.bar_at(music_time) + 1e-9)
        if bar > self._prev_bar and self._prev_bar > -math.inf:
            director.notify_downbeat(clock.time_of_beat(bar * clock.beats_per_bar))
        self._prev_bar = bar
        # 4. camera at display rate
        dt = 0.0 if self._prev_time is None else max(music_time - self._prev_time, 0.0)
        self._prev_time = music_time
        if not self.frozen:
            frames = dt * self.fps
            if frames <= 0:
                step = np.eye(3)
            elif params.camera.mode == "2d":
                step = warp_matrix_2d(params.camera, self.width, self.height, frames)
            else:
                step = plane_homography(params.camera, self.width, self.height, frames, state.plane_distance)
            self._steps.append((self.index, step))
            self._shown = [(f, t, step @ d) for f, t, d in self._shown]
            self.worker.post(params, step, frames, self.index)
        # 5. compose
        picture = self._compose(params, now)
        self.compositor.present(picture, self.window.framebuffer_size)
        self._draw_hud(params, clock, state, record)
        record.rendered = time.monotonic()
        record.beat, record.beat_phase = features.beat, features.beat_phase
        record.cue_index, record.blackout = params.cue_index, params.post.blackout
        if self.on_frame is not None:
            self.on_frame(self, record)
        if self.surface is not None:  # throttled inside; cheap
            self.surface.publish_state(cue=params.cue_index, cue_label=params.cue_label, bpm=clock.bpm,
                                       beat=features.beat, beat_phase=features.beat_phase, bar=math.floor(features.bar),
                                       song=state.song.name, style=params.style_name)
        # 6. swap, then outputs
        self.ctx.finish()  # nothing queued behind the swap: lowest latency, honest timings
        finished = time.monotonic()
        self.pacer.hold_until(swap_at)
        called = time.monotonic()
        record.swap = self.window.swap()
        self.pacer.swapped(now, finished, called, record.swap)
        if self.recorder is not None:
            self.recorder.offer(self.compositor.output, record.swap)
        self.frame_log.append(record)
        if self._last_swap is not None:
            rate = 1.0 / max(record.swap - self._last_swap, 1e-4)
            self._fps_average = rate if not self._fps_average else 0.95 * self._fps_average + 0.05 * rate
        self._last_swap = record.swap
        self.index += 1
        return True

    def _compose(self, params: FrameParams, now: float) -> Any:
        if not self.frozen:
            self._adopt_new_frame(now)
        if not self._shown:
            return self.compositor.black()
        mix = 1.0 if self.frozen else min(max((now - self._fade_started) / max(self._fade_length, 1e-3), 0.0), 1.0)
        b_frame, b_texture, b_delta = self._shown[-1]
        a_texture, a_delta = (self._shown[0][1], self._shown[0][2]) if len(self._shown) > 1 else (None, np.eye(3))
        return self.compositor.compose(a_texture, a_delta, b_texture, b_delta, mix, params.border, params)

    def _adopt_new_frame(self, now: float) -> None:
        showing = tuple(f.slot for f, _, _ in self._shown)
        frame = self.worker.take_latest(showing)
        if frame is None:
            return
        texture = self.handoff.display_texture(self.ctx, frame)
        delta = np.eye(3)
        for index, step in self._steps:  # the motion since the display frame the request came from
            if index > frame.display_index:
                delta = step @ delta
        if self._shown:
            interval = max(frame.made_at - self._shown[-1][0].made_at, 1e-3)
            self._fade_length = self.options.crossfade if self.options.crossfade is not None else min(interval, 0.25)
        self._shown = (self._shown[-1:] if self._shown else []) + [(frame, texture, delta)]
        self._fade_started = now

    # ---- inputs -------------------------------------------------------------------------------

    def handle(self, action: Action, now: float) -> bool:
        """Apply one action; False means quit."""
        state = self._state
        music_now = now - self.song_start
        if action is Action.QUIT:
            if now - self.quit_armed_at <= QUIT_CONFIRM_SECONDS:
                log.info("quit confirmed")
                return False
            self.quit_armed_at = now
            log.warning("press Esc (or Q) again to quit")
        elif action is Action.NEXT_CUE:
            state.director.next_cue(music_now)
        elif action is Action.PREVIOUS_CUE:
            state.director.previous_cue(music_now)
        elif action is Action.ARM_DOWNBEAT:
            state.director.arm_cue(state.director.cue_index_at(music_now) + 1, on="downbeat")
        elif action is Action.ARM_ONSET:
            state.director.arm_cue(state.director.cue_index_at(music_now) + 1, on="onset")
        elif action is Action.BLACKOUT:
            self.blackout = not self.blackout
        elif action is Action.FREEZE:
            self.frozen = not self.frozen
        elif action is Action.TAP:
            bpm = state.clock.tap(music_now)
            if bpm:
                log.info("tap tempo %.1f BPM", bpm)
        elif action is Action.RESYNC:
            state.clock.resync(music_now)
        elif action in (Action.BPM_UP, Action.BPM_DOWN):
            state.clock.set_bpm(state.clock.bpm + (1 if action is Action.BPM_UP else -1), music_now)
        elif action is Action.HUD:
            self.hud.visible = not self.hud.visible
        elif action in (Action.NEXT_SONG, Action.PREVIOUS_SONG):
            step = 1 if action is Action.NEXT_SONG else -1
            self.select_song((state.index + step) % len(self.songs), now)
        return True

    def select_song(self, index: int, now: float) -> None:
        """Switch to song ``index``: its cues start from its beginning, the generator restarts."""
        state = self.songs[index]
        # A song starts from its beginning: a fresh grid (its own BPM until beats or taps come)
        # and a fresh director (which wants time in order).
        old = state.clock
        state.clock = TempoClock(state.start_bpm, old.beats_per_bar, old.lead,
                                 origin=state.song.downbeat_pin or 0.0,
                                 meter_pinned=state.song.beats_per_bar is not None)
        fresh = Director(self.setlist, state.song, state.clock, self.fps)
        fresh.cue_mode = state.director.cue_mode
        state.director = fresh
        self._state = state
        self.song_start = now
        if self.surface is not None:
            self.surface.configure(self.setlist, self._state.song)
        self._prev_bar, self._prev_time = -math.inf, None
        self.worker.reset()
        log.info("song: %s", self._state.song.name)

    def _drain_controls(self, now: float) -> None:
        """Actions from OSC/MIDI (``vj.control.params.ActionQueue``: name, value, time), never blocking."""
        actions = getattr(self.controls, "actions", None)
        if actions is None:
            return
        clock = self._state.clock
        while True:
            try:
                item = actions.get_nowait()
            except Exception:  # queue.Empty: nothing more this frame
                return
            name, value = str(getattr(item, "name", item)), getattr(item, "value", None)
            at = (getattr(item, "time", 0.0) or now) - self.song_start
            if name == "bpm" and value is not None:
                clock.set_bpm(float(value), at)
            elif name == "song" and value is not None:
                self._select_song_by(value, now)
            elif name == "cue" and value is not None:
                self._state.director.arm_cue(int(value), on="downbeat")
                self._state.director.notify_downbeat(at)  # fire it now
            elif name == "tap":
                clock.tap(at)
            elif name == "midi_clock_beat":
                clock.external_beat(at, float(value) if value else None)
            elif name == "midi_clock_start":
                clock.resync(at)
            elif name in ("blackout", "freeze", "hud") and value is not None:
                current = {"blackout": self.blackout, "freeze": self.frozen, "hud": self.hud.visible}[name]
                if bool(value) != current:
                    self.handle(Action(name), now)
            else:
                try:
                    action = Action(name)
                except ValueError:
                    continue  # e.g. midi_clock_stop: the tempo clock free-runs until beats come
                if action is not Action.QUIT:  # quitting a show is for the keyboard only
                    self.handle(action, now)

    def _select_song_by(self, value: Any, now: float) -> None:
        for state in self.songs:
            if str(value) == state.song.name or (str(value).isdigit() and int(value) == state.index):
                self.select_song(state.index, now)
                return
        log.warning("no song '%s' in the setlist", value)

    def _control_values(self) -> Mapping[str, Any]:
        values: dict[str, Any] = {}
        snapshot = getattr(self.controls, "snapshot", None)
        if snapshot is not None:
            values.update(snapshot())
        values["blackout"] = self.blackout  # the action queue toggles it; the key too
        return values

    def _drain_audio(self, record: FrameRecord, offset: float) -> None:
        """Onsets go to the director shifted by the latency offset like the frame times are, so an
        onset's envelope is as young at the swap as it really is (it cannot be shown earlier than
        detected); beats go to the tempo clock as they are (its grid is then read ``offset`` early)."""
        if self.audio is None:
            return
        state = self._state
        while True:
            try:
                hop = self.audio.events.popleft()
            except IndexError:
                break
            if hop.is_onset:
                self._onset_peak = max(hop.onset_strength, self._onset_peak * 0.98)
                strength = min(max(hop.onset_strength / self._onset_peak, 0.25), 1.0)
                state.director.notify_onset(hop.onset_time - self.song_start + offset, strength)
                self._flash_until = time.monotonic() + 0.08
                record.onsets.append(hop)
            if hop.is_beat:
                state.clock.observe_beat(hop.beat_time - self.song_start, hop.bpm or None,
                                         position=hop.beat_position, beats_per_bar=hop.beats_per_bar)

    def _features(self, music_time: float, clock: TempoClock, director: Director) -> Features:
        hop = self.audio.latest if self.audio is not None else None
        values = hop.features if hop is not None and self._audio_usable() else {}
        beat = clock.beat_at(music_time)
        return Features(
            onset=director.onsets.envelope(music_time, ONSET_ATTACK, ONSET_RELEASE),
            low=values.get("low", 0.0), mid=values.get("mid", 0.0), high=values.get("high", 0.0),
            rms=values.get("rms", 0.0), perc=values.get("perc", 0.0), harm=values.get("harm", 0.0),
            beat=beat, bar=beat / clock.beats_per_bar, beat_phase=beat - math.floor(beat), bpm=clock.bpm)

    def _audio_usable(self) -> bool:
        return self.audio is not None and self.audio.status.state == "running"

    # ---- HUD ----------------------------------------------------------------------------------

    def _draw_hud(self, params: FrameParams, clock: TempoClock, state: SongState, record: FrameRecord) -> None:
        if not self.hud.visible:
            return
        status = self.audio.status if self.audio is not None else None
        flags = []
        if self.blackout:
            flags.append("BLACKOUT")
        if self.frozen:
            flags.append("FROZEN")
        if time.monotonic() - self.quit_armed_at <= QUIT_CONFIRM_SECONDS:
            flags.append("press Esc again to quit")
        if status is not None and status.state != "running":
            flags.append(status.message or f"audio {status.state}")
        if not self.worker.ready.is_set():
            flags.append("generator loading…")
        elif self.worker.warming:
            flags.append(f"model loading… ({self.worker.generator_name} meanwhile)")
        if self.worker.error is not None:
            flags.append(f"generator stopped: {self.worker.error}")
        if self.worker.notice:
            flags.append(self.worker.notice)
        hud = HudState(
            fps=self._fps_average, generator_fps=self.worker.fps, bpm=clock.bpm,
            tempo_source=f"{clock.lead.value}" + ("" if clock.locked else ", waiting for beats"),
            beat=record.beat, bar=clock.bar_at(record.music_time), beat_phase=record.beat_phase,
            beats_per_bar=clock.beats_per_bar, cue=params.cue_label, song=state.song.name,
            audio=(f"{status.device} {status.sample_rate} Hz hop {status.hop}" if status and status.device
                   else "no input"),
            audio_state=status.state if status else "off", level_db=status.level_db if status else -120.0,
            onset_flash=1.0 if record.onsets or time.monotonic() < self._flash_until else 0.0,
            upload=getattr(self.handoff, "label", "?"), flags="   ".join(flags),
            dropped=getattr(self.recorder, "dropped", 0) if self.recorder else 0)
        self.hud.update(hud)
        self.ctx.screen.use()
        self.hud.draw(self.window.framebuffer_size)

    # ---- shutdown -----------------------------------------------------------------------------

    def close(self) -> None:
        self.worker.stop()
        if self.recorder is not None:
            self.recorder.close()
            self.recorder = None
        self.hud.release()
        self.compositor.release()


def build_song_states(setlist: Any, *, bpm: float | None = None, tempo_lead: str | None = None,
                      cue_mode: str | None = None) -> list[SongState]:
    """A director and a tempo clock for every song, built before any window opens, so a setlist
    that fails (a bad cue, a bad expression) is reported and nothing is shown."""
    states = []
    for index, song in enumerate(setlist.songs):
        lead = TempoLead.parse(tempo_lead or song.tempo_lead)
        start_bpm = bpm or song.bpm or 120.0
        clock = TempoClock(start_bpm, song.meter, lead, origin=song.downbeat_pin or 0.0,
                           meter_pinned=song.beats_per_bar is not None)
        director = Director(setlist, song, clock, float(setlist.output.fps))
        if cue_mode:
            director.cue_mode = cue_mode
        states.append(SongState(index, song, director, clock, start_bpm, plane_distance(song.camera.depth)))
    return states


__all__ = ["Compositor", "FramePacer", "FrameRecord", "LiveOptions", "LiveShow", "SongState",
           "build_song_states", "ONSET_ATTACK", "ONSET_RELEASE"]
