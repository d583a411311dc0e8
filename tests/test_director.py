"""The director: cues, transitions, prompt sequences, reactivity and live cue control."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from vj.grid import BeatGrid
from vj.director.director import Director, OnsetLog
from vj.errors import SetlistError
from vj.setlist.expressions import variable_names
from vj.features import Features
from vj.setlist.models import load_setlist

SET = """\
styles:
  calm: {prefix: "calm ", strength: 0.4, seed: 1}
  loud: {prefix: "loud ", strength: "0:(0.8)", seed: 2, post: {brightness: 2.0}}
songs:
  - name: one
    audio: one.wav
    style: calm
    prompt: intro
    camera:
      zoom: "0:(1.0), 2s:(1.1)"
      angle: "0:(2*sin(beat*pi/2))"
    reactivity:
      - {name: kick, source: onset, target: zoom, amount: 0.1, attack: 0.0, release: 0.1}
    cues:
      - {at: 2.0, style: loud, prompt: drop, transition: 1.0}
      - {at: bar 3, snap: downbeat, sequence: [a, b, c], advance: 2 onsets, transition: 0}
      - {at: bar 5, sequence: [x, y], advance: 1 bar, transition: 0}
"""

GRID = BeatGrid(bpm=120.0, offset=0.0, beats_per_bar=4)   # a beat every 0.5 s, a bar every 2 s
FPS = 10.0


def make(tmp_path: Path, text: str = SET, onsets: list[float] | None = None, duration: float = 20.0) -> Director:
    path = tmp_path / "set.yaml"
    path.write_text(text)
    setlist = load_setlist(path)
    log = OnsetLog(list(onsets or []), [1.0] * len(onsets or []))
    return Director(setlist, setlist.songs[0], GRID, FPS, duration=duration, onsets=log)


def run(director: Director, until: float, features: Features = Features()) -> dict[float, object]:
    out = {}
    frames = int(round(until * FPS))
    for i in range(frames + 1):
        t = i / FPS
        out[round(t, 3)] = director.frame_params(i, t, features)
    return out


def texts(conditioning) -> str:
    return conditioning.prompt[0][0]


def test_environment_holds_every_variable_with_the_clock_from_the_grid(tmp_path: Path) -> None:
    director = make(tmp_path)
    env = director.environment(30, 3.0, Features(onset=0.7, low=0.2, beat=99.0, bpm=77.0))
    assert set(env) == set(variable_names())
    assert env["frame"] == env["t"] == 30.0 and env["sec"] == 3.0 and env["fps"] == FPS
    assert env["max_f"] == 20.0 * FPS - 1
    assert env["beat"] == pytest.approx(6.0) and env["bar"] == pytest.approx(1.5)   # the grid's, not the features'
    assert env["beat_phase"] == pytest.approx(0.0) and env["bpm"] == 120.0
    assert env["onset"] == 0.7 and env["low"] == 0.2 and env["perc"] == 0.0


def test_cue_transition_blends_prompt_style_and_numbers(tmp_path: Path) -> None:
    frames = run(make(tmp_path), 3.5)
    assert texts(frames[1.0].conditioning_to) == "calm intro"
    assert frames[1.0].strength == pytest.approx(0.4)
    at = frames[2.5]  # halfway through the 1 s transition to the 'drop' cue
    assert texts(at.conditioning_from) == "calm intro" and texts(at.conditioning_to) == "loud drop"
    assert at.blend == pytest.approx(0.5, abs=1e-6)
    assert at.strength == pytest.approx(0.6, abs=1e-6)            # 0.4 → 0.8
    assert at.post.brightness == pytest.approx(1.5, abs=1e-6)     # 1 → 2
    assert at.seed == 1 and at.next_seed == 2 and at.seed_blend == pytest.approx(0.5, abs=1e-6)
    assert frames[3.0].blend == 1.0 and frames[3.0].style_name == "loud"


def test_camera_schedule_and_expression(tmp_path: Path) -> None:
    frames = run(make(tmp_path), 3.0)
    assert frames[0.0].camera.zoom == pytest.approx(1.0)
    assert frames[1.0].camera.zoom == pytest.approx(1.05)
    assert frames[3.0].camera.zoom == pytest.approx(1.1)
    # beat 1 at 0.5 s: 2*sin(pi/2) = 2
    assert frames[0.5].camera.angle == pytest.approx(2.0, abs=1e-6)


def test_onset_reactivity_kicks_and_decays(tmp_path: Path) -> None:
    director = make(tmp_path, onsets=[1.0])
    frames = run(director, 1.6)
    assert frames[0.9].camera.zoom == pytest.approx(1.045, abs=1e-6)
    assert frames[1.0].camera.zoom == pytest.approx(1.05 + 0.1, abs=1e-6)   # full kick on the onset
    kick_later = frames[1.2].camera.zoom - 1.06
    assert kick_later == pytest.approx(0.1 * math.exp(-2.0), abs=1e-6)


def test_sequence_advances_on_onsets_and_bars(tmp_path: Path) -> None:
    onsets = [4.1, 4.3, 4.6, 4.9, 5.2, 5.5, 5.8]
    director = make(tmp_path, onsets=onsets)
    frames = run(director, 11.0)
    # bar 3 starts at 4.0 s; every 2 onsets: a, then b after 4.3, c after 4.9, a after 5.5
    assert texts(frames[4.0].conditioning_to) == "loud a"
    assert texts(frames[4.2].conditioning_to) == "loud a"
    assert texts(frames[4.4].conditioning_to) == "loud b"
    assert texts(frames[5.0].conditioning_to) == "loud c"
    assert texts(frames[5.6].conditioning_to) == "loud a"
    # bar 5 at 8.0 s: x, y each bar (2 s)
    assert texts(frames[8.5].conditioning_to) == "loud x"
    assert texts(frames[10.5].conditioning_to) == "loud y"
    assert frames[10.5].cue_index == 3


def test_cue_past_end_is_located(tmp_path: Path) -> None:
    with pytest.raises(SetlistError) as caught:
        make(tmp_path, duration=5.0)
    assert "past the end of the song" in str(caught.value)
    assert caught.value.line == 17 and caught.value.field == "songs[0].cues[2].at"


def test_bad_expression_is_located(tmp_path: Path) -> None:
    text = SET.replace("2*sin(beat*pi/2)", "2*sinn(beat)")
    with pytest.raises(SetlistError) as caught:
        make(tmp_path, text)
    message = str(caught.value)
    assert caught.value.field == "songs[0].camera.angle" and caught.value.line == 11
    assert "sinn" in message and "one" in message


def test_bad_cue_time_and_order(tmp_path: Path) -> None:
    with pytest.raises(SetlistError, match="not a time"):
        make(tmp_path, SET.replace("at: 2.0", "at: soon"))
    with pytest.raises(SetlistError, match="time order"):
        make(tmp_path, SET.replace("at: 2.0", "at: 7.0"))


def test_snap_to_downbeat_and_onset(tmp_path: Path) -> None:
    text = SET.replace("at: bar 3, snap: downbeat", "at: 4.3, snap: downbeat")
    director = make(tmp_path, text)
    assert director.cues[2].start == pytest.approx(6.0)
    text = SET.replace("at: bar 3, snap: downbeat", "at: 4.3, snap: onset")
    director = make(tmp_path, text, onsets=[4.45])
    assert director.cues[2].start == pytest.approx(4.45)


def test_live_cue_control(tmp_path: Path) -> None:
    director = make(tmp_path)
    director.frame_params(0, 0.0, Features())
    director.next_cue(0.1)
    assert texts(director.frame_params(1, 0.1, Features()).conditioning_to) == "loud drop"
    director.arm_cue(3, on="onset")
    assert director.frame_params(2, 0.2, Features()).cue_index == 1
    director.notify_onset(0.25)
    assert director.frame_params(3, 0.3, Features()).cue_index == 3
    # the clock leads again once it reaches a new cue of its own (2.0 s)
    assert director.frame_params(20, 2.0, Features()).cue_index == 1


def test_controls_override(tmp_path: Path) -> None:
    director = make(tmp_path)
    params = director.frame_params(10, 1.0, Features(), {"zoom_speed": 0.0, "blackout": True, "strength": 0.9,
                                                          "prompt": "from a tablet"})
    assert params.camera.zoom == pytest.approx(1.0)
    assert params.post.blackout is True
    assert params.strength == pytest.approx(0.9)
    assert texts(params.conditioning_to) == "calm from a tablet"


def test_live_style_change_blends_over_style_crossfade(tmp_path: Path) -> None:
    director = make(tmp_path)
    for i in range(6):                                            # 0.0 .. 0.5 s on the cue's style
        director.frame_params(i, i / FPS, Features())
    live = {"style": "loud", "style_crossfade": 0.4}
    start = director.frame_params(6, 0.6, Features(), live)
    assert start.blend == pytest.approx(0.0) and start.style_name == "loud"
    half = director.frame_params(8, 0.8, Features(), live)
    assert half.blend == pytest.approx(0.5, abs=1e-6)
    assert half.strength == pytest.approx(0.6, abs=1e-6)           # calm 0.4 → loud 0.8
    assert director.frame_params(10, 1.0, Features(), live).blend == pytest.approx(1.0)


def test_prompt_blend_crossfades_cue_and_live_prompt(tmp_path: Path) -> None:
    director = make(tmp_path)
    director.frame_params(0, 0.0, Features())
    live = {"prompt": "from a tablet", "prompt_blend": 0.25, "style_crossfade": 0.0}
    mix = dict(director.frame_params(1, 0.1, Features(), live).conditioning_to.prompt)
    assert mix == {"calm intro": pytest.approx(0.75), "calm from a tablet": pytest.approx(0.25)}
    # moving the fader is the blend itself: no extra transition, the new mix applies at once
    moved = director.frame_params(2, 0.2, Features(), dict(live, prompt_blend=0.5))
    assert moved.blend == pytest.approx(1.0)
    assert dict(moved.conditioning_to.prompt)["calm from a tablet"] == pytest.approx(0.5)
    assert texts(director.frame_params(3, 0.3, Features(), dict(live, prompt_blend=0.0)).conditioning_to) == "calm intro"


def test_live_keys_follow_song_time_and_the_tempo_clock(tmp_path: Path) -> None:
    """Live, frame_params gets display frame numbers (60 Hz) and a tempo clock that moves: keys
    count setlist frames from the song time, and beat keys move with the tempo."""
    from vj.audio.clock import TempoClock, TempoLead

    text = SET.replace('zoom: "0:(1.0), 2s:(1.1)"', 'zoom: "0:(1.0), 8b:(1.8)"')
    path = tmp_path / "set.yaml"
    path.write_text(text)
    setlist = load_setlist(path)
    clock = TempoClock(120.0, 4, TempoLead.SETLIST)
    director = Director(setlist, setlist.songs[0], clock, FPS)
    # display frame 120 at 60 Hz is song time 2.0 s: beat 4 at 120 BPM, halfway to 8b
    assert director.frame_params(120, 2.0, Features()).camera.zoom == pytest.approx(1.4, abs=1e-6)
    clock.set_bpm(60.0, 2.0)            # half the tempo from 2 s on: beat 4 stays at 2 s, beat 8 moves to 6 s
    # key 0 stays at frame 0, 8b moves from frame 40 to frame 60: at 4 s (frame 40), 40/60 of the way
    assert director.frame_params(240, 4.0, Features()).camera.zoom == pytest.approx(1.0 + 0.8 * 40 / 60, abs=1e-6)
    assert director.frame_params(360, 6.0, Features()).camera.zoom == pytest.approx(1.8, abs=1e-6)


def test_controls_combine_with_the_setlist_by_the_tables_rules(tmp_path: Path) -> None:
    """Each rule of vj.param_table.Combine, on the frame values the table names."""
    director = make(tmp_path)
    base = director.frame_params(5, 0.5, Features())               # angle 2.0, zoom 1.025, style 'calm'
    live = {"angle_speed": -0.5, "zoom_speed": 2.0, "brightness": 0.5, "hue_shift": 30.0, "vignette": 0.4,
            "guidance": 3.0, "seed": 99, "blackout": False}
    director = make(tmp_path)
    params = director.frame_params(5, 0.5, Features(), live)
    assert params.camera.angle == pytest.approx(base.camera.angle * -0.5)               # speed
    assert params.camera.zoom == pytest.approx(1.0 + (base.camera.zoom - 1.0) * 2.0)    # speed of the rate
    assert params.post.brightness == pytest.approx(base.post.brightness * 0.5)          # multiply
    assert params.post.hue_shift == pytest.approx(base.post.hue_shift + 30.0)           # add
    assert params.post.vignette == pytest.approx(max(base.post.vignette, 0.4))          # at least
    assert params.guidance == pytest.approx(3.0) and params.next_seed == 99             # replace
    assert params.post.blackout is False and base.next_seed == 1


def test_style_numbers_reach_the_generator_by_the_tables_names(tmp_path: Path) -> None:
    from vj.param_table import frame_value_names

    params = make(tmp_path).frame_params(0, 0.0, Features())
    assert set(params.style) == set(frame_value_names("style")) | {"coherence_reference_palette"}


# ---- schedules as Deforum evaluates them (issue 12) -------------------------------------------

DEFORUM_SET = """\
seed: 1234
songs:
  - name: one
    audio: one.wav
    camera:
      zoom: "0:(1/(t-5)), 20:(0), 30:(1.01)"
      angle: '0:(s), 1:(0), "max_f-1":(s)'
      translation_x: "0:(1), 0:(3)"
