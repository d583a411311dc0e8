"""tools/bench_sync.py end to end on a folder of two real clips: it reads the shared format, scores
every system, and a quiet input (``--gain``) still scores as the clips' own level does offline."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MUSIC = REPO.parent / "shared" / "data" / "music"
CLIPS = ("gtzan_disco_00005", "bock_ff123_41_30sec")
pytest.importorskip("mir_eval")
needs_music = pytest.mark.skipif(not (MUSIC / "index.csv").is_file(), reason=f"no annotated music at {MUSIC}")


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """The two clips in the shared/data/music layout."""
    (tmp_path / "audio").mkdir()
    (tmp_path / "annotations").mkdir()
    lines = (MUSIC / "index.csv").read_text().splitlines()
    (tmp_path / "index.csv").write_text("\n".join([lines[0]] + [line for line in lines[1:] if line.split(",")[0] in CLIPS]) + "\n")
    for name in CLIPS:
        shutil.copy(MUSIC / "audio" / f"{name}.flac", tmp_path / "audio")
        for notes in (MUSIC / "annotations").glob(f"{name}.*"):
            shutil.copy(notes, tmp_path / "annotations")
    return tmp_path


def _summary(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, list[str]]:
    sys.path.insert(0, str(REPO))
    from tools.bench_sync import main

    assert main(list(args)) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[-3:]]
    return {row[0]: row[1:] for row in rows if row and row[0] in ("offline", "aubio")}


@needs_music
def test_bench_sync_scores_a_folder_and_a_quiet_input(folder: Path, capsys: pytest.CaptureFixture[str]):
    level = _summary(capsys, str(folder), "--systems", "offline,aubio", "--quiet")
    quiet = _summary(capsys, str(folder), "--systems", "offline,aubio", "--quiet", "--gain", "-20")
    assert set(level) == set(quiet) == {"offline", "aubio"}
    beat_f, onset_f = float(level["offline"][0]), float(level["offline"][4])  # beat F, onset F (mix)
    assert beat_f > 0.9 and onset_f > 0.8, level
    assert float(quiet["offline"][0]) == pytest.approx(beat_f, abs=0.02), quiet  # the level step
    assert float(quiet["offline"][4]) == pytest.approx(onset_f, abs=0.03), quiet
