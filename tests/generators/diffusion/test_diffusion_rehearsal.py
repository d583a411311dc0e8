"""A setlist whose ``model:`` is a diffusers folder rehearses end to end through the real loader,
the engine's camera stage and the MP4 writer; a generator that breaks mid-song never stops it."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from vj.generators.base import GeneratorError
from vj.generators.diffusion.generator import DiffusionGenerator
from vj.show.rehearse import plan_rehearsal, render_rehearsal
from vj.setlist.models import load_setlist

AUDIO = Path(__file__).resolve().parents[3] / "setlists" / "demo-track.ogg"

SETLIST = """\
title: tiny diffusion
output: {{width: 64, height: 64, fps: 8}}
model: {model}
seed: 3
styles:
  ink: {{prefix: "ink drawing of ", strength: 0.5, seed: 4, steps: 1}}
  storm: {{prefix: "storm over ", strength: "0:(0.6 + 0.2*onset)", seed: 9, steps: 2, guidance: 2.0,
          negative: "blurry"}}
songs:
  - name: tiny
    audio: {audio}
    style: ink
    prompt: "a harbour"
    camera: {{mode: {mode}, zoom: "0:(1.02)", translation_z: "0:(4)"}}
    cues:
      - {{at: b2, style: storm, prompt: ["lighthouse:0.7", "gulls:0.3"], transition: 1b}}
"""


def _setlist(tmp_path: Path, model: Path, mode: str = "2d"):
    path = tmp_path / f"set-{mode}.yaml"
    path.write_text(SETLIST.format(model=model, audio=AUDIO, mode=mode))
    return load_setlist(path)


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.mark.parametrize("mode", ["2d", "3d"])
def test_rehearsal_with_a_diffusers_folder(tiny_model: Path, tmp_path: Path, mode: str) -> None:
    plan = plan_rehearsal(_setlist(tmp_path, tiny_model, mode), output=tmp_path / f"{mode}.mp4", seconds=2.0)
    result = render_rehearsal(plan, keep_hashes=True)
    assert result.generator == "diffusion"
    frames = _frames(result.output)
    assert len(frames) == 16 and frames[0].shape == (64, 64, 3)
    assert len(set(result.frame_hashes)) > 8          # the loop moves, frame after frame
    assert result.timeline.is_file()


def test_rehearsal_repeats_bit_for_bit(tiny_model: Path, tmp_path: Path) -> None:
    setlist = _setlist(tmp_path, tiny_model)
    first = render_rehearsal(plan_rehearsal(setlist, output=tmp_path / "a.mp4", seconds=1.5), keep_hashes=True)
    second = render_rehearsal(plan_rehearsal(setlist, output=tmp_path / "b.mp4", seconds=1.5), keep_hashes=True)
    assert first.frame_hashes == second.frame_hashes


class BreaksAtFrame(DiffusionGenerator):
    """The real generator, failing the way a driver error or OOM would, from frame ``at`` on."""

    def __init__(self, model: str, at: int) -> None:
        super().__init__(model, device="cpu")
        self.at, self.calls = at, 0

    def step(self, frame, params):
        self.calls += 1
        if self.calls >= self.at:
            raise GeneratorError("CUDA error: an illegal memory access was encountered")
        return super().step(frame, params)


def test_generator_failure_mid_song_falls_back_and_keeps_rendering(tiny_model: Path, tmp_path: Path) -> None:
    plan = plan_rehearsal(_setlist(tmp_path, tiny_model), output=tmp_path / "broken.mp4", seconds=2.0)
    result = render_rehearsal(plan, BreaksAtFrame(str(tiny_model), at=6))
    frames = _frames(result.output)
    assert len(frames) == 16                                   # every frame written
    after = np.stack(frames[6:]).astype(np.float32)
    assert after.mean() > 10 and after.std() > 5               # pictures, not black
    assert not np.array_equal(frames[-1], frames[-2])          # and still moving
