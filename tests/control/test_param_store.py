"""The parameter store: ranges, smoothing, setlist-following parameters, style lists,
actions, listeners, and writers that never block (or tear) the reader."""
from __future__ import annotations

import queue
import threading
import time

import pytest

from vj.control.params import ParamKind, ParamStore


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store() -> ParamStore:
    store = ParamStore(clock=FakeClock())
    store.configure_choices("style", ["neon", "ink", "fog"])
    return store


def test_defaults_and_setlist_following_parameters(store: ParamStore) -> None:
    snap = store.snapshot()
    assert snap["brightness"] == 1.0 and snap["blackout"] is False and snap["zoom_speed"] == 1.0
    # The setlist leads these until a control sets them: absent, so the director keeps the cue's.
    for name in ("style", "prompt", "strength", "guidance", "seed", "bpm", "latency_offset_ms"):
        assert name not in snap
    store.set("strength", 0.8, glide=0)
    assert store.snapshot()["strength"] == 0.8
    store.release("strength")
    assert "strength" not in store.snapshot()


def test_values_are_clamped_and_bad_values_raise(store: ParamStore) -> None:
    assert store.set("brightness", 99) == 2.0
    assert store.set("hue_shift", "-400") == -180.0
    assert store.set("seed", 12.6) == 13
    assert store.set("blackout", "on") is True and store.set("blackout", 0.0) is False
    for bad in (float("nan"), float("inf"), "loud", None, b"\x00", [1]):
        with pytest.raises(ValueError):
            store.set("brightness", bad)
    with pytest.raises(KeyError):
        store.set("no_such_parameter", 1)
    assert store.value("brightness") == 2.0


def test_glide_is_evaluated_at_the_frame_time(store: ParamStore) -> None:
    clock = store.clock
    store.set("brightness", 0.0)  # 0.05 s glide from the default 1.0
    assert store.snapshot(clock.now)["brightness"] == pytest.approx(1.0)
    assert store.snapshot(clock.now + 0.025)["brightness"] == pytest.approx(0.5)
    assert store.snapshot(clock.now + 1.0)["brightness"] == 0.0
    clock.now += 0.025
    store.set("brightness", 1.0)  # restarts from where the glide was
    assert store.snapshot(clock.now)["brightness"] == pytest.approx(0.5)


def test_normalised_and_relative_writes(store: ParamStore) -> None:
    assert store.set_normalised("zoom_speed", 0.5) == pytest.approx(1.0)   # -2..4
    assert store.set_normalised("zoom_speed", 2.0) == 4.0                  # clamped
    assert store.nudge("zoom_speed", -0.5) == pytest.approx(3.5)
    assert store.nudge("zoom_speed", 0.1, normalised=True) == 4.0
    assert store.multiply("zoom_speed", 0.5) == pytest.approx(2.0)
    assert store.nudge("strength", 0.1) == pytest.approx(0.6)  # unset: from the default
    assert store.toggle("hud") is True and store.toggle("hud") is False


def test_choice_by_name_index_and_steps(store: ParamStore) -> None:
    assert store.set("style", "INK") == "ink"
    assert store.set("style", 2) == "fog"
    assert store.set("style", "0") == "neon"
    assert store.nudge("style", -1) == "fog"          # wraps
    assert store.nudge("style", 1) == "neon"
    assert store.set_normalised("style", 0.99) == "fog"
    with pytest.raises(ValueError):
        store.set("style", "nope")
    with pytest.raises(ValueError):
        store.set("style", 7)


def test_a_style_the_new_setlist_lacks_is_released(store: ParamStore) -> None:
    store.set("style", "fog")
    store.configure_choices("style", ["neon", "fog"])   # still there: kept
    assert store.snapshot()["style"] == "fog"
    store.configure_choices("style", ["neon"])          # a new setlist without 'fog': released
    assert "style" not in store.snapshot()
    assert store.spec("style").maximum == 0


