"""The timeline picture: one PNG that shows a VJ at a glance what the song does and what the set does to it.

Rows share one time axis (seconds, bar numbers on top): cue changes with their prompts and styles,
the waveform with onset ticks, the three band energies, and a strip of thumbnails placed at their
times. Dark theme, because it is read in a dark room. Drawn with matplotlib's Agg canvas directly
(no pyplot state, safe off the main thread) and written atomically like the recording.
"""
from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Colours of the dark theme.
BACKGROUND = "#0d0e12"
PANEL = "#14161c"
TEXT = "#d9dde7"
DIM_TEXT = "#7d8496"
GRID = "#262a34"
WAVEFORM = "#62d2f5"
ONSET = "#f4f1de"
BEAT = "#3a3f4c"
DOWNBEAT = "#8a90a2"
BAND_COLOURS = {"low": "#ff4f6d", "mid": "#ffc145", "high": "#3fd0c9"}
#: Cue colours, one per style name in order of first appearance.
STYLE_COLOURS = ("#b68cff", "#ff8fab", "#7ee081", "#ffb86b", "#6ec3ff", "#f7e36d", "#ff7eea", "#9ef0f0")
#: The longest prompt shown on a cue label, in characters; longer ones end in an ellipsis.
MAX_LABEL_CHARS = 60
#: Lines of staggered cue labels (when cues come thick) before labels start to overlap.
CUE_LEVELS = 3

DPI = 100


