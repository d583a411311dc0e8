"""Realistic synthetic timeline data: a 120 BPM song with a kick, a bass swell and hats, and cues."""
from __future__ import annotations

import numpy as np

PROMPTS = [
    "a neon jellyfish drifting through a flooded cathedral, volumetric light, 35mm film grain",
    "brutalist towers melting into liquid chrome under a violet storm, ultra detailed",
    "kaleidoscopic fractal garden, bioluminescent petals opening on every kick, macro lens",
    "endless tunnel of glowing glyphs rushing towards the camera",
]
STYLES = ["dreamy", "chrome", "fractal", "tunnel"]


def song_data(duration: float = 30.0, bpm: float = 120.0, thumbnails: int = 12, seed: int = 0) -> dict:
    """Keyword arguments for ``render_timeline``: waveform, onsets, beats, bands, cues at bars 1/5/9/13."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    beat_times = np.arange(0.0, duration + 1e-9, beat)
    bar_times = beat_times[::4]
    hop = 0.01
    times = np.arange(0.0, duration, hop)
    phase = (times % beat) / beat
    build = np.clip(times / duration * 1.6, 0.0, 1.0)
    drop = (times > bar_times[8]).astype(float) if len(bar_times) > 8 else np.zeros_like(times)
    kick = np.exp(-phase * 9.0) * (0.4 + 0.6 * drop)
    low = np.clip(kick + 0.15 * build, 0, 1)
    mid = np.clip(0.25 + 0.35 * np.sin(times / 3.1) ** 2 * build + 0.1 * rng.random(len(times)), 0, 1)
    high = np.clip(np.exp(-((phase - 0.5) % 1.0) * 14.0) * (0.2 + 0.8 * build) * 0.9, 0, 1)
    amplitude = 0.25 + 0.6 * low + 0.2 * mid
    noise = rng.standard_normal(len(times)) * 0.08
    onset_times = beat_times[(beat_times > 0.0) & (beat_times < duration)]
    onset_strengths = 0.5 + 0.5 * rng.random(len(onset_times))
    onset_strengths[::4] = 1.0
    images = []
    for index in range(thumbnails):
        time = (index + 0.5) * duration / thumbnails
        base = rng.random((9, 16, 3))
        tint = np.array([np.sin(index * 0.7), np.sin(index * 0.7 + 2.1), np.sin(index * 0.7 + 4.2)]) * 0.5 + 0.5
        image = np.kron(base * 0.6 + tint * 0.5, np.ones((10, 10, 1)))
        images.append((time, (np.clip(image, 0, 1) * 255).astype(np.uint8)))
    cue_bars = [1, 5, 9, 13]
    cues = [(float(bar_times[bar - 1]), PROMPTS[i], STYLES[i]) for i, bar in enumerate(cue_bars)
            if bar - 1 < len(bar_times)]
    return dict(
        duration=duration,
        waveform_times=times, waveform_min=-amplitude + noise, waveform_max=amplitude + noise,
        onset_times=onset_times, onset_strengths=onset_strengths,
        beat_times=beat_times, downbeat_times=bar_times, bar_times=bar_times,
        bands={"low": (times, low), "mid": (times, mid), "high": (times, high)},
        cues=cues, thumbnails=images,
        title=f"Warehouse set — track 3  (1280×720, 24 fps, {bpm:g} BPM)",
    )
