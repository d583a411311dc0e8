"""``vj schedule``: a schedule's value at every frame with the show's evaluator; errors one line, exit 2."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vj.cli import main
from vj.commands.schedule import evaluate

REPO = Path(__file__).resolve().parent.parent


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["schedule", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_csv_rows_are_the_shows_values(capsys) -> None:
    code, out, err = run(capsys, "0:(1), 4b:(1.05), 8b:(1.05)", "--csv", "--fps", "4", "--bpm", "60",
                         "--frames", "40")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "frame,value" and len(lines) == 41
    rows = [tuple(map(float, line.split(","))) for line in lines[1:]]
    assert rows[0] == (0, 1.0) and rows[8] == (8, pytest.approx(1.025)) and rows[16] == (16, 1.05)
    assert rows[39][1] == 1.05


def test_deforum_seed_schedule_and_warnings(capsys) -> None:
    code, out, _ = run(capsys, '0:(s), 1:(-1), "max_f-2":(-1), "max_f-1":(s), 1:(-1)', "--frames", "6",
                       "--seed", "9")
    assert code == 0
    assert out.splitlines()[1:2] == ["# warning: duplicate key '1' at column 47: the later one is used, as in Deforum"]
    assert [line.split()[1] for line in out.splitlines()[2:]] == ["9", "-1", "-1", "-1", "9", "9"]


def test_default_frames_reach_past_the_last_key() -> None:
    _, rows = evaluate("0:(0), 300:(1)", fps=24.0)
    assert len(rows) == 300 + 24 + 1 and rows[-1][1] == 1.0
    _, rows = evaluate("0:(1/(t-5))")
    assert rows[5][1] == pytest.approx(0.0)  # bridged over the infinite frame, as Deforum


def test_plot_writes_a_png(capsys, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "zoom.png"
    code, text, _ = run(capsys, "0:(1.0025+0.002*sin(1.25*3.14*t/30))", "--plot", str(out))
    assert code == 0 and out.is_file() and out.stat().st_size > 5000
    assert f"curve drawn to {out}" in text
    assert [p.name for p in out.parent.iterdir()] == ["zoom.png"]


@pytest.mark.parametrize("text, message", [
    ("0:(1), 4b:(1.05, 8b:(1)", "the '(' of key '4b' is never closed at column 11"),
    ("0:(1), 5:(sin(tt))", "unknown name 'tt' (did you mean 't'?) at column 15"),
    ("0: 10: (1)", "two keys '0' and '10' for one value: keep one, e.g. 10:(...) at column 4"),
])
def test_errors_are_one_line_with_the_column_exit_2(text, message) -> None:
    env = {"PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "vj", "schedule", text], capture_output=True, text=True,
                            cwd=REPO, timeout=60, env={**__import__("os").environ, **env})
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert "Traceback" not in result.stderr
