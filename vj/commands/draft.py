"""``vj draft SONG [--lyrics FILE] [-o set.yaml]``: a first, complete, commented setlist for a song.

From the whole-track analysis: tempo, meter and first downbeat (pinned in the file), the song's
sections (vj.audio.sections: self-similarity of harmony and timbre per bar, novelty peaks on bar
lines), a style per kind of section from a small built-in palette (a section that returns gets
its style back), camera keyframes on the section's first bar line (a gentle zoom that breathes
with the beat, a slow sway, a drift that changes at each section, a kick on onsets), and the
lyric cues when lyrics are given. Every artistic choice is left in plain YAML to edit.

A song too short or too quiet to segment still gets a setlist (one section), with a comment
saying what could not be found. The file is written only once it loads and compiles.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from vj.commands.written import write_checked
from vj.errors import SetlistError, VjError

#: Below this peak level (dBFS) a song is too quiet to analyse (silence, a muted file).
QUIET_DBFS = -50.0


@dataclass(frozen=True)
class PaletteStyle:
    name: str
    prefix: str
    suffix: str
    subject: str
    strength: float
    look: dict
    post: dict


#: The built-in palette, in the order sections first appear; rename and rewrite freely.
PALETTE = (
    PaletteStyle("nebula", "a luminous nebula of ", ", cosmic, volumetric light", "slow spirals of stars", 0.35,
                 {"warp": 0.7, "detail": 0.55, "speed": 0.8, "hue": 0.0}, {"saturation": 1.1, "vignette": 0.25}),
    PaletteStyle("ink", "sumi-e ink painting of ", ", flowing brush strokes", "mountains in the mist", 0.45,
                 {"warp": 0.45, "detail": 0.8, "speed": 1.2, "hue": 0.35}, {"contrast": 1.15, "vignette": 0.35}),
    PaletteStyle("ember", "glowing embers and smoke forming ", ", warm light, film grain", "a city at dusk", 0.5,
                 {"warp": 0.8, "detail": 0.6, "speed": 1.4, "hue": 0.08}, {"saturation": 1.2, "vignette": 0.3}),
    PaletteStyle("glass", "a cathedral of stained glass showing ", ", prismatic, sharp", "a garden of light", 0.4,
                 {"warp": 0.5, "detail": 0.9, "speed": 1.0, "hue": 0.55}, {"contrast": 1.1, "vignette": 0.2}),
    PaletteStyle("tide", "an underwater world of ", ", caustics, deep blue", "drifting jellyfish", 0.4,
                 {"warp": 0.6, "detail": 0.5, "speed": 0.7, "hue": 0.6}, {"saturation": 1.05, "vignette": 0.3}),
    PaletteStyle("storm", "an electric storm over ", ", dramatic, high contrast", "a restless sea", 0.55,
                 {"warp": 0.9, "detail": 0.7, "speed": 1.6, "hue": 0.75}, {"contrast": 1.2, "vignette": 0.2}),
)
#: Camera motion per section, cycled: (zoom breath, sway degrees, drift pixels).
_MOTIONS = ((0.004, 0.15, 0.0), (0.006, -0.25, 1.0), (0.003, 0.35, -1.0), (0.008, -0.1, 0.5))


def _q(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def draft(audio: str | os.PathLike[str], output: str | os.PathLike[str] | None = None, *,
          lyrics: str | os.PathLike[str] | None = None, fps: float = 24.0) -> tuple[Path, str]:
    """Analyse ``audio`` and write the draft setlist (default: ``<song>.yaml`` beside it).
    Returns (the path written, the text)."""
    from vj.audio.decode import AudioError
    from vj.audio.offline import analyse_track
    from vj.audio.sections import find_sections

    audio = Path(audio)
    if not audio.is_file():
        raise VjError(f"{audio}: audio file not found")
    out = Path(output) if output is not None else audio.with_suffix(".yaml")
    if out.suffix.lower() not in (".yaml", ".yml"):
        raise VjError(f"-o {out}: a setlist is a .yaml file")
    if out.exists() and out.is_dir():
        raise VjError(f"-o {out}: is a folder; give a file name ending in .yaml")
    lyric_path = Path(lyrics) if lyrics is not None else None
    if lyric_path is not None:
        from vj.setlist.lyrics import read_lyrics

        read_lyrics(lyric_path, field="--lyrics")   # its errors name its line, before any analysis
    try:
        analysis = analyse_track(audio)
    except AudioError as exc:
        raise VjError(f"{audio}: {exc}") from None
    notes: list[str] = []
    preview = analysis.waveform_preview
    peak = max((float(abs(x).max()) for x in preview[1:] if len(x)), default=0.0)
    level = 20 * math.log10(peak) if peak > 0 else -math.inf
    grid = analysis.grid()
    if grid.offset < 0:  # bar 1 is the first downbeat inside the song: the grid the file pins
        first = grid.time_of_bar(math.ceil(grid.bar_at(0.0) - 1e-9))
        grid = analysis.grid(bpm=grid.bpm, offset=first, beats_per_bar=grid.beats_per_bar)
    if level < QUIET_DBFS:
        sections = []
        notes.append(f"too quiet to find sections (peak {level:.0f} dBFS, below {QUIET_DBFS:.0f}): one section")
    else:
        sections, message = find_sections(analysis, grid)
        if message:
            notes.append(message + ": one section")
            sections = []
    if analysis.beat_message:
        notes.append(f"beats: {analysis.beat_message}")
    text = _setlist_text(audio, out, analysis, grid, sections, notes, lyric_path, fps)
    write_checked(out, text, lambda folder: _validate(text, folder, out.name, analysis, grid))
    return out, text


def _relative(path: Path, folder: Path) -> str:
    try:
        return os.path.relpath(path.resolve(), folder.resolve())
    except ValueError:  # another drive
        return str(path.resolve())


def _setlist_text(audio: Path, out: Path, analysis, grid, sections, notes: list[str], lyrics: Path | None,
                  fps: float) -> str:
    from vj.setlist.timecode import format_time

    folder = out.parent if str(out.parent) else Path(".")
    name = audio.stem.replace("_", " ").replace("-", " ").strip() or "song"
    if not sections:
        from vj.audio.sections import Section

        sections = [Section(0, max(1, int(grid.bar_at(analysis.duration))), 0.0, float(analysis.duration), 0, 0.0)]
    labels = sorted({s.label for s in sections}, key=lambda l: next(i for i, s in enumerate(sections) if s.label == l))
    style_of = {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}
    letter = {label: chr(ord("A") + i) if i < 26 else f"S{i}" for i, label in enumerate(labels)}
    lines = [
        f"# A first draft for {audio.name}, written by `vj draft` from its analysis. Every choice below is",
        "# yours to change: rename the styles, rewrite the prompts, move the cues. Rehearse it with",
        f"#   vj rehearse {out.name}",
        "#",
        f"# Found: {grid.bpm:.1f} BPM, {grid.beats_per_bar} beats a bar, bar 1 at {grid.offset:.2f} s, "
        f"{len(sections)} section(s):",
    ]
    for section in sections:
        again = sum(1 for s in sections[:sections.index(section)] if s.label == section.label)
        lines.append(f"#   bar {section.start_bar + 1:>3} ({format_time(section.start)}): {letter[section.label]}"
                     + (" again" if again else "") + f"  -> style {style_of[section.label].name}")
    for note in notes:
        lines.append(f"# Could not: {note}.")
    lines += [
        "",
        f"title: {_q(name)}",
        f"output: {{width: 512, height: 512, fps: {fps:g}}}",
        "model: procedural          # or a diffusers model id / folder, e.g. stabilityai/sd-turbo",
        "seed: 1",
        "",
        "# One style per kind of section (a section that returns gets its style back).",
        "styles:",
    ]
    for label in labels:
        style = style_of[label]
        lines += [f"  {style.name}:  # sections {letter[label]}",
                  f"    prefix: {_q(style.prefix)}",
                  f"    suffix: {_q(style.suffix)}",
                  f"    strength: {style.strength:g}",
                  f"    look: {json.dumps(style.look)}",
                  f"    post: {json.dumps(style.post)}"]
    first = style_of[sections[0].label]
    lines += [
        "",
        "songs:",
        f"  - name: {_q(name)}",
        f"    audio: {_q(_relative(audio, folder))}",
        "    # the tempo grid as analysed, pinned so rehearsal and the show agree (vj check shows both)",
        f"    bpm: {grid.bpm:.2f}",
        f"    beats_per_bar: {grid.beats_per_bar}",
        f"    first_downbeat: {grid.offset:.3f}",
        f"    style: {first.name}",
        f"    prompt: {_q(first.subject)}",
    ]
    if lyrics is not None:
        lines += ["    # each sung line becomes a prompt cue (docs/setlist.md, Lyrics as prompts)",
                  f"    lyrics: {_q(_relative(lyrics, folder))}",
                  "    lyric_prompts:",
                  '      template: "{line}, {setting}"',
                  f"      setting: {_q(first.subject)}",
                  "      snap: beat",
                  "      min_gap: 2b"]
    zoom, angle, drift = [], [], []
    for n, section in enumerate(sections):
        key = "0" if n == 0 else f"{section.start_bar}bar"
        breath, sway, move = _MOTIONS[n % len(_MOTIONS)]
        zoom.append(f"{key}:(1 + {breath:g}*wave(1))")
        angle.append(f"{key}:({sway:g}*sin(beat*pi/8))")
        drift.append(f"{key}:({move:g}*(tri(8) - 0.5))" if move else f"{key}:(0)")
    lines += [
        "    # keys on the first bar line of each section (Nbar = N bars elapsed): the zoom breathes with",
        "    # the beat, a slow sway, a drift that changes at every section",
        "    camera:",
        "      mode: 2d",
        f"      zoom: {_q(', '.join(zoom))}",
        f"      angle: {_q(', '.join(angle))}",
        f"      translation_x: {_q(', '.join(drift))}",
        "    # a kick on every onset",
        "    reactivity:",
        "      - {name: kick_zoom, source: onset, target: zoom, amount: 0.02, attack: 0.005, release: 0.15}",
    ]
    later = sections[1:]
    if later:
        lines.append("    # a cue at each section: its style (and, without lyrics, its subject)")
        lines.append("    cues:")
        for section in later:
            style = style_of[section.label]
            again = sum(1 for s in sections[:sections.index(section)] if s.label == section.label)
            lines.append(f"      - at: \"bar {section.start_bar + 1}\"")
            lines.append(f"        label: {_q(f'section {letter[section.label]}' + (' again' if again else ''))}")
            lines.append(f"        style: {style.name}")
            if lyrics is None:
                lines.append(f"        prompt: {_q(style.subject)}")
            lines.append("        transition: 2b")
    return "\n".join(lines) + "\n"


def _validate(text: str, folder: Path, name: str, analysis, grid) -> None:
    """Load the draft (beside where it goes, so its relative paths resolve) and build its director."""
    from vj.director.director import Director
    from vj.setlist.models import load_setlist

    path = Path(folder) / f".{name}.check.yaml"
    try:
        path.write_text(text, encoding="utf-8")
        setlist = load_setlist(path)
        for song in setlist.songs:
            Director(setlist, song, analysis.grid(bpm=song.bpm, offset=song.downbeat_pin,
                                                  beats_per_bar=song.beats_per_bar),
                     setlist.output.fps, duration=analysis.duration)
    except SetlistError as exc:
        if exc.file and Path(exc.file).name != path.name:
            raise  # the lyrics file's own problem (a line past the end of the song): its file and line
        raise VjError(f"the draft does not load ({exc.message} at {exc.field}); please report this") from None
    except OSError as exc:
        raise VjError(f"cannot write beside {folder / name}: {exc.strerror or exc}") from None
    finally:
        if path.exists():
            path.unlink()
