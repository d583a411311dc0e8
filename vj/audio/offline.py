"""Whole-track analysis for rehearsal and checks: decode once, run the per-hop analyser over the
file, normalise per track, estimate tempo, beat phase and downbeats, and cache the result.

Normalising per track (values ÷ their 98th percentile, clipped to 0..1) makes ``low = 0.8`` mean
"loud for this song" in every song, so one setlist mapping reads the same across a set.
"""
from __future__ import annotations

import csv
import hashlib
import logging
import math
import os
import tempfile
import time as _time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy import fft

from vj.audio.analysis import AnalysisSettings, HopAnalyser, hop_series
from vj.audio.beats import BeatTrack, beats_from_activations, hear_song, is_silent, resample, tempo_of
from vj.audio.beat_features import SAMPLE_RATE as BEAT_RATE
from vj.audio.decode import AudioError, decode_audio
from vj.audio.onsets import detect_onsets
from vj.grid import BeatGrid
from vj.errors import VjError
from vj.features import ONSET_ATTACK, ONSET_RELEASE, Features, impulse_envelope

logger = logging.getLogger(__name__)

#: Bump when the analysis or the cached layout changes, so stale caches are ignored.
CACHE_VERSION = 7
SERIES = ("rms", "low", "mid", "high", "perc", "harm")
EVENT_SOURCES = ("onset", "beat", "downbeat")
#: Beat trackers ``analyse_samples`` takes: BeatNet's CRNN + a bar-pointer HMM (vj/audio/beats.py),
#: or aubio's tempo tracker (the old default, kept for comparison; no downbeats or meter).
BEAT_METHODS = ("crnn", "aubio")
#: Onset detectors ``analyse_samples`` takes: SuperFlux over the whole file (vj/audio/onsets.py,
#: the default: it looks ahead, which offline costs nothing), or ``hop``: the per-hop detector of
#: ``AnalysisSettings.onset_method``, exactly as live mode runs it.
ONSET_SOURCES = ("superflux", "hop")
FALLBACK_BPM = 120.0
PREVIEW_BINS = 2000
CHROMA_WIN = 4096  # samples: ~11 Hz bins at 44.1 kHz, enough to tell semitones apart from ~110 Hz
CHROMA_FMIN, CHROMA_FMAX = 80.0, 2000.0


