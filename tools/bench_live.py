#!/usr/bin/env python3
"""Live latency: how late an unpredictable hit reaches the screen, and how close a beat-locked one lands.

Runs the real live path: a JACK server (dummy driver) with a click track played into it by a JACK
client (``tests/show/click_feeder.py``, its own process), vj's PortAudio capture process, the
analysis thread, the director, the generator thread (procedural) and the GLFW window (Xvfb
here), paced at 60 Hz. For each onset method and hop size it reports p50/p95 of:

- **onset-driven** latency, per stage, from the click's first sample to the buffer swap of the
  first frame whose parameters include the onset:
    look-ahead  from the attack to the end of the hop that decided it: the samples after the attack
                the detector needs ("fast": the attack's hop or the next; aubio's peak picker 4-5 hops),
    buffering   from the deciding hop's last sample to its callback reaching vj (one period + transfer),
    analysis    onset detection + features, until the hop is published (with the hops before it in
                the same buffer),
    to frame    until the display loop drains it at the start of its next frame,
    render      director, camera, compose, present,
    swap        GPU finish and waiting for the frame's vsync slot.
  Click times follow the capture convention: a sample is stamped when an ADC would have taken
  it, one JACK period before the callback that delivers it (so buffering includes that period).
- **beat-locked** error: the live tempo clock (locked to aubio's beat tracker) predicts the beat;
  for each frame just past a predicted beat, the beat time the frame shows (its swap time minus
  its beat phase in seconds) against the true click. The frame-quantised error of a step change
  (a cue on the bar) is reported too: it is bounded by the refresh period, whatever the prediction.

    .venv/bin/python tools/bench_live.py [--seconds 24] [--period 256] [--size 256] [--onset-method fast,hfc]

Needs jackd (jackd2) and Xvfb (or a DISPLAY). Prints the machine it ran on; figures from a
loaded or virtual machine without real-time scheduling are pessimistic.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SETLIST = """\
title: latency bench
output: {{width: {size}, height: {size}, fps: 24}}
model: procedural
songs:
  - name: clicks
    bpm: 120
    tempo_lead: detected
    reactivity:
      - {{name: kick, source: onset, target: brightness, amount: 1.0, attack: 0.0, release: 0.1}}
"""

STAGES = ("look-ahead", "buffering", "analysis", "to frame", "render", "swap", "total")


def _die_with_parent() -> None:
    """Child side: SIGTERM when the bench dies, so no jackd/Xvfb outlives it (PR_SET_PDEATHSIG)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)
    except OSError:
        pass


def _start(command: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=_die_with_parent, **kwargs)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)  # reaped, so its JACK registry slot can be reclaimed


class Feeder:
    """The click feeder process; collects click times."""

    def __init__(self, server: str, interval: float) -> None:
        self.clicks: list[float] = []
        self.connected_at = math.inf
        self.xruns = 0
        self.process = subprocess.Popen([sys.executable, str(REPO / "tests" / "show" / "click_feeder.py"), server,
                                         str(interval)], stdout=subprocess.PIPE, text=True,
                                        preexec_fn=_die_with_parent)
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        self.ready.wait(15)

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            kind, _, value = line.strip().partition(" ")
            if kind == "ready":
                self.ready.set()
            elif kind == "click":
                self.clicks.append(float(value))
            elif kind == "connected":
                self.connected_at = float(value)
            elif kind == "xrun":
                self.xruns += 1


def run_once(hop: int, seconds: float, period: int, size: int, rate: int, warmup: float,
             window_size: tuple[int, int], onset_method: str | None = None) -> dict:
    from vj.audio.live import LiveAudio, LiveAudioSettings
    from vj.generators.procedural import ProceduralGenerator
    from vj.show.live import LiveOptions, LiveShow, build_song_states
    from vj.render.window import OutputWindow
    from vj.setlist.models import load_setlist

    server = f"vjbench{os.getpid()}h{hop}"
    os.environ.update(JACK_DEFAULT_SERVER=server, JACK_NO_AUDIO_RESERVATION="1", JACK_NO_START_SERVER="1")
    jackd = _start(["jackd", "--no-realtime", "-n", server, "-d", "dummy", "-r", str(rate), "-p", str(period),
                    "-C", "2", "-P", "2"])
    try:
        for _ in range(100):
            if subprocess.run(["jack_wait", "-s", server, "-c"], capture_output=True, text=True).stdout.strip() == "running":
                break
            time.sleep(0.1)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "bench.yaml"
            path.write_text(SETLIST.format(size=size))
            setlist = load_setlist(path)
            audio = LiveAudio(LiveAudioSettings(device="system", hop=hop, onset_method=onset_method))
            audio.start()
            feeder = Feeder(server, 0.5)
            window = OutputWindow("vj bench", window_size)
            try:
                show = LiveShow(setlist, build_song_states(setlist), window, audio=audio,
                                make_generator=ProceduralGenerator,
                                options=LiveOptions(quit_after=seconds, keep_frame_log=True, display_rate=60.0))
                show.run()
                generator_fps = show.worker.frames / seconds
            finally:
                audio.stop()
                window.close()
                _stop(feeder.process)
    finally:
        _stop(jackd)
        sys.path.insert(0, str(REPO / "tests" / "show"))
        from jack_registry import reclaim

        reclaim(server)  # a jackd killed hard keeps one of the machine's 8 server slots
    shift = period / rate  # capture convention: stamped one period before delivery (see the docstring)
    clicks = np.array([c - shift for c in feeder.clicks if c > feeder.connected_at + 0.05])
    frames = list(show.frame_log)
    return {"hop": hop, "method": audio.settings.onset_method, "onsets": _onset_stages(frames, clicks, hop, rate),
            "beats": _beat_errors(frames, clicks, warmup), "xruns": feeder.xruns, "frames": len(frames),
            "display_fps": (len(frames) - 1) / max(frames[-1].swap - frames[0].swap, 1e-6),
            "generator_fps": generator_fps}


