#!/usr/bin/env python3
"""In the rig: Ableton Link beat error, NDI send cost on the render thread, leader→follower cue latency.

- **link**: two Link peers in this process (vj's ``LinkLead`` and a peer, over loopback). vj's
  tempo clock follows the session, polled at 60 Hz as the show polls it; just before each poll
  (the grid as the last poll left it, a frame earlier), vj's next beat and next bar line against
  the peer's (the peer read the same way). p50/p95 of |error| at each tempo the peer jumps to
  (120 → 40 → 300 → 128 BPM), and how many polls were off by more than 5 ms (the one right after
  a jump, when vj's grid still has the old tempo, is: the next poll takes the new one).
- **ndi**: the render thread's cost of ``SinkOutput.write`` (draw into RGBA8, start the pixel-buffer
  read, hand the last frame's bytes to the sender thread), GL work included (``finish``), with an
  NDI sender and with a null sink (the same GL, no NDI encoder sharing the cores), at 512² and
  1920×1080, on a headless GL context at 60 frames a second; frames sent and dropped.
- **follow**: a leader and a follower ``vj live`` (windowed, Xvfb, 60 Hz display rate, procedural),
  cue changes sent to the leader over OSC; the delay between the leader's and the follower's OSC
  feedback reporting the new cue (each reports it in the frame that shows it).

    .venv/bin/python tools/bench_rig.py [--only link,ndi,follow] [--seconds 10] [--frames 300] [--cues 20]

Needs vj[link] (aalink) and vj[ndi] (cyndilib), and Xvfb (or a DISPLAY) for follow. NDI on a
machine without multicast needs NDI_CONFIG_DIR (set here to a loopback config when not set).
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "show"))


def _p(values, q) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def bench_link(seconds: float) -> dict:
    from vj.audio.clock import TempoClock, TempoLead
    from vj.audio.link import LinkLead, open_link

    peer_link = open_link(120.0)
    peer_link.quantum = 4
    peer = LinkLead(120.0, link=peer_link)
    vj = LinkLead(120.0)
    deadline = time.monotonic() + 10
    while vj.link.num_peers < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    clock = TempoClock(120.0, 4, TempoLead.LINK)
    start = time.monotonic()

    def song_time(at: float) -> float:
        return at - start

    results = {}
    for tempo in (120.0, 40.0, 300.0, 128.0):
        peer_link.tempo = tempo
        beat_errors, bar_errors = [], []
        until = time.monotonic() + seconds / 4
        while time.monotonic() < until:
            time.sleep(1 / 60)
            # vj's grid as the last poll (a frame ago) left it, against the peer now; then this frame's poll
            at, beat, bpm = peer.sample()
            spb = 60.0 / bpm
            peer_beat = at + (math.floor(beat) + 1 - beat) * spb
            peer_bar = at + ((math.floor(beat / 4) + 1) * 4 - beat) * spb
            mine_beat = clock.next_beat_after(song_time(at)) + start
            mine_bar = clock.next_downbeat_after(song_time(at)) + start
            beat_errors.append(abs((mine_beat - peer_beat + spb / 2) % spb - spb / 2))
            bar_errors.append(abs((mine_bar - peer_bar + 2 * spb) % (4 * spb) - 2 * spb))
            vj.poll(clock, song_time)
        results[f"{tempo:g} BPM"] = {"beat_p50_ms": _p(beat_errors, 50) * 1e3, "beat_p95_ms": _p(beat_errors, 95) * 1e3,
                                     "bar_p50_ms": _p(bar_errors, 50) * 1e3, "bar_p95_ms": _p(bar_errors, 95) * 1e3,
                                     "polls_over_5ms": sum(e > 0.005 for e in bar_errors), "polls": len(beat_errors)}
    vj.close()
    peer_link.enabled = False
    return results


def bench_ndi(frames: int) -> dict:
    from rig import ndi_config_dir

    ndi_config_dir()
    from vj.output.ndi import ndi_output
    from vj.output.sinks import SinkOutput

    class NullSink:
        """The same GPU read and hand-over, no NDI (what the render thread pays without NDI's encoder
        competing for the same cores)."""

        label = "null"

        def send(self, rgba):
            pass

        def close(self):
            pass
    from vj.render.gl import RenderTarget, create_headless_context, release_context

    ctx = create_headless_context()
    results = {}
    try:
        for (width, height), sink in itertools.product(((512, 512), (1920, 1080)), ("ndi", "null")):
            target = RenderTarget(ctx, width, height)
            output = (ndi_output(f"vj-bench-{os.getpid()}-{width}", width, height, 60.0) if sink == "ndi"
                      else SinkOutput(NullSink(), width, height))
            costs = []
            for index in range(frames):
                target.framebuffer.use()
                ctx.clear((index % 60) / 60.0, 0.3, 0.6, 1.0)
                ctx.finish()   # the stage's work is done: time the output alone
                started = time.perf_counter()
                output.write(target.texture)
                ctx.finish()   # what the write queued on the GPU counts too
                costs.append(time.perf_counter() - started)
                time.sleep(max(0.0, 1 / 60 - costs[-1]))
            output.close()
            results[f"{width}x{height} {sink}"] = {"p50_ms": _p(costs[10:], 50) * 1e3, "p95_ms": _p(costs[10:], 95) * 1e3,
                                            "sent": output.sent, "dropped": output.dropped, "frames": frames}
            target.release()
    finally:
        release_context(ctx)
    return results


FOLLOW_SET = """\
title: follow bench
output: {width: 128, height: 96, fps: 24}
model: procedural
songs:
  - name: one
    bpm: 120
    tempo_lead: setlist
    cue_mode: manual
    cues:
      - {at: bar 2, prompt: "b"}
      - {at: bar 4, prompt: "c"}
