"""``vj rehearse --preview --web``: the rehearsal's window feeds the control page's preview, and a
page steers the render (a real GLFW window under Xvfb, a real WebSocket client)."""
from __future__ import annotations

import argparse
import asyncio
import json
import threading
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[2]


def test_a_page_sees_and_steers_a_previewed_rehearsal(xvfb_display, tmp_path):
    from vj.control.surface import ControlSurface, add_control_arguments
    from vj.setlist.models import load_setlist
    from vj.show.preview import RehearsalPreview
    from vj.show.rehearse import plan_rehearsal, render_rehearsal

    setlist = load_setlist(REPO / "setlists" / "demo.yaml")
    plan = plan_rehearsal(setlist, output=tmp_path / "preview.mp4", size=(128, 96), fps=12, seconds=3.0)
    parser = argparse.ArgumentParser()
    add_control_arguments(parser)
    surface = ControlSurface.from_args(parser.parse_args(["--no-osc", "--web", "0"]))
    surface.configure(setlist, plan.song)
    surface.start()
    got = {"jpegs": 0, "schema": None}
    connected = threading.Event()

    async def page() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"http://127.0.0.1:{surface.web.port}/ws") as ws:
                await ws.send_str(json.dumps({"t": "preview", "on": True}))
                connected.set()
                async for message in ws:
                    if message.type == aiohttp.WSMsgType.BINARY and message.data[:2] == b"\xff\xd8":
                        got["jpegs"] += 1
                        if got["jpegs"] == 2:
                            await ws.send_str(json.dumps({"t": "set", "name": "blackout", "value": True}))
                    elif message.type == aiohttp.WSMsgType.TEXT and got["schema"] is None:
                        got["schema"] = json.loads(message.data)

    thread = threading.Thread(target=lambda: asyncio.run(page()), daemon=True)
    thread.start()
    assert connected.wait(10)
    preview = RehearsalPreview("vj preview test", (plan.width, plan.height), plan.director, surface)
    try:
        result = render_rehearsal(plan, preview=preview)
    finally:
        preview.release()
        surface.stop()
    thread.join(5)
    assert got["schema"]["t"] == "schema" and [p for p in got["schema"]["params"] if p["name"] == "style"]
    assert got["jpegs"] >= 3                       # ~5 a second over a 3 s render
    assert surface.store.value("blackout") is True
    assert result.frames == 36
