"""Tensor ↔ texture hand-off on a real (headless EGL) GL context: the host and pinned-PBO paths are
exact here; the CUDA–GL interop path needs a GPU and runs in tools/gpu_check.py
(``measure_handoff``). Where cuda-python is installed, its calls are checked to accept our
arguments (they fail with a CUDA error, not a TypeError, on a machine with no driver)."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from vj.render.frame import Frame
from vj.render.handoff import GeneratedFrame, HostUploadHandoff
from vj.render.cuda_interop import (HOST, INTEROP, PINNED_PBO, GLSync, InteropError, PixelBufferUpload,
                                    RGBA8Converter, TextureDownload, make_tensor_upload, measure_handoff)
from vj.render.gl import RenderTarget


def _frame(seed: int, width: int = 24, height: int = 16) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand((1, 3, height, width), generator=generator) * 1.2 - 0.1   # out of range: clamped
    return image


def _expected_gl_rows(tensor: torch.Tensor) -> np.ndarray:
    """H×W×3 uint8 as Frame.to_uint8 rounds it, flipped to GL's row order."""
    return Frame(tensor=tensor).to_uint8()[::-1]


def _texture_rgb(texture) -> np.ndarray:
    width, height = texture.size
    return np.frombuffer(texture.read(), dtype=np.uint8).reshape(height, width, 4)[:, :, :3]


def test_the_rgba8_conversion_rounds_clamps_and_flips_like_frame_to_uint8():
    tensor = _frame(0)
    convert = RGBA8Converter(24, 16, "cpu")
    rgba = convert(tensor).numpy()
    assert rgba.dtype == np.uint8 and rgba.shape == (16, 24, 4)
    assert np.array_equal(rgba[:, :, :3], _expected_gl_rows(tensor))
    assert (rgba[:, :, 3] == 255).all()
    assert convert(tensor).data_ptr() == convert(_frame(1)).data_ptr()     # one persistent buffer


@pytest.mark.parametrize("prefer", [HOST, PINNED_PBO])
def test_uploads_are_exact_frame_after_frame(gl, prefer):
    upload = make_tensor_upload(gl, 24, 16, "cpu", prefer=prefer)
    try:
        assert upload.path == prefer
        for seed in range(5):       # the PBOs alternate: each upload must show its own frame
            tensor = _frame(seed)
            texture = upload.upload(tensor)
            assert np.array_equal(_texture_rgb(texture), _expected_gl_rows(tensor)), seed
    finally:
        upload.release()


def test_a_cpu_frame_takes_the_host_path_and_interop_is_refused(gl):
    upload = make_tensor_upload(gl, 8, 8, "cpu")
    assert upload.path == HOST
    upload.release()
    with pytest.raises(InteropError, match="cpu"):
        make_tensor_upload(gl, 8, 8, "cpu", prefer=INTEROP)
    with pytest.raises(ValueError, match="upload path"):
        make_tensor_upload(gl, 8, 8, "cpu", prefer="telepathy")


def test_gl_fences_signal(gl):
    sync = GLSync.load()
    assert sync is not None
    texture = gl.texture((8, 8), 4, dtype="f1")
    texture.write(bytes(8 * 8 * 4))
    fence = sync.fence()
    sync.flush()
    assert fence and sync.client_wait(fence)
    sync.gpu_wait(fence)     # a server-side wait on a signalled fence returns at once
    sync.delete(fence)
    texture.release()


def test_pixel_buffer_uploads_use_two_fenced_buffers(gl):
    upload = PixelBufferUpload(gl, 4, 2)
    try:
        for value in (10, 20, 30):
            upload.upload(np.full((2, 4, 4), value, dtype=np.uint8))
            assert (np.frombuffer(upload.texture.read(), dtype=np.uint8) == value).all()
        assert all(upload._fences)      # both PBOs guarded after use
        upload.wait()
    finally:
        upload.release()


def test_render_targets_take_and_give_tensors(gl):
    target = RenderTarget(gl, 24, 16)
    try:
        tensor = _frame(3)
        target.write_tensor(tensor)
        assert target.upload_path == HOST
        expected = Frame(tensor=tensor).to_uint8().astype(np.float32) / 255.0
        assert np.abs(target.read_array()[:, :, :3] - expected).max() < 1e-6
        back = target.read_tensor("cpu")
        assert back.shape == (1, 3, 16, 24) and back.dtype == torch.float32
        assert float((back[0].permute(1, 2, 0) - torch.from_numpy(expected)).abs().max()) < 1e-6
        assert back.data_ptr() != target.read_tensor("cpu").data_ptr()     # callers may keep results
    finally:
        target.release()


