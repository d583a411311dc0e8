"""The rig flags before any window: a missing extra is one line naming it (exit 2), and a bad
--follow address is refused; nothing opens."""
from __future__ import annotations

import sys

import pytest

from vj.cli import main
from vj.render import window as window_module

SMALL = """\
title: small
output: {width: 64, height: 64, fps: 24}
model: procedural
songs:
  - name: one
    bpm: 120
"""


@pytest.fixture
def setlist(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a window was opened")

    monkeypatch.setattr(window_module, "OutputWindow", refuse)
    path = tmp_path / "set.yaml"
    path.write_text(SMALL)
    return str(path)


@pytest.mark.parametrize("flags, module, extra", [
    (["--tempo", "link"], "aalink", "vj[link]"),
    (["--link"], "aalink", "vj[link]"),
    (["--ndi", "wall"], "cyndilib", "vj[ndi]"),
])
def test_a_missing_extra_is_one_line_naming_it(setlist, monkeypatch, capsys, flags, module, extra):
    monkeypatch.setitem(sys.modules, module, None)   # as if not installed: its import fails
    assert main(["live", setlist, "--windowed", "--no-audio", "--no-osc", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert extra in err and "Traceback" not in err and len(err.splitlines()) == 1, err


def test_a_song_with_a_link_tempo_lead_needs_the_extra_too(setlist, monkeypatch, capsys, tmp_path):
    path = tmp_path / "link.yaml"
    path.write_text(SMALL + "    tempo_lead: link\n")
    monkeypatch.setitem(sys.modules, "aalink", None)
    assert main(["live", str(path), "--windowed", "--no-audio", "--no-osc"]) == 2
    assert "vj[link]" in capsys.readouterr().err


def test_rehearse_ndi_needs_the_preview(capsys, tmp_path):
    from pathlib import Path

    demo = Path(__file__).resolve().parents[2] / "setlists" / "demo.yaml"
    assert main(["rehearse", str(demo), "--ndi", "x", "--seconds", "1", "-o", str(tmp_path / "x.mp4")]) == 2
    assert "--preview" in capsys.readouterr().err


def test_a_bad_follow_address_is_refused(setlist, capsys):
    assert main(["live", setlist, "--windowed", "--no-audio", "--no-osc", "--follow", "host:notaport"]) == 2
    assert "--follow" in capsys.readouterr().err


def test_a_follow_host_that_does_not_resolve_is_refused(setlist, capsys):
    assert main(["live", setlist, "--windowed", "--no-audio", "--no-osc", "--follow", "nowhere.invalid:9000"]) == 2
    err = capsys.readouterr().err
    assert "--follow nowhere.invalid:9000" in err and "Traceback" not in err
