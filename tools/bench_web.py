"""The control page's latency and cost: from a WebSocket message leaving a page-like client to
the first live frame rendered with it (and to its swap), and what the preview thumbnails cost the
render thread.

    .venv/bin/python tools/bench_web.py                       # latency, the preview's cost, OSC beside
    .venv/bin/python tools/bench_web.py --seconds 10 --size 640x360 --rate 60

A real live show (``LiveShow`` on a headless EGL display, paced at ``--rate`` Hz, the procedural
generator, output ``--size``) serves the real control page server on a free port. The client is
another process (aiohttp's WebSocket client, sending the JSON messages the page sends): a fader
drag of ``--flood`` messages per second on ``brightness`` and, every ``--probe-ms``, a probe
setting ``seed`` to a new value, noting the CLOCK_MONOTONIC time it left (shared by processes on
one machine). The show notes, per frame, when it took its control snapshot and which seed it
held, and when the frame was swapped; a probe's latency is its send → the store taking it ("to
store": the server's own part), → the first frame whose snapshot held it ("to frame": when the
render used it; up to a frame period more) and → that frame's swap ("to swap").

The preview's cost: the same show, a client asking for the preview, and the render-thread time
of each ``ThumbnailStream.write`` that did work (a GPU downscale + a pixel-buffer read started, or
the last read's bytes handed to the encoder thread); the frame work time (frame start → rendered,
before the swap's hold) with and without the preview is printed beside it.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SETLIST = """\
title: web bench
output: {{width: {width}, height: {height}, fps: 30}}
model: procedural
songs:
  - name: bench
    bpm: 120
    tempo_lead: setlist
    camera: {{zoom: 1.002}}