"""


def bench_follow(cues: int) -> dict:
    from test_follow import Listener, _free_port

    own_x = None
    env = dict(os.environ)
    if not env.get("DISPLAY"):
        number = 300 + os.getpid() % 300
        own_x = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        env["DISPLAY"] = f":{number}"
        time.sleep(1.0)
    folder = Path(tempfile.mkdtemp(prefix="vj-bench-rig-"))
    setlist = folder / "show.yaml"
    setlist.write_text(FOLLOW_SET)
    leader_port, follower_port = _free_port(), _free_port()
    from_leader, from_follower = Listener(), Listener()
    common = ["--windowed", "--window-size", "160x120", "--no-audio", "--display-rate", "60", "--quit-after", "300"]
    procs = [subprocess.Popen([sys.executable, "-m", "vj", "live", str(setlist), *common, "--osc-port", str(leader_port),
                               "--osc-feedback", f"127.0.0.1:{from_leader.port}"], env=env, cwd=folder,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
             subprocess.Popen([sys.executable, "-m", "vj", "live", str(setlist), *common, "--osc-port",
                               str(follower_port), "--osc-feedback", f"127.0.0.1:{from_follower.port}",
                               "--follow", f"127.0.0.1:{leader_port}"], env=env, cwd=folder,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    from pythonosc.udp_client import SimpleUDPClient

    delays = []
    try:
        start = time.monotonic()
        from_leader.first("/vj/state/beat", lambda a: True, start, timeout=90)
        from_follower.first("/vj/state/beat", lambda a: True, start, timeout=90)
        time.sleep(2.0)
        control = SimpleUDPClient("127.0.0.1", leader_port)
        for index in range(cues):
            cue = 1 + index % 2
            sent = time.monotonic()
            control.send_message("/vj/cue", cue)
            on_leader = from_leader.first("/vj/state/cue", lambda a, c=cue: a[0] == c, sent)
            on_follower = from_follower.first("/vj/state/cue", lambda a, c=cue: a[0] == c, sent)
            delays.append(on_follower - on_leader)
            time.sleep(0.25)
    finally:
        for process in procs:
            process.terminate()
            process.wait(timeout=10)
        from_leader.close()
        from_follower.close()
        if own_x is not None:
            own_x.terminate()
            own_x.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
    return {"p50_ms": _p(delays, 50) * 1e3, "p95_ms": _p(delays, 95) * 1e3, "max_ms": max(delays) * 1e3,
            "cues": len(delays), "display_rate": 60}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="link,ndi,follow")
    parser.add_argument("--seconds", type=float, default=10.0, help="Link: seconds in all (four tempos)")
    parser.add_argument("--frames", type=int, default=300, help="NDI: frames per size")
    parser.add_argument("--cues", type=int, default=20, help="follow: cue changes")
    args = parser.parse_args()
    which = set(args.only.split(","))
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    for name, run in (("link", lambda: bench_link(args.seconds)), ("ndi", lambda: bench_ndi(args.frames)),
                      ("follow", lambda: bench_follow(args.cues))):
        if name in which:
            print(json.dumps({name: run()}, indent=2), flush=True)


if __name__ == "__main__":
    main()
