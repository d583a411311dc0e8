"""Lyrics as prompts: LRC / SRT reading (and its bad inputs), lyric cues among hand cues."""
from __future__ import annotations

from pathlib import Path

import pytest

from vj.director.director import Director
from vj.errors import SetlistError
from vj.features import Features
from vj.grid import BeatGrid
from vj.setlist.lyrics import MAX_BYTES, parse_lrc, parse_srt, read_lyrics
from vj.setlist.models import load_setlist

LRC = """\
[ti:Night Drive]
[ar:Someone]
[offset:+500]
[00:02.50]City lights are calling
[00:04.00]<00:04.00>Follow <00:04.40>the <00:04.80>neon
[00:06.10][00:12.00]Run with me tonight
[00:08.00]♪ instrumental ♪
[00:09.00]
[00:10.00]Into the dawn
"""


def test_lrc_tags_offset_metadata_word_timings() -> None:
    lines = parse_lrc(LRC)
    assert [(round(l.time, 3), l.text, l.line) for l in lines] == [
        (2.0, "City lights are calling", 4), (3.5, "Follow the neon", 5), (5.6, "Run with me tonight", 6),
        (7.5, "♪ instrumental ♪", 7), (9.5, "Into the dawn", 9), (11.5, "Run with me tonight", 6)]


def test_bom_crlf_and_short_forms(tmp_path: Path) -> None:
    path = tmp_path / "song.lrc"
    path.write_bytes("\ufeff[00:01]One\r\n[00:02.5]Two\r\n[1:03.125]Three\r\n".encode())
    assert [(l.time, l.text) for l in read_lyrics(path)] == [(1.0, "One"), (2.5, "Two"), (63.125, "Three")]