def render_timeline(
    path: str | os.PathLike[str],
    *,
    duration: float,
    waveform_times: Sequence[float] | np.ndarray | None = None,
    waveform_min: Sequence[float] | np.ndarray | None = None,
    waveform_max: Sequence[float] | np.ndarray | None = None,
    samples: np.ndarray | None = None,
    sample_rate: float | None = None,
    onset_times: Sequence[float] = (),
    onset_strengths: Sequence[float] | None = None,
    beat_times: Sequence[float] = (),
    downbeat_times: Sequence[float] = (),
    bands: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    cues: Sequence[tuple[float, str, str]] = (),
    thumbnails: Sequence[tuple[float, np.ndarray]] = (),
    title: str = "",
    bar_times: Sequence[float] | None = None,
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    lyrics: Sequence[tuple[float, str]] = (),
    width_px: int = 2200,
) -> Path:
    """Draw the timeline of ``duration`` seconds to the PNG ``path`` (atomically); returns the path.

    The waveform comes as a min/max envelope (``waveform_times/min/max``) or as mono ``samples``
    at ``sample_rate``. ``bands`` maps low/mid/high to (times, values 0..1). ``cues`` are
    (time, prompt text, style name); ``thumbnails`` (time, H×W×3 uint8); ``bar_times`` the start of
    each bar (bar 1 first) for the bar-number axis. ``curves`` maps a name (the song's camera
    schedules that move: zoom, angle, ...) to (times, values), each drawn in its own lane scaled
    to its own range. ``lyrics`` (time, sung line) are written along the waveform's foot. Every
    row but the time axis is optional.
    """
    path = Path(path)
    duration = max(float(duration), 1e-3)
    envelope = _envelope(waveform_times, waveform_min, waveform_max, samples, sample_rate)
    curves = {name: curve for name, curve in (curves or {}).items() if len(curve[0])}
    height_ratios = [1.15, 2.0, 1.6, 1.25 if len(thumbnails) else 0.05]
    rows = 4
    if curves:
        height_ratios.insert(3, 0.55 * max(len(curves), 2))
        rows = 5
    height_px = int(width_px * (0.36 + (0.03 * max(len(curves), 2) if curves else 0.0)))
    figure = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, facecolor=BACKGROUND)
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(rows, 1, height_ratios=height_ratios, hspace=0.06,
                               left=0.045, right=0.99, top=0.90, bottom=0.07)
    all_axes = [figure.add_subplot(grid[i]) for i in range(rows)]
    cue_axes, wave_axes, band_axes, thumb_axes = all_axes[0], all_axes[1], all_axes[2], all_axes[-1]
    curve_axes = all_axes[3] if curves else None
    for axes in all_axes:
        _style_axes(axes, duration)
        if axes is not cue_axes:
            axes.sharex(cue_axes)
    cue_axes.set_xlim(0.0, duration)

    _draw_title(figure, title, duration, len(cues))
    for axes in (wave_axes, band_axes):
        _draw_beats(axes, beat_times, downbeat_times, duration)
    _draw_waveform(wave_axes, envelope, onset_times, onset_strengths, duration)
    _draw_lyrics(wave_axes, lyrics, duration, width_px)
    _draw_bands(band_axes, bands or {})
    if curve_axes is not None:
        _draw_beats(curve_axes, (), downbeat_times, duration)
        _draw_curves(curve_axes, curves)
    _draw_thumbnails(thumb_axes, thumbnails, duration, figure, width_px)
    _draw_cues(cue_axes, tuple(all_axes[1:]), cues, duration, figure, width_px)
    _draw_axes_labels(cue_axes, wave_axes, curve_axes or band_axes, thumb_axes, bar_times, duration)

    partial = path.with_name(path.name + ".partial.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        figure.savefig(partial, format="png", dpi=DPI, facecolor=BACKGROUND)
        os.replace(partial, path)
    finally:
        if partial.exists():
            partial.unlink()
    return path


# ---- data -------------------------------------------------------------------------------------
def _envelope(times, minimum, maximum, samples, sample_rate, bins: int = 2400):
    """(times, min, max) arrays, from the given envelope or computed from mono samples; or None."""
    if times is not None and minimum is not None and maximum is not None:
        return (np.asarray(times, dtype=float), np.asarray(minimum, dtype=float),
                np.asarray(maximum, dtype=float))
    if samples is None or not sample_rate or len(samples) == 0:
        return None
    samples = np.asarray(samples, dtype=float).reshape(-1)
    per_bin = max(1, len(samples) // bins)
    usable = samples[: len(samples) // per_bin * per_bin].reshape(-1, per_bin)
    centres = (np.arange(len(usable)) + 0.5) * per_bin / float(sample_rate)
    return centres, usable.min(axis=1), usable.max(axis=1)


def shorten(text: str, limit: int = MAX_LABEL_CHARS) -> str:
    """One line of at most ``limit`` characters, ending in an ellipsis when cut (at a word if it can)."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:-→") + "…"


def style_colours(styles: Iterable[str]) -> dict[str, str]:
    """A colour per style name, in order of first appearance, so neighbouring cues never share one."""
    colours: dict[str, str] = {}
    for style in styles:
        colours.setdefault(style, STYLE_COLOURS[len(colours) % len(STYLE_COLOURS)])
    return colours


# ---- drawing ----------------------------------------------------------------------------------
def _style_axes(axes, duration: float) -> None:
    axes.set_facecolor(PANEL)
    for side in ("top", "right", "left", "bottom"):
        axes.spines[side].set_visible(False)
    axes.tick_params(colors=DIM_TEXT, labelsize=10, length=0)
    axes.set_yticks([])
    axes.tick_params(labelbottom=False)
    axes.set_xlim(0.0, duration)


def _draw_title(figure: Figure, title: str, duration: float, cue_count: int) -> None:
    minutes, seconds = divmod(duration, 60.0)
    summary = f"{int(minutes)}:{seconds:04.1f}  ·  {cue_count} cue{'s' if cue_count != 1 else ''}"
    figure.text(0.045, 0.955, title or "vj timeline", color=TEXT, fontsize=17, fontweight="bold",
                va="center", ha="left")
    figure.text(0.99, 0.955, summary, color=DIM_TEXT, fontsize=12, va="center", ha="right")


def _draw_beats(axes, beat_times: Iterable[float], downbeat_times: Iterable[float], duration: float) -> None:
    downbeats = [t for t in downbeat_times if 0 <= t <= duration]
    beats = [t for t in beat_times if 0 <= t <= duration]
    # Thin beat lines only while they stay apart; on long songs they'd grey the row out.
    if beats and duration / max(len(beats), 1) > duration / 400:
        axes.vlines(beats, 0, 1, transform=axes.get_xaxis_transform(), colors=BEAT, linewidth=0.6, zorder=1)
    if downbeats:
        axes.vlines(downbeats, 0, 1, transform=axes.get_xaxis_transform(), colors=DOWNBEAT,
                    linewidth=1.0, alpha=0.55, zorder=1)


def _draw_waveform(axes, envelope, onset_times, onset_strengths, duration: float) -> None:
    axes.set_ylim(-1.08, 1.08)
    if envelope is not None:
        times, low, high = envelope
        peak = max(float(np.max(np.abs(low))) if len(low) else 0.0,
                   float(np.max(np.abs(high))) if len(high) else 0.0, 1e-9)
        axes.fill_between(times, low / peak, high / peak, color=WAVEFORM, alpha=0.85, linewidth=0, zorder=2)
        axes.axhline(0.0, color=WAVEFORM, linewidth=0.5, alpha=0.5, zorder=2)
    onsets = np.asarray(list(onset_times), dtype=float)
    if len(onsets):
        strengths = (np.asarray(list(onset_strengths), dtype=float) if onset_strengths is not None
                     and len(onset_strengths) == len(onsets) else np.ones(len(onsets)))
        strengths = np.clip(strengths / max(float(strengths.max()), 1e-9), 0.15, 1.0)
        # Ticks grow down from the top edge, as tall as the hit is strong.
        axes.vlines(onsets, 1.08 - 0.45 * strengths, 1.08, colors=ONSET, linewidth=1.1, alpha=0.9, zorder=3)
    axes.text(0.003, 0.06, "waveform · onsets", transform=axes.transAxes, color=DIM_TEXT, fontsize=10,
              va="bottom", ha="left", zorder=5)


def _draw_bands(axes, bands: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> None:
    """Three lanes, high on top and low at the bottom, as a mixer's meters stack them."""
    names = ["low", "mid", "high"] + [n for n in bands if n not in ("low", "mid", "high")]
    names = [n for n in names if n in bands]
    axes.set_ylim(0.0, max(len(names), 1))
    for lane, name in enumerate(names):
        times, values = (np.asarray(x, dtype=float) for x in bands[name])
        values = np.clip(values, 0.0, 1.0) * 0.92
        colour = BAND_COLOURS.get(name, STYLE_COLOURS[lane % len(STYLE_COLOURS)])
        axes.fill_between(times, lane, lane + values, color=colour, alpha=0.55, linewidth=0, zorder=2)
        axes.plot(times, lane + values, color=colour, linewidth=0.9, zorder=3)
        axes.axhline(lane, color=GRID, linewidth=0.8, zorder=1)
        axes.text(0.003, lane + 0.55, name, transform=axes.get_yaxis_transform(), color=colour,
                  fontsize=11, fontweight="bold", va="center", ha="left", zorder=5,
                  bbox={"facecolor": PANEL, "edgecolor": "none", "alpha": 0.8, "pad": 1.5})


LYRIC = "#f7e36d"


def _draw_lyrics(axes, lyrics: Sequence[tuple[float, str]], duration: float, width_px: int) -> None:
    """Each lyric line at its time along the foot of the waveform row, on two staggered levels,
    cut to the room before the next line two places on."""
    shown = sorted((float(t), str(text)) for t, text in lyrics if 0 <= t <= duration)
    if not shown:
        return
    px_per_second = axes.get_position().width * width_px / duration
    for number, (time, text) in enumerate(shown):
        after = shown[number + 2][0] if number + 2 < len(shown) else duration
        room = max(4, int((after - time) * px_per_second / CHAR_PX) - 2)
        level = number % 2
        axes.vlines([time], -1.08, -0.78 + 0.22 * level, colors=LYRIC, linewidth=0.9, alpha=0.8, zorder=4)
        axes.text(time + 3 / px_per_second, -1.02 + 0.22 * level, shorten(text, min(room, 48)), color=LYRIC,
                  fontsize=9, va="bottom", ha="left", zorder=6)


#: Curve colours, one per camera schedule in order.
CURVE_COLOURS = ("#62d2f5", "#ffc145", "#ff8fab", "#7ee081", "#b68cff", "#ffb86b", "#6ec3ff", "#f7e36d")


def _draw_curves(axes, curves: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> None:
    """One lane per camera curve, each scaled to its own range (the label says the range)."""
    axes.set_ylim(0.0, len(curves))
    for lane, (name, (times, values)) in enumerate(reversed(list(curves.items()))):
        times, values = np.asarray(times, dtype=float), np.asarray(values, dtype=float)
        low, high = float(np.min(values)), float(np.max(values))
        span = high - low
        scaled = (values - low) / span if span > 1e-12 else np.full_like(values, 0.5)
        colour = CURVE_COLOURS[(len(curves) - 1 - lane) % len(CURVE_COLOURS)]
        axes.plot(times, lane + 0.08 + 0.84 * scaled, color=colour, linewidth=1.1, zorder=3)
        axes.axhline(lane, color=GRID, linewidth=0.8, zorder=1)
        axes.text(0.003, lane + 0.5, f"{name}  {low:.4g} … {high:.4g}", transform=axes.get_yaxis_transform(),
                  color=colour, fontsize=10, fontweight="bold", va="center", ha="left", zorder=5,
                  bbox={"facecolor": PANEL, "edgecolor": "none", "alpha": 0.8, "pad": 1.5})


def _draw_thumbnails(axes, thumbnails, duration: float, figure: Figure, width_px: int) -> None:
    if not thumbnails:
        axes.set_visible(False)
        return
    axes.set_ylim(0.0, 1.0)
    axes.set_facecolor(BACKGROUND)
    axes_box = axes.get_position()
    axes_width_px = axes_box.width * width_px
    axes_height_px = axes_box.height * figure.get_figheight() * DPI
    seconds_per_px = duration / axes_width_px
    ordered = sorted(thumbnails, key=lambda item: item[0])
    times = [float(t) for t, _ in ordered]
    gaps = np.diff(times) if len(times) > 1 else np.array([duration])
    spacing = max(float(np.min(gaps)), 1e-6) * 0.94  # a hair of dark between neighbours
    for time, image in ordered:
        aspect = image.shape[1] / max(image.shape[0], 1)
        width = min(axes_height_px * 0.9 * aspect * seconds_per_px, spacing)
        height = min(0.9, width / seconds_per_px / aspect / axes_height_px)
        left = min(max(time - width / 2, 0.0), duration - width)
        axes.imshow(image, extent=(left, left + width, 0.5 - height / 2, 0.5 + height / 2),
                    aspect="auto", interpolation="lanczos", zorder=2)
        axes.vlines([time], 0.0, 0.5 - height / 2, colors=DIM_TEXT, linewidth=0.8, zorder=1)
    axes.set_xlim(0.0, duration)
    axes.set_ylim(0.0, 1.0)


def _draw_cues(cue_axes, other_axes, cues, duration: float, figure: Figure, width_px: int) -> None:
    """A coloured line per cue through every row, and its label: the style, then the prompt.

    When every prompt fits (wrapped) in the gap before the next cue, labels sit on one line of
    blocks; when cues come thick, each label shrinks to one line and they stagger over CUE_LEVELS.
    """
    cue_axes.set_ylim(0.0, 1.0)
    if not cues:
        cue_axes.text(0.5, 0.5, "no cues", transform=cue_axes.transAxes, color=DIM_TEXT, fontsize=11,
                      ha="center", va="center")
        return
    axes_width_px = cue_axes.get_position().width * width_px
    px_per_second = axes_width_px / duration
    ordered = sorted(((float(min(max(t, 0.0), duration)), str(text), str(style)) for t, text, style in cues),
                     key=lambda cue: cue[0])
    labels = _wide_labels(ordered, duration, px_per_second) or _dense_labels(ordered, duration, px_per_second,
                                                                             axes_width_px)
    line_height = 0.125
    colours = style_colours(style for _, _, style in ordered)
    for number, ((time, _, style), (level, flip, lines)) in enumerate(zip(ordered, labels)):
        colour = colours[style]
        for axes in other_axes:
            if axes.get_visible():
                axes.axvline(time, color=colour, linewidth=1.6, alpha=0.9, zorder=4)
        y = 0.96 - level * (0.96 / CUE_LEVELS)
        x = time - 4 / px_per_second if flip else time + 5 / px_per_second
        align = "right" if flip else "left"
        cue_axes.vlines([time], y - line_height * (len(lines) + 1), 1.0, colors=colour, linewidth=1.6, zorder=4)
        cue_axes.text(x, y, f"{number + 1}  {shorten(style, 24)}", color=colour, fontsize=10.5, fontweight="bold",
                      va="top", ha=align, zorder=6)
        cue_axes.text(x, y - line_height, "\n".join(lines), color=TEXT, fontsize=10, va="top", ha=align,
                      zorder=6, linespacing=1.25)


#: About one character's width of a label, in pixels (DejaVu Sans at 10 pt, 100 dpi).
CHAR_PX = 6.9
#: Most lines a prompt may wrap to when there is room.
MAX_LABEL_LINES = 4


def _wide_labels(ordered, duration: float, px_per_second: float):
    """Labels wrapped into the gap before the next cue, all on the first level; None if a gap is too narrow."""
    labels = []
    for number, (time, text, style) in enumerate(ordered):
        next_time = ordered[number + 1][0] if number + 1 < len(ordered) else duration
        room = int(((next_time - time) * px_per_second - 16) / CHAR_PX)
        if room < max(18, len(style) + 4):
            return None
        width = min(room, 56)
        lines = textwrap.wrap(" ".join(text.split()), width) or [""]
        if len(lines) > MAX_LABEL_LINES:
            lines = lines[:MAX_LABEL_LINES - 1] + [shorten(" ".join(lines[MAX_LABEL_LINES - 1:]), width)]
        labels.append((0, False, lines))
    return labels


def _dense_labels(ordered, duration: float, px_per_second: float, axes_width_px: float):
    """One-line labels, each on the first level where it overlaps nothing (else the least crowded)."""
    occupied: list[list[tuple[float, float]]] = [[] for _ in range(CUE_LEVELS)]
    labels = []
    # Each label may be as wide as CUE_LEVELS of the tightest gaps, so the staggering never collides.
    times = [time for time, _, _ in ordered] + [duration]
    tightest = sorted(np.diff(times))[: max(1, len(ordered) // 4)]
    limit = int(np.clip(CUE_LEVELS * float(np.mean(tightest)) * px_per_second / CHAR_PX - 3, 10, 40))
    for time, text, style in ordered:
        line = shorten(text, limit)
        start_px = time * px_per_second
        room = int((axes_width_px - start_px) / CHAR_PX) - 2
        if len(line) > room:  # near the right edge a label shortens, and hangs leftwards only past that
            line = shorten(text, max(10, room))
        label_px = (max(len(line), len(shorten(style, 24)) + 3) + 1) * CHAR_PX
        flip = start_px + label_px > axes_width_px
        span = (start_px - label_px, start_px) if flip else (start_px, start_px + label_px)
        overlaps = [sum(1 for a, b in spans if a < span[1] + 6 and span[0] < b + 6) for spans in occupied]
        level = int(np.argmin(overlaps))  # argmin takes the first free level when there is one
        occupied[level].append(span)
        labels.append((level, flip, [line]))
    return labels


def _draw_axes_labels(cue_axes, wave_axes, band_axes, thumb_axes, bar_times, duration: float) -> None:
    """Seconds along the bottom, bar numbers along the top."""
    bottom = thumb_axes if thumb_axes.get_visible() else band_axes
    bottom.tick_params(labelbottom=True, colors=DIM_TEXT, labelsize=10)
    step = _nice_step(duration / 16)
    ticks = np.arange(0.0, duration + 1e-9, step)
    bottom.set_xticks(ticks, [_clock(t, duration) for t in ticks])
    bottom.set_xlabel("time", color=DIM_TEXT, fontsize=10, labelpad=2, loc="right")
    for axes in (cue_axes, wave_axes, band_axes):
        axes.grid(False)
    if bar_times is not None and len(bar_times):
        bars = [(number + 1, float(t)) for number, t in enumerate(bar_times) if 0 <= t <= duration]
        every = max(1, int(np.ceil(len(bars) / 40)))
        every = next(n for n in (1, 2, 4, 8, 16, 32, 64, 10 ** 6) if n >= every)
        shown = [(n, t) for n, t in bars if (n - 1) % every == 0]
        top = cue_axes.secondary_xaxis("top")
        top.set_xticks([t for _, t in shown], [str(n) for n, _ in shown])
        top.tick_params(colors=DIM_TEXT, labelsize=10, length=3)
        cue_axes.text(-0.004, 1.0, "bar", transform=cue_axes.transAxes, color=DIM_TEXT, fontsize=10,
                      ha="right", va="bottom")
        for side in top.spines.values():
            side.set_visible(False)


def _nice_step(raw: float) -> float:
    """The smallest of 1, 2, 5 × 10^k seconds (or 10/15/30 s, minutes) at least ``raw``."""
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600):
        if step >= raw:
            return float(step)
    return 600.0


def _clock(seconds: float, duration: float) -> str:
    """Seconds on songs under a minute ("0 s", 2, 4 …), m:ss on longer ones."""
    if duration < 60:
        return "0 s" if seconds == 0 else f"{seconds:g}"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}:{rest:02d}"
