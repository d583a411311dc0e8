"""Where offline audio analysis spends its time: each part of ``analyse_samples`` on one song.

    .venv/bin/python tools/bench_analysis.py                       # a 30 s GTZAN clip from ../shared
    taskset -c 1 .venv/bin/python tools/bench_analysis.py SONG.flac --repeat 5 --live

Each part is timed best of ``--repeat`` runs (these machines are shared: the best run is the one
least disturbed) and printed as seconds and as a multiple of real time, as a Markdown table. Pin the
process to one core (``taskset``) to measure the one-core figure the targets are stated in.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_SONG = Path(__file__).resolve().parents[2] / "shared" / "data" / "music" / "audio" / "gtzan_pop_00005.flac"


def best_of(repeat: int, work: Callable[[], object]) -> float:
    """The shortest of ``repeat`` timed runs of ``work`` (after one untimed warm-up run)."""
    work()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def parts(samples, sample_rate: int, live: bool) -> list[tuple[str, Callable[[], object]]]:
    """(label, work) for the whole analysis and each of its parts, on the same samples."""
    from vj.audio.analysis import AnalysisSettings, hop_series
    from vj.audio.beat_features import SAMPLE_RATE, beat_features
    from vj.audio.beat_model import song_activations
    from vj.audio.beats import beats_from_activations, hear_song, resample, stretch_rates, track_beats
    from vj.audio.offline import analyse_samples
    from vj.audio.onsets import detect_onsets

    settings = AnalysisSettings(sample_rate=sample_rate)
    audio = resample(samples, sample_rate)
    acts, cues = hear_song(audio)
    features = [beat_features(audio)] + [beat_features(resample(audio, SAMPLE_RATE, rate)) for rate in stretch_rates()]
    hops = len(samples) // settings.hop
    table = [
        ("whole offline analysis (`analyse_samples`)", lambda: analyse_samples(samples, settings)),
        ("beats: resample, features, CRNN ×3, HMM, bars (`track_beats`)", lambda: track_beats(samples, sample_rate)),
        ("  the network on the song and its two stretched versions (`song_activations`)",
         lambda: song_activations(features)),
        ("  beat HMM and bar choice (`beats_from_activations`)", lambda: beats_from_activations(acts, cues)),
        ("onsets: SuperFlux (`detect_onsets`)", lambda: detect_onsets(samples, sample_rate)),
        ("per-hop series at once (`hop_series`: bands, percussive/harmonic split)",
         lambda: hop_series(samples, settings, hops)),
    ]
    if live:
        from vj.audio.replay import replay_live

        table.append(("live replay, hop 256 (bands, HPSS, onsets, beats)", lambda: replay_live(samples, sample_rate)))
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("song", type=Path, nargs="?", default=DEFAULT_SONG, help="an audio file (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per part; the best counts (default 3)")
    parser.add_argument("--live", action="store_true", help="also time the live replay (one run: it is slow)")
    args = parser.parse_args(argv)
    if not args.song.is_file():
        print(f"bench_analysis: no such file: {args.song}", file=sys.stderr)
        return 2
    from vj.audio.decode import decode_audio

    sample_rate = 44100
    samples = decode_audio(args.song, sample_rate)
    duration = len(samples) / sample_rate
    print(f"{args.song.name}: {duration:.1f} s, best of {args.repeat}\n")
    print("| part | seconds | × real time |\n|---|---|---|")
    for label, work in parts(samples, sample_rate, args.live):
        seconds = best_of(1 if label.startswith("live") else args.repeat, work)
        print(f"| {label} | {seconds:.3f} | {duration / seconds:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
