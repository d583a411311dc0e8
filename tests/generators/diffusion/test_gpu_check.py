"""tools/gpu_check.py's dry run: every section runs on the CPU with the tiny model and leaves real
numbers in its JSON and Markdown, so the one command prepared for a lent GPU cannot rot unseen."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SECTIONS = ("precision", "speed", "recompile", "handoff", "onnx", "memory")


def number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def test_gpu_check_dry_run_fills_every_section(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_check.py"), "--dry-run", "--out", str(out),
                           "--threads", "1"], cwd=ROOT, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data = json.loads((out / "gpu_check.json").read_text())
    sections = data["sections"]
    assert set(sections) == set(SECTIONS)
    for name in SECTIONS:
        assert sections[name]["status"] == "ok", (name, sections[name].get("error"))
        assert number(sections[name]["seconds"])
    precision = sections["precision"]
    assert precision["dtype"] == "bfloat16" and not precision["nan_or_inf"] and precision["agrees"]
    assert number(precision["latent_relative_l2"]) and 0 < precision["latent_relative_l2"] < 0.1
    rows = {row["run"]: row for row in sections["speed"]["rows"]}
    assert set(rows) == {"vj eager, full VAE", "vj eager, TAESD", "vj compiled, TAESD", "vj compiled, full VAE",
                         "diffusers __call__, full VAE"}
    for row in rows.values():
        assert number(row["fps"]) and row["fps"] > 0 and number(row["p50 ms"]) and number(row["p99 ms"])
    recompile = sections["recompile"]
    assert recompile["zero_recompiles"] and recompile["recompiles_after_warm_up"] == 0
    assert recompile["forced_ran_without_raising"] and recompile["forced_compiles"] == 0
    assert recompile["forced_fallbacks"] == 3 and recompile["notice"]
    handoff = sections["handoff"]["rows"]
    assert [row["size"] for row in handoff] == [512, 1024]
    assert all(number(row["ms_p50"]) and row["ms_p50"] > 0 for row in handoff)
    onnx = sections["onnx"]
    assert onnx["checker"] == "passed" and onnx["files"] >= 1 and onnx["total_mib"] > 0
    assert number(sections["memory"]["process_peak_rss_mib"])
    text = (out / "gpu_check.md").read_text()
    assert all(f"{i}. {name}" in text for i, name in enumerate(SECTIONS, 1))


def test_gpu_check_without_a_gpu_says_so_in_one_line(tmp_path):
    import torch

    if torch.cuda.is_available():
        return
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_check.py"), "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("gpu_check: no CUDA GPU here")