def _onset_stages(frames: list, clicks: np.ndarray, hop: int, rate: int) -> dict[str, list[float]]:
    stages: dict[str, list[float]] = {name: [] for name in STAGES}
    used = set()
    for record in frames:
        for onset in record.onsets:
            if len(clicks) == 0:
                continue
            click = float(clicks[np.argmin(np.abs(clicks - onset.onset_time))])
            if abs(click - onset.onset_time) > 0.06 or click in used:
                continue  # not one of ours (or a double detection)
            used.add(click)
            hop_end = onset.time + hop / rate
            stages["look-ahead"].append(hop_end - click)
            stages["buffering"].append(onset.arrived - hop_end)
            stages["analysis"].append(onset.published - onset.arrived)
            stages["to frame"].append(record.drained_at - onset.published)
            stages["render"].append(record.rendered - record.drained_at)
            stages["swap"].append(record.swap - record.rendered)
            stages["total"].append(record.swap - click)
    return stages


def _beat_errors(frames: list, clicks: np.ndarray, warmup: float) -> dict[str, list[float]]:
    """Errors once the clock has locked: aubio's tracker needs ~3 s (hop 256) to ~6 s (hop 512)
    of steady beats before its first beat, and the clock a few beats more to settle."""
    implied, stepped = [], []
    start = frames[0].swap + warmup
    for previous, record in zip(frames, frames[1:]):
        if record.swap < start or math.floor(record.beat) == math.floor(previous.beat):
            continue
        spb = 0.5
        shown = record.swap - (record.beat - math.floor(record.beat)) * spb
        click = float(clicks[np.argmin(np.abs(clicks - shown))]) if len(clicks) else math.nan
        implied.append(shown - click)
        stepped.append(record.swap - click)
    return {"implied": implied, "stepped": stepped}


def _ms(values: list[float], q: float) -> str:
    return f"{1000 * float(np.percentile(values, q)):7.1f}" if values else "    n/a"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=24.0, help="seconds per hop size (default 24)")
    parser.add_argument("--warmup", type=float, default=10.0,
                        help="seconds before beat-locked errors count (tracker warm-up; default 10)")
    parser.add_argument("--period", type=int, default=256, help="JACK period in frames (default 256)")
    parser.add_argument("--rate", type=int, default=44100)
    parser.add_argument("--size", type=int, default=256, help="generator frame size (default 256)")
    parser.add_argument("--hops", default="256,512")
    parser.add_argument("--window", default="640x360", help="window size (default 640x360)")
    parser.add_argument("--onset-method", default="",
                        help="onset method(s), comma-separated, each run in turn: fast, hfc, ... "
                        "(default: the live default, fast)")
    args = parser.parse_args()
    for tool in ("jackd", "jack_wait"):
        if shutil.which(tool) is None:
            print(f"bench_live: needs {tool} (Debian package jackd2)", file=sys.stderr)
            return 2
    xvfb = None
    if not os.environ.get("DISPLAY"):
        display = f":{300 + os.getpid() % 300}"
        xvfb = _start(["Xvfb", display, "-screen", "0", "800x600x24", "-nolisten", "tcp"])
        time.sleep(1.0)
        os.environ["DISPLAY"] = display
    try:
        results = [run_once(int(h), args.seconds, args.period, args.size, args.rate, args.warmup,
                            tuple(int(v) for v in args.window.split("x")), method or None)
                   for method in args.onset_method.split(",") for h in args.hops.split(",")]
    finally:
        if xvfb is not None:
            _stop(xvfb)
    import moderngl

    ctx = moderngl.create_standalone_context(backend="egl")
    renderer = ctx.info["GL_RENDERER"]
    ctx.release()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.2f}; GL {renderer}; JACK dummy {args.period} frames at {args.rate} Hz "
          f"(no real-time scheduling); display paced at 60 Hz in a {args.window} window; "
          f"generator procedural {args.size}²")
    for result in results:
        stages = result["onsets"]
        print(f"\nonset method {result['method']}, hop {result['hop']}: {len(stages['total'])} onsets, "
              f"{result['frames']} frames "
              f"({result['display_fps']:.1f} fps display, {result['generator_fps']:.1f} fps generator), "
              f"{result['xruns']} JACK xruns")
        print(f"  {'onset stage':12s} {'p50 ms':>8s} {'p95 ms':>8s}")
        for name in STAGES:
            print(f"  {name:12s} {_ms(stages[name], 50)} {_ms(stages[name], 95)}")
        beats = result["beats"]
        abs_implied = [abs(v) for v in beats["implied"]]
        print(f"  beat-locked ({len(beats['implied'])} beats): |error| of the beat the frame shows "
              f"p50 {_ms(abs_implied, 50).strip()} ms, p95 {_ms(abs_implied, 95).strip()} ms, "
              f"mean signed {1000 * float(np.mean(beats['implied'])) if beats['implied'] else math.nan:+.1f} ms; "
              f"first frame at/after the beat lands {_ms(beats['stepped'], 50).strip()} ms (p50) after it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
