"""The live tempo leader: where the beats are now and where the next ones will fall.

Live, nobody knows the beat grid in advance. ``TempoClock`` keeps one, in song seconds, from
whichever source the setlist (or the performer) says leads: the audio beat tracker, tap tempo, a
manual BPM or an external clock (MIDI clock, later Link). Hits that belong on the beat are
scheduled on the *predicted* beat so they land on it instead of a detection-delay after it.

It is a ``vj.grid.Grid``, as the analysed ``BeatGrid`` is offline, so the director reads
it the same way and cues at ``bar 17`` advance from it. Tempo changes keep the beat count
continuous: the grid is re-anchored at the moment of the change, never re-scaled from beat 0.
"""
from __future__ import annotations

import enum
import logging
import math
import statistics
from collections import deque

log = logging.getLogger(__name__)


class TempoLead(enum.Enum):
    """Which source moves the grid. The others are ignored (taps still re-phase, see ``tap``)."""

    DETECTED = "detected"      # the live beat tracker
    SETLIST = "setlist"        # the song's BPM, or a BPM set by hand
    TAP = "tap"                # tap tempo
    MIDI_CLOCK = "midi_clock"  # an external beat source calling ``external_beat``
    LINK = "link"              # an Ableton Link session (``vj.audio.link.LinkLead`` calls ``follow``)

    @classmethod
    def parse(cls, text: str) -> "TempoLead":
        try:
            return cls(text)
        except ValueError:
            raise ValueError(f"unknown tempo lead '{text}'; use one of {', '.join(m.value for m in cls)}") from None


