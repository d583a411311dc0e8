"""``vj analyse --plot``: a track's analysis drawn with the timeline picture's renderer."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vj.audio.offline import TrackAnalysis
from vj.errors import VjError
from vj.output.timeline import render_timeline


def plot_analysis(analysis: TrackAnalysis, path: str | Path, live=None) -> Path:
    """Draw waveform, onsets, beats and downbeats (with bar numbers) to a PNG with the timeline
    picture's renderer, so a VJ can check the grid by eye; with ``live`` (a ``LiveReplay``), the
    live analysis's onsets and beats instead of the offline ones."""
    onsets, strengths = analysis.onset_times, analysis.onset_strengths
    beats, downbeats = analysis.beat_times, analysis.downbeat_times
    what = "offline"
    if live is not None:
        onsets = live.onset_times
        strengths = np.array([o.strength for o in live.onsets])
        beats, downbeats, what = live.beat_times, live.downbeat_times, "live (as vj live decides)"
    preview = analysis.waveform_preview
    bands = {name: analysis.series(name) for name in ("low", "mid", "high")}
    title = (f"{analysis.path.name} · {what} · {analysis.bpm:.1f} BPM · {analysis.beats_per_bar} beats a bar · "
             f"{len(beats)} beats, {len(downbeats)} downbeats")
    try:
        return render_timeline(path, duration=analysis.duration, waveform_times=preview[0], waveform_min=preview[1],
                               waveform_max=preview[2], onset_times=onsets, onset_strengths=strengths,
                               beat_times=beats, downbeat_times=downbeats, bands=bands, title=title,
                               bar_times=downbeats if len(downbeats) else None)
    except OSError as exc:
        raise VjError(f"cannot write the picture {path}: {exc.strerror or exc}") from None


__all__ = ["plot_analysis"]
