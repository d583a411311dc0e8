"""The frame sink side every sink shares (``vj.output.sinks.SinkOutput``): the render thread never
waits for a sink, the newest frame wins, drops are counted. No NDI needed."""
from __future__ import annotations

import time

import numpy as np

from vj.output.sinks import SinkOutput


class SlowSink:
    """A sink whose network is slow: the render thread must not wait for it."""

    label = "slow"

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []

    def send(self, rgba: np.ndarray) -> None:
        time.sleep(0.05)
        self.frames.append(rgba)

    def close(self) -> None:
        pass


def test_a_slow_sink_never_holds_the_render_thread_and_drops_are_counted():
    from vj.render.gl import RenderTarget, create_headless_context, release_context

    ctx = create_headless_context()
    try:
        target = RenderTarget(ctx, 64, 32)
        sink = SlowSink()
        output = SinkOutput(sink, 64, 32)
        costs = []
        for index in range(40):
            target.framebuffer.use()
            ctx.clear(index / 40.0, 0.0, 0.0, 1.0)
            started = time.perf_counter()
            output.write(target.texture)
            costs.append(time.perf_counter() - started)
            time.sleep(0.005)
        output.close()
        assert max(costs[1:]) < 0.04, "a write waited for the sink"   # (the first one compiles a shader)
        assert output.dropped > 10 and 1 <= output.sent <= 40 - output.dropped
        assert sink.frames[0].shape == (32, 64, 4)
        reds = [int(f[0, 0, 0]) for f in sink.frames]
        assert reds == sorted(reds) and reds[-1] > 200   # the latest frame won, in order
    finally:
        release_context(ctx)
