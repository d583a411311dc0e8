"""The timeline picture: drawn for real with Agg, checked for size, content and robustness."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from timeline_synth import song_data

from vj.output.timeline import render_timeline, shorten


def read(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=float)


def test_sample_timeline_is_wide_dark_and_not_blank(tmp_path):
    path = render_timeline(tmp_path / "song.timeline.png", **song_data(duration=30.0))
    pixels = read(path)
    assert pixels.shape == (792, 2200, 3)
    assert pixels.std() > 20  # waveform, bands and thumbnails drawn
    assert np.median(pixels) < 60  # dark theme
    assert [p.name for p in tmp_path.iterdir()] == ["song.timeline.png"]  # no partial left behind


@pytest.mark.parametrize("case", ["many long cues", "no cues", "no thumbnails", "bare"])
def test_timeline_survives_sparse_and_crowded_data(tmp_path, case):
    data = song_data(duration=20.0, thumbnails=5)
    if case == "many long cues":
        data["cues"] = [(t, "a very long prompt about a cathedral of glass " * 6, f"style-{i % 4}")
                        for i, t in enumerate(np.linspace(0, 20, 40))]
    elif case == "no cues":
        data["cues"] = []
    elif case == "no thumbnails":
        data["thumbnails"] = []
    else:
        data = dict(duration=5.0, title="")
    pixels = read(render_timeline(tmp_path / "t.png", width_px=1800, **data))
    assert pixels.shape[1] == 1800 and pixels.std() > 3


def test_waveform_from_samples(tmp_path):
    rate = 8000
    t = np.arange(rate * 3) / rate
    samples = np.sin(2 * np.pi * 110 * t) * np.exp(-(t % 0.5) * 6)
    pixels = read(render_timeline(tmp_path / "w.png", duration=3.0, samples=samples, sample_rate=rate))
    assert pixels.std() > 10


def test_shorten_cuts_at_a_word_with_an_ellipsis():
    assert shorten("short prompt") == "short prompt"
    cut = shorten("a neon jellyfish drifting through a flooded cathedral", 30)
    assert len(cut) <= 30 and cut.endswith("…") and cut.startswith("a neon jellyfish")


def test_camera_curves_get_a_row_of_their_own(tmp_path):
    data = song_data(duration=20.0, thumbnails=5)
    times = list(np.linspace(0, 20, 200))
    curves = {"zoom": (times, [1.0 + 0.02 * np.sin(t) for t in times]),
              "angle": (times, [float(t % 4) for t in times])}
    plain = read(render_timeline(tmp_path / "plain.png", **data))
    with_curves = read(render_timeline(tmp_path / "curves.png", curves=curves, **data))
    assert with_curves.shape[0] > plain.shape[0] and with_curves.shape[1] == 2200
    # the curve lanes carry the curve colours (zoom cyan-ish, angle amber)
    assert (np.abs(with_curves - [255, 193, 69]).sum(axis=2) < 60).sum() > (
        np.abs(plain - [255, 193, 69]).sum(axis=2) < 60).sum()
    # a flat curve and an empty one are drawn (or left out) without failing
    render_timeline(tmp_path / "flat.png", curves={"fov": ([0.0, 20.0], [40.0, 40.0]), "near": ([], [])}, **data)


def test_lyric_lines_are_written_along_the_waveform(tmp_path):
    data = song_data(duration=20.0, thumbnails=5)
    plain = read(render_timeline(tmp_path / "plain.png", **data))
    lyrics = [(t, f"a sung line number {i}") for i, t in enumerate(np.linspace(1, 19, 12))]
    with_lyrics = read(render_timeline(tmp_path / "lyrics.png", lyrics=lyrics, **data))
    yellow = lambda p: (np.abs(p - [247, 227, 109]).sum(axis=2) < 40).sum()  # noqa: E731
    assert yellow(with_lyrics) > yellow(plain) + 200
