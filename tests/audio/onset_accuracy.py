"""Onset-detection accuracy of aubio methods on synthesised drum + bass + pad mixes and the demo song.

Run:  .venv/bin/python tests/audio/onset_accuracy.py           (the chosen settings)
      .venv/bin/python tests/audio/onset_accuracy.py --sweep   (methods x thresholds x hops)
Prints precision, recall, F-measure and mean absolute timing error (±30 ms tolerance).
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
from vj.audio.analysis import AnalysisSettings  # noqa: E402
from vj.audio.decode import decode_audio  # noqa: E402

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
           silence: float = -60.0) -> np.ndarray:
    """Onset times (s) found by aubio, delay-corrected."""
    detector = aubio.onset(method, win, hop, synth.sample_rate)
    detector.set_threshold(threshold)
    detector.set_minioi_s(minioi)
    detector.set_silence(silence)
    x = synth.samples
    x = np.concatenate([x, np.zeros(-len(x) % hop + win, dtype=np.float32)])
    found = []
    for i in range(0, len(x), hop):
        if detector(x[i:i + hop])[0]:
            found.append(detector.get_last_s())
    return np.array(found)


def score(tracks: list[Synth], method: str, threshold: float, hop: int, win: int) -> tuple[float, float, float, float]:
    ps, rs, es = [], [], []
    for synth in tracks:
        p, r, e = match_events(synth.onsets, detect(synth, method, threshold, hop, win))
        ps.append(p), rs.append(r), es.append(e)
    p, r = float(np.mean(ps)), float(np.mean(rs))
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f, float(np.nanmean(es))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", action="store_true")
    args = parser.parse_args()
    tracks = [music(**kw) for kw in TRACKS] + [demo_track()]
    names = [str(kw) for kw in TRACKS] + ["setlists/demo-track.ogg"]
    s = AnalysisSettings()
    if not args.sweep:
        for kw, synth in zip(names, tracks):
            p, r, e = match_events(synth.onsets, detect(synth, s.onset_method, s.onset_threshold, s.hop, s.win))
            print(f"  {kw}: {len(synth.onsets)} onsets, precision {p:.3f} recall {r:.3f} mean |error| {e * 1000:.1f} ms")
        p, r, f, e = score(tracks, s.onset_method, s.onset_threshold, s.hop, s.win)
        print(f"{s.onset_method} thr={s.onset_threshold} hop={s.hop} win={s.win}: "
              f"precision {p:.3f} recall {r:.3f} F {f:.3f} mean |error| {e * 1000:.1f} ms")
        return
    grid = {"hfc": [0.03, 0.058, 0.1, 0.2, 0.3], "complex": [0.05, 0.1, 0.15, 0.25, 0.4],
            "specflux": [0.18, 0.3, 0.5, 0.8], "energy": [0.1, 0.3, 0.5],
            "specdiff": [0.1, 0.2, 0.3, 0.5], "mkl": [0.02, 0.05, 0.1, 0.2], "kl": [0.1, 0.2, 0.35, 0.5],
            "phase": [0.1, 0.3, 0.5], "wphase": [0.1, 0.3, 0.5]}
    for hop, win in ((256, 1024), (512, 1024)):
        for method, thresholds in grid.items():
            for threshold in thresholds:
                t0 = time.time()
                p, r, f, e = score(tracks, method, threshold, hop, win)
                print(f"hop={hop:4d} win={win:5d} {method:9s} thr={threshold:<6g} P={p:.3f} R={r:.3f} "
                      f"F={f:.3f} err={e * 1000:5.1f}ms ({time.time() - t0:.1f}s)", flush=True)


if __name__ == "__main__":
    main()