def test_prompt_index_sets_the_prompt_text(store: ParamStore) -> None:
    store.configure_prompts(["a storm", "paper birds"])
    store.set("prompt_index", 1)
    snap = store.snapshot()
    assert snap["prompt_index"] == 1 and snap["prompt"] == "paper birds"
    assert store.set("prompt_index", 9) == 1  # clamped to the song's prompts
    assert len(store.set("prompt", "x" * 5000)) == 1000


def test_reactivity_gains_are_registered_per_song(store: ParamStore) -> None:
    names = store.register_reactivity(["kick_zoom", "hats_angle"])
    assert names == ["gain_kick_zoom", "gain_hats_angle"]
    store.set("gain_kick_zoom", 1.5, glide=0)
    snap = store.snapshot()
    assert snap["gain_kick_zoom"] == 1.5 and snap["gain_hats_angle"] == 1.0


def test_actions_queue_and_toggle_actions(store: ParamStore) -> None:
    store.trigger("next_cue", source="osc")
    store.set("blackout", True, source="midi")
    store.set("blackout", True, source="midi")       # unchanged: nothing queued
    store.set("hud", True, source="engine")          # the engine reporting its own state: no action
    first = store.actions.get_nowait()
    assert (first.name, first.source) == ("next_cue", "osc")
    second = store.actions.get_nowait()
    assert (second.name, second.value) == ("blackout", True)
    with pytest.raises(queue.Empty):
        store.actions.get_nowait()


def test_action_queue_is_bounded_and_drops_the_oldest() -> None:
    store = ParamStore(action_capacity=4)
    for i in range(10):
        store.trigger("cue", i)
    assert [a.value for a in store.actions.drain()] == [6, 7, 8, 9]
    assert store.actions.dropped == 6


def test_listeners_hear_changes_and_a_broken_one_is_contained(store: ParamStore) -> None:
    heard = []
    store.add_listener(lambda *args: 1 / 0)
    store.add_listener(lambda name, value, source: heard.append((name, value, source)))
    store.set("vignette", 0.5, source="osc")
    store.set("vignette", 0.5, source="osc")  # unchanged: no echo
    assert heard == [("vignette", 0.5, "osc")]


def test_snapshot_is_frozen_and_consistent_under_concurrent_writers() -> None:
    """Writers hammer the store from two threads; one write of ``prompt_index`` also sets
    ``prompt``: a snapshot is one moment, so the pair always agrees, and the reader never waits."""
    store = ParamStore()
    store.configure_prompts(["p0", "p1"])
    stop = threading.Event()

    def index_writer() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            store.set("prompt_index", i % 2, source="osc")

    def fader_writer() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            store.set("brightness", (i % 100) / 50, source="midi")
    threads = [threading.Thread(target=index_writer), threading.Thread(target=fader_writer)]
    for thread in threads:
        thread.start()
    worst = 0.0
    versions = []
    try:
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            start = time.perf_counter()
            snap = store.snapshot()
            worst = max(worst, time.perf_counter() - start)
            versions.append(snap.version)
            if "prompt_index" in snap:
                assert snap["prompt"] == f"p{snap['prompt_index']}"
            assert 0.0 <= snap["brightness"] <= 2.0
            with pytest.raises(TypeError):
                snap["brightness"] = 1  # type: ignore[index]
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert versions == sorted(versions)  # never goes back in time
    assert len(set(versions)) > 10
    assert worst < 0.05  # no lock to wait on; a GIL switch at most


def test_kinds_cover_the_issue_list() -> None:
    specs = ParamStore().specs
    for name in ("style", "style_crossfade", "prompt", "prompt_index", "prompt_blend", "strength", "guidance",
                 "seed", "zoom_speed", "angle_speed", "translation_x_speed", "translation_y_speed",
                 "reactivity_gain", "input_gain", "onset_threshold", "bpm", "latency_offset_ms", "blackout",
                 "freeze", "hud", "brightness", "contrast", "saturation", "hue_shift", "vignette"):
        assert name in specs, name
    assert specs["prompt"].kind is ParamKind.TEXT and specs["style"].kind is ParamKind.CHOICE
