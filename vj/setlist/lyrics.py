"""Synced lyrics (LRC, SRT) → timed lines, for lyric prompts (``lyrics:`` / ``lyric_prompts:``).

LRC: ``[mm:ss.xx]text`` lines (``[mm:ss]``, ``[mm:ss.x]``, ``[mm:ss.xxx]`` and ``[mm:ss:xx]`` too),
several time tags on one line (a chorus sung twice), ``[offset:+500]`` (milliseconds; as the LRC
convention has it, a positive offset shows the lines sooner: time = tag - offset), metadata tags
(``[ar:...]``, ``[ti:...]``, ...) ignored, and the enhanced format's ``<mm:ss.xx>`` word timings
taken out of the text. A tagged line with no text ends the line before it: no cue.
SRT: numbered blocks ``00:00:12,000 --> 00:00:15,000`` with their text lines (joined with a
space; ``<i>`` and other tags taken out).

Errors name the file and line: no time tags at all, lines out of time order (lines with several
tags are exempt: they repeat by design), a malformed time, a file over :data:`MAX_BYTES`, text
that is not UTF-8. A UTF-8 BOM and CRLF line ends are fine.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from vj.errors import SetlistError

#: The largest lyrics file read: a song's LRC is a few kB; 1 MB is a mistake (a wrong file).
MAX_BYTES = 1024 * 1024

_TIME_TAG = re.compile(r"\[(\d{1,3}):(\d{1,2})(?:[.:](\d{1,3}))?\]")
_META_TAG = re.compile(r"^\[([A-Za-z#][A-Za-z0-9_#-]*)\s*:(.*)\]\s*$")
_WORD_TAG = re.compile(r"<\d{1,3}:\d{1,2}(?:[.:]\d{1,3})?>")
_SRT_TIME = re.compile(r"^\s*(\d{1,3}):(\d{1,2}):(\d{1,2})[,.](\d{1,3})\s*-->\s*"
                       r"(\d{1,3}):(\d{1,2}):(\d{1,2})[,.](\d{1,3})")
_MARKUP = re.compile(r"<[^>]{1,40}>|\{\\[^}]{0,40}\}")


@dataclass(frozen=True)
class LyricLine:
    """One sung line: when (seconds), what, and where it is in the file (1-based line)."""

    time: float
    text: str
    line: int


def read_lyrics(path: str | Path, field: str | None = None) -> list[LyricLine]:
    """The lines of an .lrc or .srt file in time order. SetlistError (file:line) on bad input."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise SetlistError(f"lyrics file not found: {path}", file=str(path), field=field) from None
    except OSError as exc:
        raise SetlistError(f"cannot read the lyrics: {exc.strerror or exc}", file=str(path), field=field) from None
    if path.is_dir():
        raise SetlistError("the lyrics are a folder, not a file", file=str(path), field=field)
    if size > MAX_BYTES:
        raise SetlistError(f"{size / 1e6:.1f} MB is too big for a lyrics file (limit {MAX_BYTES // 1024} kB): "
                           "is it the right file?", file=str(path), field=field)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise SetlistError(f"the lyrics are not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as "
                           "UTF-8", file=str(path), line=line, field=field) from None
    try:
        if path.suffix.lower() == ".srt":
            return parse_srt(text, str(path))
        return parse_lrc(text, str(path))
    except SetlistError as exc:
        if field is None:
            raise
        raise SetlistError(exc.message, file=exc.file, line=exc.line, field=field) from None


