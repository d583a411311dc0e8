#!/usr/bin/env python3
"""Onset F-measure on the Böck clips of ``../shared/data/music``, per group (``mix``, ``soft``).

Scoring (madmom's evaluation): reference onsets closer than 30 ms are merged into their mean, then
``mir_eval.onset.f_measure`` at ±50 ms per clip; a group's figure is the mean of its clips' F.

    .venv/bin/python tools/score_onsets.py [--data DIR] [--which offline,live,hfc] [--clips]
                                           [--half even|odd] [--leave-half-out]

``offline`` is ``vj.audio.onsets.detect_onsets``; ``live`` runs ``HopAnalyser`` hop by hop with the
live settings (``onset_method="fast"``, hop 256), as ``vj live`` hears the file; ``hfc`` is the old
offline path (aubio hfc, hop 256 / win 1024). ``--half`` scores every other clip of each group (by
the order of index.csv), for leave-half-out checks. For other tools: ``score_group`` and
``load_clips`` are importable.
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vj.audio.decode import decode_audio  # noqa: E402

DATA = REPO / ".." / "shared" / "data" / "music"
SR = 44100
#: madmom's evaluation merges annotated onsets closer than this (s) ...
COMBINE = 0.03
#: ... and matches detections within this (s).
WINDOW = 0.05

Detector = Callable[[np.ndarray, int], np.ndarray]


@dataclass(frozen=True)
class Clip:
    """One annotated clip, decoded mono at ``SR``."""

    name: str
    group: str
    samples: np.ndarray
    onsets: np.ndarray


def combine_onsets(onsets: np.ndarray, within: float = COMBINE) -> np.ndarray:
    """Merge onsets closer than ``within`` (s) into their mean, as madmom's evaluation does."""
    onsets = np.sort(np.asarray(onsets, dtype=np.float64))
    if len(onsets) < 2:
        return onsets
    groups: list[list[float]] = [[onsets[0]]]
    for t in onsets[1:]:
        if t - groups[-1][0] <= within:
            groups[-1].append(t)
        else:
            groups.append([t])
    return np.array([np.mean(g) for g in groups])


def load_clips(data: Path = DATA, groups: tuple[str, ...] = ("mix", "soft")) -> list[Clip]:
    """Every Böck clip of the given groups, in index.csv order."""
    clips = []
    with open(data / "index.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["group"] not in groups:
                continue
            onsets = np.loadtxt(data / "annotations" / f"{row['name']}.onsets", ndmin=1)
            samples = decode_audio(data / "audio" / f"{row['name']}.flac", SR)
            clips.append(Clip(row["name"], row["group"], samples, combine_onsets(onsets)))
    return clips


def f_measure(reference: np.ndarray, estimated: np.ndarray) -> tuple[float, float, float]:
    """(F, precision, recall) at ±``WINDOW`` s."""
    import mir_eval

    estimated = np.unique(np.asarray(estimated, dtype=np.float64))
    return mir_eval.onset.f_measure(reference, estimated, window=WINDOW)


def score_group(clips: list[Clip], detector: Detector) -> tuple[float, list[tuple[str, float, float, float]]]:
    """Mean per-clip F, and (name, F, precision, recall) per clip."""
    rows = []
    for clip in clips:
        rows.append((clip.name, *f_measure(clip.onsets, detector(clip.samples, SR))))
    return (float(np.mean([r[1] for r in rows])) if rows else float("nan")), rows


def offline_detector(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    from vj.audio.onsets import detect_onsets

    return detect_onsets(samples, sample_rate)[0]


def hop_detector(method: str, hop: int = 256, **settings: object) -> Detector:
    """Onset times as ``HopAnalyser`` reports them, fed hop by hop (``fast`` = the live path)."""
    from vj.audio.analysis import AnalysisSettings, HopAnalyser

    def detect(samples: np.ndarray, sample_rate: int) -> np.ndarray:
        analyser = HopAnalyser(AnalysisSettings(onset_method=method, hop=hop, sample_rate=sample_rate,
                                                **settings))
        padded = np.concatenate([samples, np.zeros(-len(samples) % hop + 1024, dtype=np.float32)])
        found = []
        for i in range(0, len(padded), hop):
            result = analyser.process(padded[i:i + hop])
            if result.is_onset:
                found.append(result.onset_time)
        return np.array(found)

    return detect


DETECTORS: dict[str, Callable[[], Detector]] = {
    "offline": lambda: offline_detector,
    "live": lambda: hop_detector("fast"),
    "hfc": lambda: hop_detector("hfc"),
}


def leave_half_out(clips: list[Clip], thresholds: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 1.0,
                                                                        1.1, 1.3)) -> None:
    """Tune the offline threshold on every other clip of each group, report it on the rest (both ways)."""
    from vj.audio.onsets import OnsetSettings, detect_onsets

    scores = {}  # threshold -> per-clip F, in clip order
    for threshold in thresholds:
        settings = OnsetSettings(threshold=threshold)
        scores[threshold] = [f_measure(c.onsets, detect_onsets(c.samples, SR, settings)[0])[0] for c in clips]
        print(f"threshold {threshold:<5g} " + "  ".join(
            f"{g} F {np.mean([f for f, c in zip(scores[threshold], clips) if c.group == g]):.3f}"
            for g in ("mix", "soft")), flush=True)
    for tune, test in ((0, 1), (1, 0)):
        def half_mean(threshold: float, half: int) -> dict[str, float]:
            out = {}
            for g in ("mix", "soft"):
                f = [f for f, c in zip(scores[threshold], clips) if c.group == g]
                out[g] = float(np.mean(f[half::2]))
            return out

        best = max(thresholds, key=lambda t: sum(half_mean(t, tune).values()))
        tuned, held = half_mean(best, tune), half_mean(best, test)
        print(f"tuned on half {tune}: threshold {best}; tuning half mix {tuned['mix']:.3f} soft {tuned['soft']:.3f}; "
              f"held-out half mix {held['mix']:.3f} soft {held['soft']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--which", default="offline,live")
    parser.add_argument("--clips", action="store_true", help="print every clip's F, P, R")
    parser.add_argument("--half", choices=("even", "odd"), default=None)
    parser.add_argument("--leave-half-out", action="store_true",
                        help="sweep the offline threshold, tune on half the clips, score the other half")
    args = parser.parse_args()
    if not (args.data / "index.csv").exists():
        sys.exit(f"no {args.data / 'index.csv'}: the annotated music is not there")
    clips = load_clips(args.data)
    if args.leave_half_out:
        leave_half_out(clips)
        return
    for which in args.which.split(","):
        detector = DETECTORS[which]()
        line = [f"{which:8s}"]
        for group in ("mix", "soft"):
            members = [c for c in clips if c.group == group]
            if args.half:
                members = members[(0 if args.half == "even" else 1)::2]
            started = time.perf_counter()
            mean, rows = score_group(members, detector)
            seconds = sum(len(c.samples) for c in members) / SR
            line.append(f"{group} F {mean:.3f} ({len(members)} clips, {seconds / (time.perf_counter() - started):.0f}x"
                        " real time)")
            if args.clips:
                for name, f, p, r in rows:
                    print(f"  {which:8s} {group:4s} {name:60s} F {f:.3f} P {p:.3f} R {r:.3f}")
        print("  ".join(line), flush=True)


if __name__ == "__main__":
    main()
