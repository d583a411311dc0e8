"""The OSC address space and the shared target logic, without sockets."""
from __future__ import annotations

import logging

import pytest

from vj.control.params import ParamStore
from vj.control.router import ControlRouter, fires


@pytest.fixture
def store() -> ParamStore:
    store = ParamStore()
    store.configure_choices("style", ["neon", "ink", "fog"])
    store.configure_prompts(["a storm", "paper birds"])
    return store


@pytest.fixture
def router(store: ParamStore) -> ControlRouter:
    return ControlRouter(store)


def actions(store: ParamStore) -> list[tuple[str, object]]:
    return [(a.name, a.value) for a in store.actions.drain()]


@pytest.mark.parametrize("address, args, name, expected", [
    ("/vj/param/strength", [0.7], "strength", 0.7),
    ("/vj/strength", [0.7], "strength", 0.7),
    ("/vj/param/strength", ["0.7"], "strength", 0.7),          # a string where a number belongs, readable
    ("/vj/param/strength", [1], "strength", 1.0),
    ("/vj/param/strength", [True], "strength", 1.0),
    ("/vj/param/strength", [5.0], "strength", 1.0),            # clamped
    ("/vj/param/zoom_speed/normalized", [0.5], "zoom_speed", 1.0),
    ("/vj/param/zoom_speed/normalised", [1.0], "zoom_speed", 4.0),
    ("/vj/norm/zoom_speed", [0.0], "zoom_speed", -2.0),
    ("/VJ/Param/Guidance/", [7], "guidance", 7.0),             # case and a trailing slash
    ("/vj/bpm", [128], "bpm", 128.0),
    ("/composition/tempocontroller/tempo", [140.0], "bpm", 140.0),
    ("/vj/style", ["fog"], "style", "fog"),
    ("/vj/style", [1], "style", "ink"),
    ("/vj/prompt", ["neon rain"], "prompt", "neon rain"),
    ("/vj/prompt", [1], "prompt", "paper birds"),
    ("/vj/param/seed", [42], "seed", 42),
    ("/vj/blackout", [1], "blackout", True),
    ("/vj/param/hue_shift", [-90.0], "hue_shift", -90.0),
])
def test_absolute_and_normalised_writes(router: ControlRouter, store: ParamStore, address, args, name,
                                        expected) -> None:
    assert router.osc(address, args) is True
    assert store.value(name) == pytest.approx(expected) if isinstance(expected, float) else \
        store.value(name) == expected


def test_relative_forms_as_resolume_sends_them(router: ControlRouter, store: ParamStore) -> None:
    store.set("zoom_speed", 1.0)
    router.osc("/vj/param/zoom_speed", ["+", 0.5])
    assert store.value("zoom_speed") == pytest.approx(1.5)
    router.osc("/vj/param/zoom_speed", ["-", 1])
    assert store.value("zoom_speed") == pytest.approx(0.5)
    router.osc("/vj/param/zoom_speed", ["+0.25"])
    assert store.value("zoom_speed") == pytest.approx(0.75)
    router.osc("/vj/param/zoom_speed", ["-0.75"])
    assert store.value("zoom_speed") == pytest.approx(0.0)
    router.osc("/vj/param/zoom_speed", [-0.75])  # a number is absolute
    assert store.value("zoom_speed") == pytest.approx(-0.75)
    router.osc("/vj/param/zoom_speed", ["*", -2])
    assert store.value("zoom_speed") == pytest.approx(1.5)
    router.osc("/vj/param/zoom_speed/normalized", ["+", 0.5])  # half of the -2..4 range
    assert store.value("zoom_speed") == pytest.approx(4.0)
    router.osc("/vj/param/zoom_speed/add", [-1])
    assert store.value("zoom_speed") == pytest.approx(3.0)
    router.osc("/vj/param/hud", ["!"])
    assert store.value("hud") is True


def test_triggers_fire_once_per_button_press(router: ControlRouter, store: ParamStore) -> None:
    for args in ([], [1], [1.0], [True], ["1"]):
        router.osc("/vj/cue/next", args)
    for args in ([0], [0.0], [False], ["0"], ["off"]):
        router.osc("/vj/cue/next", args)   # releases
    assert actions(store) == [("next_cue", None)] * 5
    assert fires([None]) and not fires([b"x"])


