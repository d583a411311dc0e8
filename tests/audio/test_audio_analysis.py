"""Onset, beat and tempo accuracy on synthesised audio with known event times (real aubio)."""
from pathlib import Path

import numpy as np
import pytest

from audio_synth import click_track, match_events, music
from vj.audio.analysis import AnalysisSettings, HopAnalyser, HopResult
from vj.audio.offline import analyse_samples


def test_hop_analyser_streams_small_frozen_results():
    settings = AnalysisSettings()
    analyser = HopAnalyser(settings)
    synth = click_track(120.0, 3.0, start=0.5)
    results = [analyser.process(synth.samples[i:i + settings.hop])
               for i in range(0, len(synth.samples) - settings.hop + 1, settings.hop)]
    assert isinstance(results[0], HopResult)
    assert results[1].time == pytest.approx(settings.hop / settings.sample_rate)
    onsets = [r.onset_time for r in results if r.is_onset]
    assert np.all(np.isfinite(onsets)) and np.isnan(results[0].onset_time)
    assert match_events(synth.onsets[synth.onsets < 2.8], np.array(onsets))[1] == 1.0
    silent = results[5]  # 29 ms: before the first click
    assert silent.rms == 0.0 and silent.low == 0.0 and not silent.is_onset
    loud = max(results, key=lambda r: r.rms)
    assert loud.mid > loud.low and loud.perc > 0.0 and loud.harm >= 0.0
    with pytest.raises(AttributeError):
        loud.rms = 0.0  # type: ignore[misc]


def test_hop_analyser_wants_exactly_one_hop():
    with pytest.raises(ValueError, match="256"):
        HopAnalyser().process(np.zeros(100, dtype=np.float32))


def test_bands_split_low_mid_high():
    sr, hop = 44100, 256
    t = np.arange(sr) / sr
    analyser = HopAnalyser()
    for freq, band in ((80.0, "low"), (1000.0, "mid"), (9000.0, "high")):
        tone = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
        result = [analyser.process(tone[i:i + hop]) for i in range(0, 20 * hop, hop)][-1]
        energies = {"low": result.low, "mid": result.mid, "high": result.high}
        assert max(energies, key=energies.get) == band


def test_steady_tone_is_harmonic_and_clicks_are_percussive():
    sr, hop = 44100, 256
    t = np.arange(sr) / sr
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    analyser = HopAnalyser()
    steady = [analyser.process(tone[i:i + hop]) for i in range(0, 60 * hop, hop)][-1]
    assert steady.harm > 10 * steady.perc
    clicks = click_track(120.0, 2.0, start=0.5).samples
    analyser = HopAnalyser()
    hit = max((analyser.process(clicks[i:i + hop]) for i in range(0, 40000, hop)), key=lambda r: r.rms)
    assert hit.perc > hit.harm


@pytest.mark.parametrize("bpm", [120.0, 97.0])
def test_click_track_onsets_tempo_and_downbeats(bpm: float):
    synth = click_track(bpm, 16.0, start=0.5)
    analysis = analyse_samples(synth.samples)
    precision, recall, error = match_events(synth.onsets, analysis.onset_times, tolerance=0.03)
    assert precision >= 0.95 and recall >= 0.95 and error < 0.01
    assert analysis.bpm == pytest.approx(bpm, abs=2.0)
    grid = analysis.grid()
    bar = grid.seconds_per_bar
    assert 0.0 <= grid.offset < bar
    # Every accented click falls on a bar line of the grid (beat 0 is a downbeat).
    for down in synth.downbeats:
        assert abs(grid.bar_at(down) - round(grid.bar_at(down))) * bar < 0.05
    assert len(analysis.downbeat_times) >= 2
    for time in analysis.downbeat_times:
        assert np.min(np.abs(synth.downbeats - time)) < 0.03


def test_accent_on_the_third_beat_moves_the_bar():
    synth = click_track(120.0, 16.0, start=0.3, accent_beat=2)
    grid = analyse_samples(synth.samples).grid()
    for down in synth.downbeats:
        assert abs(grid.bar_at(down) - round(grid.bar_at(down))) * grid.seconds_per_bar < 0.05


