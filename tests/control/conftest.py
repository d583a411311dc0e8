"""Real parts for the control tests: a JACK server on its dummy driver (MIDI through virtual
ports; these machines have no ALSA sequencer) and helpers to wait for the store to react.

Each JACK server gets a unique name (JACK_DEFAULT_SERVER), so parallel test runs and other
programs never share one; the fixture stops only the process it started.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import signal
import struct
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest
from processes import stop_process


def _start_jackd(name: str, log_path) -> subprocess.Popen | None:
    """Start jackd under ``name``; None if it did not come up (the log says why)."""
    import jack

    with open(log_path, "ab") as log:
        # 256-frame periods (5.3 ms) and a long client timeout: on a loaded 2-core machine shorter
        # periods make JACK drop ("zombify") slow clients, which rtmidi does not survive.
        process = subprocess.Popen(["jackd", "--no-realtime", "-t", "10000", "-n", name, "-d", "dummy",
                                    "-r", "48000", "-p", "256", "-C", "0", "-P", "0"],
                                   stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy(),
                                   preexec_fn=_die_with_parent)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and process.poll() is None:
        try:
            jack.Client("probe", no_start_server=True, servername=name).close()
            return process
        except jack.JackError:
            time.sleep(0.1)
    stop_process(process)
    return None


def _die_with_parent() -> None:
    """In the child before exec: if the test process dies (a crash, a kill), jackd gets SIGTERM,
    so no server outlives its tests."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux/glibc: the fixture's own teardown still stops it


def _stale_server_names() -> list[str]:
    """Names in JACK's server registry whose server process is gone.

    JACK allows 8 servers per machine and frees a slot only when its server exits cleanly or when a
    new server registers under the *same* name; servers that were killed leave their slot taken.
    Starting ours under a stale name lets JACK itself reclaim that slot. Read-only; on any
    surprise in the file's layout (jack2: 24-byte header, 8 × (pid, 260-byte name)) returns []."""
    try:
        data = Path("/dev/shm/jack-shm-registry").read_bytes()
    except OSError:
        return []
    if data[:4] != b"KCAJ":
        return []
    names = []
    for slot in range(8):
        base = 24 + slot * 264
        if base + 264 > len(data):
            break
        (pid,) = struct.unpack_from("<i", data, base)
        raw = data[base + 4:base + 264].split(b"\0")[0].decode("ascii", "replace")
        parts = raw.split(":")
        if pid <= 0 or len(parts) < 2 or not parts[1]:
            continue
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except (OSError, IndexError):
            state = "gone"
        if state in ("gone", "Z", "X"):
            names.append(parts[1])
    return names


@pytest.fixture(scope="module")
def jack_server(tmp_path_factory) -> Iterator[str]:
    """A JACK server (dummy driver, 48 kHz, 256-frame periods) for this test module.
    JACK allows only a few servers per machine ("Too many servers already active" while other
    test runs hold theirs): the fixture retries under a new name for a while before giving up."""
    if shutil.which("jackd") is None:
        pytest.fail("jackd (Debian package jackd2) is not installed; `make setup` installs it")
    pytest.importorskip("rtmidi")
    pytest.importorskip("jack")
    log_path = tmp_path_factory.mktemp("jack") / "jackd.log"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JACK_NO_AUDIO_RESERVATION", "1")
        patch.setenv("JACK_NO_START_SERVER", "1")
        process = None
        for attempt in range(6):
            stale = _stale_server_names() if attempt else []
            name = stale[0] if stale else f"vjctl{os.getpid()}x{time.monotonic_ns() % 1_000_000}"
            patch.setenv("JACK_DEFAULT_SERVER", name)
            process = _start_jackd(name, log_path)
            if process is not None:
                break
            time.sleep(0.5 + attempt)  # JACK allows 8 servers per machine: reclaim a stale slot, or wait
        if process is None:
            raise RuntimeError(f"jackd did not start:\n{log_path.read_text(errors='replace')[-2000:]}")
        try:
            yield name
        finally:
            stop_process(process)
