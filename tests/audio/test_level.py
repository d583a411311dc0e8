"""The level the beat network hears: the same beats whatever the input gain."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vj.audio.level import GATE_DB, MAX_GAIN_DB, TARGET_DB, LevelRider, song_gain

MUSIC = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "music"
needs_music = pytest.mark.skipif(not (MUSIC / "index.csv").is_file(), reason=f"no annotated music at {MUSIC}")
RATE = 22050


def _db(x: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)))


def _tone(seconds: float, db: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sqrt(2) * 10 ** (db / 20) * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_song_gain_brings_the_loud_parts_to_the_target():
    quiet_then_loud = np.concatenate([_tone(8, -45), _tone(2, -30)])  # the loud 20 % sets the level
    gain = song_gain(quiet_then_loud, RATE)
    assert _db(quiet_then_loud[-RATE:] * gain) == pytest.approx(TARGET_DB, abs=0.1)
    assert song_gain(np.zeros(RATE * 3, np.float32), RATE) == 1.0  # silence: nothing to measure
    assert song_gain(_tone(3, GATE_DB - 10), RATE) == 1.0  # below the gate: not lifted into range
    assert song_gain(_tone(3, -49), RATE) == pytest.approx(10 ** (MAX_GAIN_DB / 20))  # lifted at most this
    assert song_gain(_tone(0.1, -30), RATE) == pytest.approx(10 ** ((TARGET_DB + 30) / 20), rel=0.01)  # < 1 block


def test_the_live_rider_reaches_the_target_without_steps_and_holds_through_silence():
    rider = LevelRider(RATE)
    stream = np.concatenate([_tone(3, -40), np.zeros(RATE * 5, np.float32), _tone(3, -40)])
    out = np.concatenate([rider.push(stream[i:i + 256]) for i in range(0, len(stream), 256)])
    assert _db(out[:int(0.4 * RATE)]) == pytest.approx(-40, abs=0.2)  # first block: nothing known yet
    assert _db(out[2 * RATE:3 * RATE]) == pytest.approx(TARGET_DB, abs=0.3)
    assert _db(out[-RATE:]) == pytest.approx(TARGET_DB, abs=0.5)  # the gap did not move the gain
    envelope = np.abs(out[:3 * RATE]).reshape(-1, 150).max(axis=1)  # 150-sample peaks of the tone
    assert np.max(np.abs(np.diff(envelope))) < 0.05 * envelope.max()  # the gain ramps (a step would be 94 %)
    louder = rider.push(_tone(2, -20))  # a louder song: down at once, one block of ramp
    assert _db(louder[-int(0.8 * RATE):]) == pytest.approx(TARGET_DB, abs=0.3)


@needs_music
def test_beats_do_not_depend_on_the_input_level():
    from vj.audio.beats import LiveBeatTracker, track_beats
    from vj.audio.decode import decode_audio

    song = decode_audio(MUSIC / "audio" / "gtzan_pop_00005.flac", RATE)
    loud, quiet = track_beats(song, RATE), track_beats(song * 0.05, RATE)  # −26 dB
    # The same to float rounding, which can move a beat by an HMM frame or two (10 ms each).
    assert len(loud.times) > 40 and len(loud.times) == len(quiet.times)
    assert np.max(np.abs(loud.times - quiet.times)) <= 0.021
    assert list(loud.positions) == list(quiet.positions)

    def live(samples: np.ndarray) -> np.ndarray:
        tracker = LiveBeatTracker(RATE)
        beats = [b.time for i in range(0, len(samples), 256) for b in tracker.push(samples[i:i + 256])]
        return np.array([t for t in beats if t > 5.0])  # both have locked by then

    disco = decode_audio(MUSIC / "audio" / "gtzan_disco_00005.flac", RATE)[:15 * RATE]
    live_loud, live_quiet = live(disco), live(disco * 0.1)  # −20 dB
    assert len(live_loud) > 15 and len(live_loud) == len(live_quiet)
    assert np.max(np.abs(live_loud - live_quiet)) <= 0.021  # one network frame at most
