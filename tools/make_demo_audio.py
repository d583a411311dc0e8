"""Synthesise the demo song: 120 BPM, 18 bars (36 s), drums + bass + pad, busier from bar 9.

Run:  .venv/bin/python tools/make_demo_audio.py [-o setlists/demo-track.ogg]

Bars 1-8: kick on 1 and 3 (harder on 1), snare on 2 and 4, closed hats on eighths, a bass note per
beat, pad chords Am F C G. Bars 9-18: a crash on bar 9, hats on sixteenths, an eighth-note bassline
with octave jumps, an extra kick on the "and" of 3, open hats on the off-beats, and the pad moves up an octave with a seventh.
Deterministic (fixed seed); written as stereo OGG Vorbis with PyAV (the audio for setlists/demo.yaml).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import av
import numpy as np

SAMPLE_RATE = 44100
BPM = 120.0
BARS = 18
CHANGE_BAR = 9  # 1-based: where the groove gets busier
SEED = 2024
PROGRESSION = [(45, [57, 60, 64]), (41, [57, 60, 65]), (48, [55, 60, 64]), (43, [55, 59, 62])]  # Am F C G


def midi_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12)


def fade(sound: np.ndarray, seconds: float = 0.02) -> np.ndarray:
    n = min(len(sound), int(seconds * SAMPLE_RATE))
    sound = sound.copy()
    sound[-n:] *= np.linspace(1.0, 0.0, n)
    return sound


def add(out: np.ndarray, sound: np.ndarray, time: float, pan: float = 0.0) -> None:
    """Mix a mono sound into the stereo buffer at ``time`` s; pan -1 (left) .. 1 (right)."""
    start = int(round(time * SAMPLE_RATE))
    end = min(out.shape[1], start + len(sound))
    if start >= out.shape[1]:
        return
    left, right = np.sqrt((1 - pan) / 2), np.sqrt((1 + pan) / 2)
    out[0, start:end] += left * sound[: end - start]
    out[1, start:end] += right * sound[: end - start]


def seconds(length: float) -> np.ndarray:
    return np.arange(int(length * SAMPLE_RATE)) / SAMPLE_RATE


def kick(rng: np.random.Generator) -> np.ndarray:
    t = seconds(0.4)
    phase = 2 * np.pi * np.cumsum(48 + 120 * np.exp(-t / 0.035)) / SAMPLE_RATE
    click = rng.standard_normal(len(t)) * np.exp(-t / 0.002) * 0.25
    return fade(np.sin(phase) * np.exp(-t / 0.2) + click, 0.05)


def snare(rng: np.random.Generator) -> np.ndarray:
    t = seconds(0.3)
    noise = np.diff(rng.standard_normal(len(t) + 1)) * 0.5
    body = np.sin(2 * np.pi * 185 * t) * np.exp(-t / 0.06)
    return fade(0.55 * (noise * np.exp(-t / 0.08) + 0.7 * body), 0.05)


def hat(rng: np.random.Generator, length: float = 0.06, decay: float = 0.015) -> np.ndarray:
    t = seconds(length)
    return fade(np.diff(rng.standard_normal(len(t) + 1)) * np.exp(-t / decay) * 0.5, 0.01)


def lowpass(signal: np.ndarray, cutoff: float) -> np.ndarray:
    """One-pole low-pass (a round, analogue-ish bass)."""
    alpha = 1 - np.exp(-2 * np.pi * cutoff / SAMPLE_RATE)
    out = np.empty_like(signal)
    acc = 0.0
    for i, value in enumerate(signal):
        acc += alpha * (value - acc)
        out[i] = acc
    return out


def bass(note: float, length: float) -> np.ndarray:
    t = seconds(length)
    f = midi_hz(note)
    saw = 2 * ((f * t) % 1.0) - 1
    tone = lowpass(0.6 * saw + 0.8 * np.sin(2 * np.pi * f * t), 700)
    return fade(tone * np.minimum(1.0, t / 0.004) * np.exp(-t / 0.7), 0.015)


def pad(notes: list[float], length: float, rng: np.random.Generator) -> np.ndarray:
    t = seconds(length)
    out = np.zeros_like(t)
    for note in notes:
        f = midi_hz(note)
        for detune in (-0.005, 0.0, 0.005):
            phase = rng.uniform(0, 1)
            out += np.sin(2 * np.pi * (f * (1 + detune) * t + phase))
            out += 0.25 * np.sin(2 * np.pi * (2 * f * (1 + detune) * t + phase))
    envelope = np.minimum(1.0, t / 0.3) * np.minimum(1.0, (length - t) / 0.25)
    return out * envelope / (3 * len(notes))


def render(hits: list[float] | None = None) -> np.ndarray:
    """The whole song as float32 stereo (2, samples), peak -1 dBFS. If ``hits`` is given, the start
    time (s) of every drum hit and bass note is appended to it (ground truth for onset tests)."""
    hits = [] if hits is None else hits
    rng = np.random.default_rng(SEED)
    beat = 60.0 / BPM
    out = np.zeros((2, int((BARS * 4 * beat + 1.0) * SAMPLE_RATE)))
    kick_sound, snare_sound = kick(rng), snare(rng)
    hats = [hat(rng) for _ in range(4)]
    open_hat = hat(rng, 0.25, 0.07)
    crash = hat(rng, 2.0, 0.6) * 0.5
    for bar in range(BARS):
        start = bar * 4 * beat
        busy = bar + 1 >= CHANGE_BAR
        root, chord = PROGRESSION[bar % 4]
        notes = [n + 12 for n in chord] + [chord[0] + 22] if busy else chord
        add(out, pad([float(n) for n in notes], 4 * beat, rng) * 0.32, start, pan=0.0)
        if bar + 1 == CHANGE_BAR:
            add(out, crash, start, pan=0.3)
            hits.append(start)
        for b in range(4):
            t = start + b * beat
            if b in (0, 2):
                add(out, kick_sound * (1.0 if b == 0 else 0.8), t)
                hits.append(t)
            else:
                add(out, snare_sound * 0.8, t, pan=0.05)
                hits.append(t)
            if busy and b == 2:
                add(out, kick_sound * 0.6, t + beat / 2)
                hits.append(t + beat / 2)
            steps = 4 if busy else 2
            for k in range(steps):
                level = (0.22 if k == 0 else 0.13) * rng.uniform(0.85, 1.1)
                add(out, hats[int(rng.integers(4))] * level, t + k * beat / steps, pan=-0.35)
                hits.append(t + k * beat / steps)
            if busy:  # an open hat on every off-beat: the lift you should see from bar 9
                add(out, open_hat * 0.3, t + beat / 2, pan=0.35)
                hits.append(t + beat / 2)
            bass_root = root - 12 if root > 44 else root
            if busy:
                pattern = [(0.0, 0), (0.5, 12 if b % 2 else 7)]
            else:
                pattern = [(0.0, 0)] if b < 3 else [(0.0, 0), (0.5, 7)]
            for frac, interval in pattern:
                length = beat * (0.45 if len(pattern) > 1 else 0.9)
                level = 0.5 if (b == 0 and frac == 0.0) else 0.4  # the bar's first note leans in
                add(out, bass(bass_root + interval, length) * level, t + frac * beat)
                hits.append(t + frac * beat)
    out *= 10 ** (-1 / 20) / np.max(np.abs(out))
    return out.astype(np.float32)


def write_ogg(samples: np.ndarray, path: Path, quality: float = 2.0) -> None:
    """Stereo OGG Vorbis with FFmpeg's built-in encoder (stereo only, marked experimental; it
    ignores bit_rate, so the size is set by the VBR quality, like ``ffmpeg -q:a 2``: ~230 KB here)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # bitexact: a fixed Ogg serial number and no encoder tag, so reruns give the same bytes
    with av.open(str(path), "w", format="ogg", container_options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream("vorbis", rate=SAMPLE_RATE)
        stream.layout = "stereo"
        stream.codec_context.qscale = True
        stream.codec_context.options = {"strict": "experimental", "global_quality": str(int(quality * 118)),
                                         "flags": "+bitexact"}
        chunk = 4096
        for start in range(0, samples.shape[1], chunk):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + chunk]),
                                               format="fltp", layout="stereo")
            frame.sample_rate = SAMPLE_RATE
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def main() -> None:
    parser = argparse.ArgumentParser(description="Synthesise the vj demo song (120 BPM, 18 bars).")
    parser.add_argument("-o", "--output", type=Path,
                        default=Path(__file__).resolve().parents[1] / "setlists" / "demo-track.ogg")
    args = parser.parse_args()
    samples = render()
    write_ogg(samples, args.output)
    print(f"wrote {args.output} ({samples.shape[1] / SAMPLE_RATE:.1f} s, {args.output.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