@pytest.mark.parametrize("content, line, message", [
    (b"just words\nno times here\n", 1, "no time tags"),
    (b"[00:05.00]b\n[00:03.00]a\n", 2, "comes before line 1's (0:05.00): list the lines in time order"),
    (b"[00:01.00]caf\xe9\n", 1, "not UTF-8 text (byte 0xe9)"),
    (b"[00:01.00]a\n[00:75.00]b\n", 2, "seconds must be under 60"),
    (b"[00:01.00]a\n[offset:soon]\n", 2, "is not a number of milliseconds"),
])
def test_bad_lrc_files_name_the_file_and_line(tmp_path: Path, content, line, message) -> None:
    path = tmp_path / "bad.lrc"
    path.write_bytes(content)
    with pytest.raises(SetlistError) as caught:
        read_lyrics(path)
    assert caught.value.line == line and message in caught.value.message
    assert str(caught.value).startswith(f"{path}:{line}:")


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.lrc"
    path.write_bytes(b"[00:01.00]la\n" * (10 * 1024 * 1024 // 13))
    assert path.stat().st_size > MAX_BYTES
    with pytest.raises(SetlistError, match="too big for a lyrics file"):
        read_lyrics(path)


def test_srt_blocks() -> None:
    srt = "1\n00:00:01,000 --> 00:00:03,000\n<i>Hello</i>\nthere\n\n2\n00:00:04,500 --> 00:00:06,000\nAgain\n"
    assert [(l.time, l.text, l.line) for l in parse_srt(srt)] == [(1.0, "Hello there", 3), (4.5, "Again", 8)]
    with pytest.raises(SetlistError, match="no time tags"):
        parse_srt("1\nhello\n")


SET = """\
styles:
  calm: {prefix: "calm "}
  loud: {prefix: "loud "}
songs:
  - name: one
    audio: one.wav
    style: calm
    prompt: intro
    lyrics: song.lrc
    lyric_prompts:
      template: "{line}, {setting}, {style}"
      setting: a neon city at night
      style: ""
      snap: beat
      min_gap: 2b
      rewrite:
        9: "a sunrise over the sea, seen from a car"
    cues:
      - {at: 5.0, style: loud}
      - {at: 8.0, prompt: hand-written drop, transition: 0}
"""

GRID = BeatGrid(bpm=120.0, offset=0.0, beats_per_bar=4)   # a beat every 0.5 s


def make(tmp_path: Path, text: str = SET, lrc: str = LRC, duration: float = 20.0) -> Director:
    (tmp_path / "song.lrc").write_text(lrc)
    (tmp_path / "set.yaml").write_text(text)
    setlist = load_setlist(tmp_path / "set.yaml")
    return Director(setlist, setlist.songs[0], GRID, 10.0, duration=duration)


def test_lyric_cues_among_hand_cues(tmp_path: Path) -> None:
    director = make(tmp_path)
    rows = [(start, line, prompt) for start, line, _, prompt in director.lyric_cues]
    assert rows == [
        (2.0, 4, "City lights are calling, a neon city at night"),   # 2.0 is on a beat
        (3.5, 5, "Follow the neon, a neon city at night"),
        (6.0, 6, "Run with me tonight, a neon city at night"),        # 5.6 snapped to the beat at 6.0
        (9.5, 9, "a sunrise over the sea, seen from a car"),         # rewritten in place, its time kept
        (11.5, 6, "Run with me tonight, a neon city at night")]       # the instrumental line is skipped
    plans = [(c.start, c.label, c.prompts[0][0][0], c.style) for c in director.cues[1:]]
    assert plans == [
        (2.0, "lyric 4", "City lights are calling, a neon city at night", "calm"),
        (3.5, "lyric 5", "Follow the neon, a neon city at night", "calm"),
        (5.0, "cue 1", "Follow the neon, a neon city at night", "loud"),  # a style-only cue keeps the lyric
        (6.0, "lyric 6", "Run with me tonight, a neon city at night", "loud"),  # lyric keeps the style
        (8.0, "cue 2", "hand-written drop", "loud"),
        (9.5, "lyric 9", "a sunrise over the sea, seen from a car", "loud"),
        (11.5, "lyric 6", "Run with me tonight, a neon city at night", "loud")]
    params = director.frame_params(70, 7.0, Features())
    assert params.conditioning_to.prompt == (("loud Run with me tonight, a neon city at night", 1.0),)


def test_min_gap_skips_lines_that_come_too_close(tmp_path: Path) -> None:
    director = make(tmp_path, SET.replace("min_gap: 2b", "min_gap: 2s"))
    assert [start for start, *_ in director.lyric_cues] == [2.0, 6.0, 9.5, 11.5]


def test_a_line_past_the_end_and_a_rewrite_of_no_line(tmp_path: Path) -> None:
    with pytest.raises(SetlistError) as caught:
        make(tmp_path, duration=10.0)
    assert caught.value.file.endswith("song.lrc") and caught.value.line == 6  # 11.5 s, the repeat
    assert "the lyric line at 0:11.5 is past the end of the song (0:10.0)" in caught.value.message
    with pytest.raises(SetlistError, match=r"rewrite: no lyric line 99 .*\(lines with a time: 4-7, 9\)"):
        make(tmp_path, SET.replace("9: \"a sunrise", "99: \"a sunrise"))
    with pytest.raises(SetlistError, match="the template needs {line}"):
        make(tmp_path, SET.replace('"{line}, {setting}, {style}"', '"{setting}"'))
    (tmp_path / "set.yaml").write_text(SET.replace("song.lrc", "missing.lrc"))
    with pytest.raises(SetlistError, match="lyrics file not found") as missing:
        load_setlist(tmp_path / "set.yaml")
    assert missing.value.line == 9 and missing.value.field == "songs[0].lyrics"


def test_check_lists_the_lyric_cues_and_schedule_warnings(tmp_path: Path) -> None:
    import shutil

    from vj.commands.check import check_setlist

    repo = Path(__file__).resolve().parent.parent
    shutil.copy(repo / "setlists" / "demo-track.ogg", tmp_path / "demo-track.ogg")
    text = (repo / "setlists" / "demo.yaml").read_text()
    text = text.replace('    prompt: "a slow spiral of stars"\n',
                        '    prompt: "a slow spiral of stars"\n    lyrics: demo.lrc\n'
                        '    lyric_prompts: {setting: "a neon city at night", snap: downbeat}\n', 1)
    text = text.replace('translation_y: "0:(0)"', 'translation_y: "0:(0), 0:(1) 10:(2)"', 1)
    (tmp_path / "demo.yaml").write_text(text)
    (tmp_path / "demo.lrc").write_text("[00:01.00]City lights are calling\n[00:09.00]Into the dawn\n")
    report = check_setlist(tmp_path / "demo.yaml")
    assert "lyrics: demo.lrc: 2 timed line(s), 2 lyric cue(s)" in report
    # The demo's bar 1 starts with the music (0.01 s); the lines snap to the next downbeats, bars 2 and 6.
    assert "0:02.0  bar 2.1    line 1    City lights are calling, a neon city at night" in report
    assert "0:10.0  bar 6.1    line 2    Into the dawn, a neon city at night" in report
    assert "warning: camera.translation_y: duplicate key '0'" in report
    assert "warning: camera.translation_y: missing ','" in report
