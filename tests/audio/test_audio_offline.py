"""The whole-track analysis: files, cache, normalised series, envelope, events and reports."""
import csv
import time
from pathlib import Path

import numpy as np
import pytest

from audio_synth import write_audio
from vj.audio.analysis import AnalysisSettings
from vj.audio.decode import AudioError
from vj.grid import BeatGrid
from vj.audio.offline import TrackAnalysis, analyse_track, format_summary, write_events_csv
from vj.features import AUDIO_SOURCES, Features

DEMO = Path(__file__).resolve().parents[2] / "setlists" / "demo-track.ogg"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def analysis(groove_file: Path, cache_dir: Path) -> TrackAnalysis:
    return analyse_track(groove_file, cache_dir=cache_dir)


def test_shapes_and_normalised_ranges(analysis: TrackAnalysis, groove):
    assert analysis.duration == pytest.approx(len(groove.samples) / 44100, abs=0.01)
    assert analysis.sample_rate == 44100 and analysis.hop_seconds == pytest.approx(256 / 44100)
    n = len(analysis.times)
    assert n == pytest.approx(analysis.duration / analysis.hop_seconds, abs=2)
    for name in ("rms", "low", "mid", "high", "perc", "harm"):
        times, values = analysis.series(name)
        assert times is analysis.times and values.shape == (n,)
        assert values.min() >= 0.0 and values.max() == pytest.approx(1.0)
    assert np.all(np.diff(analysis.onset_times) > 0)
    assert analysis.onset_strengths.min() >= 0.0 and analysis.onset_strengths.max() == pytest.approx(1.0)
    assert set(analysis.downbeat_times) <= set(analysis.beat_times)
    preview_times, low, high = analysis.waveform_preview
    assert len(preview_times) == len(low) == len(high) == 2000
    assert np.all(low <= high) and high.max() == pytest.approx(np.abs(groove.samples).max(), abs=1e-3)
    with pytest.raises(ValueError, match="unknown series"):
        analysis.series("bass")


def test_second_call_loads_the_cache(groove_file: Path, cache_dir: Path, analysis: TrackAnalysis):
    files = list(cache_dir.glob("*.npz"))
    assert len(files) == 1
    started = time.perf_counter()
    again = analyse_track(groove_file, cache_dir=cache_dir)
    assert time.perf_counter() - started < 0.5  # the analysis itself takes over a second
    np.testing.assert_array_equal(again.onset_times, analysis.onset_times)
    np.testing.assert_array_equal(again.low, analysis.low)
    assert again.bpm == analysis.bpm and again.grid() == analysis.grid()
    assert again.features_at(3.3, analysis.grid()) == analysis.features_at(3.3, analysis.grid())