def test_music_onsets_tempo_and_downbeats(groove):
    """Drums + bass + pad: the case that matters. ±30 ms, ≥ 90 % recall, few false hits."""
    analysis = analyse_samples(groove.samples)
    precision, recall, error = match_events(groove.onsets, analysis.onset_times, tolerance=0.03)
    assert precision >= 0.95, precision
    assert recall >= 0.90, recall
    assert error < 0.015
    assert analysis.bpm == pytest.approx(120.0, abs=2.0)
    grid = analysis.grid()
    for down in groove.downbeats:
        assert abs(grid.bar_at(down) - round(grid.bar_at(down))) * grid.seconds_per_bar < 0.05
    assert len(analysis.downbeat_times) >= 4
    # Beats go on into the last bar's ringing tail (where bar 9 would start); inside the music
    # every downbeat is a true one.
    inside = analysis.downbeat_times[analysis.downbeat_times < groove.beats[-1] + 0.25]
    assert len(inside) >= 6
    for time in inside:
        assert np.min(np.abs(groove.downbeats - time)) < 0.03


def test_bass_and_pad_without_drums():
    synth = music(97.0, 6, seed=6, drums=False)
    analysis = analyse_samples(synth.samples)
    precision, recall, error = match_events(synth.onsets, analysis.onset_times, tolerance=0.03)
    assert precision >= 0.9 and recall >= 0.9 and error < 0.02


def test_onset_threshold_set_live_changes_what_fires() -> None:
    """The control surface's onset_threshold reaches aubio: a high threshold keeps soft hits quiet."""
    from vj.audio.analysis import AnalysisSettings, HopAnalyser

    rate, hop = 44100, 256
    rng = np.random.default_rng(5)
    signal = (0.002 * rng.standard_normal(rate * 4)).astype(np.float32)   # a noise floor
    for k, start in enumerate(range(rate // 4, len(signal) - 2000, rate // 2)):  # clicks, loud and soft
        amplitude = 0.05 if k % 2 else 0.015
        signal[start:start + 300] += (amplitude * rng.standard_normal(300) * np.exp(-np.arange(300) / 60)).astype(np.float32)

    def onsets(threshold: float | None) -> int:
        analyser = HopAnalyser(AnalysisSettings(sample_rate=rate, hop=hop))
        if threshold is not None:
            analyser.set_onset_threshold(threshold)
            assert analyser.onset_threshold == threshold
        return sum(analyser.process(signal[i:i + hop]).is_onset for i in range(0, len(signal) - hop, hop))

    assert onsets(None) == 9
    assert onsets(1.0) < 9          # the soft ones no longer fire



MUSIC = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "music" / "audio"


@pytest.mark.skipif(not MUSIC.is_dir(), reason=f"no annotated music at {MUSIC}")
def test_whole_file_series_match_the_hop_by_hop_analyser():
    """Offline computes the per-hop series all at once (hop_series); they must be the numbers
    live mode's HopAnalyser gets hop by hop, on real music and from the first hop."""
    from vj.audio.analysis import hop_series
    from vj.audio.decode import decode_audio

    settings = AnalysisSettings()
    samples = decode_audio(MUSIC / "gtzan_pop_00007.flac", settings.sample_rate)[: settings.sample_rate * 4]
    count = len(samples) // settings.hop
    analyser = HopAnalyser(settings, onsets=False, beats=False)
    hop_by_hop = np.array([[r.rms, r.low, r.mid, r.high, r.perc, r.harm]
                           for r in (analyser.process(samples[i * settings.hop:(i + 1) * settings.hop])
                                     for i in range(count))])
    at_once = hop_series(samples, settings, count)
    assert at_once.shape == hop_by_hop.shape == (count, 6)
    scale = np.abs(hop_by_hop).max(axis=0)
    assert np.all(scale > 0)
    assert np.max(np.abs(at_once - hop_by_hop) / scale) < 1e-5
