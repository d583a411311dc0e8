"""Per-hop audio analysis: onsets, beats, loudness, bands and a percussive/harmonic split.

``HopAnalyser`` is streaming on purpose: offline it walks a decoded file hop by hop, live it is
fed from the input ring buffer, and both get the same numbers for the same samples.

The onset methods and their settings were chosen by measurement on synthesised music
(``.venv/bin/python tests/audio/onset_accuracy.py [--sweep | --fast-sweep]``); see ``AnalysisSettings``.
Offline analysis keeps aubio's ``hfc`` (look-ahead costs nothing there, and its results and cache
keys stay as they were); the live path defaults to ``fast`` (``vj/audio/fast_onset.py``), which
decides on the hop the attack arrives in (or the next) instead of 4-5 hops later, with a slower
second path for soft attacks (``vj/audio/live_onsets.py``). Whole-file offline onsets with look-ahead
are ``vj.audio.onsets.detect_onsets``.
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

import numpy as np

from vj.audio.fast_onset import DEFAULT_THRESHOLD as FAST_DEFAULT_THRESHOLD
from vj.audio.live_onsets import LiveOnsets
from vj.audio.spectrum import HopSpectrum
from vj.errors import VjError

logger = logging.getLogger(__name__)

#: The causal low-latency detector (vj/audio/fast_onset.py), not an aubio method.
FAST = "fast"
#: aubio's onset methods with aubio's own default thresholds (what ``onset_threshold=None`` gives).
AUBIO_ONSET_THRESHOLDS = {"hfc": 0.058, "default": 0.058, "energy": 0.3, "complex": 0.15, "phase": 0.3,
                          "wphase": 0.3, "specdiff": 0.3, "kl": 0.35, "mkl": 0.05, "specflux": 0.18}
#: Every onset method ``AnalysisSettings.onset_method`` takes.
ONSET_METHODS = (FAST, *AUBIO_ONSET_THRESHOLDS)


def require_aubio(what: str):  # -> the aubio module
    """aubio, which ``what`` needs; a one-line error naming the extra where it is not installed.
    aubio is GPL-3.0 (vj is MIT): an optional extra, ``pip install 'vj[aubio]'``."""
    try:
        import aubio
    except ImportError:
        raise VjError(f"{what} needs aubio, an optional extra (GPL-3.0): pip install 'vj[aubio]'") from None
    return aubio


def default_onset_threshold(method: str) -> float:
    """The threshold a method gets when none is given: aubio's own for aubio's methods, and
    ``fast_onset.DEFAULT_THRESHOLD`` (0.3) for ``fast``."""
    if method == FAST:
        return FAST_DEFAULT_THRESHOLD
    try:
        return AUBIO_ONSET_THRESHOLDS[method]
    except KeyError:
        raise ValueError(f"unknown onset method '{method}'; use one of {', '.join(ONSET_METHODS)}") from None


@dataclass
class AnalysisSettings:
    """Analysis parameters. Changing any of them changes the offline cache key.

    sample_rate:          Hz the audio is decoded/resampled to.
    hop:                  samples per analysis step (256 = 5.8 ms at 44.1 kHz; aubioonset's default).
    win:                  FFT window in samples (1024 = 23 ms: resolves the bass band, still sharp in time).
    onset_method:         ``fast`` (the causal detector of vj/audio/fast_onset.py, the live default) or an
                          aubio onset detection function. ``hfc`` (aubio's default) scored best on six synthesised
                          drum + bass + pad and bass + pad mixes at 97-132 BPM plus the demo song as decoded
                          from its OGG (tests/audio/onset_accuracy.py --sweep, ±30 ms): F 0.967 (precision
                          0.991, recall 0.944, mean |error| 4.8 ms) at hop 256 / win 1024, vs mkl 0.964,
                          kl 0.958, specdiff 0.942, specflux 0.942 (only at threshold 0.8; 0.77 at its default
                          0.18, many false hits), complex 0.874, energy 0.75. What hfc misses are soft
                          sixteenth hats inside a snare's or crash's tail. Hop 512 loses 2 points of F and
                          doubles the timing error (8.4 ms); win 512 scored ~5 points lower
                          in an earlier sweep. ``fast`` on the same tracks: F 0.989 (precision 0.999,
                          recall 0.978, mean |error| 3.5 ms), deciding within a hop of most drum hits.
    onset_threshold:      the method's threshold; None (the default) gives the method's own
                          (``default_onset_threshold``). For aubio methods, aubio's peak-picking threshold
                          (0.058 = aubio's hfc default; 0.03..0.1 score within half a point). For ``fast``,
                          a sensitivity on the control surface's 0..1 range: the flux must rise above its
                          recent median by threshold × max(30 MADs, 13); 0.3 is its default (see
                          vj/audio/fast_onset.py).
    onset_minioi_seconds: shortest gap between two onsets (s); with ``fast``, also the merge window of
                          its two paths (an onset placed this close to the last one is the same one).
    onset_slow:           with ``fast``: run the slow path too (causal SuperFlux, vj/audio/slow_onset.py)
                          for the non-percussive attacks ``fast`` misses, merged without double triggers
                          (vj/audio/live_onsets.py). On the Böck onset clips at hop 256 it lifts live onset
                          F from 0.852 to 0.884 on drums/mixes and from 0.352 to 0.761 on soft/solo
                          material (tools/score_onsets.py); hits are still reported on the fast path's hop.
    silence_db:           below this level (dBFS) no onset or beat fires.
    low_hz, high_hz:      band edges: low < low_hz, mid low_hz..high_hz, high > high_hz.
    hpss_frames:          hops of history in the causal median that estimates the harmonic (steady) part.
    hpss_bins:            FFT bins in the median across frequency that estimates the percussive part.
    hpss_max_hz:          the split looks at bins up to here (perc + harm = the power below it): music
                          holds little power above 11 kHz, and the medians are most of the analysis' cost.
    """

    sample_rate: int = 44100
    hop: int = 256
    win: int = 1024
    onset_method: str = "hfc"
    onset_threshold: float | None = None  # None: the method's own (0.058 for hfc)
    onset_minioi_seconds: float = 0.05
    onset_slow: bool = True
    silence_db: float = -60.0
    low_hz: float = 250.0
    high_hz: float = 4000.0
    hpss_frames: int = 17
    hpss_bins: int = 17
    hpss_max_hz: float = 11025.0

    def __post_init__(self) -> None:
        if self.onset_threshold is None:  # resolved here, so key() reads as before for the defaults
            self.onset_threshold = default_onset_threshold(self.onset_method)
        elif self.onset_method not in ONSET_METHODS:
            default_onset_threshold(self.onset_method)  # raises, naming the methods
        if self.hpss_frames % 2 == 0 or self.hpss_bins % 2 == 0 or self.hpss_bins >= self.win // 2:
            raise ValueError(f"hpss_frames and hpss_bins must be odd (and hpss_bins < win/2), "
                             f"got {self.hpss_frames}, {self.hpss_bins}")
        if not self.hpss_bins < self.split_bins:
            raise ValueError(f"hpss_max_hz {self.hpss_max_hz} leaves fewer than hpss_bins={self.hpss_bins} bins")
        if self.hop <= 0 or self.win < self.hop:
            raise ValueError(f"need 0 < hop <= win, got hop={self.hop} win={self.win}")
        if not 0 < self.low_hz < self.high_hz < self.sample_rate / 2:
            raise ValueError(f"need 0 < low_hz < high_hz < Nyquist, got {self.low_hz}, {self.high_hz}")

    @property
    def split_bins(self) -> int:
        """How many FFT bins (from 0 Hz) the percussive/harmonic split looks at (``hpss_max_hz``)."""
        return min(self.win // 2 + 1, int(self.hpss_max_hz * self.win / self.sample_rate) + 1)

    @property
    def band_masks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boolean masks of the FFT bins in the low, mid and high bands."""
        freqs = np.arange(self.win // 2 + 1) * self.sample_rate / self.win
        low, high = freqs < self.low_hz, freqs > self.high_hz
        return low, ~(low | high), high

    @property
    def hop_seconds(self) -> float:
        """Seconds per hop."""
        return self.hop / self.sample_rate

    def key(self) -> str:
        """A stable text form of every field, for cache keys."""
        return ";".join(f"{name}={value!r}" for name, value in sorted(vars(self).items()))


@dataclass(frozen=True)
class HopResult:
    """What one hop of audio says. Energies are raw (not normalised); times are stream seconds.

    time:           start of this hop.
    is_onset:       an onset was detected during this hop (aubio decides ~4-5 hops after the attack,
                    ``fast`` on the attack's hop or the next, its slow path 4-7 hops after a soft one).
    onset_time:     when that onset happened (NaN when no onset): aubio's delay-corrected time,
                    ``fast``'s placement of the attack inside the last two hops, or the slow path's.
    onset_strength: onset detection function value; on an aubio onset hop, its peak over the last
                    hops; on a ``fast`` onset hop, the flux of the deciding hop (the slow path's
                    flux, scaled to the same range, for its onsets).
    onset_loudness: on an onset hop, the peak percussive magnitude (√perc) over the hops since the
                    attack, i.e. how hard the hit is; 0 otherwise. HFC's value favours hats over kicks,
                    this one does not, so it is what the offline analysis reports as onset strength.
                    (``fast`` has seen at most two hops of the hit when it decides.)
    is_beat:        aubio's beat tracker placed a beat during this hop (only with ``beats=True``; live and
                    offline beats come from ``vj.audio.beats``).
    beat_time:      time of that beat (NaN when no beat).
    bpm:            current tempo estimate (0 until the tracker has one).
    rms:            root mean square of the hop's samples.
    low, mid, high: spectral energy (sum of squared magnitudes) in each band, over the window.
    perc, harm:     percussive and harmonic spectral energy (causal median-filter HPSS).
    """

    time: float
    is_onset: bool
    onset_time: float
    onset_strength: float
    onset_loudness: float
    is_beat: bool
    beat_time: float
    bpm: float
    rms: float
    low: float
    mid: float
    high: float
    perc: float
    harm: float


class HopAnalyser:
    """Streaming analyser: call ``process(hop_samples)`` with exactly ``settings.hop`` float32 samples.

    Percussive/harmonic split: a causal take on median-filter HPSS (Fitzgerald 2010). The harmonic
    estimate of each bin is the median of its magnitude over the last ``hpss_frames`` hops (steady
    tones survive, hits don't); the percussive estimate is the median across ``hpss_bins`` neighbouring
    bins of the current frame (broadband hits survive, partials don't). Soft masks H²/(H²+P²) and
    P²/(H²+P²) split the frame's energy. Causal so live and offline agree; a new sustained note counts as
    percussive for about half the history (~50 ms), which is what an attack is.
    """

    def set_onset_threshold(self, threshold: float) -> None:
        """The onset threshold, live from a controller; lower fires on softer hits. aubio methods:
        peak-picking threshold (aubio units); ``fast``: its 0..1 sensitivity (see AnalysisSettings)."""
        self.onset_threshold = float(threshold)
        if self._live is not None:
            self._live.set_threshold(self.onset_threshold)
        elif self._onset is not None:
            self._onset.set_threshold(self.onset_threshold)

    def __init__(self, settings: AnalysisSettings | None = None, *, onsets: bool = True, beats: bool = True) -> None:
        """``onsets`` / ``beats``: run the onset detector / aubio's beat tracker. Off where another
        analyser does that job (live and offline beats come from ``vj.audio.beats``, offline onsets
        from ``vj.audio.onsets``), so no hop pays for work whose result is thrown away; the
        results then report no onsets / no beats."""
        self.settings = settings or AnalysisSettings()
        s = self.settings
        self.onset_threshold = float(s.onset_threshold)
        self._live: LiveOnsets | None = None
        self._onset = None
        if not onsets:
            pass
        elif s.onset_method == FAST:
            self._live = LiveOnsets(hop=s.hop, win=s.win, sample_rate=s.sample_rate, threshold=s.onset_threshold,
                                    slow=s.onset_slow, merge_seconds=s.onset_minioi_seconds,
                                    minioi_seconds=s.onset_minioi_seconds, silence_db=s.silence_db)
        else:
            aubio = require_aubio(f"onset method '{s.onset_method}'")
            self._onset = aubio.onset(s.onset_method, s.win, s.hop, s.sample_rate)
            self._onset.set_threshold(s.onset_threshold)
            self._onset.set_minioi_s(s.onset_minioi_seconds)
            self._onset.set_silence(s.silence_db)
        self._tempo = require_aubio("aubio's beat tracker").tempo("default", s.win, s.hop, s.sample_rate) \
            if beats else None
        if self._tempo is not None:
            self._tempo.set_silence(s.silence_db)
        self._spectrum = HopSpectrum(s.win, s.hop)
        self._low, self._mid, self._high = s.band_masks
        self._split_bins = s.split_bins
        # (bins, frames): each bin's history contiguous, so the median is a fast row-wise partition.
        self._history = np.zeros((self._split_bins, s.hpss_frames), dtype=np.float32)
        self._padded = np.zeros(self._split_bins + 2 * (s.hpss_bins // 2), dtype=np.float32)
        self._history_index = 0
        self._recent_strength: deque[float] = deque(maxlen=8)  # peak picker looks ~5 hops ahead
        self._recent_perc: deque[float] = deque(maxlen=8)
        self._hops = 0

    @property
    def time(self) -> float:
        """Stream time in seconds of the next hop to be processed."""
        return self._hops * self.settings.hop_seconds

    def process(self, samples: np.ndarray) -> HopResult:
        """Analyse the next hop (``settings.hop`` float32 mono samples) and return what it says."""
        s = self.settings
        if samples.shape != (s.hop,):
            raise ValueError(f"expected {s.hop} mono samples, got shape {samples.shape}")
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        time = self._hops * s.hop_seconds
        self._hops += 1

        magnitude = self._spectrum(samples)
        is_onset, strength = False, 0.0
        if self._live is not None:  # first: nothing else is needed to decide
            is_onset, offset, strength, source = self._live.process(magnitude, samples)
        power = magnitude * magnitude
        perc, harm = self._split(magnitude[:self._split_bins], power[:self._split_bins])
        self._recent_perc.append(perc)

        onset_time, loudness = float("nan"), 0.0
        if self._live is not None:
            if is_onset:
                onset_time = max(0.0, time + offset / s.sample_rate)
                seen = 2 if source == "fast" else min(len(self._recent_perc), 2 - int(offset // s.hop))
                loudness = float(np.sqrt(max(list(self._recent_perc)[-seen:])))  # the hops since the attack
        elif self._onset is not None:
            is_onset = bool(self._onset(samples)[0])
            strength = float(self._onset.get_descriptor())
            self._recent_strength.append(strength)
            if is_onset:
                onset_time = max(0.0, float(self._onset.get_last_s()))
                strength = max(self._recent_strength)
                loudness = float(np.sqrt(max(self._recent_perc)))
        is_beat, beat_time, bpm = False, float("nan"), 0.0
        if self._tempo is not None:
            is_beat = bool(self._tempo(samples)[0])
            beat_time = float(self._tempo.get_last_s()) if is_beat else float("nan")
            bpm = float(self._tempo.get_bpm())
        return HopResult(
            time=time, is_onset=is_onset, onset_time=onset_time, onset_strength=strength, onset_loudness=loudness,
            is_beat=is_beat, beat_time=beat_time, bpm=bpm,
            rms=float(np.sqrt(np.mean(samples * samples))),
            low=float(power[self._low].sum()), mid=float(power[self._mid].sum()),
            high=float(power[self._high].sum()), perc=perc, harm=harm,
        )

    def _split(self, magnitude: np.ndarray, power: np.ndarray) -> tuple[float, float]:
        """Percussive and harmonic energy of this frame (see the class docstring)."""
        s = self.settings
        self._history[:, self._history_index] = magnitude
        self._history_index = (self._history_index + 1) % s.hpss_frames
        middle = s.hpss_frames // 2  # odd sizes: the median is the middle order statistic
        harmonic = np.partition(self._history, middle, axis=1)[:, middle]
        half = s.hpss_bins // 2
        padded = self._padded
        padded[half:half + len(magnitude)] = magnitude
        if half:  # mirror the edges, as np.pad(mode="reflect") would, without allocating
            padded[:half] = magnitude[half:0:-1]
            padded[-half:] = magnitude[-2:-half - 2:-1]
        windows = np.lib.stride_tricks.sliding_window_view(padded, s.hpss_bins)
        percussive = np.partition(windows, half, axis=1)[:, half]
        perc, harm = split_energy(power, harmonic, percussive)
        return float(perc), float(harm)


def split_energy(power: np.ndarray, harmonic: np.ndarray, percussive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Percussive and harmonic energy (summed over the last axis, the bins): each bin's power split
    by the soft masks P²/(H²+P²) and H²/(H²+P²) (a bin where both medians are 0 counts for neither)."""
    h2, p2 = harmonic * harmonic, percussive * percussive
    total = h2 + p2
    total[total == 0] = 1.0
    return (power * p2 / total).sum(axis=-1), (power * h2 / total).sum(axis=-1)


def hop_series(samples: np.ndarray, settings: AnalysisSettings, count: int) -> np.ndarray:
    """(count, 6) rms, low, mid, high, perc and harm of the first ``count`` hops of a whole signal:
    the numbers ``HopAnalyser.process`` gives hop by hop (float32 rounding aside), at once. Offline
    analysis uses this when no per-hop onset or beat detector has to run: the moving medians
    (bottleneck's, exact for odd windows) and one batched FFT are ~5× faster than the hop loop."""
    import bottleneck

    s = settings
    samples = np.asarray(samples, dtype=np.float32)
    spectrum = HopSpectrum(s.win, s.hop).frames(samples, count)
    full_power = spectrum * spectrum
    low, mid, high = s.band_masks
    magnitude = np.ascontiguousarray(spectrum[:, :s.split_bins])
    # Harmonic: each bin's median over this hop and the hpss_frames - 1 before it (zeros before the start).
    history = np.concatenate([np.zeros((s.hpss_frames - 1, magnitude.shape[1]), np.float32), magnitude])
    harmonic = bottleneck.move_median(history, s.hpss_frames, axis=0)[s.hpss_frames - 1:]
    # Percussive: each bin's median across hpss_bins neighbours of the same hop, edges mirrored.
    half = s.hpss_bins // 2
    if half:
        mirrored = np.concatenate([magnitude[:, half:0:-1], magnitude, magnitude[:, -2:-half - 2:-1]], axis=1)
        percussive = bottleneck.move_median(mirrored, s.hpss_bins, axis=1)[:, 2 * half:]
    else:
        percussive = magnitude
    perc, harm = split_energy(magnitude * magnitude, harmonic, percussive)
    hops = np.zeros(count * s.hop, dtype=np.float32)
    hops[:min(len(samples), len(hops))] = samples[:len(hops)]
    hops = hops.reshape(count, s.hop)
    return np.stack([np.sqrt(np.mean(hops * hops, axis=1)), full_power[:, low].sum(axis=1),
                     full_power[:, mid].sum(axis=1), full_power[:, high].sum(axis=1), perc, harm],
                    axis=1).astype(np.float64)
