"""The generator thread: makes frames as fast as it can from the newest request of the display.

The generator runs in its own thread (15–60 fps for a diffusion model); the display runs at the
monitor's rate and never waits for it. They meet in two latest-wins slots:

- the display posts a ``Request`` each frame: the newest ``FrameParams`` and the camera motion
  accumulated since the generator last took one (so the generator's own move of its previous
  frame covers exactly the motion between its two frames: a 2D matrix, or a count of setlist
  frames of 3D motion);
- the generator posts a ``GeneratedFrame`` (``vj.render.handoff``): which texture slot holds it
  and which display frame's camera pose it was made at (so the display can re-apply the motion
  since then).
"""
from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from vj.frame_params import FrameParams
from vj.render.handoff import SLOTS, GeneratedFrame

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Request:
    """What the display asks the generator to make next."""

    params: FrameParams
    motion: np.ndarray        # forward 3×3: camera motion since the generator's previous request
    frames: float             # setlist frames of 3D motion accumulated (3D mode scales params.camera)
    display_index: int        # the display frame whose camera pose this request represents


class FrameStream:
    """One dedicated CUDA stream for everything a generator frame does (model, TensorRT engines,
    the tensor → GL copy), never the legacy default stream, on which TensorRT adds a
    synchronisation per call and every kernel serialises with every other stream.

    ``frame()`` makes it the thread's current stream for one frame, after a GPU-side wait for the
    default stream (so work a model's ``prepare`` queued there, on another thread, is ordered
    first). Without torch imported, or without CUDA, it does nothing: a procedural show never
    imports torch for this."""

    def __init__(self) -> None:
        self.stream: Any = None
        self._checked = False

    def frame(self) -> Any:
        torch = sys.modules.get("torch")   # imported by a model's loader, if any; never imported here
        if torch is None:
            return contextlib.nullcontext()
        if not self._checked:
            self._checked = True
            if torch.cuda.is_available():
                self.stream = torch.cuda.Stream()
                log.info("generator frames run on a dedicated CUDA stream")
        if self.stream is None:
            return contextlib.nullcontext()
        self.stream.wait_stream(torch.cuda.default_stream(self.stream.device))
        return torch.cuda.stream(self.stream)


class GeneratorWorker:
    """Runs ``make_pipeline(ctx)`` (an ``engine.FramePipeline``) in its own thread on the newest request."""

    def __init__(self, handoff: Any, make_pipeline: Callable[[Any], Any], width: int, height: int) -> None:
        self.handoff = handoff
        self._make_pipeline = make_pipeline
        self.width, self.height = width, height
        self._lock = threading.Lock()   # held only to swap a reference or two, never across work
        self._request: Request | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.latest: GeneratedFrame | None = None
        self._in_use: tuple[int, ...] = ()
        self._reset = False
        self.frames = 0
        self.superseded = 0
        self.fps = 0.0
        self.warming = False            # a model still loading (the procedural generator plays meanwhile)
        self.generator_name = "?"       # the generator that made the latest frame
        self.notice: str | None = None  # the generator's own line for the HUD (e.g. a compile fell back to eager)
        self._frame_stream = FrameStream()
        self._thread = threading.Thread(target=self._run, name="vj-generator", daemon=True)

    def start(self) -> None:
        self._thread.start()

    # ---- display side ----------------------------------------------------------------------

    def post(self, params: FrameParams, step: np.ndarray, frames: float, display_index: int) -> None:
        """Offer the newest parameters; motion accumulates until the generator takes a request."""
        with self._lock:
            pending = self._request
            if pending is not None:
                step = step @ pending.motion
                frames += pending.frames
            self._request = Request(params, step, frames, display_index)
        self._wake.set()

    def take_latest(self, showing: tuple[int, ...]) -> GeneratedFrame | None:
        """The newest finished frame (None when nothing new), and which slots the display holds."""
        with self._lock:
            frame, self.latest = self.latest, None
            self._in_use = showing + ((frame.slot,) if frame else ())
        return frame

    def reset(self) -> None:
        """Start the generator again from its first frame (a new song)."""
        self._reset = True

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10.0)

    # ---- generator thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            ctx = self.handoff.generator_context()
            pipeline = self._make_pipeline(ctx)
        except BaseException as exc:  # reported to the display thread, which decides
            log.exception("the generator could not start")
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        average = None
        try:
            while not self._stop.is_set():
                self._wake.wait(0.1)
                self._wake.clear()
                with self._lock:
                    request, self._request = self._request, None
                    slot = self._free_slot()
                if request is None:
                    continue
                if slot is None:  # the display holds every slot (frozen, or busy): try again shortly
                    with self._lock:  # put it back, merged under any newer one so no motion is lost
                        newer = self._request
                        self._request = request if newer is None else Request(
                            newer.params, newer.motion @ request.motion, newer.frames + request.frames,
                            newer.display_index)
                    self._stop.wait(0.005)
                    continue
                if self._reset:
                    self._reset = False
                    pipeline.reset()
                started = time.monotonic()
                with self._frame_stream.frame():
                    frame = pipeline.render(request.params, motion=request.motion, frames=request.frames,
                                            post=False)
                    self.warming = getattr(pipeline, "warming", False)
                    self.generator_name = getattr(pipeline.generator, "name", "?")
                    self.notice = getattr(pipeline.generator, "notice", None)
                    pixels = self.handoff.publish(frame, slot)
                done = time.monotonic()
                made = GeneratedFrame(slot, request.display_index, request.params.time, done, done - started, pixels)
                with self._lock:
                    self.latest = made
                self.frames += 1
                average = (done - started) if average is None else 0.9 * average + 0.1 * (done - started)
                self.fps = 1.0 / max(average, 1e-6)
        except BaseException as exc:  # FramePipeline already degrades to procedural; this is worse
            log.exception("the generator thread stopped")
            self.error = exc
        finally:
            try:
                pipeline.close()
            finally:
                self.handoff.generator_done()

    def _free_slot(self) -> int | None:
        """A slot the display is not showing (call with the lock held). A published frame the
        display has not taken yet is superseded: its slot is reused and it counts as dropped."""
        busy = set(self._in_use)
        if self.latest is not None:
            busy.add(self.latest.slot)
        for slot in range(SLOTS):
            if slot not in busy:
                return slot
        if self.latest is not None:
            slot, self.latest = self.latest.slot, None
            self.superseded += 1
            return slot
        return None


__all__ = ["FrameStream", "GeneratorWorker", "Request"]