def test_actions_and_steps(router: ControlRouter, store: ParamStore) -> None:
    router.osc("/vj/cue/previous", [])
    router.osc("/vj/cue", [3])
    router.osc("/vj/cue/arm/downbeat", [])
    router.osc("/vj/cue/arm/onset", [1])
    router.osc("/vj/song", ["Second Song"])
    router.osc("/vj/song", [2])
    router.osc("/vj/song/next", [])
    router.osc("/vj/song/previous", [])
    router.osc("/vj/tap", [])
    router.osc("/composition/tempocontroller/tempotap", [1])
    router.osc("/vj/resync", [])
    router.osc("/vj/bpm/up", [])
    router.osc("/vj/bpm/down", [])
    assert actions(store) == [("previous_cue", None), ("cue", 3), ("arm_downbeat", None), ("arm_onset", None),
                              ("song", "Second Song"), ("song", 2), ("next_song", None), ("previous_song", None),
                              ("tap", None), ("tap", None), ("resync", None), ("bpm_up", None),
                              ("bpm_down", None)]
    router.osc("/vj/style/next", [])
    assert store.value("style") == "neon"
    router.osc("/vj/style/previous", [])
    assert store.value("style") == "fog"
    router.osc("/vj/prompt/next", [])
    assert store.value("prompt_index") == 1 and store.value("prompt") == "paper birds"


def test_toggles_and_reset(router: ControlRouter, store: ParamStore) -> None:
    router.osc("/vj/freeze", [])
    router.osc("/vj/param/freeze/toggle", [])
    router.osc("/vj/hud", [1])
    assert actions(store) == [("freeze", True), ("freeze", False), ("hud", True)]
    router.osc("/vj/param/strength", [0.9])
    router.osc("/vj/param/strength/reset", [])
    assert "strength" not in store.snapshot()


def test_style_with_its_own_crossfade_time(router: ControlRouter, store: ParamStore) -> None:
    """The second argument sets ``style_crossfade`` first, which the director blends the change over."""
    router.osc("/vj/style", ["ink", 0.5])
    assert store.value("style") == "ink" and store.value("style_crossfade") == 0.5
    router.osc("/vj/style", ["fog", 99])                     # clamped to the parameter's 0..30 s
    assert store.value("style") == "fog" and store.value("style_crossfade") == 30.0
    assert router.osc("/vj/style", ["ink", float("nan")]) is False
    assert router.osc("/vj/style", ["no such style", 1.0]) is False
    assert store.value("style") == "fog" and store.value("style_crossfade") == 30.0   # neither was set


@pytest.mark.parametrize("address, args", [
    ("/vj/nope", [1]),
    ("/other/thing", []),
    ("/vj", []),
    ("/vj/param/nope", [1]),
    ("/vj/param/strength/bogus", [1]),
    ("/vj/param/strength", []),
    ("/vj/param/strength", ["loud"]),
    ("/vj/param/strength", [float("nan")]),
    ("/vj/param/strength", [float("-inf")]),
    ("/vj/param/strength", [b"\x00\x01"]),
    ("/vj/param/strength", [[1, 2]]),
    ("/vj/param/strength", ["+", "x"]),
    ("/vj/param/prompt", [3.5]),
    ("/vj/style", ["no such style"]),
    ("/vj/style", [99]),
    ("/vj/song", []),
    ("/vj/cue", [float("nan")]),
    ("/vj/" + "x" * 5000, [1]),
    ("/vj/param/strength", ["9" * 10000]),
])
def test_bad_input_is_dropped_with_a_rate_limited_log(router: ControlRouter, store: ParamStore, caplog,
                                                       address, args) -> None:
    before = dict(store.snapshot())
    with caplog.at_level(logging.WARNING):
        assert router.osc(address, args) is False
    assert dict(store.snapshot()) == before
    assert store.actions.drain() == []
    assert len(caplog.records) <= 1


def test_one_log_line_per_kind_of_problem(router: ControlRouter, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        for _ in range(1000):
            router.osc("/vj/nope", [1])
    assert len(caplog.records) == 1
    assert router.dropped == 1000


def test_keys_use_the_same_targets(router: ControlRouter, store: ParamStore) -> None:
    router.key("next_cue")
    router.key("blackout")
    router.key("next_style")
    assert actions(store) == [("next_cue", None), ("blackout", True)]
    assert store.value("style") == "neon"
