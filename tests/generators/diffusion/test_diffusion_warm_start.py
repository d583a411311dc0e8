"""Live start with a model: the procedural generator plays while the model loads in the
background, then the pipeline switches to the model on the last frame; a model that cannot
load leaves the show on procedural."""
from __future__ import annotations

import time

import numpy as np
import pytest

from diffusion_helpers import params
from vj.show.pipeline import FramePipeline
from vj.generators.base import GeneratorContext, GeneratorError
from vj.generators.diffusion.generator import DiffusionGenerator
from vj.generators.procedural import ProceduralGenerator
from vj.render.gl import create_headless_context


@pytest.fixture()
def gl():
    ctx = create_headless_context()
    yield ctx
    ctx.release()


def _pipeline(gl, prompt) -> FramePipeline:
    context = GeneratorContext(width=32, height=32, gl=gl, prompts=[prompt])
    procedural = ProceduralGenerator()
    procedural.prepare(context)
    return FramePipeline(gl, context, procedural, fallback=ProceduralGenerator)


class SlowToLoad(DiffusionGenerator):
    """The real generator, its load held until the test says so (a big model on a slow disk)."""

    def __init__(self, model: str, release) -> None:
        super().__init__(model, device="cpu")
        self.release = release

    def prepare(self, context):
        assert self.release.wait(30)
        super().prepare(context)


def test_procedural_plays_until_the_model_is_ready_then_switches(gl, tiny_model):
    import threading

    prompt = (("a storm", 1.0),)
    pipeline = _pipeline(gl, prompt)
    release = threading.Event()
    pipeline.warm_start(SlowToLoad(str(tiny_model), release))
    try:
        frames = [pipeline.render(params(prompt, index=i)).to_array() for i in range(3)]
        assert pipeline.warming and pipeline.generator.name == "procedural"   # no wait, no black
        assert all(f.mean() > 0.02 for f in frames)
        release.set()
        deadline = time.monotonic() + 60
        index = 3
        while pipeline.generator.name != "diffusion":
            assert time.monotonic() < deadline, "the model never took over"
            pipeline.render(params(prompt, index=index))
            index += 1
            time.sleep(0.02)
        assert not pipeline.warming
        out = pipeline.render(params(prompt, index=index)).to_array()   # from the last procedural frame
        assert out.shape == (32, 32, 3) and np.isfinite(out).all()
    finally:
        release.set()
        pipeline.close()


class CannotLoad(DiffusionGenerator):
    def prepare(self, context):
        raise GeneratorError("model 'x' is not on this machine")


def test_a_model_that_cannot_load_leaves_the_show_on_procedural(gl, tiny_model, caplog):
    prompt = (("a storm", 1.0),)
    pipeline = _pipeline(gl, prompt)
    pipeline.warm_start(CannotLoad(str(tiny_model), device="cpu"))
    try:
        deadline = time.monotonic() + 10
        index = 0
        while pipeline.warming:
            assert time.monotonic() < deadline
            pipeline.render(params(prompt, index=index))
            index += 1
            time.sleep(0.01)
        assert pipeline.generator.name == "procedural"
        assert "not on this machine" in caplog.text
        assert pipeline.render(params(prompt, index=index)).to_array().mean() > 0.02
    finally:
        pipeline.close()