@dataclass(eq=False)
class TrackAnalysis:
    """Everything the offline director, timeline and checks need to know about one song.

    Times are in seconds from the start of the file. Per-hop arrays (``rms`` … ``harm``) are
    normalised per track to 0..1 and sampled at ``times`` (hop starts). Band, perc and harm values
    are magnitudes (square root of the band energy), which track loudness more evenly than energy.
    ``onset_strengths`` are 0..1. ``beat_times`` are the beat tracker's beats; ``downbeat_times`` the
    subset on the bar phase with the most low-band and onset energy. ``waveform_preview`` is
    (bin centre times, min, max) over about 2000 bins, for plots.
    """

    path: Path
    duration: float
    sample_rate: int
    hop_seconds: float
    times: np.ndarray
    rms: np.ndarray
    low: np.ndarray
    mid: np.ndarray
    high: np.ndarray
    perc: np.ndarray
    harm: np.ndarray
    onset_times: np.ndarray
    onset_strengths: np.ndarray
    beat_times: np.ndarray
    downbeat_times: np.ndarray
    bpm: float
    beats_per_bar: int = 4
    #: each beat's place in its bar (1 = downbeat), aligned with ``beat_times``.
    beat_positions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    #: (frames, 2) beat / downbeat activations at 50 fps (the mean over the song and its stretched
    #: versions, vj.audio.beats.hear_song), kept so pins re-decode without the network.
    beat_activations: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.float32))
    #: (frames, 15) bar-line cues of the same frames (vj.audio.beats.bar_cues).
    bar_cues: np.ndarray = field(default_factory=lambda: np.zeros((0, 15), dtype=np.float32))
    #: what the beat tracker could not find ("" when it found a grid).
    beat_message: str = ""
    waveform_preview: tuple[np.ndarray, np.ndarray, np.ndarray] = field(
        default_factory=lambda: (np.zeros(0), np.zeros(0), np.zeros(0)))
    #: (frames, 12) pitch-class profile every CHROMA_STEP seconds, for finding chord changes (bar lines).
    chroma: np.ndarray = field(default_factory=lambda: np.zeros((0, 12)))
    _stack: np.ndarray = field(init=False, repr=False)
    _grids: dict = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._stack = np.vstack([getattr(self, name) for name in SERIES]).astype(np.float64)

    # ----- the grid -------------------------------------------------------------------------

    def grid(self, bpm: float | None = None, offset: float | None = None,
             beats_per_bar: int | None = None) -> BeatGrid:
        """The song's beat grid. ``bpm`` defaults to the measured tempo, ``beats_per_bar`` to the
        detected meter; ``offset`` (time of beat 0, a downbeat) defaults to the tracked downbeats'
        phase (else a fit of the beats' phase and the bar phase with the most low-band energy and
        harmonic change), reduced modulo one bar so beat 0 is at or near the start of the song."""
        bpm = self.bpm if bpm is None else float(bpm)
        per_bar = self.beats_per_bar if beats_per_bar is None else int(beats_per_bar)
        if offset is None:
            offset = self._downbeat_offset(60.0 / bpm, per_bar)
        return BeatGrid(bpm=bpm, offset=float(offset), beats_per_bar=per_bar)

    def _downbeat_offset(self, period: float, per_bar: int) -> float:
        key = (round(period, 9), per_bar)
        if key not in self._grids:
            self._grids[key] = _fit_downbeat_offset(self, period, per_bar)
        return self._grids[key]

    def pinned(self, beats_per_bar: int | None = None, bpm: float | None = None,
               first_downbeat: float | None = None) -> "TrackAnalysis":
        """This analysis with the beats decoded again under what the VJ knows (the setlist's
        ``beats_per_bar`` and ``bpm``: the network's activations are kept, only the HMM reruns),
        and with ``first_downbeat`` the beats renumbered so the beat nearest it starts a bar (so
        downbeat pulses and snaps agree with the pinned grid)."""
        analysis = self
        if (beats_per_bar is not None or bpm is not None) and len(self.beat_activations) \
                and "silent" not in self.beat_message:
            cues = self.bar_cues if len(self.bar_cues) == len(self.beat_activations) else None
            track = beats_from_activations(self.beat_activations, cues, beats_per_bar=beats_per_bar, bpm=bpm,
                                           duration=self.duration)
            analysis = _with_beats(self, track)
        if first_downbeat is not None and len(analysis.beat_times):
            meter = analysis.beats_per_bar
            anchor = int(np.argmin(np.abs(analysis.beat_times - first_downbeat)))
            positions = (np.arange(len(analysis.beat_times)) - anchor) % meter + 1
            analysis = replace(analysis, beat_positions=positions,
                               downbeat_times=analysis.beat_times[positions == 1])
        return analysis

    @property
    def downbeat_positions_known(self) -> bool:
        """Whether the downbeats come from the tracker (else from the grid fit)."""
        return len(self.beat_positions) == len(self.beat_times) and len(self.beat_times) > 0

    # ----- values at a time -----------------------------------------------------------------

    def features_at(self, t: float, grid: BeatGrid) -> Features:
        """Audio features at time ``t`` (s): per-hop values interpolated linearly, onset shaped by
        the one onset envelope (``vj.features.ONSET_ATTACK``/``ONSET_RELEASE``), beat/bar/phase from ``grid``."""
        rms, low, mid, high, perc, harm = self._values_at(t)
        beat = grid.beat_at(t)
        return Features(onset=self.onset_envelope(t), low=low, mid=mid, high=high, rms=rms, perc=perc,
                        harm=harm, beat=beat, bar=beat / grid.beats_per_bar, beat_phase=grid.beat_phase(t),
                        bpm=grid.bpm)

    def _values_at(self, t: float) -> list[float]:
        times = self.times
        if len(times) == 0:
            return [0.0] * len(SERIES)
        i = int(np.searchsorted(times, t, side="right"))
        if i <= 0:
            column = self._stack[:, 0]
        elif i >= len(times):
            column = self._stack[:, -1]
        else:
            w = (t - times[i - 1]) / (times[i] - times[i - 1])
            column = self._stack[:, i - 1] * (1.0 - w) + self._stack[:, i] * w
        return [float(v) for v in column]

    def onset_envelope(self, t: float, attack: float = ONSET_ATTACK, release: float = ONSET_RELEASE,
                       source: str = "onset") -> float:
        """Impulse envelope at ``t`` (s), 0..1 (``vj.features.impulse_envelope``, as live).
        ``source`` is "onset" (strength-weighted), "beat" or "downbeat" (strength 1)."""
        times, strengths = self._events(source)
        return impulse_envelope(times, strengths, t, attack, release)

    def _events(self, source: str) -> tuple[np.ndarray, np.ndarray]:
        if source == "onset":
            return self.onset_times, self.onset_strengths
        if source == "beat":
            return self.beat_times, np.ones_like(self.beat_times)
        if source == "downbeat":
            return self.downbeat_times, np.ones_like(self.downbeat_times)
        raise ValueError(f"unknown event source '{source}'; use one of {', '.join(EVENT_SOURCES)}")

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(times, values) of one per-hop series: rms, low, mid, high, perc or harm (0..1)."""
        if name not in SERIES:
            raise ValueError(f"unknown series '{name}'; use one of {', '.join(SERIES)}")
        return self.times, getattr(self, name)

    def next_onset_after(self, t: float) -> float | None:
        """Time of the first onset strictly after ``t``, or None."""
        return _next_after(self.onset_times, t)

    def next_beat_after(self, t: float) -> float | None:
        """Time of the first tracked beat strictly after ``t``, or None."""
        return _next_after(self.beat_times, t)

    def next_downbeat_after(self, t: float) -> float | None:
        """Time of the first downbeat strictly after ``t``, or None."""
        return _next_after(self.downbeat_times, t)


def _next_after(times: np.ndarray, t: float) -> float | None:
    i = int(np.searchsorted(times, t, side="right"))
    return float(times[i]) if i < len(times) else None


# ----- analysing a file ---------------------------------------------------------------------

def analyse_track(path: str | Path, settings: AnalysisSettings | None = None,
                  cache_dir: str | Path | None = None, beat_method: str = "crnn",
                  onsets: str = "superflux") -> TrackAnalysis:
    """Analyse an audio file (or load the cached analysis of identical content and settings).

    The cache lives in ``cache_dir``, else ``$VJ_CACHE_DIR``, else ``~/.cache/vj/analysis``; it is
    keyed by the sha256 of the file's bytes plus every setting, so renaming a file keeps its cache
    and editing it does not reuse a stale one. Raises AudioError for a missing or undecodable file.
    """
    path = Path(path)
    settings = settings or AnalysisSettings()
    cache_file = _cache_file(path, settings, cache_dir, f"{beat_method}|onsets={onsets}")
    cached = _load_cache(cache_file, path)
    if cached is not None:
        logger.debug("analysis of %s loaded from %s", path, cache_file)
        return cached
    started = _time.perf_counter()
    samples = decode_audio(path, settings.sample_rate)
    analysis = analyse_samples(samples, settings, path=path, beat_method=beat_method, onsets=onsets)
    logger.info("analysed %s in %.1f s: %.1f BPM, %d onsets", path, _time.perf_counter() - started,
                analysis.bpm, len(analysis.onset_times))
    _save_cache(cache_file, analysis)
    return analysis


def analyse_samples(samples: np.ndarray, settings: AnalysisSettings | None = None,
                    path: str | Path = "<samples>", beat_method: str = "crnn",
                    onsets: str = "superflux") -> TrackAnalysis:
    """Analyse float32 mono samples already at ``settings.sample_rate`` (no cache).

    ``beat_method`` is ``crnn`` (beats, downbeats and meter from vj/audio/beats.py) or ``aubio``
    (aubio's tempo tracker, 4 beats a bar assumed, downbeats from the bar-phase fit). ``onsets`` is
    ``superflux`` (whole-file SuperFlux, vj/audio/onsets.py) or ``hop`` (the per-hop detector of
    ``settings.onset_method``, as live runs it). Onset strengths are how hard each hit is either way."""
    if beat_method not in BEAT_METHODS:
        raise ValueError(f"unknown beat method '{beat_method}'; use one of {', '.join(BEAT_METHODS)}")
    if onsets not in ONSET_SOURCES:
        raise ValueError(f"unknown onset source '{onsets}'; use one of {', '.join(ONSET_SOURCES)}")
    settings = settings or AnalysisSettings()
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    duration = len(samples) / settings.sample_rate
    hop = settings.hop
    hops = max(1, math.ceil(len(samples) / hop))
    # Zero padding past the end lets the peak picker (which looks ~5 hops ahead) report the last hits.
    padded = np.zeros(hops * hop + settings.win, dtype=np.float32)
    padded[: len(samples)] = samples
    total = len(padded) // hop

    # 1. Per-hop analysis, the numbers live mode gets: hop by hop where a per-hop onset or beat
    #    detector has to run, else all hops at once (hop_series, the same numbers, ~5× faster).
    hop_onsets: list[tuple[float, float]] = []
    beats: list[float] = []
    if onsets == "hop" or beat_method == "aubio":
        analyser = HopAnalyser(settings, onsets=onsets == "hop", beats=beat_method == "aubio")
        raw = np.zeros((len(SERIES), hops), dtype=np.float64)
        for i in range(total):
            result = analyser.process(padded[i * hop:(i + 1) * hop])
            if i < hops:
                raw[:, i] = (result.rms, result.low, result.mid, result.high, result.perc, result.harm)
            if result.is_onset and result.onset_time < duration:
                hop_onsets.append((result.onset_time, result.onset_loudness))  # live's strength; refined below
            if result.is_beat and 0.0 <= result.beat_time < duration:
                beats.append(result.beat_time)
    else:
        raw = hop_series(padded, settings, hops).T.copy()

    # 2. Per-track normalisation; energies become magnitudes first (see TrackAnalysis).
    raw[1:] = np.sqrt(np.maximum(raw[1:], 0.0))
    normalised = {name: _normalise(raw[k]) for k, name in enumerate(SERIES)}
    onset_times = np.array([t for t, _ in hop_onsets], dtype=np.float64)
    if onsets == "superflux":
        onset_times = detect_onsets(samples, settings.sample_rate)[0]
        onset_times = onset_times[onset_times < duration]
    # Strength = how hard the hit is: the peak percussive magnitude from just before to 50 ms after
    # the onset. Looking ahead (which live mode cannot) also gets the first hit of the file right.
    times = np.arange(hops, dtype=np.float64) * settings.hop_seconds
    loudness = _window_max(times, raw[SERIES.index("perc")], onset_times, -0.01, 0.05)
    onset_strengths = _normalise(loudness, percentile=95.0)
    aubio_beats = np.unique(np.array(beats, dtype=np.float64))

    analysis = TrackAnalysis(
        path=Path(path), duration=duration, sample_rate=settings.sample_rate, hop_seconds=settings.hop_seconds,
        times=times, **normalised,
        onset_times=onset_times, onset_strengths=onset_strengths, beat_times=aubio_beats,
        downbeat_times=np.zeros(0), bpm=_bpm_or_fallback(aubio_beats), beats_per_bar=4,
        waveform_preview=_waveform_preview(samples, settings.sample_rate),
        chroma=_chroma(samples, settings.sample_rate, 4 * hop),
    )
    if beat_method == "crnn":
        # 3. Beats, downbeats, meter and tempo from the beat network and the bar HMM.
        audio = resample(samples, settings.sample_rate, BEAT_RATE)
        if is_silent(audio):  # nothing for the network to hear
            track = BeatTrack(np.zeros(0), np.zeros(0, dtype=int), 4, 0.0, "no beats found: the audio is silent")
        else:
            analysis.beat_activations, analysis.bar_cues = hear_song(audio)
            track = beats_from_activations(analysis.beat_activations, analysis.bar_cues, duration=duration)
        analysis = _with_beats(analysis, track)
    else:
        # 3. aubio: its beats, 4 to the bar, downbeats on the bar phase chosen by the grid fit.
        grid = analysis.grid()
        if len(aubio_beats):
            index = np.round(grid.beat_at(aubio_beats)).astype(int)
            on_grid = np.abs(grid.beat_at(aubio_beats) - index) < 0.25
            analysis.downbeat_times = aubio_beats[on_grid & (index % analysis.beats_per_bar == 0)]
    return analysis


def _with_beats(analysis: TrackAnalysis, track: BeatTrack) -> TrackAnalysis:
    """A copy of ``analysis`` with the tracker's beats, downbeats, meter and tempo."""
    if track.message:
        logger.warning("%s: %s", analysis.path, track.message)
    return replace(analysis, beat_times=track.times, beat_positions=track.positions,
                   downbeat_times=track.downbeats, beats_per_bar=track.beats_per_bar,
                   bpm=track.bpm if track.bpm > 0 else FALLBACK_BPM, beat_message=track.message)


def _bpm_or_fallback(beat_times: np.ndarray) -> float:
    bpm = tempo_of(beat_times)
    return bpm if bpm > 0 else FALLBACK_BPM


def _normalise(values: np.ndarray, percentile: float = 98.0) -> np.ndarray:
    """values ÷ their ``percentile``-th percentile, clipped to 0..1 (robust to a few peaks).

    The percentile is taken over the non-silent values only (above -60 dB of the peak), so a
    sparse track (mostly silence) still keeps the contrast between its loud and soft parts.
    """
    if len(values) == 0:
        return values.astype(np.float64)
    active = values[values > values.max() * 1e-3]
    scale = float(np.percentile(active if len(active) else values, percentile))
    if scale <= 0:
        scale = float(values.max())
    if scale <= 0:
        return np.zeros_like(values, dtype=np.float64)
    return np.clip(values / scale, 0.0, 1.0)


def _fit_downbeat_offset(analysis: TrackAnalysis, period: float, per_bar: int) -> float:
    """Time of a downbeat in [0, one bar).

    With tracked downbeats (the CRNN tracker): the circular mean of the downbeats' phase modulo one
    bar. Otherwise: beat phase from the tracked beats, bar phase from energy, as follows.

    The beat phase is the circular mean of the beat times modulo ``period``. Of the ``beats_per_bar``
    candidate bar phases, the downbeat is the one whose beats carry the most low-band energy,
    loudness, onset strength and harmonic change (chroma distance to the previous beat: chords and bass notes
    change on bar lines), each term normalised by its mean over all beats. Without the harmonic term
    beats 1 and 3 tie in most four-on-the-floor and rock patterns.
    """
    bar = per_bar * period
    if len(analysis.downbeat_times) >= 2 and per_bar == analysis.beats_per_bar and analysis.downbeat_positions_known:
        # The bar line the most downbeats agree with (a circular mean would average two phases
        # into one that is neither, where the tracker's bar numbering shifts mid-song).
        phase = _circular_mean(analysis.beat_times, period)
        downbeat_phase = (analysis.downbeat_times - phase) % bar
        votes = np.bincount(np.round(downbeat_phase / period).astype(int) % per_bar, minlength=per_bar)
        return float((phase + int(np.argmax(votes)) * period) % bar)
    beats = analysis.beat_times if len(analysis.beat_times) else analysis.onset_times
    if len(beats) == 0:
        return 0.0
    phase = _circular_mean(beats, period)
    grid_times = phase + period * np.arange(0, max(1, int((analysis.duration - phase) / period) + 1))
    if len(grid_times) < per_bar:
        return phase
    low = _window_max(analysis.times, analysis.low, grid_times, -0.02, 0.06)
    onset = np.array([_strength_near(analysis, t, 0.04) for t in grid_times])
    loud = _window_max(analysis.times, analysis.rms, grid_times, -0.02, 0.06)
    change = _chroma_change(analysis, grid_times, period)
    score = sum(term / max(float(term.mean()), 1e-9) for term in (low, loud, onset, change))
    by_phase = [score[k::per_bar].mean() for k in range(per_bar)]
    best = int(np.argmax(by_phase))
    logger.debug("bar phase scores %s -> beat %d", np.round(by_phase, 3), best)
    return float((phase + best * period) % (per_bar * period))


def _circular_mean(times: np.ndarray, period: float) -> float:
    """The mean phase of ``times`` modulo ``period``, in [0, period)."""
    angles = 2 * np.pi * (np.asarray(times) % period) / period
    return (math.atan2(np.sin(angles).mean(), np.cos(angles).mean()) % (2 * np.pi)) / (2 * np.pi) * period


def _window_max(times: np.ndarray, values: np.ndarray, at: np.ndarray, before: float, after: float) -> np.ndarray:
    """For each time in ``at``, the largest of ``values`` sampled in [t + before, t + after]."""
    lo = np.searchsorted(times, at + before, side="left")
    hi = np.maximum(np.searchsorted(times, at + after, side="right"), lo + 1)
    return np.array([values[a:min(b, len(values))].max() if a < len(values) else 0.0 for a, b in zip(lo, hi)])


def _strength_near(analysis: TrackAnalysis, t: float, within: float) -> float:
    lo = np.searchsorted(analysis.onset_times, t - within, side="left")
    hi = np.searchsorted(analysis.onset_times, t + within, side="right")
    return float(analysis.onset_strengths[lo:hi].sum())


def _chroma(samples: np.ndarray, sample_rate: int, step: int) -> np.ndarray:
    """Pitch-class energy (frames, 12), one frame every ``step`` samples, unit-normalised per frame."""
    if len(samples) < CHROMA_WIN:
        return np.zeros((0, 12), dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(samples, CHROMA_WIN)[::step]
    freqs = np.fft.rfftfreq(CHROMA_WIN, 1.0 / sample_rate)
    band = (freqs >= CHROMA_FMIN) & (freqs <= CHROMA_FMAX)
    pitch_class = np.round(12 * np.log2(freqs[band] / 440.0)).astype(int) % 12
    assign = np.zeros((int(band.sum()), 12), dtype=np.float32)
    assign[np.arange(len(pitch_class)), pitch_class] = 1.0
    window = np.hanning(CHROMA_WIN).astype(np.float32)
    chroma = np.empty((len(frames), 12), dtype=np.float32)
    for start in range(0, len(frames), 512):  # in blocks: bounded memory on long songs
        spectrum = np.abs(fft.rfft(frames[start:start + 512] * window, axis=1))[:, band]
        chroma[start:start + 512] = (spectrum ** 2) @ assign
    norms = np.linalg.norm(chroma, axis=1, keepdims=True)
    return chroma / np.maximum(norms, 1e-12)


def _chroma_change(analysis: TrackAnalysis, beat_times: np.ndarray, period: float) -> np.ndarray:
    """Per beat, 1 − cosine similarity of its mean chroma with the previous beat's."""
    chroma = analysis.chroma
    if len(chroma) == 0:
        return np.zeros(len(beat_times))
    step = 4 * analysis.hop_seconds
    centre = CHROMA_WIN / 2 / analysis.sample_rate
    index = lambda t: int(np.clip(round((t - centre) / step), 0, len(chroma) - 1))  # noqa: E731
    # Only frames whose window lies inside the beat, so a hit just after the beat does not leak in.
    inner = [(index(t + centre), max(index(t + period - centre), index(t + centre)) + 1) for t in beat_times]
    means = np.array([chroma[a:b].mean(axis=0) for a, b in inner])
    norms = np.maximum(np.linalg.norm(means, axis=1), 1e-12)
    similarity = np.einsum("ij,ij->i", means[1:], means[:-1]) / (norms[1:] * norms[:-1])
    return np.concatenate([[0.0], 1.0 - similarity])


def _waveform_preview(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    bins = max(1, min(PREVIEW_BINS, len(samples)))
    if len(samples) == 0:
        return np.zeros(1), np.zeros(1, dtype=np.float32), np.zeros(1, dtype=np.float32)
    edges = np.linspace(0, len(samples), bins + 1).astype(int)
    starts = edges[:-1]
    lows = np.minimum.reduceat(samples, starts)
    highs = np.maximum.reduceat(samples, starts)
    centres = (edges[:-1] + edges[1:]) / 2.0 / sample_rate
    return centres, lows.astype(np.float32), highs.astype(np.float32)


# ----- cache ------------------------------------------------------------------------------

def default_cache_dir() -> Path:
    """``$VJ_CACHE_DIR`` or ``~/.cache/vj/analysis``."""
    env = os.environ.get("VJ_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "vj" / "analysis"


def _cache_file(path: Path, settings: AnalysisSettings, cache_dir: str | Path | None, methods: str) -> Path:
    """The cache file for this content, these settings and ``methods`` (the beat and onset methods)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        raise AudioError(f"audio file not found: {path}") from None
    except IsADirectoryError:
        raise AudioError(f"not an audio file (it is a folder): {path}") from None
    except OSError as exc:
        raise AudioError(f"cannot read {path}: {exc.strerror}") from None
    digest.update(f"|v{CACHE_VERSION}|{settings.key()}|beats={methods}".encode())
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return folder / f"{digest.hexdigest()[:40]}.npz"


def _save_cache(cache_file: Path, analysis: TrackAnalysis) -> None:
    arrays = {name: getattr(analysis, name) for name in
              ("times", *SERIES, "onset_times", "onset_strengths", "beat_times", "downbeat_times",
               "beat_positions", "beat_activations", "bar_cues")}
    arrays["beat_message"] = np.array(analysis.beat_message)
    preview = analysis.waveform_preview
    arrays.update(preview_times=preview[0], preview_min=preview[1], preview_max=preview[2],
                  chroma=analysis.chroma, scalars=np.array([analysis.duration, analysis.sample_rate, analysis.hop_seconds,
                                    analysis.bpm, analysis.beats_per_bar, CACHE_VERSION], dtype=np.float64))
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cache_file.parent, suffix=".tmp", delete=False) as handle:
            np.savez(handle, **arrays)
        os.replace(handle.name, cache_file)  # atomic: a reader never sees half a file
    except OSError as exc:
        logger.warning("could not write the analysis cache %s: %s", cache_file, exc)


def _load_cache(cache_file: Path, path: Path) -> TrackAnalysis | None:
    if not cache_file.is_file():
        return None
    try:
        with np.load(cache_file) as data:
            duration, sample_rate, hop_seconds, bpm, beats_per_bar, version = data["scalars"]
            if int(version) != CACHE_VERSION:
                return None
            return TrackAnalysis(
                path=path, duration=float(duration), sample_rate=int(sample_rate), hop_seconds=float(hop_seconds),
                times=data["times"], **{name: data[name] for name in SERIES},
                onset_times=data["onset_times"], onset_strengths=data["onset_strengths"],
                beat_times=data["beat_times"], downbeat_times=data["downbeat_times"], bpm=float(bpm),
                beats_per_bar=int(beats_per_bar),
                beat_positions=data["beat_positions"], beat_activations=data["beat_activations"],
                bar_cues=data["bar_cues"],
                beat_message=str(data["beat_message"]),
                waveform_preview=(data["preview_times"], data["preview_min"], data["preview_max"]),
                chroma=data["chroma"],
            )
    except (OSError, ValueError, KeyError) as exc:
        logger.warning("ignoring an unreadable analysis cache %s: %s", cache_file, exc)
        return None


# ----- reports ----------------------------------------------------------------------------

def format_summary(analysis: TrackAnalysis, pinned: dict[str, float | int | None] | None = None) -> str:
    """A few lines for ``vj analyse`` and ``vj check``: duration, tempo (and its half/double
    readings), meter, first downbeat and event counts; with ``pinned``, what the setlist fixes
    beside what was detected."""
    grid = analysis.grid()
    minutes, seconds = divmod(analysis.duration, 60.0)
    pinned = {k: v for k, v in (pinned or {}).items() if v is not None}
    lines = [f"{analysis.path}", f"  duration   {int(minutes)}:{seconds:05.2f} ({analysis.duration:.2f} s)"]
    if analysis.beat_message:
        lines.append(f"  tempo      {analysis.beat_message}; the grid assumes {analysis.bpm:.0f} BPM")
    else:
        half, double = analysis.bpm / 2, analysis.bpm * 2
        lines.append(f"  tempo      {analysis.bpm:.1f} BPM (or {half:.1f} / {double:.1f} if you count in halves "
                     f"or doubles)")
        lines.append(f"  meter      {analysis.beats_per_bar} beats per bar, first downbeat at {grid.offset:.3f} s")
    for name, value in pinned.items():
        detected = {"bpm": f"{analysis.bpm:.1f}", "beats_per_bar": str(analysis.beats_per_bar),
                    "first_downbeat": f"{grid.offset:.3f} s"}.get(name, "?")
        lines.append(f"  pinned     {name}: {value} (detected {detected})")
    lines += [f"  onsets     {len(analysis.onset_times)}",
              f"  beats      {len(analysis.beat_times)}",
              f"  downbeats  {len(analysis.downbeat_times)}"]
    return "\n".join(lines)


def write_events_csv(analysis: TrackAnalysis, path: str | Path) -> None:
    """Write every event as ``kind,time,strength,position`` rows sorted by time (onset strengths
    0..1, beats and downbeats 1; ``position`` is a beat's place in its bar, 1 = downbeat, empty for
    onsets)."""
    order = {"downbeat": 0, "beat": 1, "onset": 2}
    positions = analysis.beat_positions if len(analysis.beat_positions) == len(analysis.beat_times) else None
    rows = [("onset", float(t), float(s), "") for t, s in zip(analysis.onset_times, analysis.onset_strengths)]
    rows += [("beat", float(t), 1.0, str(int(positions[k])) if positions is not None else "")
             for k, t in enumerate(analysis.beat_times)]
    rows += [("downbeat", float(t), 1.0, "1") for t in analysis.downbeat_times]
    rows.sort(key=lambda row: (row[1], order[row[0]]))
    _write_rows(path, ["kind", "time", "strength", "position"],
                [[kind, f"{time:.4f}", f"{strength:.3f}", position] for kind, time, strength, position in rows])


def _write_rows(path: str | Path, header: list[str], rows: list[list[str]]) -> None:
    path = Path(path)
    try:
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
    except OSError as exc:
        raise VjError(f"cannot write the events file {path}: {exc.strerror or exc}") from None


def write_live_csv(replay, path: str | Path) -> None:
    """Write the live decisions of ``vj analyse --live`` as ``kind,time,decided_at,strength,position,bpm``:
    each event where it fell and when the live analysis decided it (stream seconds)."""
    rows = [("onset", o.time, o.decided_at, f"{o.strength:.3f}", "", "") for o in replay.onsets]
    for b in replay.beats:
        rows.append(("beat", b.time, b.decided_at, "1.000", str(b.position), f"{b.bpm:.2f}"))
        if b.position == 1:
            rows.append(("downbeat", b.time, b.decided_at, "1.000", "1", f"{b.bpm:.2f}"))
    rows.sort(key=lambda r: (r[2], r[1]))
    _write_rows(path, ["kind", "time", "decided_at", "strength", "position", "bpm"],
                [[k, f"{t:.4f}", f"{d:.4f}", s, p, bpm] for k, t, d, s, p, bpm in rows])
