"""Ableton Link: a second Link peer in this process (two peers on one machine find each other over
loopback) sets tempo and phase; vj's tempo clock follows within a beat with its bar lines within
5 ms of the peer's quantum, through tempo jumps; when vj leads, its tempo reaches the peer."""
from __future__ import annotations

import math
import time

import pytest

from rig import SETLIST, need, run_live

from vj.audio.clock import TempoClock, TempoLead


def test_follow_puts_bar_lines_on_the_quantum_and_beats_never_jump_back_far():
    clock = TempoClock(120.0, 4, TempoLead.LINK)
    clock.follow(10.0, 1234.5, 130.0)            # the session is half way through its bar's 3rd beat
    assert clock.bpm == 130.0
    assert clock.beat_at(10.0) % 4 == pytest.approx(2.5)
    beat = clock.beat_at(10.0)
    clock.follow(10.0, 1234.5 - 0.1, 130.0)       # a little behind (jitter): followed as it is
    assert clock.beat_at(10.0) == pytest.approx(beat - 0.1)
    clock.follow(10.0, 1234.5 - 2.0, 130.0)       # a phase reset two beats back: forward to that place in the bar
    assert clock.beat_at(10.0) == pytest.approx(beat + 2.0)
    clock.follow(10.0, 1.0, 1000.0)               # out of range: clamped, never an error
    assert clock.bpm == 400.0
    clock.follow(10.0, math.nan, 120.0)           # garbage: ignored
    assert clock.bpm == 400.0
    other = TempoClock(120.0, 4, TempoLead.DETECTED)
    other.follow(10.0, 3.0, 90.0)                 # not the lead: no effect
    assert other.bpm == 120.0


@pytest.fixture
def peer():
    need("aalink", "link")
    from vj.audio.link import LinkLead, open_link

    link = open_link(120.0)
    link.quantum = 4
    try:
        yield LinkLead(120.0, link=link)   # the peer, read through the same sampling as vj's
    finally:
        link.enabled = False


def _wait_for_peers(lead, other, timeout=10.0):
    deadline = time.monotonic() + timeout
    while lead.link.num_peers < 1 or other.link.num_peers < 1:
        assert time.monotonic() < deadline, "the two Link peers never found each other"
        time.sleep(0.02)


def _bar_error(clock, song_start, peer) -> float:
    """Seconds between vj's next bar line and the peer's next quantum start."""
    at, beat, tempo = peer.sample()
    peer_bar = at + (math.floor(beat / 4.0 + 1e-9) + 1) * 4.0 * 60.0 / tempo - beat * 60.0 / tempo
    mine = clock.next_downbeat_after(at - song_start) + song_start
    error = mine - peer_bar
    bar = 4.0 * 60.0 / tempo
    return (error + bar / 2) % bar - bar / 2   # the nearest pair of bar lines


def test_vj_follows_a_link_peer_tempo_and_bar_through_jumps(peer):
    from vj.audio.link import LinkLead

    vj = LinkLead(120.0)
    try:
        _wait_for_peers(vj, peer)
        clock = TempoClock(120.0, 4, TempoLead.LINK)
        song_start = time.monotonic()
        song_time = lambda at: at - song_start   # noqa: E731
        errors = {}
        for tempo in (128.0, 40.0, 300.0, 97.5):
            peer.link.tempo = tempo
            changed = time.monotonic()
            while abs(clock.bpm - tempo) > 0.01:     # polled once a frame, at 60 Hz
                assert time.monotonic() - changed < 60.0 / tempo, f"{tempo} BPM not followed within a beat"
                time.sleep(1 / 60)
                vj.poll(clock, song_time)
            followed = time.monotonic() - changed
            bar_errors = []
            for _ in range(20):
                time.sleep(1 / 60)
                vj.poll(clock, song_time)
                bar_errors.append(abs(_bar_error(clock, song_start, peer)))
            errors[tempo] = (followed, max(bar_errors))
        for tempo, (followed, bar_error) in errors.items():
            assert followed < 60.0 / tempo and bar_error < 0.005, (tempo, followed, bar_error)
        assert vj.peers >= 1 and "peer" in vj.label
    finally:
        vj.close()


def test_vj_tempo_reaches_the_peer_when_vj_leads(peer):
    from vj.audio.link import LinkLead

    vj = LinkLead(120.0)
    try:
        _wait_for_peers(vj, peer)
        clock = TempoClock(120.0, 4, TempoLead.TAP)
        for tap in (0.0, 0.5, 1.0, 1.5):            # taps at 120 BPM... then 133
            clock.tap(tap)
        clock.set_bpm(133.0, 2.0)
        vj.poll(clock, lambda at: at)
        deadline = time.monotonic() + 5.0
        while abs(peer.link.tempo - 133.0) > 0.01:
            assert time.monotonic() < deadline, f"the peer stayed at {peer.link.tempo} BPM"
            time.sleep(0.02)
        assert clock.bpm == 133.0                    # vj led: the session did not move it
    finally:
        vj.close()


