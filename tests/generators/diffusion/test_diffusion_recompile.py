"""After the warm-up a show never compiles: crossfades, weighted prompts, seeds, strength and CFG
reuse the compiled graphs, and a shape the warm-up missed runs eager instead of stalling or raising.

torch.compile runs for real here (Dynamo's tracing and guards, the graphs it captures and the
recompiles it would do), with Dynamo's counting test backend: it runs each captured graph as it is
instead of generating C++ for it, which takes minutes on these 2 cores and changes none of the
guards. The GPU check (tools/gpu_check.py) runs the same check with inductor and CUDA graphs.
"""
from __future__ import annotations

import logging
import threading

import pytest
import torch

from diffusion_helpers import params, picture
from vj.render.frame import Frame
from vj.frame_params import Conditioning
from vj.generators.base import GeneratorContext
from vj.generators.diffusion.device_thread import DeviceThread
from vj.generators.diffusion.generator import DiffusionGenerator
from vj.generators.diffusion.prompts import slerp
from vj.generators.diffusion.stream import ImageStream

SIZE = 64
STORM, BIRD = (("a storm", 1.0),), (("the bird", 1.0),)
WEIGHTED = (("a storm", 0.7), ("the bird", 0.3))


@pytest.fixture(scope="module")
def compiled(tiny_model):
    """One generator compiled and warmed up for the whole module (the compile is the slow part)."""
    from torch._dynamo.testing import CompileCounter

    torch._dynamo.reset()
    counter = CompileCounter()
    generator = DiffusionGenerator(str(tiny_model), device="cpu", accelerator="compile", compile_backend=counter)
    generator.prepare(GeneratorContext(width=SIZE, height=SIZE, prompts=[STORM, BIRD, WEIGHTED],
                                       negative_prompts=["blurry", "", ""], options={"max_steps": 2}))
    yield generator, counter
    generator.close()
    torch._dynamo.reset()


def frames_compiled(counter) -> int:
    return int(counter.frame_count)


def test_warm_up_runs_every_shape_then_locks(compiled):
    generator, counter = compiled
    assert generator.warmed == [(1, 0.0), (2, 0.0), (1, 2.0), (2, 2.0)]
    assert generator.guard is not None and generator.guard.locked
    # The UNet (batch 1 and batch 2 for CFG) and both VAE halves were compiled during the warm-up.
    assert frames_compiled(counter) >= 4
    assert generator.notice is None and generator.compile_fallbacks == 0


def test_show_changes_after_warm_up_never_recompile(compiled):
    generator, counter = compiled
    from torch._dynamo.utils import counters

    before, graphs_before = frames_compiled(counter), counters["stats"]["unique_graphs"]
    frame = Frame(tensor=picture(SIZE, SIZE))
    to_bird = Conditioning(prompt=BIRD)
    to_bird_negative = Conditioning(prompt=BIRD, negative_prompt="blurry")
    show = [
        params(),                                                       # a plain frame
        *(params(conditioning_to=to_bird, blend=b) for b in (0.25, 0.5, 0.9)),  # a prompt crossfade
        params(prompt=WEIGHTED),                                        # a weighted prompt
        params(seed=7, next_seed=7),                                    # a seed change
        params(seed=7, next_seed=8, seed_blend=0.4),                    # a seed blend
        params(strength=0.3), params(strength=0.85),                    # strength changes
        params(guidance=2.5, negative_prompt="blurry"),                 # CFG on (batch 2) ...
        params(guidance=2.5, negative_prompt="blurry", conditioning_to=to_bird_negative, blend=0.5),
        params(guidance=0.0),                                           # ... and off again
        params(steps=2), params(steps=2, guidance=3.0),                 # more steps, with and without CFG
    ]
    for frame_params in show:
        frame = generator.step(frame, frame_params)
        assert torch.isfinite(frame.to_tensor()).all()
    assert frames_compiled(counter) == before, "a show change recompiled the model"
    assert counters["stats"]["unique_graphs"] == graphs_before
    assert generator.compile_fallbacks == 0 and generator.notice is None