def test_cache_key_follows_content_and_settings(groove_file: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("VJ_CACHE_DIR", str(tmp_path / "env-cache"))
    short = write_audio(tmp_path / "short.wav", np.zeros(44100, dtype=np.float32))
    analyse_track(short)
    analyse_track(short, AnalysisSettings(onset_threshold=0.2))
    assert len(list((tmp_path / "env-cache").glob("*.npz"))) == 2
    copy = tmp_path / "renamed.wav"
    copy.write_bytes(short.read_bytes())
    analyse_track(copy)  # same bytes: same cache entry
    assert len(list((tmp_path / "env-cache").glob("*.npz"))) == 2


def test_silence_analyses_without_crashing(tmp_path: Path):
    path = write_audio(tmp_path / "silence.wav", np.zeros(2 * 44100, dtype=np.float32))
    analysis = analyse_track(path, cache_dir=tmp_path)
    assert len(analysis.onset_times) == 0 and analysis.rms.max() == 0.0
    assert analysis.bpm == 120.0  # the fallback tempo
    features = analysis.features_at(1.0, analysis.grid())
    assert features.onset == 0.0 and features.low == 0.0


def test_missing_and_broken_files_raise_audio_error(tmp_path: Path):
    with pytest.raises(AudioError, match="not found"):
        analyse_track(tmp_path / "missing.mp3", cache_dir=tmp_path)
    broken = tmp_path / "broken.ogg"
    broken.write_bytes(b"OggS but not really" * 50)
    with pytest.raises(AudioError, match="broken.ogg"):
        analyse_track(broken, cache_dir=tmp_path)


def test_features_at_are_in_range(analysis: TrackAnalysis):
    grid = analysis.grid()
    for t in np.linspace(-1.0, analysis.duration + 1.0, 97):
        features = analysis.features_at(float(t), grid)
        assert isinstance(features, Features)
        for name in AUDIO_SOURCES:
            assert 0.0 <= getattr(features, name) <= 1.0, (name, t)
        assert features.beat == pytest.approx(grid.beat_at(t))
        assert features.bar == pytest.approx(grid.bar_at(t))
        assert features.bpm == grid.bpm


def test_onset_envelope_shape(analysis: TrackAnalysis):
    first = float(analysis.onset_times[0])
    strength = float(analysis.onset_strengths[0])
    gap = float(analysis.onset_times[1]) - first
    assert analysis.onset_envelope(first - 0.001) == 0.0
    assert analysis.onset_envelope(first + 0.005) == pytest.approx(0.5 * strength, rel=1e-6)
    peak = analysis.onset_envelope(first + 0.01)
    assert peak == pytest.approx(strength, rel=1e-6)
    later = min(gap, 0.2) - 0.001
    assert analysis.onset_envelope(first + 0.01 + later, release=0.25) == pytest.approx(
        strength * np.exp(-later / 0.25), rel=1e-6)
    assert analysis.onset_envelope(first + 0.05, attack=0.0, release=0.01) < 0.05
    assert 0.0 <= analysis.onset_envelope(first + 0.01, source="beat") <= 1.0
    assert analysis.onset_envelope(analysis.duration + 10.0) == 0.0
    with pytest.raises(ValueError, match="unknown event source"):
        analysis.onset_envelope(1.0, source="kick")


def test_next_events(analysis: TrackAnalysis):
    first = float(analysis.onset_times[0])
    assert analysis.next_onset_after(first - 0.01) == first
    assert analysis.next_onset_after(first) == float(analysis.onset_times[1])
    assert analysis.next_onset_after(analysis.duration) is None
    beat = analysis.next_beat_after(2.0)
    assert beat is not None and beat > 2.0
    down = analysis.next_downbeat_after(2.0)
    assert down is not None and down > 2.0 and down in analysis.downbeat_times


def test_grid_with_a_given_tempo_and_offset(analysis: TrackAnalysis, groove):
    assert analysis.grid(bpm=120.0, offset=0.1) == BeatGrid(120.0, 0.1, 4)
    grid = analysis.grid(bpm=120.0)
    assert grid.bpm == 120.0 and 0.0 <= grid.offset < grid.seconds_per_bar
    assert grid.offset == pytest.approx(groove.downbeats[0], abs=0.02)


def test_summary_and_events_csv(analysis: TrackAnalysis, tmp_path: Path):
    summary = format_summary(analysis)
    assert "BPM" in summary and f"{len(analysis.onset_times)}" in summary and "downbeats" in summary
    path = tmp_path / "events.csv"
    write_events_csv(analysis, path)
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["kind", "time", "strength", "position"]
    kinds = [row[0] for row in rows[1:]]
    beat_positions = [int(row[3]) for row in rows[1:] if row[0] == "beat"]
    assert beat_positions and set(beat_positions) <= set(range(1, analysis.beats_per_bar + 1))
    assert kinds.count("onset") == len(analysis.onset_times)
    assert kinds.count("beat") == len(analysis.beat_times)
    assert kinds.count("downbeat") == len(analysis.downbeat_times)
    times = [float(row[1]) for row in rows[1:]]
    assert times == sorted(times)
    assert all(0.0 <= float(row[2]) <= 1.0 for row in rows[1:])


def test_events_csv_to_a_missing_folder_is_a_clear_error(analysis: TrackAnalysis, tmp_path: Path):
    from vj.errors import VjError

    with pytest.raises(VjError, match="cannot write"):
        write_events_csv(analysis, tmp_path / "no" / "such" / "events.csv")


def test_demo_track(tmp_path: Path):
    """The shipped demo song: 120 BPM, bar 1 at 0 s, busier hats from bar 9."""
    analysis = analyse_track(DEMO, cache_dir=tmp_path)
    assert analysis.duration == pytest.approx(37.0, abs=0.1)
    assert analysis.bpm == pytest.approx(120.0, abs=0.5)
    grid = analysis.grid()
    assert grid.offset == pytest.approx(0.0, abs=0.03) or grid.offset == pytest.approx(2.0, abs=0.03)
    times, high = analysis.series("high")
    first, second = high[(times > 2) & (times < 16)], high[(times > 18) & (times < 34)]
    assert second.mean() > 1.3 * first.mean()
    first_half = np.sum((analysis.onset_times > 2) & (analysis.onset_times < 16))
    second_half = np.sum((analysis.onset_times > 18) & (analysis.onset_times < 32))
    assert second_half > 1.5 * first_half
