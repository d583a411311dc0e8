"""``vj check``: everything that can be known wrong about a setlist before the gig, without rendering."""
from __future__ import annotations

from pathlib import Path

from vj.audio.decode import AudioError
from vj.audio.offline import analyse_track
from vj.director.director import Director, OnsetLog
from vj.setlist.models import Setlist, load_setlist
from vj.setlist.timecode import format_time


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
        analysis = analysis.pinned(beats_per_bar=song.beats_per_bar, bpm=song.bpm,
                                   first_downbeat=song.downbeat_pin)
        grid = analysis.grid(bpm=song.bpm, offset=song.downbeat_pin, beats_per_bar=song.beats_per_bar)
        onsets = OnsetLog(list(map(float, analysis.onset_times)), list(map(float, analysis.onset_strengths)))
        director = Director(setlist, song, grid, setlist.output.fps, duration=analysis.duration, onsets=onsets)
        lines.append(f"  ok  {song.name}: {format_time(analysis.duration)}, {grid.bpm:.1f} BPM, "
                     f"{grid.beats_per_bar} beats a bar, bar 1 at {grid.offset:.2f} s, "
                     f"{len(director.cues) - 1} cue(s), {len(director.prompt_table)} prompt(s)")
        lines.extend(_grid_lines(analysis, song))
        lines.extend(_schedule_lines(director))
        lines.extend(_lyric_lines(director, grid))
    lines.extend(_check_weights(setlist))
    return "\n".join(lines)


def _schedule_lines(director: Director) -> list[str]:
    """Loose schedule syntax read one way (as Deforum reads it): shown, so it can be tidied."""
    return [f"      warning: {field}: {warning}" for field, warning in director.schedule_warnings()]


def _lyric_lines(director: Director, grid) -> list[str]:
    """Every lyric cue with its time and bar, the sung line and the prompt it became."""
    cues = director.lyric_cues
    if not director.song.lyrics:
        return []
    lines = [f"      lyrics: {director.song.lyrics}: {len(director.song.lyric_lines)} timed line(s), "
             f"{len(cues)} lyric cue(s)"]
    for start, line, sung, prompt in cues:
        beat = round(grid.beat_at(start), 3)  # a cue snapped to a bar line is on it, not a hair before
        bar, in_bar = divmod(beat, grid.beats_per_bar)
        where = f"bar {int(bar) + 1}.{in_bar + 1:g}" if beat >= 0 else "before bar 1"
        shown = prompt if prompt.startswith(sung) or sung in prompt else f"{prompt}  (sung: {sung})"
        lines.append(f"        {format_time(start):>8}  {where:<10} line {line:<4} {shown}")
    return lines


def _grid_lines(analysis, song) -> list[str]:
    """What the beat tracker found beside what the setlist pins, so a wrong pin (or a wrong
    detection) shows before the gig."""
    detected = analysis.grid()
    lines = []
    if analysis.beat_message:
        lines.append(f"      beats: {analysis.beat_message}")
    pins = [("bpm", song.bpm, f"{analysis.bpm:.1f} (or {analysis.bpm / 2:.1f} / {analysis.bpm * 2:.1f})"),
            ("beats_per_bar", song.beats_per_bar, str(analysis.beats_per_bar)),
            ("first_downbeat", song.downbeat_pin, f"{detected.offset:.3f} s")]
    for name, pinned, found in pins:
        state = f"pinned {pinned}, detected {found}" if pinned is not None else f"detected {found}"
        lines.append(f"      {name}: {state}")
    return lines


def _check_weights(setlist: Setlist) -> list[str]:
    """The model, its tiny VAE and LoRA, and every depth model, found on this machine (nothing is
    loaded or downloaded). A missing model is an error; a missing depth model only a warning: the
    3D camera then flies over a plane."""
    from vj.setlist.depth_spec import model_source

    lines = []
    if setlist.model != "procedural":
        from vj.generators.diffusion.loader import resolve_model_folder
        from vj.generators.base import GeneratorError

        settings = setlist.model_settings
        wanted = [("model", setlist.model)]
        if settings.vae == "tiny" and settings.tiny_vae:
            wanted.append(("model_settings.tiny_vae", settings.tiny_vae))
        if settings.lora and not Path(settings.lora).expanduser().is_file():
            wanted.append(("model_settings.lora", settings.lora))
        for field, name in wanted:
            try:
                folder = resolve_model_folder(name)
            except GeneratorError as exc:
                raise setlist.error(str(exc), tuple(field.split("."))) from None
            lines.append(f"  ok  {field} {name}: {folder}")
    for index, song in enumerate(setlist.songs):
        source = model_source(song.camera.depth)
        if source is None:
            continue
        if Path(source).expanduser().is_dir():
            lines.append(f"  ok  depth model {source} ({song.name})")
            continue
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(source, "config.json"), str):
            lines.append(f"  ok  depth model {source} ({song.name}, from the cache)")
        else:
            lines.append(f"  WARNING {song.name}: depth model '{source}' is not on this machine; the 3D camera "
                         f"will use a flat plane (docs/camera3d.md)")
    return lines
