"""Real parts for the live tests: a JACK server on its dummy driver, a JACK client that plays a
synthesised click track into whatever PortAudio opens, and an Xvfb display for GLFW windows.

Each fixture starts its own process under a unique name/number and stops only that process.
"""
from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
from processes import stop_process

from jack_registry import reclaim

SAMPLE_RATE = 44100
PERIOD = 1024


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the test process dies, however it dies, so a
    crashed run leaves no jackd or Xvfb behind (Linux prctl PR_SET_PDEATHSIG)."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except OSError:
        pass


class JackServer:
    """``jackd`` on its dummy driver under a name of its own; ``kill`` and ``start`` again to test
    what a show does when the audio server (the sound card, to PortAudio) goes away."""

    def __init__(self, name: str, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                ["jackd", "--no-realtime", "-n", self.name, "-d", "dummy", "-r", str(SAMPLE_RATE),
                 "-p", str(PERIOD), "-C", "2", "-P", "2"], stdout=log, stderr=subprocess.STDOUT,
                env=os.environ.copy(), preexec_fn=_die_with_parent)
        # jack_wait polls from its own process: no JACK client lives in the test process, whose
        # libjack state would not survive the server being killed.
        _wait_for(lambda: subprocess.run(["jack_wait", "-s", self.name, "-c"], capture_output=True, text=True,
                                         env=os.environ.copy()).stdout.strip() == "running"
                  or self.process.poll() is not None, 10, "jackd to start")
        if self.process.poll() is not None:
            raise RuntimeError(f"jackd failed to start; see {self.log_path}")

    def kill(self) -> None:
        """The server goes away under its clients (SIGTERM: jackd tells them it is shutting down,
        which is what a sound card unplugged mid-show looks like to PortAudio)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
        reclaim(self.name)  # a server killed hard keeps its registry slot; free ours


@pytest.fixture
def jack_server(monkeypatch, tmp_path) -> Iterator[JackServer]:
    """A JACK server (dummy driver, 44.1 kHz) only this test talks to. Periods of 1024 frames: JACK
    runs without real-time scheduling here on two busy cores, and shorter periods bring xruns."""
    if shutil.which("jackd") is None or shutil.which("jack_wait") is None:
        pytest.fail("jackd (Debian package jackd2) is not installed; `make setup` installs it")
    name = f"vjlive{os.getpid()}x{time.monotonic_ns() % 1_000_000}"
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    monkeypatch.setenv("JACK_NO_AUDIO_RESERVATION", "1")
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    server = JackServer(name, tmp_path / "jackd.log")
    try:
        server.start()
        yield server
    finally:
        server.stop()


class ClickFeeder:
    """The click track player (``click_feeder.py``) in its own process, so a test can kill it
    (device loss) and JACK state in this process never depends on it.

    click_times:  monotonic times the clicks played (as JACK's cycles place them).
    connected_at: when it last connected to a PortAudio input.
    """

    def __init__(self, server: str, interval: float = 0.25) -> None:
        self.click_times: list[float] = []
        self.connected_at = math.inf
        self.xruns = 0
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("click_feeder.py")), server, str(interval)],
            stdout=subprocess.PIPE, text=True, env=os.environ.copy(), preexec_fn=_die_with_parent)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        _wait_for(lambda: self.ready or self.process.poll() is not None, 15, "the click feeder")

    ready = False

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            kind, _, value = line.strip().partition(" ")
            if kind == "ready":
                self.ready = True
            elif kind == "click":
                self.click_times.append(float(value))
            elif kind == "connected":
                self.connected_at = float(value)
            elif kind == "xrun":
                self.xruns += 1

    def heard_clicks(self, until: float) -> list[float]:
        """Click times as a capture device would stamp them. JACK hands the feeder's output to
        the next client in the same cycle, while PortAudio stamps input as captured one period
        before its callback (as an ADC's samples are); shift by a period to compare like with like."""
        shift = PERIOD / SAMPLE_RATE
        return [t - shift for t in self.click_times if self.connected_at + 0.05 < t < until]

    def kill(self) -> None:
        """The feeding client disappears at once (SIGKILL: no goodbye to JACK)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)

    def close(self) -> None:
        stop_process(self.process)


@pytest.fixture
def click_feeder(jack_server) -> Iterator[ClickFeeder]:
    feeder = ClickFeeder(jack_server.name)
    try:
        yield feeder
    finally:
        feeder.close()


@pytest.fixture
def xvfb_display(monkeypatch, tmp_path) -> Iterator[str]:
    """An Xvfb display of our own (GLFW on Mesa)."""
    if shutil.which("Xvfb") is None:
        pytest.fail("Xvfb is not installed; `make setup` installs it")
    number = 200 + (os.getpid() % 500) + (time.monotonic_ns() // 1000 % 200)
    for _ in range(20):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            break
        number += 1
    display = f":{number}"
    process = subprocess.Popen(["Xvfb", display, "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    try:
        _wait_for(lambda: Path(f"/tmp/.X11-unix/X{number}").exists() or process.poll() is not None, 10, "Xvfb")
        if process.poll() is not None:
            pytest.fail("Xvfb failed to start")
        monkeypatch.setenv("DISPLAY", display)
        monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
        yield display
    finally:
        stop_process(process)


@pytest.fixture
def make_click_feeder(jack_server) -> Iterator:
    """Start click feeders on demand (after a server restart, say); all are stopped at the end."""
    feeders: list[ClickFeeder] = []

    def make(interval: float = 0.25) -> ClickFeeder:
        feeders.append(ClickFeeder(jack_server.name, interval))
        return feeders[-1]

    try:
        yield make
    finally:
        for feeder in feeders:
            feeder.close()
