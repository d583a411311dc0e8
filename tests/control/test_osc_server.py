"""OSC over real UDP on loopback: python-osc's client, liblo's oscsend, feedback to a real OSC
server, the allow-list, ping, and a port already in use."""
from __future__ import annotations

import shutil
import socket
import subprocess
import threading

import pytest
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_message_builder import build_msg
from pythonosc.osc_server import BlockingOSCUDPServer
from pythonosc.udp_client import SimpleUDPClient

from control_helpers import wait_for
from vj.control.osc import OscError, OscServer, bundle_depth, parse_host_port
from vj.control.params import ParamStore


@pytest.fixture
def store() -> ParamStore:
    store = ParamStore()
    store.configure_choices("style", ["neon", "ink", "fog"])
    return store


@pytest.fixture
def server(store: ParamStore):
    server = OscServer(store, port=0)
    server.start()
    yield server
    server.stop()


class Listener:
    """A real OSC server that records what the engine's feedback sends."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, tuple]] = []
        dispatcher = Dispatcher()
        dispatcher.set_default_handler(lambda address, *args: self.messages.append((address, args)))
        self.server = BlockingOSCUDPServer(("127.0.0.1", 0), dispatcher)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def last(self, address: str):
        for got, args in reversed(self.messages):
            if got == address:
                return args
        return None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def listener():
    listener = Listener()
    yield listener
    listener.close()


def test_python_osc_client_sets_parameters_and_actions(server: OscServer, store: ParamStore) -> None:
    client = SimpleUDPClient(*server.address)
    client.send_message("/vj/param/strength", 0.25)
    client.send_message("/vj/style", "fog")
    client.send_message("/vj/param/zoom_speed", ["+", 0.5])
    client.send_message("/vj/param/brightness/normalized", 0.25)
    client.send_message("/vj/prompt", "a city of glass")
    client.send_message("/vj/blackout", True)
    client.send_message("/vj/cue/next", 1)
    wait_for(lambda: store.value("blackout") is True and len(store.actions) >= 2, what="the OSC messages")
    assert store.value("strength") == 0.25
    assert store.value("style") == "fog"
    assert store.value("zoom_speed") == pytest.approx(1.5)
    assert store.value("brightness") == pytest.approx(0.5)
    assert store.value("prompt") == "a city of glass"
    assert [a.name for a in store.actions.drain()] == ["blackout", "next_cue"]


@pytest.mark.skipif(shutil.which("oscsend") is None, reason="liblo-tools (oscsend) is not installed")
def test_liblo_oscsend(server: OscServer, store: ParamStore) -> None:
    port = str(server.address[1])

    def send(*args: str) -> None:
        subprocess.run(["oscsend", "localhost", port, *args], check=True, timeout=10)
    send("/vj/param/guidance", "f", "7.5")
    send("/vj/param/seed", "i", "1234")
    send("/vj/style", "s", "ink")
    send("/vj/param/zoom_speed", "sf", "+", "0.25")
    send("/vj/param/angle_speed", "s", "-0.5")
    send("/vj/hud", "T")
    send("/vj/tap")
    send("/vj/param/contrast", "d", "1.5")
    wait_for(lambda: store.value("contrast") == 1.5, what="oscsend's messages")
    assert store.value("guidance") == 7.5
    assert store.value("seed") == 1234
    assert store.value("style") == "ink"
    assert store.value("zoom_speed") == pytest.approx(1.25)
    assert store.value("angle_speed") == pytest.approx(0.5)
    assert store.value("hud") is True
    assert [a.name for a in store.actions.drain()] == ["hud", "tap"]


def test_feedback_reaches_a_real_osc_server(store: ParamStore, listener: Listener) -> None:
    with OscServer(store, port=0, feedback=[("127.0.0.1", listener.port)], feedback_rate=100) as server:
        client = SimpleUDPClient(*server.address)
        client.send_message("/vj/param/saturation", 1.5)
        client.send_message("/vj/style", 2)
        wait_for(lambda: listener.last("/vj/param/style") is not None and
                 listener.last("/vj/param/saturation") is not None, what="feedback")
        assert listener.last("/vj/param/saturation") == (1.5,)
        assert listener.last("/vj/param/saturation/normalized") == (pytest.approx(0.75),)
        assert listener.last("/vj/param/style") == ("fog",)
        # The live loop publishes the show's state; a burst is coalesced to the latest value.
        for beat in range(50):
            server.publish_state(cue=2, cue_label="drop", prompt="a storm", bpm=128.0, beat=beat,
                                 beat_phase=0.5, song="First")
        wait_for(lambda: listener.last("/vj/state/beat") == (49, 0.5), what="state feedback")
        assert listener.last("/vj/state/cue") == (2, "drop")
        assert listener.last("/vj/state/bpm") == (128.0,)
        beats = [args for address, args in listener.messages if address == "/vj/state/beat"]
        assert len(beats) < 50  # throttled: latest wins


def test_subscribe_and_refresh_place_a_tablets_faders(server: OscServer, store: ParamStore,
                                                      listener: Listener) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.sendto(build_msg("/vj/feedback/subscribe", [listener.port]).dgram, server.address)
        wait_for(lambda: listener.last("/vj/param/brightness") is not None, what="a full refresh")
        assert listener.last("/vj/param/blackout") == (0,)
        sock.sendto(build_msg("/vj/feedback/unsubscribe", [listener.port]).dgram, server.address)
        wait_for(lambda: not server.feedback.clients, what="unsubscribe")
    finally:
        sock.close()


def test_ping_answers_the_sender(server: OscServer) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2.0)
    try:
        sock.sendto(build_msg("/vj/ping", [7]).dgram, server.address)
        data, _ = sock.recvfrom(1024)
    finally:
        sock.close()
    assert data.startswith(b"/vj/pong")


def test_allow_list_refuses_other_clients(store: ParamStore) -> None:
    with OscServer(store, port=0, allow=["192.0.2.1"]) as server:
        client = SimpleUDPClient(*server.address)
        client.send_message("/vj/param/strength", 0.9)
        wait_for(lambda: server.rejected >= 1, what="the refusal")
    assert not store.is_set("strength")


def test_port_in_use_is_a_clear_error(server: OscServer, store: ParamStore) -> None:
    with pytest.raises(OscError, match="choose another --osc-port"):
        OscServer(store, port=server.address[1]).start()


def test_host_port_parsing_and_bundle_depth() -> None:
    assert parse_host_port("192.168.1.20:9001") == ("192.168.1.20", 9001)
    assert parse_host_port("9001") == ("127.0.0.1", 9001)
    with pytest.raises(ValueError):
        parse_host_port("tablet:x")
    message = build_msg("/vj/tap", []).dgram
    bundle = message
    for _ in range(3):
        bundle = b"#bundle\x00" + b"\x00" * 7 + b"\x01" + len(bundle).to_bytes(4, "big") + bundle
    assert bundle_depth(message) == 0 and bundle_depth(bundle) == 3
