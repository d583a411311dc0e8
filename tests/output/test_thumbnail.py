"""The control page's preview thumbnails: a GPU downscale read through a pixel buffer, encoded
as JPEG off the render thread, the right way up, and nothing done while no page asks."""
from __future__ import annotations

import io
import threading

import numpy as np
from PIL import Image

from vj.output.thumbnail import ThumbnailStream
from vj.render.gl import RenderTarget, create_headless_context, release_context


def test_thumbnails_are_small_jpegs_the_right_way_up_and_only_when_wanted():
    ctx = create_headless_context()
    target = RenderTarget(ctx, 640, 360)
    image = np.zeros((360, 640, 3), dtype=np.float32)
    image[:180, :, 0] = 1.0     # red on top
    image[180:, :, 2] = 1.0     # blue below
    target.write_array(image)
    got: list[bytes] = []
    arrived = threading.Event()
    wanted = {"on": False}
    clock = {"t": 0.0}

    def sink(jpeg: bytes) -> None:
        got.append(jpeg)
        arrived.set()

    stream = ThumbnailStream(sink, fps=5.0, active=lambda: wanted["on"], now=lambda: clock["t"])
    try:
        for _ in range(5):
            stream.write(target.texture, None, None)
        assert not stream.timings and not got, "work done with no page asking"
        wanted["on"] = True
        stream.write(target.texture, None, None)      # draws and starts the read
        clock["t"] += 0.05
        stream.write(target.texture, None, None)      # too soon for another: hands the bytes on
        assert arrived.wait(5.0)
        assert len(stream.timings) == 2
        picture = np.asarray(Image.open(io.BytesIO(got[0])).convert("RGB")).astype(int)
        assert picture.shape == (180, 320, 3)
        assert picture[40, 160, 0] > 200 and picture[40, 160, 2] < 60     # red on top
        assert picture[140, 160, 2] > 200 and picture[140, 160, 0] < 60   # blue below
    finally:
        stream.close()
        target.release()
        release_context(ctx)