def _play_led_by(lead, setlist, script, seconds_real):
    """A live show of ``setlist`` on the real clock with ``lead`` as its tempo lead (closed after)."""
    from vj.show.live import build_song_states

    try:
        return run_live(setlist, script, now=time.monotonic, seconds_real=seconds_real,
                        states=build_song_states(setlist), tempo_lead=lead)
    finally:
        lead.close()


def test_the_live_show_takes_the_link_tempo_and_shows_the_peers(peer, tmp_path):
    from vj.audio.link import LinkLead
    from vj.render.window import Action
    from vj.setlist.models import load_setlist

    path = tmp_path / "set.yaml"
    path.write_text(SETLIST.replace("tempo_lead: setlist", "tempo_lead: link"))
    setlist = load_setlist(path)
    lead = LinkLead(120.0)
    _wait_for_peers(lead, peer)
    peer.link.tempo = 142.0
    seen: dict = {}

    def script(show, record, display):
        if show.song.clock.bpm == pytest.approx(142.0, abs=0.01) and "at" not in seen:
            seen["at"] = record.index
        if "at" in seen and record.index > seen["at"] + 3:
            seen["label"] = show.tempo_lead.label
            display.inject(Action.QUIT)
            display.inject(Action.QUIT)

    show, in_time = _play_led_by(lead, setlist, script, 15.0)
    assert in_time and seen["label"].startswith("link, 1 peer")
    assert show.song.clock.lead is TempoLead.LINK


def test_vj_live_tempo_link_end_to_end(peer, xvfb_display, tmp_path):
    """`vj live --tempo link` in its own process: the peer here sets the tempo, vj's OSC feedback
    reports it and one Link peer."""
    import os
    import subprocess
    import sys

    from processes import stop_process
    from test_follow import Listener

    path = tmp_path / "set.yaml"
    path.write_text(SETLIST)
    listener = Listener()
    process = subprocess.Popen([sys.executable, "-m", "vj", "live", str(path), "--windowed", "--window-size", "160x120",
                                "--no-audio", "--tempo", "link", "--display-rate", "30", "--quit-after", "60",
                                "--osc-port", "0", "--osc-feedback", f"127.0.0.1:{listener.port}"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ),
                               cwd=tmp_path)
    try:
        started = time.monotonic()
        listener.first("/vj/state/link_peers", lambda a: a[0] >= 1, started, timeout=60)
        peer.link.tempo = 137.0
        changed = time.monotonic()
        listener.first("/vj/state/bpm", lambda a: abs(a[0] - 137.0) < 0.01, changed, timeout=5)
        assert process.poll() is None
    finally:
        stop_process(process)
        listener.close()


def test_a_session_start_restarts_the_song_on_the_bar_and_a_stop_plays_on(peer, tmp_path):
    """Start/stop sync: the DJ pressing play starts the song again from its beginning (cues in bars
    count from there); a stop leaves vj playing on its own clock, and the HUD says so."""
    from vj.audio.link import LinkLead
    from vj.render.window import Action
    from vj.setlist.models import load_setlist

    path = tmp_path / "set.yaml"
    path.write_text(SETLIST.replace("tempo_lead: setlist", "tempo_lead: link"))
    setlist = load_setlist(path)
    lead = LinkLead(120.0)
    _wait_for_peers(lead, peer)
    seen: dict = {}

    def script(show, record, display):
        if "first" not in seen and record.music_time > 0.6:
            seen["first"], seen["before"] = show.song, record.music_time
            peer.link.playing = True                       # the DJ presses play
        elif "first" in seen and "restarted" not in seen and show.song is not seen["first"]:
            seen["restarted"], seen["time"] = record.index, record.music_time
        elif "restarted" in seen and "stopped_at" not in seen and record.index > seen["restarted"] + 20:
            peer.link.playing = False                      # and stop
            seen["stopped_at"] = record.index
        elif "stopped_at" in seen and record.index == seen["stopped_at"] + 30:
            seen["label"] = show.tempo_lead.label
            display.inject(Action.QUIT)
            display.inject(Action.QUIT)

    show, in_time = _play_led_by(lead, setlist, script, 20.0)
    assert in_time, seen
    assert seen["before"] > 0.6 and seen["time"] < 0.1     # the song time started again at the start
    assert lead.starts == 1
    assert seen["label"].endswith("stopped")                # still rendering 30 frames after the stop
    assert show.song.clock.lead is TempoLead.LINK
