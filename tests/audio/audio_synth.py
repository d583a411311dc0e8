"""Synthesised test audio with known event times (click tracks, a drum + bass + pad mix), and a
writer that encodes samples to real audio files with PyAV.

Deterministic (seeded) so the accuracy figures in the tests and in onset_accuracy.py repeat.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

SAMPLE_RATE = 44100


@dataclass
class Synth:
    """Rendered audio plus the ground truth it was built from (times in seconds)."""

    samples: np.ndarray
    onsets: np.ndarray
    beats: np.ndarray
    downbeats: np.ndarray
    sample_rate: int = SAMPLE_RATE


def _fade(sound: np.ndarray, sr: int, seconds: float = 0.01) -> np.ndarray:
    """Fade the tail out so a cut-off sample does not click (a click is an onset)."""
    n = min(len(sound), int(seconds * sr))
    sound = sound.copy()
    sound[-n:] *= np.linspace(1.0, 0.0, n)
    return sound


def _add(out: np.ndarray, sound: np.ndarray, time: float, sr: int) -> None:
    start = int(round(time * sr))
    end = min(len(out), start + len(sound))
    if start < len(out):
        out[start:end] += sound[: end - start]


def click_track(bpm: float, seconds: float, *, start: float = 0.5, beats_per_bar: int = 4,
                accent_beat: int = 0, sr: int = SAMPLE_RATE) -> Synth:
    """Clicks on every beat; beat ``accent_beat`` of each bar is louder and lower (the downbeat)."""
    n = int(seconds * sr)
    out = np.zeros(n, dtype=np.float64)
    t = np.arange(int(0.03 * sr)) / sr
    env = np.exp(-t / 0.006)
    plain = 0.35 * np.sin(2 * np.pi * 1500 * t) * env
    accent = 0.9 * np.sin(2 * np.pi * 800 * t) * np.exp(-t / 0.012)
    times, downs = [], []
    period = 60.0 / bpm
    k = 0
    while start + k * period < seconds - 0.1:
        time = start + k * period
        is_down = k % beats_per_bar == accent_beat
        _add(out, accent if is_down else plain, time, sr)
        times.append(time)
        if is_down:
            downs.append(time)
        k += 1
    beats = np.array(times)
    return Synth(out.astype(np.float32), beats, beats, np.array(downs), sr)


def _kick(sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.35 * sr)) / sr
    freq = 50 + 110 * np.exp(-t / 0.03)
    phase = 2 * np.pi * np.cumsum(freq) / sr
    click = rng.standard_normal(len(t)) * np.exp(-t / 0.002) * 0.3
    return _fade(0.9 * np.sin(phase) * np.exp(-t / 0.18) + click, sr, 0.05)


def _snare(sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.25 * sr)) / sr
    noise = rng.standard_normal(len(t))
    noise = np.diff(noise, prepend=0.0) * 0.6  # brighter
    tone = np.sin(2 * np.pi * 190 * t) * np.exp(-t / 0.05)
    return _fade(0.45 * (noise * np.exp(-t / 0.07) + 0.6 * tone), sr, 0.05)


def _hat(sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.06 * sr)) / sr
    noise = np.diff(rng.standard_normal(len(t) + 1), n=1)
    return _fade(0.12 * noise * np.exp(-t / 0.015), sr)


def _bass_note(freq: float, seconds: float, sr: int) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    saw = 2 * ((freq * t) % 1.0) - 1
    tone = 0.6 * saw + 0.8 * np.sin(2 * np.pi * freq * t)
    # one-pole low-pass: a round synth bass
    alpha = 1 - np.exp(-2 * np.pi * 600 / sr)
    smooth = np.empty_like(tone)
    acc = 0.0
    for i in range(0, len(tone)):
        acc += alpha * (tone[i] - acc)
        smooth[i] = acc
    env = np.minimum(1.0, t / 0.004) * np.exp(-t / 0.6)
    env[-int(0.01 * sr):] *= np.linspace(1, 0, int(0.01 * sr))
    return 0.35 * smooth * env


def _pad(freqs: list[float], seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    out = np.zeros_like(t)
    for f in freqs:
        for detune in (-0.004, 0.0, 0.004):
            ph = rng.uniform(0, 1)
            out += np.sin(2 * np.pi * (f * (1 + detune) * t + ph)) + 0.3 * np.sin(2 * np.pi * (2 * f * (1 + detune) * t + ph))
    env = np.minimum(1.0, t / 0.35) * np.minimum(1.0, (seconds - t) / 0.2)
    return 0.05 * out * env


def _midi(note: float) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def music(bpm: float = 120.0, bars: int = 8, *, seed: int = 1, pad: bool = True, drums: bool = True, start: float = 0.25,
          sr: int = SAMPLE_RATE) -> Synth:
    """A drum + bass + pad groove: kick on 1 and 3, snare on 2 and 4, hats on 8ths (16ths in the
    second half), a bassline on the beat and off-beats, a sustained pad chord per bar.

    The ground-truth onsets are the drum hits and bass notes (merged within 20 ms); pad chords
    fade in over 350 ms and are not counted (they are swells, not hits).
    """
    rng = np.random.default_rng(seed)
    period = 60.0 / bpm
    seconds = start + bars * 4 * period + 1.0
    out = np.zeros(int(seconds * sr))
    kick, snare = _kick(sr, rng), _snare(sr, rng)
    hats = [_hat(sr, rng) for _ in range(4)]
    roots = [45, 41, 48, 43]  # A F C G
    chords = {45: [57, 60, 64], 41: [57, 60, 65], 48: [55, 60, 64], 43: [55, 59, 62]}
    events: list[float] = []
    beats, downs = [], []
    for bar in range(bars):
        bar_start = start + bar * 4 * period
        busy = bar >= bars // 2
        root = roots[bar % 4]
        downs.append(bar_start)
        if pad:
            _add(out, _pad([_midi(n) for n in chords[root]], 4 * period, sr, rng), bar_start, sr)
        for beat in range(4):
            bt = bar_start + beat * period
            beats.append(bt)
            if drums and beat in (0, 2):
                _add(out, kick * (1.0 if beat == 0 else 0.85), bt, sr)
                events.append(bt)
            elif drums:
                _add(out, snare, bt, sr)
                events.append(bt)
            steps = (4 if busy else 2) if drums else 0
            for k in range(steps):
                ht = bt + k * period / steps
                velocity = (1.0 if k == 0 else 0.6) * rng.uniform(0.8, 1.1)
                _add(out, hats[rng.integers(4)] * velocity, ht, sr)
                events.append(ht)
            # bass: on the beat; off-beat notes in the busy half and on beat 4
            notes = [(0.0, 0)]
            if busy or beat == 3:
                notes.append((0.5, 12 if beat % 2 else 7))
            for frac, interval in notes:
                nt = bt + frac * period
                length = period * (0.45 if len(notes) > 1 else 0.9)
                _add(out, _bass_note(_midi(root + interval - 12 if root > 44 else root + interval), length, sr), nt, sr)
                events.append(nt)
    out += rng.standard_normal(len(out)) * 1e-3
    out *= 0.8 / np.max(np.abs(out))
    truth = _merge(np.array(sorted(events)), 0.02)
    return Synth(out.astype(np.float32), truth, np.array(beats), np.array(downs), sr)


def _merge(times: np.ndarray, within: float) -> np.ndarray:
    kept: list[float] = []
    for t in times:
        if not kept or t - kept[-1] > within:
            kept.append(float(t))
    return np.array(kept)


def match_events(truth: np.ndarray, found: np.ndarray, tolerance: float = 0.03) -> tuple[float, float, float]:
    """Precision, recall and mean absolute error (s) of ``found`` against ``truth``, one-to-one
    within ``tolerance`` seconds (greedy in time order)."""
    found = np.sort(np.asarray(found, dtype=float))
    used = np.zeros(len(found), dtype=bool)
    errors = []
    for t in truth:
        i = np.searchsorted(found, t - tolerance)
        best = None
        while i < len(found) and found[i] <= t + tolerance:
            if not used[i] and (best is None or abs(found[i] - t) < abs(found[best] - t)):
                best = i
            i += 1
        if best is not None:
            used[best] = True
            errors.append(found[best] - t)
    hits = len(errors)
    precision = hits / len(found) if len(found) else 0.0
    recall = hits / len(truth) if len(truth) else 1.0
    mean_error = float(np.mean(np.abs(errors))) if errors else float("nan")
    return precision, recall, mean_error


#: file suffix -> (container format, codec); PyAV converts float32 frames to each codec's sample format
FORMATS = {
    "wav": ("wav", "pcm_s16le"),
    "flac": ("flac", "flac"),
    "ogg": ("ogg", "vorbis"),
    "mp3": ("mp3", "libmp3lame"),
    "m4a": ("ipod", "aac"),
}


def write_audio(path: Path, samples: np.ndarray, sample_rate: int = 44100) -> Path:
    """Encode mono (n,) or (channels, n) float32 samples to ``path``; the suffix picks the format."""
    container_format, codec = FORMATS[path.suffix.lstrip(".")]
    planar = np.atleast_2d(np.asarray(samples, dtype=np.float32))
    if codec == "vorbis" and planar.shape[0] == 1:  # FFmpeg's own Vorbis encoder is stereo only
        planar = np.vstack([planar, planar])
    layout = "mono" if planar.shape[0] == 1 else "stereo"
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=sample_rate)
        stream.layout = layout
        if codec == "vorbis":
            stream.codec_context.options = {"strict": "experimental"}
        chunk = 4096
        for start in range(0, planar.shape[1], chunk):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planar[:, start:start + chunk]),
                                               format="fltp", layout=layout)
            frame.sample_rate = sample_rate
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path