"""


def test_deforum_seed_expression_keys_and_safe_camera_values(tmp_path: Path) -> None:
    director = make(tmp_path, DEFORUM_SET, duration=4.0)   # 40 frames: max_f = 39
    assert director.environment(0, 0.0, Features())["s"] == 1234.0
    frames = run(director, 3.9)
    angles = [frames[round(i / FPS, 3)].camera.angle for i in range(40)]
    assert angles[0] == 1234.0 and angles[1] == 0.0 and angles[38] == 1234.0 == angles[39]
    assert frames[0.0].camera.translation_x == 3.0           # the later duplicate wins
    zooms = [frames[round(i / FPS, 3)].camera.zoom for i in range(40)]
    assert all(math.isfinite(z) and z >= 0.01 for z in zooms)
    # frame 5 is 1/0: bridged from frames 4 and 6, (-1 + 1) / 2 = 0, which the camera gets as 0.01
    assert zooms[5] == 0.01
    assert zooms[6] == pytest.approx(1.0)                    # 1/(6-5)
    assert zooms[20] == 0.01                                 # a zoom of 0 is degenerate: clamped
    assert zooms[30] == pytest.approx(1.01)


def test_a_big_schedule_builds_fast(tmp_path: Path) -> None:
    import time

    keys = ", ".join(f"{i}:({1 + (i % 5) * 0.001})" for i in range(18000))
    text = (SET.split("    camera:")[0] + f'    camera:\n      mode: 3d\n      zoom: "{keys}"\n'
            f'      fov: "{", ".join(f"{i}:({40 + i % 5})" for i in range(18000))}"\n      translation_z: "{keys}"\n')
    path = tmp_path / "big.yaml"
    path.write_text(text)
    setlist = load_setlist(path)
    start = time.perf_counter()
    director = Director(setlist, setlist.songs[0], GRID, 30.0, duration=600.0)
    assert time.perf_counter() - start < 2.0
    assert director.frame_params(0, 0.0, Features()).camera.fov == pytest.approx(40)


def test_a_tempo_change_places_beat_keys_again_without_recompiling(tmp_path: Path) -> None:
    from vj.audio.clock import TempoClock

    text = SET.replace('zoom: "0:(1.0), 2s:(1.1)"', 'zoom: "0:(1.0), 8b:(1.1)"')
    path = tmp_path / "set.yaml"
    path.write_text(text)
    setlist = load_setlist(path)
    clock = TempoClock(120.0, origin=0.0)
    director = Director(setlist, setlist.songs[0], clock, FPS, duration=20.0)
    zoom, angle = director._camera["zoom"], director._camera["translation_x"]
    assert director.frame_params(0, 0.0, Features()).camera.zoom == 1.0
    clock.set_bpm(60.0, at=0.0)
    director.frame_params(1, 0.1, Features())
    assert director._camera["translation_x"] is angle         # no beat keys: left alone
    assert director._camera["zoom"] is not zoom
    assert director._camera["zoom"].keyframes[1].frame == pytest.approx(80.0)  # 8 beats at 1 s
    assert director._camera["zoom"].keyframes[1].value == zoom.keyframes[1].value
