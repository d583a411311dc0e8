"""`vj live --web --web-host 0.0.0.0` end to end: a real `vj live` process (windowed under Xvfb)
prints the page's URL with its token and a QR code; without the token a request is refused; with
it a WebSocket client steers the show and follows it."""
from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time

import aiohttp

SMALL = """\
title: small
output: {width: 128, height: 96, fps: 24}
model: procedural
songs:
  - name: clicks
    bpm: 120
"""


def test_vj_live_serves_the_page_with_a_token_on_the_lan(xvfb_display, tmp_path):
    path = tmp_path / "set.yaml"
    path.write_text(SMALL)
    process = subprocess.Popen([sys.executable, "-m", "vj", "live", str(path), "--windowed", "--window-size", "160x120",
                                "--no-audio", "--no-osc", "--web", "0", "--web-host", "0.0.0.0", "--quit-after", "7"],
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=dict(os.environ),
                               cwd=tmp_path)
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        for line in process.stderr:
            lines.append(line)
            if "control page:" in line:
                found.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert found.wait(30), "".join(lines)[-2000:]
        url = next(line for line in lines if "control page:" in line).split("control page:")[1].strip()
        match = re.match(r"http://([^/]+):(\d+)/\?token=([\w-]+)$", url)
        assert match, url
        port, token = int(match.group(2)), match.group(3)

        async def page():
            base = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession() as session:
                async with session.get(base + "/") as response:
                    refused = response.status
                async with session.get(f"{base}/ws?token=wrong") as response:
                    refused_ws = response.status
                async with session.ws_connect(f"{base}/ws?token={token}") as ws:
                    seen = {}
                    await ws.send_str(json.dumps({"t": "set", "name": "blackout", "value": True}))
                    deadline = time.monotonic() + 10
                    while time.monotonic() < deadline and not ("state" in seen and seen.get("blackout")):
                        message = json.loads((await ws.receive(timeout=10)).data)
                        if message["t"] == "state":
                            seen["state"] = message
                        elif message["t"] in ("values", "schema"):
                            if message["values"].get("blackout"):
                                seen["blackout"] = True
                    return refused, refused_ws, seen

        refused, refused_ws, seen = asyncio.run(page())
        assert refused == 403 and refused_ws == 403
        assert seen.get("blackout") and seen["state"]["song"] == "clicks", seen
        assert process.wait(timeout=40) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    printed = "".join(lines)
    assert "█" in printed or "▀" in printed, "no QR code in the terminal"
