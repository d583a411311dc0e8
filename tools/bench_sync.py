"""Score vj's onsets, beats, downbeats and tempo against human annotations, in one run.

    .venv/bin/python tools/bench_sync.py ../shared/data/music            # every clip
    .venv/bin/python tools/bench_sync.py ../shared/data/music --only beat --limit 10 --markdown
    .venv/bin/python tools/bench_sync.py ../shared/data/music --gain -20   # a quiet input

DIR is in the ``shared/data/music`` format (see its README): ``index.csv`` with ``name`` and
``group`` (``beat`` clips have ``.beats`` = time + bar position and ``.bpm``; ``mix`` and ``soft``
clips have ``.onsets``), audio in ``audio/<name>.flac``.

Three systems, scored the same way with mir_eval:
- ``offline``: ``vj analyse`` (``vj.audio.offline.analyse_samples``), the whole song at once;
- ``live``: the causal live analysis replayed hop by hop (``vj.audio.replay.replay_live``), as
  ``vj live`` hears it (hop 256);
- ``aubio``: aubio's own tempo and onset trackers at their defaults (win 1024, hop 512).

Scoring: beat and downbeat F-measure at ±70 ms after the first 5 s (``mir_eval.beat``); onset
F-measure at ±50 ms with annotated onsets closer than 30 ms merged into their mean (as madmom's
evaluation does); tempo "right" within 4 % of the annotation, "octave" also counting ×2, ×½, ×3
and ×⅓ (the usual Accuracy 2). The per-clip means are printed per group, and the analysis speed
as a multiple of real time.
"""
from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.score_onsets import combine_onsets  # noqa: E402  (the onset scoring both tools share)

SYSTEMS = ("offline", "live", "aubio")
TEMPO_TOLERANCE = 0.04
OCTAVES = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)


@dataclass
class Clip:
    name: str
    group: str
    audio: Path
    beats: np.ndarray | None = None  # (n, 2): time, position
    bpm: float | None = None
    onsets: np.ndarray | None = None


@dataclass
class Estimate:
    onsets: np.ndarray
    beats: np.ndarray
    downbeats: np.ndarray
    bpm: float
    seconds: float  # analysis time


@dataclass
class Scores:
    values: dict[str, float] = field(default_factory=dict)


