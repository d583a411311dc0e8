"""Where a frame's audio features come from: the whole-track analysis (rehearsal) or the live
analysis thread. Both give ``Features`` for a song time, and both shape ``onset`` with the one
envelope (``vj.features.impulse_envelope``, ``ONSET_ATTACK``/``ONSET_RELEASE``), so an
expression pulses the same at the gig as in its rehearsal."""
from __future__ import annotations

import math
from typing import Any, Mapping

from vj.audio.offline import TrackAnalysis
from vj.features import Features, impulse_envelope
from vj.show.clocks import Tick
from vj.show.songs import SongState


class TrackFeatures:
    """Rehearsal: the analysis at t, beat and bar from the song's (pinned) grid."""

    def __init__(self, analysis: TrackAnalysis) -> None:
        self.analysis = analysis

    def drain(self, song: SongState, tick: Tick, controls: Mapping[str, Any]) -> None:
        """Nothing arrives offline: every onset is in the analysis already."""

    def at(self, song: SongState, time: float) -> Features:
        return self.analysis.features_at(time, song.director.grid)


class LiveFeatures:
    """Live: onsets and beats from the analysis thread's event queue, band values from its latest
    hop, beat and bar from the song's tempo clock.

    Onsets go to the director shifted by the latency offset like the frame times are, so an
    onset's envelope is as young at the swap as it really is (it cannot be shown earlier than
    detected); beats go to the tempo clock as they are (its grid is then read ``offset`` early)."""

    def __init__(self, audio: Any | None, clock: Any, now: Any) -> None:
        self.audio, self.clock, self.now = audio, clock, now
        self.onsets: list[Any] = []       # the onset hops first included in this frame
        self.drained_at = 0.0
        self.flash_until = 0.0
        self._peak = 1e-6

    def drain(self, song: SongState, tick: Tick, controls: Mapping[str, Any]) -> None:
        self.onsets = []
        audio = self.audio
        if audio is None:
            self.drained_at = self.now()
            return
        for name in ("input_gain", "onset_threshold"):
            if name in controls:
                setattr(audio, name, float(controls[name]))
        while True:
            try:
                hop = audio.events.popleft()
            except IndexError:
                break
            if hop.is_onset:
                self._peak = max(hop.onset_strength, self._peak * 0.98)
                strength = min(max(hop.onset_strength / self._peak, 0.25), 1.0)
                song.director.notify_onset(self.clock.song_time(hop.onset_time) + self.clock.current_offset, strength)
                self.flash_until = self.now() + 0.08
                self.onsets.append(hop)
            if hop.is_beat:
                song.clock.observe_beat(self.clock.song_time(hop.beat_time), hop.bpm or None,
                                        position=hop.beat_position, beats_per_bar=hop.beats_per_bar)
        self.drained_at = self.now()

    def at(self, song: SongState, time: float) -> Features:
        audio = self.audio
        hop = audio.latest if audio is not None else None
        values = hop.features if hop is not None and audio.status.state == "running" else {}
        clock, onsets = song.clock, song.director.onsets
        beat = clock.beat_at(time)
        return Features(
            onset=impulse_envelope(onsets.times, onsets.strengths, time),
            low=values.get("low", 0.0), mid=values.get("mid", 0.0), high=values.get("high", 0.0),
            rms=values.get("rms", 0.0), perc=values.get("perc", 0.0), harm=values.get("harm", 0.0),
            beat=beat, bar=beat / clock.beats_per_bar, beat_phase=beat - math.floor(beat), bpm=clock.bpm)


__all__ = ["LiveFeatures", "TrackFeatures"]
