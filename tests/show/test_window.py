"""The live window under Xvfb (GLFW on Mesa): screenshots read back from the window's framebuffer."""
from __future__ import annotations

import math
import time
from collections import deque

import numpy as np
import pytest

from vj.audio.live import AudioStatus, LiveHop
from vj.render.frame import Frame
from vj.generators.base import Generator, GeneratorContext
from vj.show.clocks import FramePacer
from vj.show.live import LiveOptions, LiveShow, build_song_states
from vj.render.window import Action, OutputWindow, WindowError, find_monitor, init_glfw, letterbox, list_monitors
from vj.setlist.models import load_setlist

SETLIST = """\
title: window test
output: {width: 128, height: 96, fps: 24}
model: procedural
songs:
  - name: still
    bpm: 120
    tempo_lead: setlist
    camera: {zoom: 1.0}
    reactivity:
      - {source: onset, target: brightness, amount: 2.0, attack: 0.0, release: 5.0}
  - name: other
    bpm: 90
"""


class PatternGenerator(Generator):
    """A still test card (a colour gradient) that ignores time: only the camera, post and onsets
    can change what the window shows."""

    name = "pattern"

    def prepare(self, context: GeneratorContext) -> None:
        self._context = context
        y, x = np.mgrid[0:context.height, 0:context.width].astype(np.float32)
        image = np.stack([x / context.width, y / context.height, np.full_like(x, 0.3)], axis=2) * 0.4
        self._frame = Frame(array=image)
        self._texture = self._frame.to_texture(context.gl)

    def first_frame(self, params):
        return Frame(texture=self._texture)

    def step(self, previous, params):
        return Frame(texture=self._texture)


class FakeAudio:
    """Stands in for LiveAudio: the test pushes onsets into ``events``."""

    def __init__(self) -> None:
        self.events: deque = deque()
        self.latest = None
        self.status = AudioStatus(state="running", device="fake", sample_rate=44100)

    def onset(self, when: float) -> None:
        self.events.append(LiveHop(time=when, is_onset=True, onset_time=when, onset_strength=1.0, is_beat=False,
                                   beat_time=math.nan, bpm=0.0, features={}, level_db=-10.0,
                                   published=time.monotonic(), arrived=when))


def test_letterbox_keeps_the_aspect():
    assert letterbox((200, 100), (100, 100)) == (50, 0, 100, 100)
    assert letterbox((100, 200), (100, 50)) == (0, 75, 100, 50)


def test_pacer_predicts_swaps_on_the_refresh_grid():
    pacer = FramePacer(60.0)
    pacer.last_swap = 10.0
    assert pacer.predict(10.001) == pytest.approx(10.0 + 1 / 60)
    assert pacer.predict(10.0 + 1 / 60 + 0.001) == pytest.approx(10.0 + 2 / 60)


@pytest.mark.parametrize("upload", ["shared", "host"])
def test_window_shows_the_picture_reacts_to_an_onset_and_blacks_out(xvfb_display, tmp_path, upload):
    path = tmp_path / "set.yaml"
    path.write_text(SETLIST)
    setlist = load_setlist(path)
    states = build_song_states(setlist)
    audio = FakeAudio()
    window = OutputWindow("vj test", (320, 240), None)
    shots: dict[str, np.ndarray] = {}
    stage = {"name": "wait", "at": 0}

    def on_frame(show: LiveShow, record) -> None:
        name = stage["name"]
        if name == "wait" and show.showing:
            stage.update(name="before", at=record.index + 3)
        elif name == "before" and record.index >= stage["at"]:
            shots["before"] = window.screenshot()
            audio.onset(time.monotonic() - 0.02)
            stage.update(name="onset", at=record.index + 3)
        elif name == "onset" and record.index >= stage["at"]:
            shots["onset"] = window.screenshot()
            window.inject(Action.BLACKOUT)
            stage.update(name="blackout", at=record.index + 2)
        elif name == "blackout" and record.index >= stage["at"]:
            shots["blackout"] = window.screenshot()
            window.inject(Action.QUIT)
            window.inject(Action.QUIT)  # the second press confirms
            stage["name"] = "quit"

    try:
        show = LiveShow(setlist, states, window, audio=audio, make_generator=PatternGenerator,
                        options=LiveOptions(quit_after=20.0, display_rate=60.0, upload=upload))
        assert show.handoff.label.startswith({"shared": "shared GL texture", "host": "host upload"}[upload])
        show.on_frame = on_frame
        started = time.monotonic()
        assert show.run() == 0
        assert time.monotonic() - started < 19.0, "the double quit did not end the show"
    finally:
        window.close()
    before, onset, black = shots["before"], shots["onset"], shots["blackout"]
    assert before.shape == (240, 320, 3)
    picture = before[30:210, 40:280]  # inside the letterbox (128x96 → 320x240 fills it exactly)
    assert picture.std() > 5 and picture.max() > 30, "blank picture"
    assert onset.mean() > before.mean() * 1.5, (before.mean(), onset.mean())
    assert black.max() == 0


