"""vj's own hop spectrum against aubio's phase vocoder (the reference it replaced), and vj's default
analysis, offline and live, with aubio not importable at all."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vj.audio.decode import decode_audio
from vj.audio.spectrum import HopSpectrum

REPO = Path(__file__).resolve().parents[2]
MUSIC = REPO.parent / "shared" / "data" / "music" / "audio"


@pytest.mark.parametrize("win,hop", [(1024, 256), (1024, 512), (2048, 441)])
def test_hop_spectrum_matches_aubio_pvoc_on_real_music(win, hop):
    aubio = pytest.importorskip("aubio")
    samples = decode_audio(MUSIC / "gtzan_pop_00007.flac")[: 44100 * 3]
    ours, theirs = HopSpectrum(win, hop), aubio.pvoc(win, hop)
    worst = 0.0
    for i in range(len(samples) // hop):
        chunk = np.ascontiguousarray(samples[i * hop:(i + 1) * hop])
        a, b = ours(chunk), np.asarray(theirs(chunk).norm)
        worst = max(worst, float(np.max(np.abs(a - b)) / max(float(np.max(b)), 1e-12)))
    assert worst < 1e-5, worst


BLOCK_AUBIO = """
import sys
sys.modules["aubio"] = None          # `import aubio` now raises ImportError
from vj.audio.offline import analyse_samples
from vj.audio.analysis import HopAnalyser
from vj.audio.live import live_analysis_settings
from vj.audio.decode import decode_audio
samples = decode_audio(sys.argv[1])[: 44100 * 12]
analysis = analyse_samples(samples)
assert len(analysis.beat_times) > 10 and len(analysis.onset_times) > 10, analysis.beat_message
live = HopAnalyser(live_analysis_settings(None, 44100, 256, "fast"), beats=False)
hits = sum(live.process(samples[i * 256:(i + 1) * 256]).is_onset for i in range(len(samples) // 256))
assert hits > 10, hits
try:
    analyse_samples(samples, beat_method="aubio")
except Exception as exc:
    print("refused:", exc)
"""


def test_the_default_analysis_runs_without_aubio():
    result = subprocess.run([sys.executable, "-c", BLOCK_AUBIO, str(MUSIC / "gtzan_pop_00007.flac")],
                            capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "refused: aubio's beat tracker needs aubio, an optional extra (GPL-3.0): pip install 'vj[aubio]'" \
        in result.stdout
