"""The UNet's ONNX export runs in onnxruntime and matches torch; `vj compile` exports before TensorRT."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from vj.generators.base import GeneratorError
from vj.generators.diffusion.tensorrt import (SDXL_UNET_INPUTS, UNET_INPUTS, build_engines, engine_key,
                                              export_unet_onnx, export_vae_onnx, profile_batches, static_shapes)

ort = pytest.importorskip("onnxruntime")


def test_unet_onnx_matches_torch(loaded, tmp_path):
    path = export_unet_onnx(loaded.unet, tmp_path / "unet.onnx", batch=2, latent_height=8, latent_width=8,
                            text_tokens=77, text_dim=32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(0)
    for batch, size in ((2, 8), (1, 4), (3, 12)):   # dynamic batch and latent size, as engine profiles use
        sample = torch.randn(batch, 4, size, size, generator=generator)
        timestep = torch.tensor([499.0, 249.0, 999.0][:batch])
        hidden = torch.randn(batch, 77, 32, generator=generator)
        with torch.no_grad():
            expected = loaded.unet(sample, timestep, encoder_hidden_states=hidden, return_dict=False)[0]
        got = session.run(None, {"sample": sample.numpy(), "timestep": timestep.numpy(),
                                 "encoder_hidden_states": hidden.numpy()})[0]
        assert np.abs(got - expected.numpy()).max() <= 1e-3


def test_sdxl_unet_onnx_matches_torch(loaded_sdxl, tmp_path):
    """SDXL's UNet exports with its added conditioning (pooled text embedding, time ids) as inputs."""
    unet = loaded_sdxl.unet
    path = export_unet_onnx(unet, tmp_path / "unet_xl.onnx", batch=2, latent_height=8, latent_width=8,
                            text_tokens=77, text_dim=loaded_sdxl.text_dim, pooled_dim=loaded_sdxl.pooled_dim)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(UNET_INPUTS + SDXL_UNET_INPUTS)
    generator = torch.Generator().manual_seed(0)
    for batch, (height, width) in ((2, (8, 8)), (1, (4, 4)), (3, (12, 8))):
        sample = torch.randn(batch, 4, height, width, generator=generator)
        timestep = torch.tensor([499.0, 249.0, 999.0][:batch])
        hidden = torch.randn(batch, 77, 64, generator=generator)
        pooled = torch.randn(batch, 32, generator=generator)
        time_ids = torch.tensor([[height * 8.0, width * 8.0, 0.0, 0.0, height * 8.0, width * 8.0]] * batch)
        feeds = {"sample": sample.numpy(), "timestep": timestep.numpy(), "encoder_hidden_states": hidden.numpy(),
                 "text_embeds": pooled.numpy(), "time_ids": time_ids.numpy()}
        with torch.no_grad():
            expected = unet(sample, timestep, encoder_hidden_states=hidden, return_dict=False,
                            added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids})[0]
        got = session.run(None, feeds)[0]
        assert np.abs(got - expected.numpy()).max() <= 1e-3
    # The time ids stay runtime inputs (not folded into constants at export).
    moved = session.run(None, {**feeds, "time_ids": (time_ids * 2).numpy()})[0]
    assert np.abs(moved - got).max() > 1e-3


def test_vae_onnx_matches_torch(loaded, tmp_path):
    encoder_path, decoder_path = export_vae_onnx(loaded.vae, tmp_path, height=64, width=64)
    latent = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        expected = loaded.vae.decode(latent, return_dict=False)[0]
    session = ort.InferenceSession(str(decoder_path), providers=["CPUExecutionProvider"])
    assert np.abs(session.run(None, {"latent": latent.numpy()})[0] - expected.numpy()).max() <= 1e-3
    assert encoder_path.exists()


def test_engine_key_changes_with_everything_that_matters():
    base = dict(width=512, height=512, batch=1, precision="fp16", gpu_name="NVIDIA H100", trt_version="10.0")
    key = engine_key("stabilityai/sd-turbo", **base)
    for change in ({"width": 768}, {"batch": 2}, {"precision": "fp8"}, {"gpu_name": "RTX 4090"},
                   {"trt_version": "10.1"}):
        assert engine_key("stabilityai/sd-turbo", **{**base, **change}) != key
    assert engine_key("other/model", **base) != key


def test_profiles_are_static_per_batch_and_cfg_doubles_each():
    shapes = static_shapes(2, 64, 64, (77, 1024))
    assert shapes == {"sample": (2, 4, 64, 64), "timestep": (2,), "encoder_hidden_states": (2, 77, 1024)}
    assert profile_batches([1]) == [1, 2] and profile_batches([1, 3]) == [1, 2, 3, 6]
    xl = static_shapes(2, 64, 64, (77, 2048), pooled_dim=1280)     # SDXL: pooled embedding + time ids
    assert xl["text_embeds"] == (2, 1280) and xl["time_ids"] == (2, 6)


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_build_engines_without_tensorrt_says_so_before_exporting(tiny_model, tmp_path):
    """No TensorRT: one clear error before loading or exporting anything (an fp32 CPU export would
    only give an fp32 engine later)."""
    with pytest.raises(GeneratorError, match="TensorRT is not installed"):
        build_engines(str(tiny_model), 64, 64, 1, tmp_path)
    assert not list(tmp_path.rglob("*.onnx"))


def test_tensorrt_accelerator_needs_cuda(loaded):
    from vj.generators.diffusion.accelerate import accelerate

    with pytest.raises(GeneratorError, match="CUDA"):
        accelerate("tensorrt", loaded, width=64, height=64, batch=1)


def test_live_run_never_builds_an_engine(loaded, tmp_path, monkeypatch):
    """A missing engine fails at prepare with 'run vj compile', even where TensorRT is installed."""
    import sys
    import types

    from vj.generators.diffusion.tensorrt import load_engines

    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__="10.0-test"))
    with pytest.raises(GeneratorError, match="vj compile"):
        load_engines(tmp_path, loaded, 64, 64, 1)