def test_an_unknown_monitor_lists_the_available_ones(xvfb_display):
    init_glfw()
    try:
        monitors = list_monitors()
        assert monitors, "Xvfb has one screen"
        assert find_monitor("0", monitors) == monitors[0]
        with pytest.raises(WindowError) as info:
            find_monitor("projector-9000", monitors)
        assert "available monitors" in str(info.value) and monitors[0].name in str(info.value)
        with pytest.raises(WindowError):
            find_monitor("7", monitors)
    finally:
        import glfw

        glfw.terminate()



def test_control_store_actions_drive_the_show(xvfb_display, tmp_path):
    from vj.control.params import ControlEvent, ParamStore

    path = tmp_path / "set.yaml"
    path.write_text(SETLIST)
    setlist = load_setlist(path)
    store = ParamStore()
    window = OutputWindow("vj test", (160, 120), None)
    seen = {}

    def on_frame(show: LiveShow, record) -> None:
        if show.showing and "lit" not in seen:
            seen["lit"] = window.screenshot().max()
            store.set("blackout", True, source="osc")
            store.actions.put(ControlEvent("next_song", source="midi"))
        elif "lit" in seen and "dark" not in seen and record.blackout:
            seen["dark"] = window.screenshot().max()
            seen["song"] = show.song.song.name
            window.inject(Action.QUIT)
            window.inject(Action.QUIT)

    try:
        show = LiveShow(setlist, build_song_states(setlist), window, audio=None, make_generator=PatternGenerator,
                        options=LiveOptions(quit_after=15.0, display_rate=60.0), controls=store)
        show.on_frame = on_frame
        show.run()
    finally:
        window.close()
    assert seen["lit"] > 0 and seen["dark"] == 0
    assert seen["song"] == "other"


def test_the_picture_survives_a_resize_letterboxed(xvfb_display, tmp_path):
    import glfw

    path = tmp_path / "set.yaml"
    path.write_text(SETLIST)
    setlist = load_setlist(path)
    window = OutputWindow("vj test", (320, 240), None)
    shots = []

    def on_frame(show: LiveShow, record) -> None:
        if show.showing and not shots:
            glfw.set_window_size(window.handle, 200, 300)
            shots.append(None)
        elif shots and window.framebuffer_size == (200, 300) and len(shots) < 3:
            shots.append(window.screenshot())
        elif len(shots) == 3:
            window.inject(Action.QUIT)
            window.inject(Action.QUIT)

    try:
        show = LiveShow(setlist, build_song_states(setlist), window, audio=None, make_generator=PatternGenerator,
                        options=LiveOptions(quit_after=15.0, display_rate=60.0))
        show.on_frame = on_frame
        show.run()
    finally:
        window.close()
    shot = shots[-1]
    assert shot.shape == (300, 200, 3)
    # 128x96 into 200x300: a 200x150 picture with black bars above and below.
    assert shot[:70].max() == 0 and shot[-70:].max() == 0
    assert shot[80:220].std() > 5
