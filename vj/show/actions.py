"""The one action table: keys, OSC, MIDI (and any later controller) all end here.

Keys go through the router like a controller's messages do (``ControlRouter.key``), so every
action arrives as a ``ControlEvent`` in the parameter store's queue and is applied in one place,
at the start of a frame, on the render thread. On/off state (blackout, freeze, HUD) lives in the
store as parameters, so every controller's feedback shows it whoever switched it.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Callable, Iterable

from vj.control.params import ControlEvent, ParamStore
from vj.control.router import ControlRouter
from vj.show.clocks import Tick
from vj.show.songs import SongDeck

log = logging.getLogger(__name__)

#: Seconds within which a second quit key confirms the first (live).
QUIT_CONFIRM_SECONDS = 2.0
#: Parameters that are on/off switches of the show: a trigger without a value toggles them.
SWITCHES = ("blackout", "freeze", "hud")


class ShowActions:
    """Drains the store's action queue each frame and applies each action.

    keys:          where key presses come from (the window's ``poll``), or None.
    pollers:       inputs read at the start of each frame's drain (they write to the store).
    confirm_quit:  live asks for a second quit key within ``QUIT_CONFIRM_SECONDS``; a preview
                   stops at the first. Only keys (and the window's close button) may quit.
    """

    def __init__(self, songs: SongDeck, clock: Any, store: ParamStore | None = None, *,
                 keys: Callable[[], Iterable[Any]] | None = None, confirm_quit: bool = True,
                 pollers: Iterable[Callable[[Tick], None]] = ()) -> None:
        self.songs, self.clock = songs, clock
        self.pollers = list(pollers)
        self.store = store
        self.router = ControlRouter(store) if store is not None else None
        self.keys = keys
        self.confirm_quit = confirm_quit
        self.quit_armed_at = -math.inf
        self.table: dict[str, Callable[[Any, float, float], bool | None]] = {
            "quit": self._quit,
            "next_cue": lambda value, at, now: self._director.next_cue(at),
            "previous_cue": lambda value, at, now: self._director.previous_cue(at),
            "cue": self._cue,
            "arm_downbeat": lambda value, at, now: self._arm(at, "downbeat"),
            "arm_onset": lambda value, at, now: self._arm(at, "onset"),
            "next_song": lambda value, at, now: self._step_song(1),
            "previous_song": lambda value, at, now: self._step_song(-1),
            "song": lambda value, at, now: value is not None and self.songs.select_by(value),
            "tap": self._tap,
            "resync": lambda value, at, now: self._tempo("resync", at),
            "bpm_up": lambda value, at, now: self._nudge_bpm(1.0, at),
            "bpm_down": lambda value, at, now: self._nudge_bpm(-1.0, at),
            "bpm": lambda value, at, now: value is not None and self._tempo("set_bpm", float(value), at),
            "midi_clock_beat": lambda value, at, now: self._tempo("external_beat", at, float(value) if value else None),
            "midi_clock_start": lambda value, at, now: self._tempo("resync", at),
            **{name: self._switch(name) for name in SWITCHES},
        }

    @property
    def _director(self) -> Any:
        return self.songs.current.director

    # ---- per frame -----------------------------------------------------------------------------

    def drain(self, tick: Tick) -> bool:
        """Apply the keys and controller actions that came since the last frame; False: quit.
        ``pollers`` run first (inputs read once a frame, such as a Link session or a leader to
        follow), so what they queue is applied in this same frame."""
        for poll in self.pollers:
            poll(tick)
        for key in self.keys() if self.keys is not None else ():
            name = str(getattr(key, "value", key))
            if name == "quit" or self.router is None:
                if not self.apply(ControlEvent(name, None, "key", tick.started), tick):
                    return False
            else:
                self.router.key(name)
        while self.store is not None:
            events = self.store.actions.drain()
            if not events:
                break
            for event in events:
                if not self.apply(event, tick):
                    return False
        return True

    def apply(self, event: ControlEvent, tick: Tick) -> bool:
        """One action; False means quit. Unknown names are ignored (e.g. MIDI clock Stop: the
        tempo clock free-runs until beats come)."""
        handler = self.table.get(event.name)
        if handler is None:
            return True
        at = self.clock.song_time(event.time or tick.started)
        return handler(event.value, at, event.time or tick.started) is not False

    def controls(self) -> dict[str, Any]:
        """This frame's control values for the director (empty without a store: a plain rehearsal)."""
        return dict(self.store.snapshot()) if self.store is not None else {}

    # ---- the handlers --------------------------------------------------------------------------

    def _quit(self, value: Any, at: float, now: float) -> bool:
        if value is not None:   # a controller never quits a show
            return True
        if not self.confirm_quit:
            log.info("preview closed: keeping the frames rendered so far")
            return False
        if now - self.quit_armed_at <= QUIT_CONFIRM_SECONDS:
            log.info("quit confirmed")
            return False
        self.quit_armed_at = now
        log.warning("press Esc (or Q) again to quit")
        return True

    def quit_pending(self, now: float) -> bool:
        return now - self.quit_armed_at <= QUIT_CONFIRM_SECONDS

    def _cue(self, value: Any, at: float, now: float) -> None:
        if value is not None:   # cue N: at once (armed, then the downbeat is now)
            self._director.arm_cue(int(value), on="downbeat")
            self._director.notify_downbeat(at)

    def _arm(self, at: float, on: str) -> None:
        self._director.arm_cue(self._director.cue_index_at(at) + 1, on=on)

    def _step_song(self, step: int) -> None:
        deck = self.songs
        deck.select((deck.current.index + step) % len(deck.songs))

    def _tempo(self, method: str, *args: Any) -> None:
        """Tempo actions move a live tempo clock; a rehearsal's grid comes from the analysis."""
        action = getattr(self.songs.current.clock, method, None)
        if action is not None:
            action(*args)

    def _tap(self, value: Any, at: float, now: float) -> None:
        clock = self.songs.current.clock
        bpm = clock.tap(at) if hasattr(clock, "tap") else None
        if bpm:
            log.info("tap tempo %.1f BPM", bpm)

    def _nudge_bpm(self, step: float, at: float) -> None:
        clock = self.songs.current.clock
        if hasattr(clock, "set_bpm"):
            clock.set_bpm(clock.bpm + step, at)

    def _switch(self, name: str) -> Callable[[Any, float, float], None]:
        def switch(value: Any, at: float, now: float) -> None:
            # A value was written to the store already (that write queued this); no value: toggle.
            if value is None and self.store is not None and name in self.store:
                self.store.toggle(name, source="engine")
        return switch


__all__ = ["QUIT_CONFIRM_SECONDS", "SWITCHES", "ShowActions"]
