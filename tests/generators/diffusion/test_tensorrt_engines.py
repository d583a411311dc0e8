"""What `vj compile` can check without a GPU: the ONNX files it exports (atomic, one external data
file, reused only when their sidecar matches), its bad-input lines, and the engine lookup's errors.

Real TensorRT cannot run here. One test puts a *minimal* fake ``tensorrt`` package (a version
string, nothing else) on the path of a child process, only to reach the branch "TensorRT is
importable but there is no GPU"; everything else uses the real parts."""
from __future__ import annotations

import errno
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vj.generators.base import GeneratorError
from vj.generators.diffusion.engine_cache import EngineKey, atomic_write_bytes, sidecar_path, write_sidecar
from vj.generators.diffusion.onnx_export import (UNET_INPUTS, data_file, export_unet_for_device, export_unet_onnx,
                                                 place_onnx)
from vj.generators.diffusion.tensorrt import engine_folder, export_onnx_files, key_for, load_engines

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[3]
HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None

SETLIST = """\
title: compile me
output: {{width: 64, height: 64, fps: 8}}
model: {model}
styles:
  ink: {{prefix: "ink drawing of ", strength: 0.5, steps: 2}}
songs:
  - name: tiny
    bpm: 120
    style: ink
    prompt: "a harbour"
"""


def _run_unet(path: Path, loaded, batch: int = 2, size: int = 8) -> float:
    """Max |onnxruntime − torch| for the UNet file at ``path``."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(1)
    sample = torch.randn(batch, 4, size, size, generator=generator)
    timestep = torch.tensor([499.0, 249.0][:batch])
    hidden = torch.randn(batch, 77, 32, generator=generator)
    with torch.no_grad():
        expected = loaded.unet(sample, timestep, encoder_hidden_states=hidden, return_dict=False)[0]
    got = session.run(None, {"sample": sample.numpy(), "timestep": timestep.numpy(),
                             "encoder_hidden_states": hidden.numpy()})[0]
    return float(np.abs(got - expected.numpy()).max())


def test_the_gpu_check_export_entry_point_runs_on_the_cpu_in_fp32(loaded, tmp_path):
    """``export_unet_for_device`` (what tools/gpu_check.py calls with device="cuda") passes
    onnx.checker; on the CPU it exports fp32, which onnxruntime runs to torch's numbers."""
    import copy

    path = export_unet_for_device(copy.deepcopy(loaded.unet), tmp_path, size=64, device="cpu")
    assert path == tmp_path / "unet.onnx"
    model = onnx.load(str(path))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert _run_unet(path, loaded) <= 1e-3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unet.onnx"]   # one file, no temporaries


