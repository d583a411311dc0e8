"""A 3D song rehearses end to end with a depth model: a tiny random Depth Anything of the real
class, saved with save_pretrained and named in the setlist, loaded through the same loader."""
from __future__ import annotations

import warnings
from pathlib import Path

import av
import numpy as np

from vj.depth import DepthFallbackWarning
from vj.depth.tiny import build_tiny_depth_model
from vj.show.rehearse import plan_rehearsal, render_rehearsal
from vj.setlist.models import load_setlist

AUDIO = Path(__file__).resolve().parents[2] / "setlists" / "demo-track.ogg"

SETLIST = """\
output: {{width: 96, height: 64, fps: 12}}
styles:
  deep: {{border: noise, look: {{warp: 0.6, detail: 0.7}}}}
songs:
  - name: dive
    audio: {audio}
    style: deep
    camera:
      mode: 3d
      depth: {{kind: model, source: {model}, resolution: 56, smoothing: 0.5}}
      translation_z: "0:(12)"
      rotation_3d_y: "0:(1.5*sin(2*pi*t/24))"
      translation_x: "0:(3)"
"""


def test_3d_rehearsal_with_a_tiny_depth_model(tmp_path: Path) -> None:
    model = build_tiny_depth_model(tmp_path / "depth")
    path = tmp_path / "dive.yaml"
    path.write_text(SETLIST.format(audio=AUDIO, model=model))
    plan = plan_rehearsal(load_setlist(path), output=tmp_path / "dive.mp4", seconds=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DepthFallbackWarning)   # the model, not the plane fallback
        result = render_rehearsal(plan, keep_hashes=True)
    with av.open(str(result.output)) as container:
        frames = [f.to_ndarray(format="rgb24").astype(np.float32) for f in container.decode(video=0)]
    assert len(frames) == 24 and frames[0].shape == (64, 96, 3)
    assert all(np.isfinite(f).all() and f.mean() > 5 for f in frames)   # never black, never NaN
    assert len(set(result.frame_hashes)) == 24                        # it keeps moving


def test_the_depth_provider_follows_the_song(tmp_path: Path) -> None:
    """Live plays many songs through one pipeline: each 3D song's own depth spec is used."""
    import dataclasses

    from vj.depth import ModelDepth, PlaneDepth
    from vj.show.pipeline import FramePipeline
    from vj.features import Features
    from vj.frame_params import CameraMotion, Conditioning, FrameParams
    from vj.generators.base import GeneratorContext
    from vj.generators.procedural import ProceduralGenerator
    from vj.render.gl import create_headless_context

    model = build_tiny_depth_model(tmp_path / "depth")
    ctx = create_headless_context()
    context = GeneratorContext(width=64, height=48, gl=ctx)
    generator = ProceduralGenerator()
    generator.prepare(context)
    pipeline = FramePipeline(ctx, context, generator)
    conditioning = Conditioning(prompt=(("a", 1.0),))
    base = FrameParams(index=0, time=0.0, features=Features(), camera=CameraMotion(mode="3d", translation_z=5.0),
                       conditioning_from=conditioning, conditioning_to=conditioning, depth="plane:300")
    try:
        pipeline.render(base)
        assert isinstance(pipeline._depth, PlaneDepth) and pipeline._depth.distance == 300.0
        pipeline.render(dataclasses.replace(base, index=1, depth={"kind": "model", "source": str(model),
                                                                  "resolution": 32}))
        assert isinstance(pipeline._depth, ModelDepth)
    finally:
        pipeline.close()
        ctx.release()