def test_a_texture_reads_back_into_a_tensor_with_a_kept_download(gl):
    from vj.render.cuda_interop import _downloads, texture_to_tensor

    target = RenderTarget(gl, 8, 4)
    try:
        image = np.random.default_rng(0).random((4, 8, 3), dtype=np.float32)
        target.write_array(image)
        tensor = texture_to_tensor(target.texture, "cpu")
        assert torch.allclose(tensor[0].permute(1, 2, 0), torch.from_numpy(image))
        kept = _downloads[target.texture]
        texture_to_tensor(target.texture, "cpu")
        assert _downloads[target.texture] is kept          # registered once per texture
    finally:
        target.release()


def test_texture_download_reads_float_targets_only(gl):
    texture = gl.texture((4, 4), 4, dtype="f1")
    with pytest.raises(ValueError, match="RGBA32F"):
        TextureDownload(texture, "cpu")
    texture.release()


@pytest.mark.parametrize("prefer", [None, PINNED_PBO])
def test_measure_handoff_reports_path_and_exactness(gl, prefer):
    result = measure_handoff(32, "cpu", 4, ctx=gl, prefer=prefer)
    assert result["path"] == (prefer or HOST) and result["exact"] and result["max_error"] == 0
    assert result["download_path"] == HOST and result["download_max_error"] < 1e-6
    for key in ("ms_p50", "ms_p99", "download_ms_p50", "download_ms_p99"):
        assert result[key] >= 0.0
    assert result["fallback_reason"] and "gl_renderer" in result


def test_the_host_handoff_carries_rgba8_once_and_uploads_through_pbos(gl):
    """Generator side (its own headless context) reads the frame back once as RGBA8; the display
    side uploads it into a slot texture through fenced PBOs."""
    handoff = HostUploadHandoff(24, 16)
    gen_ctx = handoff.generator_context()
    try:
        with gen_ctx:
            tensor = _frame(7)
            target = RenderTarget(gen_ctx, 24, 16)
            target.write_tensor(tensor)
            pixels = handoff.publish(Frame(texture=target.texture), slot=2)
            host = handoff.publish(Frame(tensor=tensor), slot=1)       # a frame not drawn in GL
            target.release()
        assert pixels.dtype == np.uint8 and pixels.shape == (16, 24, 4)
        assert np.array_equal(pixels[:, :, :3], _expected_gl_rows(tensor))
        assert np.array_equal(host, pixels)
        with gl:
            shown = handoff.display_texture(gl, GeneratedFrame(2, 0, 0.0, 0.0, 0.0, pixels))
            assert np.array_equal(_texture_rgb(shown), _expected_gl_rows(tensor))
    finally:
        handoff.generator_done()
        gl.__enter__()   # releasing a context leaves none current: later module fixtures need ours


@pytest.mark.skipif(importlib.util.find_spec("cuda") is None, reason="cuda-python is not installed")
@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present: gpu_check exercises the real path")
def test_cuda_python_accepts_our_interop_calls(gl):
    """Without a CUDA driver every call must fail as a CUDA error (InteropError), which proves the
    bindings accepted the argument types; a TypeError here would be a bug in our calls."""
    from vj.render.cuda_interop import _cudart, _Registered

    texture = gl.texture((8, 8), 4, dtype="f1")
    try:
        with pytest.raises(InteropError, match="cudaGraphicsGLRegisterImage"):
            _Registered(texture, read_only=False)
        runtime = _cudart()
        resource, array = runtime.cudaGraphicsResource_t(), runtime.cudaArray_t()
        kind = runtime.cudaMemcpyKind.cudaMemcpyDeviceToDevice
        for result in (runtime.cudaGraphicsMapResources(1, resource, 0),
                       runtime.cudaGraphicsSubResourceGetMappedArray(resource, 0, 0),
                       runtime.cudaMemcpy2DToArrayAsync(array, 0, 0, 1 << 20, 32, 32, 8, kind, 0),
                       runtime.cudaMemcpy2DFromArrayAsync(1 << 20, 128, array, 0, 0, 128, 8, kind, 0),
                       runtime.cudaGraphicsUnmapResources(1, resource, 0)):
            assert result[0] != runtime.cudaError_t.cudaSuccess
    finally:
        texture.release()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_frames_reach_gl_exactly_on_a_gpu():
    """Whichever path this machine allows (interop where GL runs on the same NVIDIA GPU), the
    pixels arrive exactly, both ways."""
    result = measure_handoff(64, "cuda", 5)
    assert result["path"] in (INTEROP, PINNED_PBO)
    assert result["exact"], result
    assert result["download_max_error"] < 1e-6, result