def test_a_large_model_gets_one_external_data_file(loaded, tmp_path):
    """What a model over 2 GB gets (forced here on the tiny one): the graph plus one .data file."""
    path = export_unet_onnx(loaded.unet, tmp_path / "unet.onnx", batch=2, latent_height=8, latent_width=8,
                            text_tokens=77, text_dim=32, external_data=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unet.onnx", "unet.onnx.data"]
    assert data_file(path).stat().st_size > path.stat().st_size
    onnx.checker.check_model(str(path))
    assert _run_unet(path, loaded) <= 1e-3


def test_torchs_per_tensor_files_are_gathered_into_one(loaded, tmp_path):
    """torch.onnx.export writes one file per weight for models over 2 GB; place_onnx gathers them."""
    staging = tmp_path / "staging"
    plain = export_unet_onnx(loaded.unet, tmp_path / "plain.onnx", batch=2, latent_height=8, latent_width=8,
                             text_tokens=77, text_dim=32)
    staging.mkdir()
    onnx.save_model(onnx.load(str(plain)), str(staging / "unet.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=False, size_threshold=0)
    assert len(list(staging.iterdir())) > 10
    final = place_onnx(staging / "unet.onnx", tmp_path / "out" / "unet.onnx")
    assert sorted(p.name for p in final.parent.iterdir()) == ["unet.onnx", "unet.onnx.data"]
    assert _run_unet(final, loaded) <= 1e-3


def test_an_export_that_runs_out_of_disk_says_so_and_leaves_nothing(loaded, tmp_path, monkeypatch):
    """The disk fills during torch.onnx.export: one clear line; no file a later run would trust."""
    def export_until_full(model, args, f, **kwargs):
        with open(f, "wb") as handle:
            handle.write(b"\x08\x07partial protobuf")
        raise OSError(errno.ENOSPC, "No space left on device", f)

    monkeypatch.setattr(torch.onnx, "export", export_until_full)
    folder = tmp_path / "cache" / "onnx"
    with pytest.raises(GeneratorError, match="out of disk space writing .*unet.onnx .*free.*--cache-dir"):
        export_unet_onnx(loaded.unet, folder / "unet.onnx", batch=1, latent_height=8, latent_width=8,
                         text_tokens=77, text_dim=32)
    assert list(folder.iterdir()) == []


def _key(loaded) -> EngineKey:
    return key_for(loaded, 64, 64, 1)


def test_onnx_files_are_reused_only_when_their_sidecar_matches(loaded, tmp_path):
    key = _key(loaded)
    folder = engine_folder(tmp_path, key)
    paths = export_onnx_files(loaded, folder, key, width=64, height=64, batch=1)
    assert sorted(paths) == ["unet", "vae_decoder", "vae_encoder"]
    for path in paths.values():
        onnx.checker.check_model(str(path))
        assert sidecar_path(path).is_file()
    stamps = {name: path.stat().st_mtime_ns for name, path in paths.items()}
    export_onnx_files(loaded, folder, key, width=64, height=64, batch=1)          # cached: nothing rewritten
    assert {name: path.stat().st_mtime_ns for name, path in paths.items()} == stamps
    sidecar_path(paths["unet"]).unlink()                                             # as if killed before it
    export_onnx_files(loaded, folder, key, width=64, height=64, batch=1)
    assert paths["unet"].stat().st_mtime_ns != stamps["unet"] and sidecar_path(paths["unet"]).is_file()
    assert paths["vae_decoder"].stat().st_mtime_ns == stamps["vae_decoder"]
    assert _run_unet(paths["unet"], loaded) <= 1e-3


def test_sdxl_onnx_files_carry_the_added_conditioning(loaded_sdxl, tmp_path):
    key = key_for(loaded_sdxl, 64, 64, 1)
    paths = export_onnx_files(loaded_sdxl, engine_folder(tmp_path, key), key, width=64, height=64, batch=1)
    session = ort.InferenceSession(str(paths["unet"]), providers=["CPUExecutionProvider"])
    shapes = {i.name: i.shape for i in session.get_inputs()}
    assert list(shapes) == list(UNET_INPUTS) + ["text_embeds", "time_ids"]
    assert shapes["encoder_hidden_states"][1:] == [77, 64] and shapes["time_ids"][1:] == [6]


def test_engines_from_another_gpu_are_named_in_the_error(loaded, tmp_path, monkeypatch):
    """A cache copied from another machine: the message says which GPU and TensorRT built it."""
    import types

    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__="10.13.0"))
    here = _key(loaded)
    other = EngineKey(**{**here.as_dict(), "gpu": "NVIDIA RTX 4090", "compute_capability": "8.9",
                         "batches": (), "extra": ()})
    engine = atomic_write_bytes(engine_folder(tmp_path, other) / "unet.engine", b"engine")
    write_sidecar(engine, other)
    with pytest.raises(GeneratorError, match="built for NVIDIA RTX 4090 .*TensorRT 10.13.0.*run `vj compile"):
        load_engines(tmp_path, loaded, 64, 64, 1)


def _compile(setlist: Path, *extra_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*map(str, extra_path), str(ROOT)])}
    return subprocess.run([sys.executable, "-m", "vj", "compile", str(setlist), "--cache-dir",
                           str(setlist.parent / "cache")], capture_output=True, text=True, env=env, timeout=240)


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed here")
def test_vj_compile_without_tensorrt_is_one_line_and_exit_2(tiny_model, tmp_path):
    setlist = tmp_path / "set.yaml"
    setlist.write_text(SETLIST.format(model=tiny_model))
    result = _compile(setlist)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and "TensorRT is not installed" in lines[0] and "pip install" in lines[0]
    assert not (tmp_path / "cache").exists()          # said before exporting anything


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_vj_compile_with_tensorrt_but_no_gpu_is_one_line_and_exit_2(tiny_model, tmp_path):
    fake = tmp_path / "fake" / "tensorrt"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('__version__ = "10.99.0-fake"  # only importable; no API at all\n')
    setlist = tmp_path / "set.yaml"
    setlist.write_text(SETLIST.format(model=tiny_model))
    result = _compile(setlist, fake.parent)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and "no CUDA GPU" in lines[0] and "vj compile" in lines[0], lines
    assert not (tmp_path / "cache").exists()


