"""A WebSocket fuzzer for the control page, run as its own process by tests/show/test_web_page.py:
random and malformed messages (random bytes, random text, deep nesting, well-shaped messages with
wrong names and values) at ``ws://127.0.0.1:PORT/ws`` for at most SECONDS or COUNT messages,
reconnecting whenever the server cuts it off, after a quiet second. Prints (JSON) how many it
sent and when the quiet and the fuzz began and the fuzz ended.

    python web_fuzzer.py PORT SECONDS COUNT [SEED]
"""
from __future__ import annotations

import asyncio
import json
import random
import sys
import time


async def fuzz(port: int, seconds: float, count: int, seed: int = 14, quiet: float = 1.0) -> dict:
    """Random and malformed messages at the page's WebSocket (reconnecting when cut off), after
    ``quiet`` seconds of doing nothing (this process's own start-up out of the way). Returns how
    many were sent and when (CLOCK_MONOTONIC) the quiet and the fuzz began and the fuzz ended."""
    import aiohttp

    rng = random.Random(seed)
    names = ["brightness", "style", "prompt", "seed", "blackout", "next_cue", "zz", "", "a" * 70, None, 5,
             "gain_x", "bpm", "freeze", "prompt_index", "quit", "tap"]
    values = [None, 0, -1, 1e308, float("nan"), "NaN", "inf", "x" * 2000, True, [], {}, "neon", "-0.5", "+1", 7]

    def message() -> str | bytes:
        roll = rng.random()
        if roll < 0.1:
            return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64)))
        if roll < 0.25:
            return "".join(chr(rng.randint(0, 0x2FFF)) for _ in range(rng.randint(0, 80)))
        if roll < 0.3:
            return "[" * 2000 + "]" * 2000
        body = {"t": rng.choice(["set", "norm", "add", "release", "toggle", "action", "prompt", "preview",
                                 "ping", "hello", "bogus", None, 3]),
                "name": rng.choice(names), "value": rng.choice(values)}
        if rng.random() < 0.3:
            body["text"] = rng.choice(values)
        return json.dumps(body, allow_nan=True)

    sent = 0
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
            await ws.send_str(json.dumps({"t": "ping", "id": 0}))
            await ws.receive(timeout=5)
        quiet_start = time.monotonic()
        await asyncio.sleep(quiet)
        start = time.monotonic()
        deadline = start + seconds
        while sent < count and time.monotonic() < deadline:
            async with session.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
                while sent < count and time.monotonic() < deadline and not ws.closed:
                    item = message()
                    try:
                        if isinstance(item, bytes):
                            await ws.send_bytes(item)
                        else:
                            await ws.send_str(item)
                    except (ConnectionError, RuntimeError):
                        break
                    sent += 1
                    if sent % 25 == 0:   # ~2,000 a second: the fuzz lasts its seconds
                        await asyncio.sleep(0.01)
    return {"sent": sent, "quiet": quiet_start, "start": start, "end": time.monotonic()}


if __name__ == "__main__":
    port, seconds, count = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 14
    print(json.dumps(asyncio.run(fuzz(port, seconds, count, seed))))
