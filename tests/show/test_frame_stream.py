"""The generator thread's frames run on one dedicated CUDA stream where there is CUDA, and the
stream helper costs nothing (and imports nothing) where there is none."""
from __future__ import annotations

import contextlib

import pytest
import torch

from vj.show.worker import FrameStream


def test_without_cuda_a_frame_runs_as_it_is():
    streams = FrameStream()
    with streams.frame():
        value = torch.ones(2).sum()
    assert float(value) == 2.0
    if not torch.cuda.is_available():
        assert streams.stream is None and isinstance(streams.frame(), contextlib.nullcontext)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_with_cuda_frames_run_on_a_non_default_stream():
    streams = FrameStream()
    before = torch.ones(1024, device="cuda")          # queued on the default stream first
    with streams.frame():
        current = torch.cuda.current_stream()
        after = before * 2
    assert current == streams.stream and current != torch.cuda.default_stream()
    torch.cuda.synchronize()
    assert float(after.sum()) == 2048.0
