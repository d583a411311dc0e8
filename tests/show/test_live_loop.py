"""The live show loop with a fake clock and no window: a headless (EGL) display stands in for the
projector, the generator thread is real, and time moves only when the test says so."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from rig import run_live

from vj.audio.offline import analyse_track
from vj.features import ONSET_RELEASE
from vj.generators.procedural import ProceduralGenerator
from vj.render.window import Action
from vj.setlist.models import load_setlist
from vj.show.live import build_song_states
from vj.show.songs import SongDeck
from vj.show.sources import LiveFeatures, TrackFeatures

REPO = Path(__file__).resolve().parents[2]
FPS = 60.0

SETLIST = """\
title: loop test
output: {width: 96, height: 64, fps: 24}
model: procedural
songs:
  - name: first
    audio: demo-track.ogg
    bpm: 120
    tempo_lead: setlist
    camera: {zoom: "1 + 0.01*t/max_f"}
  - name: second
    bpm: 90
    tempo_lead: setlist
"""


class CountingGenerator(ProceduralGenerator):
    """The procedural generator, counting the resets it is given."""

    resets = 0

    def reset(self) -> None:
        CountingGenerator.resets += 1


@pytest.fixture
def setlist(tmp_path):
    shutil.copy(REPO / "setlists" / "demo-track.ogg", tmp_path / "demo-track.ogg")
    path = tmp_path / "set.yaml"
    path.write_text(SETLIST)
    return load_setlist(path)


def run_show(setlist, script):
    """Play on a fake clock, one display period per frame (``rig.run_live``), with the counting generator."""
    return run_live(setlist, script, fps=FPS, make_generator=CountingGenerator)


def test_the_live_loop_runs_on_a_fake_clock_and_keys_go_through_the_action_table(setlist):
    seen: dict = {}

    def script(show, record, display):
        if "lit" not in seen and show.showing and record.index > 5:
            seen["lit"] = display.screenshot().max()
            seen["lit_at"] = record.index
            display.inject(Action.BLACKOUT)          # through the router: the store's blackout switch
        elif "lit" in seen and "dark" not in seen and record.index >= seen["lit_at"] + 2:
            seen["dark"] = display.screenshot().max()
            seen["store_blackout"] = show.store.value("blackout")
            seen["quit_once_at"] = record.index
            display.inject(Action.QUIT)              # one press asks; the show goes on
        elif "quit_once_at" in seen and record.index == seen["quit_once_at"] + 3:
            seen["went_on"] = True                   # three frames after one press: still playing
            display.inject(Action.QUIT)              # a second press within 2 s confirms

    show, in_time = run_show(setlist, script)
    assert in_time, "the picture never came or the double quit did not end the show"
    assert seen["lit"] > 0 and seen["dark"] == 0 and seen["store_blackout"] is True
    assert seen["went_on"]
    frames = list(show.frame_log)
    times = [r.music_time for r in frames]
    assert all(b >= a for a, b in zip(times, times[1:])), "song time ran backwards"
    # the song time follows the fake clock: one display period a frame
    steps = np.diff(times[5:])
    assert np.allclose(steps, 1.0 / FPS, atol=1e-6)


def test_max_f_is_the_song_length_live_as_in_rehearsal(setlist):
    states = build_song_states(setlist)
    duration = analyse_track(setlist.audio_path(setlist.songs[0])).duration
    assert states[0].director.max_frames == int(round(duration * 24)) > 1
    params = states[0].director.frame_params(0, duration / 2, TrackFeatures(analyse_track(
        setlist.audio_path(setlist.songs[0]))).at(states[0], duration / 2))
    assert params.camera.zoom == pytest.approx(1 + 0.01 * (duration / 2 * 24) / states[0].director.max_frames, rel=1e-3)


def test_live_and_rehearsal_shape_an_onset_alike(setlist):
    """The same onsets give the same ``onset`` feature from both sources: one envelope."""
    analysis = analyse_track(setlist.audio_path(setlist.songs[0]))
    live_song = build_song_states(setlist)[0]
    for t, s in zip(analysis.onset_times, analysis.onset_strengths):
        live_song.director.notify_onset(float(t), float(s))
    live, offline = LiveFeatures(None, None, time.monotonic), TrackFeatures(analysis)
    probes = [float(t) + dt for t in analysis.onset_times[:20] for dt in (0.0, 0.005, 0.05, ONSET_RELEASE, 0.6)]
    for t in probes:
        assert live.at(live_song, t).onset == pytest.approx(offline.at(live_song, t).onset, abs=1e-12), t


def test_a_new_song_starts_the_generator_again_and_has_its_own_clock(setlist):
    CountingGenerator.resets = 0
    seen: dict = {}

    def script(show, record, display):
        if "switched" not in seen and show.showing and record.index > 3:
            seen["switched"] = record.index
            show.store.trigger("next_song", source="osc")
        elif "switched" in seen and "song" not in seen and show.song.song.name == "second":
            seen["song"] = show.song.song.name
            seen["time"] = record.music_time
        elif "song" in seen and CountingGenerator.resets and "quit" not in seen:
            seen["quit"] = True
            display.inject(Action.QUIT)
            display.inject(Action.QUIT)

    show, in_time = run_show(setlist, script)
    assert in_time and seen["song"] == "second"
    assert 0.0 <= seen["time"] < 0.1   # the second song's time starts from its beginning, at once
    assert CountingGenerator.resets >= 1


def test_song_deck_without_a_remake_is_one_song(setlist):
    states = build_song_states(setlist)
    deck = SongDeck(states)
    deck.select(1)
    assert deck.current is states[0] and not deck.switchable
