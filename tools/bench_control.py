"""Control latency: from an OSC datagram (or a MIDI message) leaving a real client to the value
being in the parameter store's ``snapshot()``, under a flood of 1,000 messages per second.

    .venv/bin/python tools/bench_control.py                 # OSC and MIDI (MIDI needs jackd)
    .venv/bin/python tools/bench_control.py --only osc --seconds 10

The client is another process (python-osc's SimpleUDPClient; mido on a JACK virtual port) that
sends a flood of fader moves and, every ``--probe-ms``, a probe with a new value, noting the
CLOCK_MONOTONIC time it left. This process runs the real OscServer / MidiInput and a reader that
takes snapshots as a render loop would (every ~0.1 ms, to see the change as soon as it lands) and
notes when each probe value appears. CLOCK_MONOTONIC is shared by processes on one machine.
MIDI runs through a JACK dummy server this script starts under a unique name; JACK delivers MIDI
once per period, so the period (``--jack-period`` frames at 48 kHz) bounds that latency from below.
Target: p99 under 2 ms, and no snapshot() call slow enough to stall a frame.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_P99_MS = 2.0
JACK_BACKEND = "mido.backends.rtmidi/UNIX_JACK"
PROBE_CC, FLOOD_CC = 20, 7


# ---- clients (run in a child process) --------------------------------------------------------

def _paced(seconds: float, rate: float, probe_every: int):
    """Yield (index, is_probe) at ``rate`` per second for ``seconds`` (busy-wait pacing)."""
    interval = 1.0 / rate
    start = time.perf_counter() + 0.2
    for i in range(int(seconds * rate)):
        target = start + i * interval
        while True:
            left = target - time.perf_counter()
            if left <= 0:
                break
            if left > 0.0005:
                time.sleep(left - 0.0004)
        yield i, i % probe_every == probe_every - 1


def osc_client(port: int, seconds: float, rate: float, probe_every: int) -> list[tuple[int, float]]:
    from pythonosc.udp_client import SimpleUDPClient

    client = SimpleUDPClient("127.0.0.1", port)
    probes = []
    k = 0
    for i, probe in _paced(seconds, rate, probe_every):
        if probe:
            k += 1
            sent = time.monotonic()
            client.send_message("/vj/param/seed", k)
            probes.append((k, sent))
        else:
            client.send_message("/vj/param/brightness/normalized", (i % 100) / 100)
    return probes


def midi_client(port_name: str, seconds: float, rate: float, probe_every: int) -> list[tuple[int, float]]:
    import mido

    backend = mido.Backend(JACK_BACKEND, load=True)
    out = backend.open_output(port_name, virtual=True)
    time.sleep(1.0)  # the engine connects to this port
    probes = []
    k = 0
    try:
        for i, probe in _paced(seconds, rate, probe_every):
            if probe:
                k += 1
                value = k % 128
                sent = time.monotonic()
                out.send(mido.Message("control_change", control=PROBE_CC, value=value))
                probes.append((value, sent))
            else:
                out.send(mido.Message("control_change", control=FLOOD_CC, value=i % 128))
        time.sleep(0.2)
    finally:
        out.close()
    return probes


# ---- the engine side -------------------------------------------------------------------------

class Reader(threading.Thread):
    """Takes snapshots like a (very fast) render loop and notes when each probe value appears."""

    def __init__(self, store, name: str) -> None:
        super().__init__(daemon=True)
        self.store, self.name = store, name
        self.seen: list[tuple[object, float]] = []
        self.call_times: list[float] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        last = object()
        while not self.stop_event.is_set():
            start = time.perf_counter()
            snapshot = self.store.snapshot()
            self.call_times.append(time.perf_counter() - start)
            value = snapshot.get(self.name)
            if value != last:
                self.seen.append((value, time.monotonic()))
                last = value
            time.sleep(0.0001)


def latencies(probes: list[tuple[int, float]], seen: list[tuple[object, float]], convert) -> list[float]:
    """Match each probe to the first appearance of its value within 0.5 s after it was sent (ms).
    A probe never seen (a datagram dropped, or overwritten before a snapshot saw it) is left out
    and counted by the caller as lost."""
    result = []
    j = 0
    for value, sent in probes:
        expected = convert(value)
        while j < len(seen) and seen[j][1] < sent:
            j += 1
        m = j
        while m < len(seen) and seen[m][1] <= sent + 0.5 and not _same(seen[m][0], expected):
            m += 1
        if m < len(seen) and seen[m][1] <= sent + 0.5:
            result.append((seen[m][1] - sent) * 1000.0)
            j = m + 1
    return result


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) < 1e-6
    return a == b


def summary(name: str, values: list[float], expected: int, calls: list[float]) -> dict:
    values = sorted(values)
    if not values:
        return {"path": name, "probes": 0, "expected": expected}
    def pct(p: float) -> float:
        return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]
    calls_us = sorted(c * 1e6 for c in calls)
    return {"path": name, "probes": len(values), "expected": expected, "lost": expected - len(values),
            "p50_ms": round(pct(50), 3), "p99_ms": round(pct(99), 3), "max_ms": round(values[-1], 3),
            "mean_ms": round(statistics.fmean(values), 3),
            "p99_vs_target": round(pct(99) / TARGET_P99_MS, 2),
            "snapshot_p50_us": round(calls_us[len(calls_us) // 2], 1),
            "snapshot_max_us": round(calls_us[-1], 1)}


def run_osc(args: argparse.Namespace) -> dict:
    from vj.control.osc import OscServer
    from vj.control.params import ParamStore

    store = ParamStore()
    with OscServer(store, port=0) as server:
        reader = Reader(store, "seed")
        reader.start()
        child = subprocess.run([sys.executable, __file__, "--client", "osc", "--port", str(server.address[1]),
                                "--seconds", str(args.seconds), "--rate", str(args.rate),
                                "--probe-every", str(args.probe_every)], capture_output=True, text=True,
                               timeout=args.seconds + 30)
        time.sleep(0.05)
        reader.stop_event.set()
        reader.join()
    if child.returncode:
        raise SystemExit(f"OSC client failed: {child.stderr}")
    probes = json.loads(child.stdout)
    values = latencies([tuple(p) for p in probes], reader.seen, lambda k: k)
    result = summary("osc (python-osc client → OscServer → snapshot)", values, len(probes), reader.call_times)
    result["server_received"] = server.received
    return result


def _die_with_parent() -> None:
    """jackd gets SIGTERM if this script dies, so no server outlives the benchmark."""
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run_midi(args: argparse.Namespace) -> dict:
    if shutil.which("jackd") is None:
        return {"path": "midi", "skipped": "jackd is not installed"}
    from vj.control.mapping import MappingEntry, MidiMapping
    from vj.control.midi import MidiInput
    from vj.control.params import ParamStore

    name = f"vjbench{os.getpid()}"
    env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_AUDIO_RESERVATION="1", JACK_NO_START_SERVER="1")
    os.environ.update(JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1")
    jackd = subprocess.Popen(["jackd", "--no-realtime", "-t", "10000", "-n", name, "-d", "dummy", "-r", "48000",
                              "-p", str(args.jack_period), "-C", "0", "-P", "0"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                             preexec_fn=_die_with_parent)
    try:
        time.sleep(1.5)
        port_name = f"vjbench-client-{os.getpid()}"
        child = subprocess.Popen([sys.executable, __file__, "--client", "midi", "--port-name", port_name,
                                  "--seconds", str(args.seconds), "--rate", str(args.rate),
                                  "--probe-every", str(args.probe_every)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        store = ParamStore()
        mapping = MidiMapping(controls=[
            MappingEntry(cc=PROBE_CC, target="latency_offset_ms", takeover="jump"),
            MappingEntry(cc=FLOOD_CC, target="brightness", takeover="jump")])
        midi = MidiInput(store, mapping, port_names=None, backend=JACK_BACKEND)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not midi.opened:
            try:
                midi.start()
            except Exception:  # the client's port is not there yet
                pass
            if not [p for p in midi.opened if port_name in p]:
                midi.stop()
                time.sleep(0.1)
        reader = Reader(store, "latency_offset_ms")
        reader.start()
        stdout, stderr = child.communicate(timeout=args.seconds + 30)
        reader.stop_event.set()
        reader.join()
        midi.stop()
        if child.returncode:
            raise SystemExit(f"MIDI client failed: {stderr}")
        probes = json.loads(stdout)
        values = latencies([tuple(p) for p in probes], reader.seen, lambda v: -500.0 + v / 127.0 * 1000.0)
        period_ms = args.jack_period / 48.0
        result = summary(f"midi (mido/JACK virtual port → MidiInput → snapshot), JACK period "
                         f"{args.jack_period} frames = {period_ms:.2f} ms", values, len(probes), reader.call_times)
        result["midi_received"] = midi.received
        return result
    finally:
        jackd.send_signal(signal.SIGTERM)
        try:
            jackd.wait(timeout=5)
        except subprocess.TimeoutExpired:
            jackd.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["osc", "midi"])
    parser.add_argument("--seconds", type=float, default=5.0, help="flood duration per path")
    parser.add_argument("--rate", type=float, default=1000.0, help="messages per second (probes included)")
    parser.add_argument("--probe-every", type=int, default=10, help="every Nth message is a probe")
    parser.add_argument("--jack-period", type=int, default=32, help="JACK dummy period in frames at 48 kHz")
    parser.add_argument("--client", choices=["osc", "midi"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port-name", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client == "osc":
        sys.stdout.write(json.dumps(osc_client(args.port, args.seconds, args.rate, args.probe_every)))
        return 0
    if args.client == "midi":
        sys.stdout.write(json.dumps(midi_client(args.port_name, args.seconds, args.rate, args.probe_every)))
        return 0
    machine = f"{platform.node()} · {platform.processor() or platform.machine()} · {os.cpu_count()} CPUs · " \
              f"Python {platform.python_version()} · {platform.system()} {platform.release()}"
    print(f"control latency, {args.rate:g} msg/s flood for {args.seconds:g} s per path, probe every "
          f"{args.probe_every} messages; target p99 < {TARGET_P99_MS} ms")
    print(f"machine: {machine}")
    results = []
    if args.only in (None, "osc"):
        results.append(run_osc(args))
    if args.only in (None, "midi"):
        results.append(run_midi(args))
    for result in results:
        print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
