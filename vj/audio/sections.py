"""Song sections from the whole-track analysis: where the music changes, on bar lines, and which
sections sound alike (a chorus that returns).

One feature vector per bar: the bar's mean pitch-class profile (harmony) beside its mean band
energies, loudness and percussive / harmonic energy (timbre and density), each feature centred and
scaled over the song. Their cosine self-similarity matrix, read with Foote's checkerboard kernel
along its diagonal, gives a novelty curve with a value per bar line; its peaks (above the curve's
own mean + ``sensitivity`` standard deviations, at least ``min_bars`` apart) are the section
boundaries, so every boundary is a downbeat. A section whose mean vector is close to an earlier
section's gets that section's label.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vj.grid import Grid

#: Chroma frames' window (samples) and the analysis's chroma step, as vj.audio.offline computes them.
_BAND_NAMES = ("low", "mid", "high", "rms", "perc", "harm")


@dataclass(frozen=True)
class Section:
    """Bars [start_bar, end_bar) (elapsed bars, 0-based: bar 8 is the musicians' bar 9), their
    times in seconds, a label shared by sections that sound alike, and the boundary's novelty."""

    start_bar: int
    end_bar: int
    start: float
    end: float
    label: int
    novelty: float


def bar_features(analysis, grid: Grid) -> tuple[list[int], np.ndarray]:
    """(bar numbers, features (bars, 18)) of the whole bars inside the song."""
    duration = float(analysis.duration)
    first = math.ceil(grid.bar_at(0.0) - 1e-9)
    bars = []
    bar = first
    while grid.time_of_bar(bar + 1) <= duration + 1e-6:
        if grid.time_of_bar(bar) >= -1e-6:
            bars.append(bar)
        bar += 1
    if not bars:
        return [], np.zeros((0, 12 + len(_BAND_NAMES)))
    chroma = np.asarray(analysis.chroma, dtype=float)
    step = 4 * float(analysis.hop_seconds)
    times = np.asarray(analysis.times, dtype=float)
    features = []
    for bar in bars:
        start, end = grid.time_of_bar(bar), grid.time_of_bar(bar + 1)
        if len(chroma):
            a = int(np.clip(round(start / step), 0, len(chroma) - 1))
            b = int(np.clip(round(end / step), a + 1, len(chroma)))
            harmony = chroma[a:b].mean(axis=0)
        else:
            harmony = np.zeros(12)
        inside = (times >= start) & (times < end)
        bands = [float(np.mean(getattr(analysis, name)[inside])) if inside.any() else 0.0
                 for name in _BAND_NAMES]
        features.append(np.concatenate([harmony, bands]))
    return bars, np.array(features)


def _standardise(features: np.ndarray) -> np.ndarray:
    """Each column centred and scaled over the bars; chroma and bands weighted as two halves."""
    centred = features - features.mean(axis=0)
    scale = features.std(axis=0)
    scaled = centred / np.where(scale > 1e-9, scale, 1.0)
    chroma, bands = scaled[:, :12], scaled[:, 12:]
    return np.concatenate([chroma / math.sqrt(12), bands / math.sqrt(bands.shape[1])], axis=1)


def novelty_curve(features: np.ndarray, kernel_bars: int = 4) -> np.ndarray:
    """Foote novelty at each bar line (index i: between bar i-1 and bar i), 0 at the ends."""
    count = len(features)
    if count < 2:
        return np.zeros(count)
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-9)
    similarity = unit @ unit.T
    half = max(1, kernel_bars)
    offsets = np.arange(-half, half) + 0.5
    taper = np.exp(-0.5 * (offsets / (0.5 * half)) ** 2)
    sign = np.sign(offsets)
    kernel = np.outer(sign, sign) * np.outer(taper, taper)   # + on the two blocks, - across them
    novelty = np.zeros(count)
    for i in range(1, count):
        lo, hi = i - half, i + half
        a, b = max(lo, 0), min(hi, count)
        block = similarity[a:b, a:b]
        k = kernel[a - lo:half * 2 - (hi - b), a - lo:half * 2 - (hi - b)]
        weight = np.abs(k).sum()
        novelty[i] = (block * k).sum() / weight if weight > 0 else 0.0
    return np.maximum(novelty, 0.0)


def find_sections(analysis, grid: Grid, *, kernel_bars: int = 4, min_bars: int = 4,
                  sensitivity: float = 0.5, same: float = 0.5) -> tuple[list[Section], str]:
    """The song's sections and a message ("" when all went well; else what could not be done)."""
    bars, features = bar_features(analysis, grid)
    duration = float(analysis.duration)
    if len(bars) < 2 * min_bars:
        whole = [Section(bars[0] if bars else 0, (bars[-1] + 1) if bars else 0, 0.0, duration, 0, 0.0)]
        return whole, (f"too short to find sections: {len(bars)} whole bar(s), at least {2 * min_bars} needed")
    standard = _standardise(features)
    if float(np.abs(standard).max()) < 1e-6:
        return ([Section(bars[0], bars[-1] + 1, 0.0, duration, 0, 0.0)],
                "no change to find sections by: every bar sounds the same")
    novelty = novelty_curve(standard, kernel_bars)
    inner = novelty[min_bars:len(novelty) - min_bars + 1]
    threshold = float(inner.mean() + sensitivity * inner.std()) if len(inner) else math.inf
    candidates = [i for i in range(min_bars, len(bars) - min_bars + 1)
                  if novelty[i] >= threshold and novelty[i] > 0.05
                  and novelty[i] >= novelty[max(i - 1, 0)] and novelty[i] >= novelty[min(i + 1, len(bars) - 1)]]
    chosen: list[int] = []
    for i in sorted(candidates, key=lambda i: -novelty[i]):
        if all(abs(i - j) >= min_bars for j in chosen):
            chosen.append(i)
    edges = [0, *sorted(chosen), len(bars)]
    means = [standard[a:b].mean(axis=0) for a, b in zip(edges, edges[1:])]
    labels: list[int] = []
    for n, mean in enumerate(means):
        label = None
        for m in range(n):
            other = means[m]
            cosine = float(mean @ other / max(np.linalg.norm(mean) * np.linalg.norm(other), 1e-9))
            if cosine >= same and (label is None or cosine > label[1]):
                label = (labels[m], cosine)
        labels.append(label[0] if label is not None else (max(labels) + 1 if labels else 0))
    sections = []
    for n, (a, b) in enumerate(zip(edges, edges[1:])):
        start = 0.0 if n == 0 else grid.time_of_bar(bars[a])
        end = duration if b == len(bars) else grid.time_of_bar(bars[b])
        sections.append(Section(bars[a], bars[b - 1] + 1, start, end, labels[n],
                                float(novelty[a]) if n else 0.0))
    return sections, ""


__all__ = ["Section", "find_sections", "bar_features", "novelty_curve"]