def load_clips(folder: Path, only: str | None, limit: int | None) -> list[Clip]:
    clips = []
    with open(folder / "index.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            group = row["group"]
            if only == "beat" and group != "beat" or only == "onset" and group == "beat":
                continue
            clip = Clip(row["name"], group, folder / "audio" / f"{row['name']}.flac")
            notes = folder / "annotations"
            if (notes / f"{clip.name}.beats").is_file():
                clip.beats = np.loadtxt(notes / f"{clip.name}.beats", ndmin=2)
            if (notes / f"{clip.name}.bpm").is_file():
                clip.bpm = float((notes / f"{clip.name}.bpm").read_text().split()[0])
            if (notes / f"{clip.name}.onsets").is_file():
                clip.onsets = np.loadtxt(notes / f"{clip.name}.onsets", ndmin=1)
            clips.append(clip)
    if limit:  # an even spread over the groups, not the first few of one
        by_group: dict[str, list[Clip]] = {}
        for clip in clips:
            by_group.setdefault(clip.group, []).append(clip)
        clips = [c for group in by_group.values() for c in group[:: max(1, math.ceil(len(group) / limit))]]
    return clips


def run_offline(samples: np.ndarray, sample_rate: int) -> Estimate:
    from vj.audio.offline import analyse_samples

    started = time.perf_counter()
    analysis = analyse_samples(samples)
    return Estimate(analysis.onset_times, analysis.beat_times, analysis.downbeat_times, analysis.bpm,
                    time.perf_counter() - started)


def run_live(samples: np.ndarray, sample_rate: int) -> Estimate:
    from vj.audio.replay import replay_live

    started = time.perf_counter()
    replay = replay_live(samples, sample_rate)
    return Estimate(replay.onset_times, replay.beat_times, replay.downbeat_times, replay.bpm_after(10.0),
                    time.perf_counter() - started)


def run_aubio(samples: np.ndarray, sample_rate: int) -> Estimate:
    import aubio

    started = time.perf_counter()
    win, hop = 1024, 512
    tempo = aubio.tempo("default", win, hop, sample_rate)
    onset = aubio.onset("default", win, hop, sample_rate)
    beats, onsets = [], []
    padded = np.concatenate([samples, np.zeros(hop * 8, dtype=np.float32)])
    for start in range(0, len(padded) - hop + 1, hop):
        chunk = padded[start:start + hop]
        if tempo(chunk)[0]:
            beats.append(tempo.get_last_s())
        if onset(chunk)[0]:
            onsets.append(onset.get_last_s())
    beats = np.array(beats)
    from vj.audio.beats import tempo_of

    return Estimate(np.array(onsets), beats, np.zeros(0), tempo_of(beats), time.perf_counter() - started)


RUNNERS = {"offline": run_offline, "live": run_live, "aubio": run_aubio}


def score(clip: Clip, estimate: Estimate) -> dict[str, float]:
    import mir_eval

    out: dict[str, float] = {}
    if clip.onsets is not None:
        out["onset_f"] = float(mir_eval.onset.f_measure(combine_onsets(clip.onsets), np.sort(estimate.onsets),
                                                        window=0.05)[0])
    if clip.beats is not None:
        reference = mir_eval.beat.trim_beats(clip.beats[:, 0])
        out["beat_f"] = float(mir_eval.beat.f_measure(reference, mir_eval.beat.trim_beats(np.sort(estimate.beats))))
        if clip.beats.shape[1] > 1 and len(estimate.downbeats) + 1:
            downbeats = mir_eval.beat.trim_beats(clip.beats[clip.beats[:, 1] == 1, 0])
            out["downbeat_f"] = float(mir_eval.beat.f_measure(downbeats,
                                                              mir_eval.beat.trim_beats(np.sort(estimate.downbeats))))
    if clip.bpm:
        bpm = estimate.bpm
        out["tempo"] = float(bpm > 0 and abs(bpm - clip.bpm) <= TEMPO_TOLERANCE * clip.bpm)
        out["tempo_octave"] = float(bpm > 0 and any(abs(bpm * k - clip.bpm) <= TEMPO_TOLERANCE * clip.bpm
                                                    for k in OCTAVES))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("folder", type=Path, help="a folder in the shared/data/music format")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma list of {', '.join(SYSTEMS)}")
    parser.add_argument("--only", choices=["beat", "onset"], help="only the beat clips, or only the onset clips")
    parser.add_argument("--limit", type=int, help="at most this many clips per group (spread evenly)")
    parser.add_argument("--markdown", action="store_true", help="print the summary as a Markdown table")
    parser.add_argument("--quiet", action="store_true", help="no per-clip lines")
    parser.add_argument("--gain", type=float, default=0.0, metavar="DB",
                        help="play every clip this many dB louder (negative: quieter), as a low or hot "
                             "input would reach vj (samples clipped to ±1)")
    args = parser.parse_args(argv)
    systems = [s for s in args.systems.split(",") if s]
    unknown = [s for s in systems if s not in RUNNERS]
    if unknown:
        parser.error(f"unknown system(s) {', '.join(unknown)}; use {', '.join(SYSTEMS)}")
    if not (args.folder / "index.csv").is_file():
        print(f"bench_sync: {args.folder} has no index.csv", file=sys.stderr)
        return 2
    try:
        import mir_eval  # noqa: F401
    except ImportError:
        print("bench_sync: needs mir_eval (pip install mir_eval)", file=sys.stderr)
        return 2
    from vj.audio.decode import decode_audio

    clips = load_clips(args.folder, args.only, args.limit)
    results: dict[str, list[tuple[Clip, dict[str, float]]]] = {s: [] for s in systems}
    speed: dict[str, list[float]] = {s: [] for s in systems}
    for clip in clips:
        samples = decode_audio(clip.audio, 44100)
        if args.gain:
            samples = np.clip(samples * np.float32(10 ** (args.gain / 20)), -1.0, 1.0)
        duration = len(samples) / 44100
        line = [f"{clip.name[:34]:34s} {clip.group:5s}"]
        for system in systems:  # interleaved per clip: machine load falls on all alike
            estimate = RUNNERS[system](samples, 44100)
            scored = score(clip, estimate)
            results[system].append((clip, scored))
            speed[system].append(duration / max(estimate.seconds, 1e-9))
            line.append(f"{system}: " + " ".join(f"{k}={v:.2f}" for k, v in scored.items()))
        if not args.quiet:
            print("  ".join(line), flush=True)
    print(summary(results, speed, args.markdown))
    return 0


METRICS = [("beat", "beat_f", "beat F"), ("beat", "tempo", "tempo right"), ("beat", "tempo_octave", "tempo octave"),
           ("beat", "downbeat_f", "downbeat F"), ("mix", "onset_f", "onset F mix"), ("soft", "onset_f", "onset F soft")]


def summary(results: dict[str, list[tuple[Clip, dict[str, float]]]], speed: dict[str, list[float]],
            markdown: bool) -> str:
    header = ["system"] + [label for _, _, label in METRICS] + ["× real time"]
    rows = []
    for system, scored in results.items():
        row = [system]
        for group, key, _ in METRICS:
            values = [s[key] for clip, s in scored if clip.group == group and key in s]
            if system == "aubio" and key == "downbeat_f":
                values = []
            row.append(f"{np.mean(values):.3f}" if values else "–")
        row.append(f"{np.median(speed[system]):.0f}" if speed[system] else "–")
        rows.append(row)
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    return "\n".join("  ".join(str(c).rjust(w) for c, w in zip(r, widths)) for r in [header] + rows)


if __name__ == "__main__":
    sys.exit(main())