def test_setlist_batches_follow_stream_batching():
    from types import SimpleNamespace

    from vj.commands.compile import setlist_batches

    styles = {"a": SimpleNamespace(steps=1), "b": SimpleNamespace(steps=3), "c": SimpleNamespace(steps=2)}
    plain = SimpleNamespace(styles=styles, model_settings=SimpleNamespace(stream_batch=False))
    batched = SimpleNamespace(styles=styles, model_settings=SimpleNamespace(stream_batch=True))
    assert setlist_batches(plain) == (1, [1])
    assert setlist_batches(batched) == (3, [1, 2, 3])


# ---- on a lent GPU with TensorRT (skipped here) ------------------------------------------------

@pytest.mark.gpu
@pytest.mark.skipif(not (torch.cuda.is_available() and HAS_TENSORRT), reason="needs a CUDA GPU and TensorRT")
def test_engines_build_load_and_match_torch_on_a_gpu(tiny_model, tmp_path):
    """Strongly typed engines from the fp16 export: UNet output close to torch fp16; each call
    returns new tensors; a corrupt engine is one clear error."""
    import shutil

    from vj.generators.diffusion.loader import load_model
    from vj.generators.diffusion.tensorrt import TensorRTModule, build_engines

    built = build_engines(str(tiny_model), 64, 64, 1, tmp_path)
    assert [p.name for p in built] == ["unet.engine", "vae_encoder.engine", "vae_decoder.engine"]
    loaded = load_model(str(tiny_model), device="cuda")
    unet, vae = load_engines(tmp_path, loaded, 64, 64, 1)
    assert unet.batches == [1, 2]
    generator = torch.Generator(device="cuda").manual_seed(0)
    sample = torch.randn(2, 4, 8, 8, device="cuda", dtype=torch.float16, generator=generator)
    timestep = torch.tensor([499.0, 249.0], device="cuda")
    hidden = torch.randn(2, 77, 32, device="cuda", dtype=torch.float16, generator=generator)
    with torch.no_grad():
        expected = loaded.unet(sample, timestep, encoder_hidden_states=hidden, return_dict=False)[0]
    first = unet(sample, timestep, hidden)
    second = unet(sample, timestep, hidden)
    assert first.data_ptr() != second.data_ptr()
    assert float((first.float() - expected.float()).abs().max()) < 5e-2
    frame_stream = torch.cuda.Stream()
    with torch.cuda.stream(frame_stream):          # the frame's own stream: the engine runs on it
        on_stream = unet(sample, timestep, hidden)
    frame_stream.synchronize()
    assert torch.equal(on_stream, first)
    corrupt = tmp_path / "corrupt"
    shutil.copytree(built[0].parent, corrupt)
    engine = corrupt / "unet.engine"
    engine.write_bytes(os.urandom(engine.stat().st_size))      # same size: the sidecar passes
    with pytest.raises(GeneratorError, match="could not load .*vj compile"):
        TensorRTModule(engine)
