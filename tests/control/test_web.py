"""The control page's server without a browser: a real WebServer on a free port, real HTTP and
WebSocket clients (aiohttp), the real parameter store and router."""
from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from vj.control.params import MAX_TEXT, ParamStore
from vj.control.router import ControlRouter
from vj.control.web import GROUP_ORDER, MAX_MESSAGE, WebServer, is_loopback, lan_address
from vj.param_table import PARAMS


@pytest.fixture
def store():
    store = ParamStore()
    store.configure_choices("style", ["ink", "neon", "paper"])
    store.configure_prompts(["a forest", "a city"])
    return store


@pytest.fixture
def server(store):
    web = WebServer(store, ControlRouter(store), host="127.0.0.1", port=0)
    web.start()
    try:
        yield web
    finally:
        web.stop()


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 20))


async def receive_until(ws, predicate, timeout=3.0):
    """JSON messages until one matches ``predicate`` (returned)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = await ws.receive(timeout=max(deadline - time.monotonic(), 0.01))
        if message.type == aiohttp.WSMsgType.TEXT:
            data = json.loads(message.data)
            if predicate(data):
                return data
        elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            raise AssertionError(f"the WebSocket closed: {message}")
    raise AssertionError("no matching message in time")


def wait_for(predicate, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_the_page_and_its_schema_come_from_the_parameter_table(server, store):
    async def main():
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{server.port}/") as response:
                assert response.status == 200
                page = await response.text()
                assert "app.js" in page and "http" not in page.replace("http-equiv", "")  # no external assets
            async with session.get(f"http://127.0.0.1:{server.port}/app.js") as response:
                assert response.status == 200
            async with session.ws_connect(f"http://127.0.0.1:{server.port}/ws") as ws:
                return await receive_until(ws, lambda m: m["t"] == "schema")

    hello = run(main())
    names = [p["name"] for p in hello["params"]]
    assert names[:len(PARAMS)] == [p.name for p in PARAMS]
    assert hello["groups"] == [g for g in GROUP_ORDER if g in {p.group for p in PARAMS}]
    style = next(p for p in hello["params"] if p["name"] == "style")
    assert style["choices"] == ["ink", "neon", "paper"]
    assert hello["prompts"] == ["a forest", "a city"]
    assert hello["values"]["brightness"] == 1.0 and hello["values"]["strength"] is None


def test_a_page_moves_the_store_with_the_routers_limits(server, store):
    async def main():
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"http://127.0.0.1:{server.port}/ws") as ws:
                await ws.send_str(json.dumps({"t": "set", "name": "brightness", "value": 1.5}))
                await ws.send_str(json.dumps({"t": "set", "name": "contrast", "value": 99}))     # clamped
                await ws.send_str(json.dumps({"t": "set", "name": "style", "value": "neon"}))
                await ws.send_str(json.dumps({"t": "prompt", "text": "x" * (MAX_TEXT + 500)}))
                await ws.send_str(json.dumps({"t": "set", "name": "blackout", "value": True}))
                await ws.send_str(json.dumps({"t": "action", "name": "next_cue"}))
                for garbage in ("{", "[]", "null", '{"t": "set"}', '{"t": "nope"}', '{"t":"set","name":"zz","value":1}',
                                '{"t":"set","name":"brightness","value":{"a":1}}', '{"t":"action","name":"quit"}',
                                '{"t":"prompt","text":5}', '{"t":"set","name":"prompt","value":3}'):
                    await ws.send_str(garbage)
                await ws.send_str(json.dumps({"t": "ping", "id": 7}))
                return await receive_until(ws, lambda m: m["t"] == "pong")

    assert run(main())["id"] == 7
    assert store.value("brightness") == 1.5
    assert store.value("contrast") == 2.0
    assert store.value("style") == "neon"
    assert store.value("prompt") == "x" * MAX_TEXT
    assert store.value("blackout") is True
    events = store.actions.drain()
    assert [e.name for e in events] == ["blackout", "next_cue"]   # 'quit' is not something a page can send
    assert {e.source for e in events} == {"web"}
    assert server.rejected >= 9


def test_a_change_from_any_source_reaches_every_page(server, store):
    async def main():
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"http://127.0.0.1:{server.port}/ws") as a, \
                    session.ws_connect(f"http://127.0.0.1:{server.port}/ws") as b:
                await receive_until(a, lambda m: m["t"] == "schema")
                await receive_until(b, lambda m: m["t"] == "schema")
                started = time.monotonic()
                ControlRouter(store).osc("/vj/param/saturation", [0.25], "osc")
                got_a = await receive_until(a, lambda m: m["t"] == "values" and "saturation" in m["values"])
                got_b = await receive_until(b, lambda m: m["t"] == "values" and "saturation" in m["values"])
                latency = time.monotonic() - started
                await a.send_str(json.dumps({"t": "prompt", "text": "a neon city"}))
                history = await receive_until(b, lambda m: m["t"] == "history")
                server.publish_state(cue=2, cue_label="drop", bpm=128.0, beat=9.5, beat_phase=0.5, song="one",
                                     style="ink")
                state = await receive_until(b, lambda m: m["t"] == "state")
                return got_a, got_b, latency, history, state

    got_a, got_b, latency, history, state = run(main())
    assert got_a["values"]["saturation"] == got_b["values"]["saturation"] == 0.25
    assert latency < 0.1
    assert history["prompts"] == ["a neon city"]
    assert state["cue"] == 2 and state["bpm"] == 128.0 and state["song"] == "one"


def test_a_cross_site_websocket_is_refused(server, store):
    async def main():
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(f"http://127.0.0.1:{server.port}/ws", headers={"Origin": "http://evil.example"})
            async with session.get(f"http://127.0.0.1:{server.port}/", headers={"Host": "evil.example"}) as response:
                rebinding = response.status
            return refused.value.status, rebinding

    assert run(main()) == (403, 403)


def test_oversized_and_flooding_pages_are_cut_off_and_the_store_is_untouched(server, store):
    async def main():
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"http://127.0.0.1:{server.port}/ws") as ws:
                await ws.send_str(json.dumps({"t": "prompt", "text": "y" * (MAX_MESSAGE + 10)}))
                message = await ws.receive(timeout=3)
                while message.type == aiohttp.WSMsgType.TEXT:
                    message = await ws.receive(timeout=3)
                big = message.type
            async with session.ws_connect(f"http://127.0.0.1:{server.port}/ws") as ws:
                for i in range(1000):
                    await ws.send_str(json.dumps({"t": "set", "name": "seed", "value": i}))
                await asyncio.sleep(0.2)  # the bucket refills: the page is heard again
                await ws.send_str(json.dumps({"t": "ping", "id": 1}))
                await receive_until(ws, lambda m: m["t"] == "pong")
            return big

    assert run(main()) in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    assert store.value("prompt") is None
    # the bucket let the burst through and dropped the rest of a 1000-message flood
    assert 200 <= store.value("seed") < 999


def test_a_lan_bind_needs_the_token(store):
    address = lan_address()
    if is_loopback(address) or not address[0].isdigit():
        address = "127.0.0.1"   # no LAN here: a 0.0.0.0 bind asks loopback clients for the token too
    web = WebServer(store, ControlRouter(store), host="0.0.0.0", port=0)
    assert web.token and f"token={web.token}" in web.url
    web.start()

    async def main():
        base = f"http://{address}:{web.port}"
        statuses = {}
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:  # as browsers do
            for name, path in (("none", "/"), ("wrong", "/?token=nope"), ("asset", "/app.js"),
                               ("ws", "/ws"), ("ws wrong", "/ws?token=nope")):
                async with session.get(base + path) as response:
                    statuses[name] = response.status
            async with session.get(f"{base}/?token={web.token}") as response:
                statuses["right"] = response.status
            # the page's cookie now carries the token to its assets and its WebSocket
            async with session.get(f"{base}/app.js") as response:
                statuses["asset with cookie"] = response.status
            async with session.ws_connect(f"{base}/ws") as ws:
                await ws.send_str(json.dumps({"t": "set", "name": "vignette", "value": 0.5}))
                await ws.send_str(json.dumps({"t": "ping", "id": 1}))
                await receive_until(ws, lambda m: m["t"] == "pong")
        return statuses

    try:
        statuses = run(main())
    finally:
        web.stop()
    assert statuses == {"none": 403, "wrong": 403, "asset": 403, "ws": 403, "ws wrong": 403, "right": 200,
                        "asset with cookie": 200}
    assert store.value("vignette") == 0.5


def test_a_port_in_use_is_a_message(server, store):
    from vj.control.web import WebError

    other = WebServer(store, host="127.0.0.1", port=server.port)
    with pytest.raises(WebError, match="another --web port"):
        other.start()


def test_the_flags_choose_the_server(store, capsys):
    from vj.cli import build_parser, main
    from vj.control.surface import ControlSurface

    parser = build_parser()
    local = ControlSurface.from_args(parser.parse_args(["live", "set.yaml", "--web", "0", "--no-osc"]), store)
    assert local.web.host == "127.0.0.1" and local.web.port == 0 and local.web.token == ""
    local.start()
    try:
        assert local.web.port > 0
        assert f"control page: http://127.0.0.1:{local.web.port}/" in capsys.readouterr().err
    finally:
        local.stop()
    lan = ControlSurface.from_args(parser.parse_args(["live", "set.yaml", "--web-host", "0.0.0.0", "--no-osc"]), store)
    assert lan.web.port == 8080 and len(lan.web.token) >= 20
    import io

    out = io.StringIO()
    lan.web.announce(out)
    printed = out.getvalue()
    assert f"?token={lan.web.token}" in printed and "█" in printed   # the URL, and its QR code
    assert ControlSurface.from_args(parser.parse_args(["live", "set.yaml", "--no-osc"]), store).web is None
    assert main(["rehearse", "set.yaml", "--web"]) == 2
    assert "--web steers a rehearsal as it renders: add --preview" in capsys.readouterr().err


def test_a_new_parameter_reaches_open_pages_by_itself(server, store):
    from vj.param_table import Param

    async def main():
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"http://127.0.0.1:{server.port}/ws") as ws:
                await receive_until(ws, lambda m: m["t"] == "schema")
                store.add_specs([Param("sparkle", 0, 4, 1.0, unit="×", group="post", doc="Sparkle.")])
                hello = await receive_until(ws, lambda m: m["t"] == "schema")
                await ws.send_str(json.dumps({"t": "set", "name": "sparkle", "value": 3}))
                await ws.send_str(json.dumps({"t": "ping", "id": 1}))
                await receive_until(ws, lambda m: m["t"] == "pong")
                return hello

    hello = run(main())
    sparkle = next(p for p in hello["params"] if p["name"] == "sparkle")
    assert (sparkle["group"], sparkle["min"], sparkle["max"], sparkle["kind"]) == ("post", 0, 4, "float")
    assert store.value("sparkle") == 3.0
