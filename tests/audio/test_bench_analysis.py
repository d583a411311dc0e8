"""tools/bench_analysis.py end to end on a real clip: every part of the offline analysis is timed
and printed as a Markdown table (the figures themselves belong in docs/benchmarks.md, not here)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLIP = REPO.parent / "shared" / "data" / "music" / "audio" / "gtzan_disco_00005.flac"


@pytest.mark.skipif(not CLIP.is_file(), reason=f"no annotated music at {CLIP.parent}")
def test_bench_analysis_times_every_part(capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(REPO))
    from tools.bench_analysis import main

    assert main([str(CLIP), "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("gtzan_disco_00005.flac: 30.3 s, best of 1")
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in out.splitlines() if line.startswith("| ")]
    assert rows[0] == ["part", "seconds", "× real time"]
    labels = [label for label, _, _ in rows[1:]]
    assert [label.split(" (`")[0].split(":")[0] for label in labels] == [
        "whole offline analysis", "beats", "the network on the song and its two stretched versions",
        "beat HMM and bar choice", "onsets", "per-hop series at once"]
    for _, seconds, speed in rows[1:]:  # each speed is the clip's 30.3 s over its seconds
        assert float(seconds) > 0 and float(speed) == pytest.approx(30.3 / float(seconds), rel=0.02, abs=1)

def test_bench_analysis_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO))
    from tools.bench_analysis import main

    assert main([str(tmp_path / "nope.flac")]) == 2
    assert "no such file" in capsys.readouterr().err
