"""``vj check``: everything that can be known wrong about a setlist before the gig, without rendering."""
from __future__ import annotations

from pathlib import Path

from vj.audio.decode import AudioError
from vj.audio.offline import analyse_track
from vj.director import Director, OnsetLog
from vj.setlist import load_setlist
from vj.timecode import format_time


def check_setlist(path: Path) -> str:
    """Validate the file, every song's audio, schedules, expressions and cue times.
    Returns a short report; raises SetlistError (file:line: field: message) on the first problem."""
    setlist = load_setlist(path)
    lines = [f"{path}: '{setlist.title}', {len(setlist.songs)} song(s), {len(setlist.styles)} style(s), "
             f"model {setlist.model}, {setlist.output.width}x{setlist.output.height} at {setlist.output.fps:g} fps"]
    for index, song in enumerate(setlist.songs):
        audio = setlist.audio_path(song)
        if audio is None:
            raise setlist.error("a song needs an audio file (for rehearsal and the tempo grid)",
                                ("songs", index, "name"))
        if not audio.is_file():
            raise setlist.error(f"audio file not found: {audio}", ("songs", index, "audio"))
        try:
            analysis = analyse_track(audio)
        except AudioError as exc:
            raise setlist.error(str(exc), ("songs", index, "audio")) from None
        grid = analysis.grid(bpm=song.bpm, offset=song.beat_offset)
        onsets = OnsetLog(list(map(float, analysis.onset_times)), list(map(float, analysis.onset_strengths)))
        director = Director(setlist, song, grid, setlist.output.fps, duration=analysis.duration, onsets=onsets)
        lines.append(f"  ok  {song.name}: {format_time(analysis.duration)}, {grid.bpm:.1f} BPM, "
                     f"{len(director.cues) - 1} cue(s), {len(director.prompt_table)} prompt(s)")
    return "\n".join(lines)