"""


# ---- the client (a child process) ------------------------------------------------------------

def osc_client(port: int, seconds: float, flood: float, probe_ms: float) -> list:
    """The same probes and flood over OSC (python-osc), for the comparison in the same show."""
    from pythonosc.udp_client import SimpleUDPClient

    osc = SimpleUDPClient("127.0.0.1", port)
    probes = []
    time.sleep(0.5)
    start = time.monotonic()
    next_probe = start + probe_ms / 1000.0
    interval = 1.0 / flood if flood > 0 else seconds
    k, i = 0, 0
    while time.monotonic() - start < seconds:
        if time.monotonic() >= next_probe:
            k += 1
            sent = time.monotonic()
            osc.send_message("/vj/param/seed", k)
            probes.append((k, sent))
            next_probe += probe_ms / 1000.0
        elif flood > 0:
            i += 1
            osc.send_message("/vj/param/brightness", 0.5 + (i % 100) / 100)
        time.sleep(min(interval, max(next_probe - time.monotonic(), 0.0005)))
    time.sleep(0.3)
    return probes


async def client(port: int, seconds: float, flood: float, probe_ms: float, preview: bool) -> list:
    import aiohttp

    probes = []
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
            async def drain() -> None:
                async for _ in ws:
                    pass
            reader = asyncio.ensure_future(drain())
            if preview:
                await ws.send_str(json.dumps({"t": "preview", "on": True}))
            await asyncio.sleep(0.5)
            start = time.monotonic()
            next_probe = start + probe_ms / 1000.0
            interval = 1.0 / flood if flood > 0 else seconds
            k, i = 0, 0
            while time.monotonic() - start < seconds:
                now = time.monotonic()
                if now >= next_probe:
                    k += 1
                    sent = time.monotonic()
                    await ws.send_str(json.dumps({"t": "set", "name": "seed", "value": k}))
                    probes.append((k, sent))
                    next_probe += probe_ms / 1000.0
                elif flood > 0:
                    i += 1
                    await ws.send_str(json.dumps({"t": "set", "name": "brightness", "value": 0.5 + (i % 100) / 100}))
                await asyncio.sleep(min(interval, max(next_probe - time.monotonic(), 0.0005)))
            await asyncio.sleep(0.3)
            reader.cancel()
    return probes


# ---- the show ----------------------------------------------------------------------------------

def run_show(args: argparse.Namespace, *, preview: bool, via: str = "web") -> dict:
    from vj.control.osc import OscServer
    from vj.control.params import ParamStore
    from vj.control.surface import ControlSurface
    from vj.control.web import WebServer
    from vj.generators.procedural import ProceduralGenerator
    from vj.render.window import Action, HeadlessDisplay
    from vj.setlist.models import load_setlist
    from vj.show.live import LiveOptions, LiveShow, build_song_states

    width, height = args.size
    folder = Path(tempfile.mkdtemp(prefix="vj-bench-web-"))
    (folder / "set.yaml").write_text(SETLIST.format(width=width, height=height))
    setlist = load_setlist(folder / "set.yaml")
    store = ParamStore()
    osc = OscServer(store, port=0)
    web = WebServer(store, osc.router, port=0)
    surface = ControlSurface(store, osc=osc, web=web)
    surface.configure(setlist, setlist.songs[0])
    surface.start()
    display = HeadlessDisplay((width, height), refresh_rate=args.rate)
    show = LiveShow(setlist, build_song_states(setlist), display, audio=None, make_generator=ProceduralGenerator,
                    options=LiveOptions(display_rate=args.rate, keep_frame_log=True, quit_after=args.seconds + 20),
                    controls=store, surface=surface)
    snapshots: dict[int, tuple[float, object]] = {}
    original = show.actions.controls
    frame_index = {"n": 0}

    def controls():
        values = original()
        snapshots[frame_index["n"]] = (time.monotonic(), values.get("seed"))
        return values

    show.actions.controls = controls
    stored: dict[object, float] = {}   # seed value → when the store took it (the listener runs on the web thread)
    store.add_listener(lambda name, value, source: stored.setdefault(value, time.monotonic())
                       if name == "seed" else None)
    state = {"child": None, "out": None, "started": None}

    def on_frame(show_: LiveShow, record) -> None:
        frame_index["n"] = record.index + 1
        if state["child"] is None and show_.showing:
            state["started"] = record.index
            port = web.port if via == "web" else osc.address[1]
            state["child"] = subprocess.Popen(
                [sys.executable, __file__, "--client", via, "--port", str(port), "--seconds", str(args.seconds),
                 "--flood", str(args.flood), "--probe-ms", str(args.probe_ms)] + (["--preview"] if preview else []),
                stdout=subprocess.PIPE, text=True)
        elif state["child"] is not None and state["child"].poll() is not None and state["out"] is None:
            state["out"] = state["child"].stdout.read()
            display.inject(Action.QUIT)
            display.inject(Action.QUIT)

    show.on_frame = on_frame
    thumbnails = [o for o in show.loop.outputs if type(o).__name__ == "ThumbnailStream"]
    try:
        show.run()
    finally:
        surface.stop()
        display.close()
    probes = json.loads(state["out"] or "[]")
    log = [r for r in show.frame_log if state["started"] is not None and r.index > state["started"]]
    # the frame indices in snapshots are the loop's: record.index is the tick index (same numbering)
    to_frame, to_swap = [], []
    swaps = {r.index: r.swap for r in show.frame_log}
    ordered = sorted(snapshots.items())
    j = 0
    for value, sent in probes:
        while j < len(ordered) and ordered[j][1][0] < sent:
            j += 1
        m = j
        while m < len(ordered) and ordered[m][1][1] != value:
            m += 1
        if m < len(ordered) and ordered[m][1][0] - sent < 1.0:
            to_frame.append((ordered[m][1][0] - sent) * 1000.0)
            index = ordered[m][0]
            if index in swaps:
                to_swap.append((swaps[index] - sent) * 1000.0)
    to_store = [(stored[value] - sent) * 1000.0 for value, sent in probes if value in stored]
    work = [(r.rendered - r.started) * 1000.0 for r in log]
    result = {"frames": len(log), "probes": len(probes), "seen": len(to_frame),
              "frame_work_p50_ms": _pct(work, 50), "frame_work_p99_ms": _pct(work, 99)}
    if to_store:
        result.update(to_store_p50_ms=_pct(to_store, 50), to_store_p99_ms=_pct(to_store, 99))
    if to_frame:
        result.update(to_frame_p50_ms=_pct(to_frame, 50), to_frame_p99_ms=_pct(to_frame, 99),
                      to_swap_p50_ms=_pct(to_swap, 50), to_swap_p99_ms=_pct(to_swap, 99))
    if thumbnails:
        stream = thumbnails[0]
        cost = [t * 1000.0 for t in stream.timings]
        result.update(preview_sent=stream.sent, preview_skipped=stream.skipped, preview_writes=len(cost),
                      preview_write_p50_ms=_pct(cost, 50), preview_write_p99_ms=_pct(cost, 99),
                      preview_write_max_ms=round(max(cost), 3) if cost else None,
                      preview_ms_per_frame=round(sum(cost) / max(len(log), 1), 4))
    return result


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))], 3)


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds of probes per run")
    parser.add_argument("--rate", type=float, default=60.0, help="display rate (Hz)")
    parser.add_argument("--size", type=_size, default=(384, 216), help="output size (default 384x216; multiples of 8)")
    parser.add_argument("--flood", type=float, default=60.0, help="fader messages per second beside the probes")
    parser.add_argument("--probe-ms", type=float, default=50.0, help="a probe every N ms")
    parser.add_argument("--only", choices=["latency", "preview", "osc"])
    parser.add_argument("--client", choices=["web", "osc"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--preview", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client == "osc":
        sys.stdout.write(json.dumps(osc_client(args.port, args.seconds, args.flood, args.probe_ms)))
        return 0
    if args.client:
        sys.stdout.write(json.dumps(asyncio.run(client(args.port, args.seconds, args.flood, args.probe_ms,
                                                       args.preview))))
        return 0
    machine = f"{platform.node()} · {platform.processor() or platform.machine()} · {os.cpu_count()} CPUs · " \
              f"Python {platform.python_version()} · {platform.system()} {platform.release()}"
    print(f"control page: {args.size[0]}x{args.size[1]} output at {args.rate:g} Hz, {args.seconds:g} s, "
          f"fader flood {args.flood:g}/s, a probe every {args.probe_ms:g} ms")
    print(f"machine: {machine}")
    if args.only in (None, "latency"):
        print(json.dumps({"run": "page → frame, no preview", **run_show(args, preview=False)}))
    if args.only in (None, "preview"):
        print(json.dumps({"run": "page → frame, preview on (5 fps, 320 wide)", **run_show(args, preview=True)}))
    if args.only in (None, "osc"):
        print(json.dumps({"run": "OSC → frame in the same show (for comparison), no preview",
                          **run_show(args, preview=False, via="osc")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
