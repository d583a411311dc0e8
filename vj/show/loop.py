"""The one show loop. Rehearsal, preview and live are three configurations of it:

=========  ====================  =======================  ==================================
mode       clock                 features                 stage → outputs
=========  ====================  =======================  ==================================
rehearse   ``FileClock``         ``TrackFeatures``        inline pipeline → MP4, timeline
preview    ``PacedFileClock``    ``TrackFeatures``        inline pipeline → MP4, window
live       ``DisplayClock``      ``LiveFeatures``         generator thread + compositor →
                                                          window, recording, feedback
=========  ====================  =======================  ==================================

Each frame: tick the clock; drain keys, OSC and MIDI into the one action table; take the
features at the frame's time; the director makes the frame's parameters; the stage renders;
every output takes the picture. Data flows one way; only the action table changes the show.
"""
from __future__ import annotations

import logging
from typing import Any, Protocol, Sequence

from vj.features import Features
from vj.frame_params import FrameParams
from vj.show.actions import ShowActions
from vj.show.clocks import Tick
from vj.show.songs import SongDeck, SongState

log = logging.getLogger(__name__)


class Clock(Protocol):
    def tick(self) -> Tick | None: ...
    def song_time(self, at: float | None = None) -> float: ...
    def restart(self) -> None: ...
    def restarted(self, tick: Tick) -> Tick: ...


class FeatureSource(Protocol):
    def drain(self, song: SongState, tick: Tick, controls: Any) -> None: ...
    def at(self, song: SongState, time: float) -> Features: ...


class Stage(Protocol):
    """Turns a frame's parameters into a picture (a texture of the output size)."""

    def render(self, params: FrameParams, tick: Tick, song: SongState) -> Any: ...
    def reset(self) -> None: ...
    def close(self) -> None: ...


class Output(Protocol):
    """Takes each picture; ``write`` returns False to end the show (a closed preview)."""

    def write(self, picture: Any, params: FrameParams, tick: Tick) -> bool: ...
    def close(self, failed: bool) -> None: ...


class ShowLoop:
    """Runs frames until the clock ends or an action or output stops the show."""

    def __init__(self, clock: Clock, songs: SongDeck, features: FeatureSource, actions: ShowActions,
                 stage: Stage, outputs: Sequence[Output]) -> None:
        self.clock, self.songs, self.features = clock, songs, features
        self.actions, self.stage, self.outputs = actions, stage, list(outputs)
        self.frames = 0
        songs.listeners.append(self._song_changed)

    def run(self) -> int:
        """Play to the end; returns the exit status. Outputs close even when a frame raises."""
        failed = True
        try:
            while (tick := self.clock.tick()) is not None:
                if not self.frame(tick):
                    break
            failed = False
        finally:
            self.close(failed)
        return 0

    def frame(self, tick: Tick) -> bool:
        """One frame; False to stop."""
        playing = self.songs.current
        if not self.actions.drain(tick):
            return False
        song = self.songs.current
        if song is not playing:   # a new song starts at its own time zero, this very frame
            tick = self.clock.restarted(tick)
        controls = self.actions.controls()
        self.features.drain(song, tick, controls)
        features = self.features.at(song, tick.time)
        params = song.director.frame_params(tick.index, tick.time, features, controls)
        song.cross_bar_lines(tick.time)
        picture = self.stage.render(params, tick, song)
        self.frames += 1
        keep_going = [output.write(picture, params, tick) for output in self.outputs]
        return all(keep_going)

    def _song_changed(self, song: SongState) -> None:
        """A new song starts from its beginning: its time, the generator's first frame."""
        self.clock.restart()
        self.stage.reset()

    def close(self, failed: bool = False) -> None:
        """Close the stage, then every output (``failed``: the show ended by an exception)."""
        try:
            self.stage.close()
        finally:
            for output in self.outputs:
                try:
                    output.close(failed)
                except Exception:  # one output failing to close must not lose the others (a recording)
                    if not failed:
                        raise
                    log.exception("closing %s", type(output).__name__)


__all__ = ["Clock", "FeatureSource", "Output", "ShowLoop", "Stage"]
