"""The songs a show plays: each with its director and its beat grid, built before anything opens,
so a setlist that fails (a bad cue, a bad expression) is reported and nothing is shown."""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Callable

from vj.audio.clock import TempoClock, TempoLead
from vj.audio.decode import audio_duration
from vj.camera.motion3d import DEFAULT_PLANE_DISTANCE
from vj.setlist.depth_spec import plane_distance
from vj.director.director import Director

log = logging.getLogger(__name__)


@dataclass
class SongState:
    """A song ready to play. ``clock`` is its beat grid: the analysis's ``BeatGrid`` in rehearsal,
    a ``TempoClock`` live (taps, detected beats, MIDI clock move it)."""

    index: int
    song: Any
    director: Director
    clock: Any
    start_bpm: float = 120.0
    plane_distance: float = DEFAULT_PLANE_DISTANCE   # 3D motion at display rate is re-applied on this plane
    duration: float | None = None
    _previous_bar: float = -math.inf

    def cross_bar_lines(self, time: float) -> None:
        """Tell the director when a bar line passes (a cue armed for the downbeat fires on it)."""
        clock = self.clock
        bar = math.floor(clock.bar_at(time) + 1e-9)
        if bar > self._previous_bar > -math.inf:
            self.director.notify_downbeat(clock.time_of_beat(bar * clock.beats_per_bar))
        self._previous_bar = bar


def live_song_states(setlist: Any, *, bpm: float | None = None, tempo_lead: str | None = None,
                     cue_mode: str | None = None) -> list[SongState]:
    """A director and a tempo clock for every song of the setlist, for ``vj live``. Each director
    knows its song's length (from the audio file's header, where it has one), so ``max_f`` is
    the same live as in rehearsal."""
    return [live_song(setlist, index, bpm=bpm, tempo_lead=tempo_lead, cue_mode=cue_mode)
            for index in range(len(setlist.songs))]


def live_song(setlist: Any, index: int, *, bpm: float | None = None, tempo_lead: str | None = None,
              cue_mode: str | None = None, lead: TempoLead | None = None) -> SongState:
    """Song ``index`` from its beginning: a fresh tempo clock (its own BPM until beats or taps
    come) and a fresh director (which wants time in order)."""
    song = setlist.songs[index]
    lead = lead or TempoLead.parse(tempo_lead or song.tempo_lead)
    start_bpm = bpm or song.bpm or 120.0
    clock = TempoClock(start_bpm, song.meter, lead, origin=song.downbeat_pin or 0.0,
                       meter_pinned=song.beats_per_bar is not None)
    audio = setlist.audio_path(song)
    duration = audio_duration(audio) if audio is not None and audio.is_file() else None
    director = Director(setlist, song, clock, float(setlist.output.fps), duration=duration)
    if cue_mode:
        director.cue_mode = cue_mode
    return SongState(index, song, director, clock, start_bpm, plane_distance(song.camera.depth), duration)


class SongDeck:
    """The song playing now, and the switch to another (live only: a rehearsal is one song).
    ``listeners`` hear each switch (the generator restarts, the controls load the song's set-up)."""

    def __init__(self, songs: list[SongState], start: int = 0, *,
                 remake: Callable[[SongState], SongState] | None = None) -> None:
        self.songs = songs
        self.current = songs[start]
        self._remake = remake
        self.listeners: list[Callable[[SongState], None]] = []

    @property
    def switchable(self) -> bool:
        return self._remake is not None

    def select(self, index: int) -> None:
        if self._remake is None:
            return
        old = self.songs[index]
        fresh = self._remake(old)
        self.songs[index] = self.current = fresh
        log.info("song: %s", fresh.song.name)
        for listener in self.listeners:
            listener(fresh)

    def select_by(self, value: Any) -> None:
        """A song by name or index (OSC ``/vj/song``)."""
        for state in self.songs:
            if str(value) == state.song.name or (str(value).isdigit() and int(value) == state.index):
                self.select(state.index)
                return
        log.warning("no song '%s' in the setlist", value)


__all__ = ["SongDeck", "SongState", "live_song", "live_song_states"]
