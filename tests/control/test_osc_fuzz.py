"""Thousands of random and mutated datagrams at the real port: the server keeps answering, every
value stays in range, and a reader taking snapshots like the render loop never stalls."""
from __future__ import annotations

import math
import random
import socket
import struct
import threading
import time

from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder, build_msg

from control_helpers import wait_for
from vj.control.osc import OscServer
from vj.control.params import ParamKind, ParamStore

ADDRESSES = ["/vj/param/strength", "/vj/param/zoom_speed", "/vj/param/zoom_speed/normalized", "/vj/style",
             "/vj/prompt", "/vj/param/seed", "/vj/blackout", "/vj/cue/next", "/vj/song", "/vj/param/hue_shift",
             "/vj/param/bpm", "/vj/norm/brightness", "/vj/param/style_crossfade", "/vj/feedback/refresh",
             "/vj/param/prompt_index", "/vj/tap", "/vj/param/gain_kick", "/vj/cue"]


def random_arg(rng: random.Random):
    choice = rng.randrange(12)
    if choice == 0:
        return rng.uniform(-1e6, 1e6)
    if choice == 1:
        return rng.choice([float("nan"), float("inf"), float("-inf"), 1e308, -0.0])
    if choice == 2:
        return rng.randrange(-2**31, 2**31)
    if choice == 3:
        return rng.choice(["+", "-", "*", "!", "+0.1", "-0.1", "1e999", "nan", "on", ""])
    if choice == 4:
        return "".join(chr(rng.randrange(1, 0x2FF)) for _ in range(rng.randrange(0, 40)))
    if choice == 5:
        return "x" * rng.randrange(1000, 6000)  # huge strings
    if choice == 6:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 20)))  # python-osc: no empty blobs
    if choice == 7:
        return rng.choice([True, False, None])
    if choice == 8:
        return rng.random()
    if choice == 9:
        return rng.randrange(2**40)  # int64
    if choice == 10:
        return [rng.random(), "a"]  # an OSC array
    return rng.randrange(0, 8)


def valid_message(rng: random.Random) -> bytes:
    builder = OscMessageBuilder(address=rng.choice(ADDRESSES))
    for _ in range(rng.randrange(0, 4)):
        arg = random_arg(rng)
        big = isinstance(arg, float) and math.isfinite(arg) and abs(arg) > 3e38
        builder.add_arg(arg, "d" if big else None)  # doubles for what a 32-bit float cannot hold
    return builder.build().dgram


def nested_bundle(depth: int, inner: bytes, timetag: bytes = b"\x00" * 7 + b"\x01") -> bytes:
    data = inner
    for _ in range(depth):
        data = b"#bundle\x00" + timetag + struct.pack(">i", len(data)) + data
    return data


def datagrams(rng: random.Random, count: int):
    for i in range(count):
        kind = i % 8
        if kind == 0:
            yield bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))         # noise
        elif kind == 1:
            yield b"/" + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 100)))  # looks like OSC
        elif kind in (2, 3):
            data = bytearray(valid_message(rng))
            for _ in range(rng.randrange(1, 6)):                                         # flip bytes
                data[rng.randrange(len(data))] = rng.randrange(256)
            cut = rng.randrange(len(data) + 1)
            yield bytes(data[:cut] if rng.random() < 0.3 else data)
        elif kind == 4:
            yield nested_bundle(rng.randrange(1, 400), valid_message(rng))               # deep bundles
        elif kind == 5:
            future = struct.pack(">II", 0xFFFFFFF0, 0)                                   # far-future time tag
            yield nested_bundle(1, valid_message(rng), future)
        elif kind == 6:
            builder = OscBundleBuilder(IMMEDIATELY)
            for _ in range(rng.randrange(1, 20)):
                builder.add_content(OscMessageBuilder(address=rng.choice(ADDRESSES)).build())
            yield builder.build().dgram
        else:
            yield valid_message(rng)


def test_fuzzed_datagrams_never_stop_or_stall_the_show() -> None:
    store = ParamStore()
    store.configure_choices("style", ["neon", "ink", "fog"])
    store.configure_prompts(["a", "b", "c"])
    store.register_reactivity(["kick"])
    rng = random.Random(1234)
    stop = threading.Event()
    gaps: list[float] = []

    def render_loop() -> None:  # what the director does each frame
        last = time.perf_counter()
        while not stop.is_set():
            snapshot = store.snapshot()
            for name, value in snapshot.items():
                if isinstance(value, float):
                    assert math.isfinite(value), name
            store.actions.drain()
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
            time.sleep(0.002)

    with OscServer(store, port=0) as server:
        reader = threading.Thread(target=render_loop)
        reader.start()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sent = 0
            for data in datagrams(rng, 4000):
                if len(data) > 60000:
                    continue
                sock.sendto(data, server.address)
                sent += 1
                if sent % 200 == 0:
                    time.sleep(0.01)  # let the server drain its socket buffer a little
            # Still answers: a ping comes back, and a valid message lands at once.
            sock.settimeout(1.0)
            answered = False
            for _ in range(20):
                sock.sendto(build_msg("/vj/ping", [1]).dgram, server.address)
                try:
                    while True:
                        data, _ = sock.recvfrom(65536)
                        if data.startswith(b"/vj/pong"):
                            answered = True
                            break
                except socket.timeout:
                    pass
                if answered:
                    break
            assert answered, "the server stopped answering"
            sock.sendto(build_msg("/vj/param/strength", [0.123]).dgram, server.address)
            wait_for(lambda: abs((store.value("strength") or -1.0) - 0.123) < 1e-6, 2.0, "a valid message after the fuzz")
        finally:
            sock.close()
            stop.set()
            reader.join()
    assert server.received > 1000
    assert max(gaps) < 0.25, f"the render loop stalled for {max(gaps):.3f} s"
    for name, spec in store.specs.items():
        value = store.value(name)
        if spec.numeric and value is not None:
            assert spec.minimum <= value <= spec.maximum, (name, value)
        if spec.kind is ParamKind.CHOICE and value is not None:
            assert value in spec.choices
        if spec.kind is ParamKind.TEXT and value is not None:
            assert len(value) <= 1000
