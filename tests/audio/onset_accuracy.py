"""Onset-detection accuracy of aubio methods and vj's causal "fast" detector on synthesised
drum + bass + pad mixes and the demo song.

Run:  .venv/bin/python tests/audio/onset_accuracy.py                (the chosen settings: hfc and fast)
      .venv/bin/python tests/audio/onset_accuracy.py --sweep        (aubio methods x thresholds x hops)
      .venv/bin/python tests/audio/onset_accuracy.py --fast-sweep   (fast: thresholds x hops)
Prints precision, recall, F-measure and mean absolute timing error (±30 ms tolerance), and how many
hops after the hop holding the attack each detector decided (0 = on that hop).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import aubio
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from audio_synth import Synth, _merge, match_events, music  # noqa: E402
from vj.audio.analysis import AnalysisSettings, default_onset_threshold  # noqa: E402
from vj.audio.decode import decode_audio  # noqa: E402
from vj.audio.fast_onset import FastOnset  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def demo_track() -> Synth:
    """setlists/demo-track.ogg as decoded (after Vorbis coding), with the hits its generator placed."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_demo_audio", ROOT / "tools" / "make_demo_audio.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    hits: list[float] = []
    module.render(hits)
    truth = _merge(np.array(sorted(hits)), 0.02)
    samples = decode_audio(ROOT / "setlists" / "demo-track.ogg")
    return Synth(samples, truth, np.zeros(0), np.zeros(0))

TRACKS = [dict(bpm=120, bars=8, seed=1), dict(bpm=97, bars=6, seed=2), dict(bpm=132, bars=8, seed=3),
          dict(bpm=120, bars=8, seed=4, pad=False), dict(bpm=120, bars=8, seed=5, drums=False),
          dict(bpm=97, bars=6, seed=6, drums=False)]


def detect(synth: Synth, method: str, threshold: float, hop: int, win: int, minioi: float = 0.05,
           silence: float = -60.0, hops: list[int] | None = None) -> np.ndarray:
    """Onset times (s) found by aubio (delay-corrected) or, for method "fast", by vj's causal
    detector on the same phase-vocoder magnitudes HopAnalyser uses. ``hops`` collects the index of
    the hop that decided each onset."""
    x = synth.samples
    x = np.concatenate([x, np.zeros(-len(x) % hop + win, dtype=np.float32)])
    found = []
    if method == "fast":
        pvoc = aubio.pvoc(win, hop)
        fast = FastOnset(hop=hop, win=win, sample_rate=synth.sample_rate, threshold=threshold,
                         minioi_seconds=minioi, silence_db=silence)
        for i in range(0, len(x), hop):
            fired, offset, _ = fast.process(np.asarray(pvoc(x[i:i + hop]).norm), x[i:i + hop])
            if fired:
                found.append((i + offset) / synth.sample_rate)
                if hops is not None:
                    hops.append(i // hop)
        return np.array(found)
    detector = aubio.onset(method, win, hop, synth.sample_rate)
    detector.set_threshold(threshold)
    detector.set_minioi_s(minioi)
    detector.set_silence(silence)
    for i in range(0, len(x), hop):
        if detector(x[i:i + hop])[0]:
            found.append(detector.get_last_s())
            if hops is not None:
                hops.append(i // hop)
    return np.array(found)


def decision_lags(synth: Synth, found: np.ndarray, hops: list[int], hop: int) -> list[int]:
    """For each true onset found within 30 ms: deciding hop minus the hop holding the attack."""
    lags = []
    for t in synth.onsets:
        if len(found):
            nearest = int(np.argmin(np.abs(found - t)))
            if abs(found[nearest] - t) <= 0.03:
                lags.append(hops[nearest] - int(t * synth.sample_rate // hop))
    return lags


def score(tracks: list[Synth], method: str, threshold: float, hop: int,
          win: int) -> tuple[float, float, float, float, list[int]]:
    ps, rs, es, lags = [], [], [], []
    for synth in tracks:
        hops: list[int] = []
        found = detect(synth, method, threshold, hop, win, hops=hops)
        p, r, e = match_events(synth.onsets, found)
        ps.append(p), rs.append(r), es.append(e)
        lags += decision_lags(synth, found, hops, hop)
    p, r = float(np.mean(ps)), float(np.mean(rs))
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f, float(np.nanmean(es)), lags


def describe_lags(lags: list[int]) -> str:
    counts = np.bincount(np.asarray(lags) - min(lags))
    spread = ", ".join(f"{lag}: {n}" for lag, n in zip(range(min(lags), max(lags) + 1), counts) if n)
    return f"decided hops after the attack's hop {{{spread}}}, within 1 hop {np.mean(np.asarray(lags) <= 1):.0%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--fast-sweep", action="store_true")
    args = parser.parse_args()
    tracks = [music(**kw) for kw in TRACKS] + [demo_track()]
    names = [str(kw) for kw in TRACKS] + ["setlists/demo-track.ogg"]
    s = AnalysisSettings()
    if args.fast_sweep:
        for hop in (256, 512):
            for threshold in (0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.7, 1.0):
                t0 = time.time()
                p, r, f, e, lags = score(tracks, "fast", threshold, hop, s.win)
                print(f"hop={hop:4d} win={s.win:5d} fast      thr={threshold:<6g} P={p:.3f} R={r:.3f} F={f:.3f} "
                      f"err={e * 1000:5.1f}ms within 1 hop {np.mean(np.asarray(lags) <= 1):.0%} "
                      f"({time.time() - t0:.1f}s)", flush=True)
        return
    if not args.sweep:
        for method in (s.onset_method, "fast"):
            threshold = s.onset_threshold if method == s.onset_method else default_onset_threshold(method)
            print(f"{method}:")
            for kw, synth in zip(names, tracks):
                p, r, e = match_events(synth.onsets, detect(synth, method, threshold, s.hop, s.win))
                print(f"  {kw}: {len(synth.onsets)} onsets, precision {p:.3f} recall {r:.3f} "
                      f"mean |error| {e * 1000:.1f} ms")
            p, r, f, e, lags = score(tracks, method, threshold, s.hop, s.win)
            print(f"{method} thr={threshold} hop={s.hop} win={s.win}: "
                  f"precision {p:.3f} recall {r:.3f} F {f:.3f} mean |error| {e * 1000:.1f} ms; {describe_lags(lags)}")
        return
    grid = {"hfc": [0.03, 0.058, 0.1, 0.2, 0.3], "complex": [0.05, 0.1, 0.15, 0.25, 0.4],
            "specflux": [0.18, 0.3, 0.5, 0.8], "energy": [0.1, 0.3, 0.5],
            "specdiff": [0.1, 0.2, 0.3, 0.5], "mkl": [0.02, 0.05, 0.1, 0.2], "kl": [0.1, 0.2, 0.35, 0.5],
            "phase": [0.1, 0.3, 0.5], "wphase": [0.1, 0.3, 0.5]}
    for hop, win in ((256, 1024), (512, 1024)):
        for method, thresholds in grid.items():
            for threshold in thresholds:
                t0 = time.time()
                p, r, f, e, _ = score(tracks, method, threshold, hop, win)
                print(f"hop={hop:4d} win={win:5d} {method:9s} thr={threshold:<6g} P={p:.3f} R={r:.3f} "
                      f"F={f:.3f} err={e * 1000:5.1f}ms ({time.time() - t0:.1f}s)", flush=True)


if __name__ == "__main__":
    main()