def test_a_tensor_of_another_kind_is_refused_and_runs_eager(compiled, caplog):
    """The bug the conditioning buffers fix: a crossfade's slerp made outside inference mode is an
    ordinary tensor; handed straight to the compiled UNet it fails Dynamo's dispatch-key guard.
    Locked, the guard runs that call eager (the same numbers) instead of compiling mid-show."""
    generator, counter = compiled
    stream = generator.stream
    encoder = generator.prompts.encoder
    a, b = encoder.encode("a storm"), encoder.encode("the bird")
    ordinary = slerp(a, b, 0.5)                       # outside inference mode: not an inference tensor
    assert not ordinary.is_inference()
    before, fallbacks = frames_compiled(counter), generator.compile_fallbacks
    sample = torch.randn(1, 4, SIZE // 8, SIZE // 8)
    with torch.inference_mode():
        t = stream.sampler.schedule(0.5, 1).timesteps[0:1]
        with caplog.at_level(logging.WARNING, logger="vj.generators.diffusion.compiled"):
            out = stream.unet_call(sample, t, ordinary)
        reference = generator.loaded.unet(sample, t, encoder_hidden_states=ordinary, return_dict=False)[0]
    assert torch.allclose(out, reference)
    assert frames_compiled(counter) == before
    assert generator.compile_fallbacks == fallbacks + 1
    assert "dispatch key set mismatch" in caplog.text
    # Through the stream the same embedding is copied into the persistent buffer: compiled, no fallback.
    with torch.inference_mode():
        persisted = stream.persist("cond", ordinary)
    assert persisted.is_inference() and persisted is stream.persist("cond", a)
    generator.guard.message = None  # this test's own fallback is not the next test's


def test_a_shape_the_warm_up_missed_falls_back_to_eager_without_raising(compiled, caplog):
    generator, counter = compiled
    stream = generator.stream
    loaded = generator.loaded
    # A stream for a size the generator was not prepared (or warmed up) for, on the same guarded modules.
    other = ImageStream(unet_call=stream.unet_call, vae=stream.vae, vae_kind=stream.vae_kind,
                        scaling_factor=stream.scaling_factor, sampler=stream.sampler,
                        latent_shape=(4, SIZE // 16, SIZE // 8), device=loaded.device, dtype=loaded.dtype)
    embeds = generator.prompts.encode_now(STORM)
    before, fallbacks = frames_compiled(counter), generator.compile_fallbacks
    def run():  # on the device thread, as every compiled call of a show
        return generator.device_thread.run(other, picture(SIZE, SIZE // 2), embeds, strength=0.5, steps=1, seed=3,
                                           next_seed=3)

    with caplog.at_level(logging.WARNING, logger="vj.generators.diffusion.compiled"):
        out = run()
    assert out.shape == (1, 3, SIZE // 2, SIZE) and torch.isfinite(out).all()
    assert frames_compiled(counter) == before, "the missed shape was compiled during the show"
    refused = generator.compile_fallbacks - fallbacks
    assert refused == 3  # VAE encoder, UNet, VAE decoder: each ran eager
    assert "would recompile during the show" in caplog.text
    assert generator.notice and "eager" in generator.notice
    # The same shape again goes straight to eager (remembered), with the same picture.
    again = run()
    assert torch.allclose(again, out) and generator.compile_fallbacks - fallbacks == 6
    assert frames_compiled(counter) == before
    generator.guard.message = None


def test_warm_up_and_frames_run_on_one_device_thread(compiled):
    """CUDA-graph trees are per thread: prepare (a loader thread, live) and step (the generator
    thread) both hand the device work to the generator's own thread."""
    generator, _ = compiled
    seen: list[int] = []
    hook = generator.stream.vae.decoder.register_forward_pre_hook(lambda *_: seen.append(threading.get_ident()))
    try:
        frame = Frame(tensor=picture(SIZE, SIZE))
        generator.step(frame, params())
        worker = threading.Thread(target=lambda: generator.step(frame, params()), name="vj-generator")
        worker.start()
        worker.join()
        generator.first_frame(params())
    finally:
        hook.remove()
    assert len(seen) == 3 and set(seen) == {generator.device_thread.ident}
    assert generator.device_thread.ident != threading.get_ident()
    assert generator.device_thread is DeviceThread.shared()  # one thread for every generator of the process


def test_eager_generator_needs_no_warm_up_on_the_cpu(tiny_model):
    generator = DiffusionGenerator(str(tiny_model), device="cpu")
    generator.prepare(GeneratorContext(width=32, height=32, prompts=[STORM]))
    try:
        assert generator.warmed == [] and generator.guard is None and generator.device_thread is None
        assert generator.notice is None
    finally:
        generator.close()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_eager_cuda_uses_channels_last_and_cudnn_benchmark(tiny_model):
    generator = DiffusionGenerator(str(tiny_model), device="cuda")
    generator.prepare(GeneratorContext(width=64, height=64, prompts=[STORM]))
    try:
        assert torch.backends.cudnn.benchmark
        weight = generator.loaded.unet.conv_in.weight
        assert weight.is_contiguous(memory_format=torch.channels_last)
        assert generator.warmed  # cuDNN autotunes each shape in the warm-up, not in the show
    finally:
        generator.close()


def test_sdxl_with_stream_batching_never_recompiles_after_warm_up(tiny_sdxl):
    """SDXL adds the pooled embedding and time ids to every UNet call; stream batching makes each
    step count its own batch. After the warm-up, crossfades (both parts of the embedding), CFG on
    and off and both step counts reuse what was compiled."""
    from torch._dynamo.testing import CompileCounter

    counter = CompileCounter()
    generator = DiffusionGenerator(str(tiny_sdxl), device="cpu", accelerator="compile", compile_backend=counter,
                                   stream_batch=True)
    generator.prepare(GeneratorContext(width=32, height=32, prompts=[STORM, BIRD], negative_prompts=["blurry", ""],
                                       options={"max_steps": 2}))
    try:
        assert generator.warmed == [(1, 0.0), (2, 0.0), (1, 2.0), (2, 2.0)]
        before = frames_compiled(counter)
        assert before > 0
        frame = Frame(tensor=picture(32, 32))
        to_bird = Conditioning(prompt=BIRD)
        for frame_params in (params(), params(conditioning_to=to_bird, blend=0.4), params(steps=2),
                             params(steps=2, conditioning_to=to_bird, blend=0.7), params(guidance=3.0),
                             params(steps=2, guidance=3.0, negative_prompt="blurry"), params(strength=0.8)):
            frame = generator.step(frame, frame_params)
        assert torch.isfinite(frame.to_tensor()).all()
        assert frames_compiled(counter) == before and generator.compile_fallbacks == 0
    finally:
        generator.close()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_frames_on_the_device_thread_keep_the_callers_cuda_stream(tiny_model):
    """The live loop runs a frame on a dedicated stream; the hop to the device thread keeps it."""
    generator = DiffusionGenerator(str(tiny_model), device="cuda", accelerator="compile", compile_backend="eager")
    generator.prepare(GeneratorContext(width=64, height=64, prompts=[STORM]))
    seen = []
    hook = generator.stream.vae.decoder.register_forward_pre_hook(
        lambda *_: seen.append(torch.cuda.current_stream().cuda_stream))
    try:
        stream = torch.cuda.Stream()
        with torch.cuda.stream(stream):
            generator.step(Frame(tensor=picture(64, 64).cuda()), params())
        assert seen == [stream.cuda_stream]
    finally:
        hook.remove()
        generator.close()
