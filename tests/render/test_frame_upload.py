"""Which way a frame reaches a render target: its own texture, device to device, or the host."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vj.render.frame import Frame
from vj.render.gl import RenderTarget
from vj.render.passes import read_frame, upload


def _picture(height: int = 16, width: int = 24) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    return torch.stack([xs, ys, 0.5 * torch.ones_like(xs)])[None]


def test_a_cpu_tensor_frame_goes_through_the_host(gl):
    frame = Frame(tensor=_picture())
    assert frame.cuda_tensor is None  # nothing to copy device to device
    target = RenderTarget(gl, 24, 16)
    texture = upload(frame, target)
    assert texture is target.texture
    assert np.allclose(read_frame(texture), frame.to_array(), atol=1e-6)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_cuda_frame_is_copied_on_the_device(gl):
    picture = _picture().cuda()
    frame = Frame(tensor=picture)
    assert frame.cuda_tensor is picture
    target = RenderTarget(gl, 24, 16)
    texture = upload(frame, target)
    assert target.upload_path in ("cuda-gl interop", "pinned PBO")
    assert np.allclose(read_frame(texture), picture[0].permute(1, 2, 0).cpu().numpy(), atol=1 / 255 + 1e-6)
    back = Frame(texture=texture).to_tensor("cuda")
    assert back.is_cuda and torch.allclose(back.cpu(), picture.cpu(), atol=1 / 255 + 1e-6)
