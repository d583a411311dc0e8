"""A JACK client that plays a click track into every PortAudio input port (the stand-in for a
DJ's mixer feeding the VJ's sound card). Run by the tests as its own process:

    python click_feeder.py SERVER INTERVAL_SECONDS

It prints one line per event on stdout: ``ready``, ``connected T``, ``click T``, ``xrun``,
with T in ``time.monotonic()`` seconds (system-wide on Linux, so the test process reads them as is).
"""
from __future__ import annotations

import sys
import threading
import time
from collections import deque

import jack
import numpy as np


class ClickPlayer:
    def __init__(self, server: str, interval: float, first: float = 0.3, level: float = 0.8) -> None:
        self.client = jack.Client("clickfeeder", no_start_server=True, servername=server)
        self.rate = self.client.samplerate
        self.port = self.client.outports.register("out")
        self.interval_frames = int(round(interval * self.rate))
        self.next_click = int(first * self.rate)
        self.frames = 0
        self.lines: deque[str] = deque()
        burst = np.random.default_rng(1).uniform(-1, 1, int(0.03 * self.rate)).astype(np.float32)
        self.burst = burst * level * np.exp(-np.arange(len(burst)) / (0.006 * self.rate)).astype(np.float32)
        self._origins: deque[float] = deque(maxlen=128)
        self._playing: list[int] = []
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(lambda delay: self.lines.append("xrun"))
        self.client.activate()

    def _process(self, frames: int) -> None:
        # When frame 0 of this stream played: each cycle gives a (late-only) estimate; the earliest
        # of the recent ones is the least jittery, as vj's own capture clock does.
        now = time.monotonic() - self.client.frames_since_cycle_start / self.rate
        self._origins.append(now - self.frames / self.rate)
        cycle_start = min(self._origins) + self.frames / self.rate
        out = self.port.get_array()
        out[:] = 0.0
        while self.next_click < self.frames + frames:
            offset = self.next_click - self.frames
            self.lines.append(f"click {cycle_start + offset / self.rate:.6f}")
            self._playing.append(-offset)
            self.next_click += self.interval_frames
        still = []
        for played in self._playing:
            start, begin = max(0, -played), max(0, played)
            n = min(frames - start, len(self.burst) - begin)
            if n > 0:
                out[start:start + n] += self.burst[begin:begin + n]
            if played + frames < len(self.burst):
                still.append(played + frames)
        self._playing = still
        self.frames += frames

    def link(self) -> None:
        """Connect to PortAudio's inputs as they appear (PortAudio reopens after a device loss)."""
        for port in self.client.get_ports("PortAudio", is_input=True, is_audio=True):
            if self.port not in self.client.get_all_connections(port):
                self.client.connect(self.port, port)
                self.lines.append(f"connected {time.monotonic():.6f}")


def main() -> int:
    player = ClickPlayer(sys.argv[1], float(sys.argv[2]))
    print("ready", flush=True)
    while True:
        try:
            player.link()
        except jack.JackError:
            pass  # ports come and go while PortAudio reopens; try again next round
        while player.lines:
            print(player.lines.popleft(), flush=True)
        time.sleep(0.02)


if __name__ == "__main__":
    threading.current_thread().name = "click-feeder"
    sys.exit(main())
