"""A schedule's curve as a PNG (``vj schedule --plot``): value per frame, keys marked, seconds and
bars on the axes, the timeline picture's dark theme."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vj.output.timeline import BACKGROUND, DIM_TEXT, DOWNBEAT, GRID, PANEL, TEXT, WAVEFORM, shorten
from vj.setlist.expressions import Expression
from vj.setlist.schedule import Schedule

KEY_NUMBER = "#ffc145"
KEY_EXPRESSION = "#ff4f6d"


def plot_schedule(path: str | os.PathLike[str], schedule: Schedule, rows: Sequence[tuple[int, float]], *,
                  fps: float, bpm: float, beats_per_bar: int = 4, width_px: int = 1400) -> Path:
    """Draw ``rows`` (frame, value) of ``schedule`` to the PNG ``path``, atomically; returns the path."""
    path = Path(path)
    figure = Figure(figsize=(width_px / 100, width_px * 0.4 / 100), dpi=100, facecolor=BACKGROUND)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.06, 0.14, 0.92, 0.72))
    axes.set_facecolor(PANEL)
    for side in axes.spines.values():
        side.set_visible(False)
    axes.tick_params(colors=DIM_TEXT, labelsize=10)
    frames = [f for f, _ in rows]
    values = [v for _, v in rows]
    last = frames[-1] if frames else 1
    frames_per_bar = 60.0 / bpm * beats_per_bar * fps
    bar = 0.0
    while bar <= last:
        axes.axvline(bar, color=GRID if bar else DOWNBEAT, linewidth=0.8, zorder=1)
        bar += frames_per_bar
    axes.plot(frames, values, color=WAVEFORM, linewidth=1.6, zorder=3)
    for key in schedule.keyframes:
        if 0 <= key.frame <= last:
            colour = KEY_EXPRESSION if isinstance(key.value, Expression) else KEY_NUMBER
            y = values[min(int(round(key.frame)), len(values) - 1)] if values else 0.0
            axes.plot([key.frame], [y], "o", color=colour, markersize=5, zorder=4)
    axes.set_xlim(0, max(last, 1))
    axes.set_xlabel(f"frame ({fps:g} fps; lines on bars at {bpm:g} BPM)", color=DIM_TEXT)
    figure.text(0.06, 0.93, shorten(schedule.text, 140), color=TEXT, fontsize=12, va="center")
    figure.text(0.98, 0.93, "● number key  ● expression key", color=DIM_TEXT, fontsize=10, ha="right",
                va="center")
    partial = path.with_name(path.name + ".partial.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        figure.savefig(partial, format="png", facecolor=BACKGROUND)
        os.replace(partial, path)
    finally:
        if partial.exists():
            partial.unlink()
    return path