def parse_lrc(text: str, file: str = "<lyrics>") -> list[LyricLine]:
    """LRC text → lines in time order (see the module doc for the forms read)."""
    offset = 0.0
    entries: list[LyricLine] = []
    tagged_lines = 0
    last_single: tuple[float, int] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped:
            continue
        tags = []
        rest = stripped
        while True:
            match = _TIME_TAG.match(rest)
            if not match:
                break
            minutes, seconds, fraction = match.group(1), match.group(2), match.group(3) or "0"
            if int(seconds) >= 60:
                raise SetlistError(f"bad time [{match.group(0)[1:-1]}]: seconds must be under 60",
                                   file=file, line=number)
            tags.append(int(minutes) * 60 + int(seconds) + int(fraction) / 10 ** len(fraction))
            rest = rest[match.end():].lstrip()
        if not tags:
            meta = _META_TAG.match(stripped)
            if meta:
                if meta.group(1).lower() == "offset":
                    try:
                        offset = float(meta.group(2).strip()) / 1000.0
                    except ValueError:
                        raise SetlistError(f"[offset:{meta.group(2)}] is not a number of milliseconds",
                                           file=file, line=number) from None
                continue
            if stripped.startswith("[") and re.match(r"^\[\d", stripped):
                raise SetlistError(f"bad time tag in {stripped[:30]!r}: write [mm:ss.xx]", file=file, line=number)
            continue  # an unsynced line (a title, a credit): no time, no cue
        tagged_lines += 1
        words = " ".join(_WORD_TAG.sub(" ", rest).split())
        if len(tags) == 1:
            if last_single is not None and tags[0] < last_single[0]:
                raise SetlistError(f"this line's time ({_clock(tags[0])}) comes before line {last_single[1]}'s "
                                   f"({_clock(last_single[0])}): list the lines in time order",
                                   file=file, line=number)
            last_single = (tags[0], number)
        if not words:
            continue  # an empty tagged line ends the line before it
        entries.extend(LyricLine(tag - offset, words, number) for tag in tags)
    if not tagged_lines:
        raise SetlistError("no time tags: a synced-lyrics file has [mm:ss.xx] before each line "
                           "(an .lrc) or numbered 00:00:12,000 --> 00:00:15,000 blocks (an .srt)",
                           file=file, line=1)
    entries.sort(key=lambda e: (e.time, e.line))
    return [LyricLine(max(e.time, 0.0), e.text, e.line) for e in entries]


def parse_srt(text: str, file: str = "<lyrics>") -> list[LyricLine]:
    """SRT text → lines (one per block, at its start time) in time order."""
    entries: list[LyricLine] = []
    lines = text.splitlines()
    i = 0
    last: tuple[float, int] | None = None
    while i < len(lines):
        match = _SRT_TIME.match(lines[i])
        if not match:
            if lines[i].strip() and not lines[i].strip().isdigit() and (i + 1 >= len(lines) or not
                                                                        _SRT_TIME.match(lines[i + 1])):
                if "-->" in lines[i]:
                    raise SetlistError(f"bad time line {lines[i].strip()[:40]!r}: write "
                                       "00:00:12,000 --> 00:00:15,000", file=file, line=i + 1)
            i += 1
            continue
        h, m, s, ms = (int(g) for g in match.groups()[:4])
        if m >= 60 or s >= 60:
            raise SetlistError("bad time: minutes and seconds must be under 60", file=file, line=i + 1)
        start = h * 3600 + m * 60 + s + ms / 10 ** len(match.group(4))
        number = i + 1
        i += 1
        words = []
        while i < len(lines) and lines[i].strip():
            words.append(lines[i].strip())
            i += 1
        text_line = " ".join(_MARKUP.sub("", " ".join(words)).split())
        if last is not None and start < last[0]:
            raise SetlistError(f"this block's time ({_clock(start)}) comes before line {last[1]}'s "
                               f"({_clock(last[0])}): list the blocks in time order", file=file, line=number)
        last = (start, number)
        if text_line:
            entries.append(LyricLine(start, text_line, number + 1))
    if last is None:
        raise SetlistError("no time tags: a synced-lyrics file has [mm:ss.xx] before each line "
                           "(an .lrc) or numbered 00:00:12,000 --> 00:00:15,000 blocks (an .srt)",
                           file=file, line=1)
    return entries


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes)}:{rest:05.2f}"


__all__ = ["LyricLine", "read_lyrics", "parse_lrc", "parse_srt", "MAX_BYTES"]