class TempoClock:
    """A piecewise-constant-tempo beat grid in song seconds.

    bpm:            starting tempo (the setlist's, or 120).
    beats_per_bar:  beats in a bar (bar lines are where cues on bars and downbeat hits fall).
    lead:           the tempo source.
    origin:         song time of beat 0.
    phase_gain:     share of a detected beat's timing error corrected per beat (0..1): small so
                    one early or late detection doesn't jolt the visuals, large enough to lock in
                    a bar or two.
    tempo_gain:     share of the tracker's BPM difference taken per beat.
    meter_pinned:   the setlist fixes ``beats_per_bar``; otherwise the tracker's meter is taken.
    """

    #: Taps further apart than this (seconds) start a new tap sequence.
    TAP_RESET = 2.0
    #: Detected BPM this far off (fraction) is taken at once rather than glided to.
    SNAP_RATIO = 0.08

    def __init__(self, bpm: float = 120.0, beats_per_bar: int = 4, lead: TempoLead = TempoLead.DETECTED,
                 origin: float = 0.0, phase_gain: float = 0.25, tempo_gain: float = 0.2,
                 meter_pinned: bool = False) -> None:
        if not (bpm > 0 and math.isfinite(bpm)):
            raise ValueError(f"bpm must be positive, got {bpm}")
        self.beats_per_bar = beats_per_bar
        self.meter_pinned = meter_pinned
        self._bar_votes: tuple[int, int, int] | None = None  # (meter, beat shift, beats agreeing)
        self.lead = lead
        self.phase_gain = phase_gain
        self.tempo_gain = tempo_gain
        self._bpm = float(bpm)
        self._origin = float(origin)  # song time of (virtual) beat 0 in the current tempo segment
        self._taps: deque[float] = deque(maxlen=8)
        self.locked = lead is not TempoLead.DETECTED  # detected tempo: not until the tracker speaks

    # ---- the Grid protocol (read by the director) -----------------------------------------

    @property
    def bpm(self) -> float:
        return self._bpm

    @property
    def seconds_per_beat(self) -> float:
        return 60.0 / self._bpm

    def time_of_beat(self, beat: float) -> float:
        return self._origin + beat * self.seconds_per_beat

    def beat_at(self, time: float) -> float:
        return (time - self._origin) / self.seconds_per_beat

    def bar_at(self, time: float) -> float:
        return self.beat_at(time) / self.beats_per_bar

    def beat_phase(self, time: float) -> float:
        beat = self.beat_at(time)
        return beat - math.floor(beat)

    def next_beat_after(self, time: float) -> float:
        """Predicted time of the first beat strictly after ``time``."""
        return self.time_of_beat(math.floor(self.beat_at(time) + 1e-9) + 1)

    def next_downbeat_after(self, time: float) -> float:
        bar = math.floor(self.bar_at(time) + 1e-9) + 1
        return self.time_of_beat(bar * self.beats_per_bar)

    def nearest_beat(self, time: float) -> tuple[int, float]:
        """(beat number, its time) closest to ``time``."""
        beat = round(self.beat_at(time))
        return beat, self.time_of_beat(beat)

    # ---- sources ----------------------------------------------------------------------------

    def _retempo(self, bpm: float, at: float) -> None:
        """Change tempo keeping the beat position at ``at`` where it was."""
        beat = self.beat_at(at)
        self._bpm = float(bpm)
        self._origin = at - beat * self.seconds_per_beat

    def _shift(self, seconds: float) -> None:
        self._origin += seconds

    def set_bpm(self, bpm: float, at: float) -> None:
        """A manual tempo (keyboard, OSC, MIDI); the phase stays. Leads when the lead is SETLIST."""
        if not (20.0 <= bpm <= 400.0):
            log.warning("ignoring a BPM of %s (outside 20..400)", bpm)
            return
        self._retempo(bpm, at)
        self.locked = True

    def observe_beat(self, time: float, bpm: float | None = None, position: int = 0,
                     beats_per_bar: int | None = None) -> None:
        """The beat tracker placed a beat at ``time`` (song seconds), with its tempo estimate and,
        when it knows them, the beat's place in the bar (1 = downbeat) and the meter. Bar lines
        follow the tracker once a bar's worth of beats in a row agree on where they are (the live
        tracker's bar numbering wavers more than its beats; a stray reading never moves a bar line)."""
        if self.lead is not TempoLead.DETECTED:
            return
        if bpm and 20.0 <= bpm <= 400.0:
            if not self.locked or abs(bpm - self._bpm) / self._bpm > self.SNAP_RATIO:
                self._retempo(bpm, time)
            else:
                self._retempo(self._bpm + self.tempo_gain * (bpm - self._bpm), time)
        beat, expected = self.nearest_beat(time)
        error = time - expected
        if not self.locked:
            self._shift(error)  # first beat: take its phase outright
        else:
            self._shift(self.phase_gain * error)
        self.locked = True
        if position:
            self._follow_bar(time, position, beats_per_bar)

    def _follow_bar(self, time: float, position: int, beats_per_bar: int | None) -> None:
        meter = self.beats_per_bar if self.meter_pinned or not beats_per_bar else int(beats_per_bar)
        if position > meter:
            return
        beat, _ = self.nearest_beat(time)
        shift = (beat - (position - 1)) % meter if meter == self.beats_per_bar else None
        if meter == self.beats_per_bar and shift == 0:
            self._bar_votes = None
            return
        key = (meter, -1 if shift is None else shift)
        votes = self._bar_votes[2] + 1 if self._bar_votes and self._bar_votes[:2] == key else 1
        self._bar_votes = (*key, votes)
        if votes < max(2, meter):
            return
        if meter != self.beats_per_bar:
            log.info("live meter: %d beats a bar (was %d)", meter, self.beats_per_bar)
            self.beats_per_bar = meter
        beat, _ = self.nearest_beat(time)
        ahead = ((position - 1) - beat) % meter
        # Beat numbers move on by whole beats, never back: no jump in phase, and schedules keyed
        # in beats never run backwards.
        self._shift(-ahead * self.seconds_per_beat)
        self._bar_votes = None

    def tap(self, time: float) -> float | None:
        """A tap on a beat at ``time``. Two or more taps set the tempo (median interval) when taps
        lead; any tap re-phases the grid so the nearest beat is the tap. Returns the tapped BPM."""
        if self._taps and time - self._taps[-1] > self.TAP_RESET:
            self._taps.clear()
        self._taps.append(time)
        bpm = None
        if len(self._taps) >= 2:
            intervals = [b - a for a, b in zip(self._taps, list(self._taps)[1:])]
            interval = statistics.median(intervals)
            if interval > 0:
                bpm = 60.0 / interval
        if bpm and self.lead is TempoLead.TAP and 20.0 <= bpm <= 400.0:
            self._retempo(bpm, time)
            self.locked = True
        beat, expected = self.nearest_beat(time)
        self._shift(time - expected)
        return bpm

    def external_beat(self, time: float, bpm: float | None = None) -> None:
        """A beat from an external clock (MIDI clock quarter note); leads when the lead is MIDI_CLOCK."""
        if self.lead is not TempoLead.MIDI_CLOCK:
            return
        if bpm and 20.0 <= bpm <= 400.0:
            self._retempo(bpm, time)
        beat, expected = self.nearest_beat(time)
        self._shift(time - expected)
        self.locked = True

    def follow(self, time: float, beat: float, bpm: float, quantum: float | None = None) -> None:
        """An external timeline (Ableton Link) is at ``beat`` at song time ``time``, at ``bpm``; leads
        when the lead is LINK. The tempo is taken outright and the grid placed so that bar lines fall
        where that timeline's ``quantum`` (the bar: ``beats_per_bar`` unless given) starts. Beat
        numbers stay this clock's own and move on: a small step back (under a quarter beat: drift,
        jitter) is followed as it is, a bigger one is made forward to the same place in the bar."""
        if self.lead is not TempoLead.LINK:
            return
        if not (math.isfinite(time) and math.isfinite(beat) and math.isfinite(bpm)):
            return
        bpm = min(max(float(bpm), 20.0), 400.0)
        quantum = float(quantum or self.beats_per_bar)
        mine = self.beat_at(time)
        ahead = (beat - mine) % quantum
        if ahead > quantum - 0.25:
            ahead -= quantum
        self._bpm = bpm
        self._origin = time - (mine + ahead) * self.seconds_per_beat
        self.locked = True

    def resync(self, time: float) -> None:
        """Make ``time`` a downbeat (the nearest bar line moves to it), as Resolume's Resync does."""
        bar = round(self.bar_at(time))
        self._shift(time - self.time_of_beat(bar * self.beats_per_bar))


__all__ = ["TempoClock", "TempoLead"]
