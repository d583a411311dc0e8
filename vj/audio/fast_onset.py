"""A causal, low-latency onset detector: onset method ``"fast"`` (the live default).

aubio's onset detectors pick peaks of their detection function, so they decide 4-5 hops after
the attack (≈23 ms at hop 256): the peak picker has to see the function fall again. This one
decides on the hop whose detection function first crosses an adaptive threshold, which is the
hop the attack arrives in, or the next one when the attack lands in the last part of a hop (the
analysis window's taper hides it until then). Nothing after the deciding hop is looked at.

Detection function: log-compressed spectral flux with vibrato/ripple suppression in the manner
of SuperFlux (Böck & Widmer, DAFx 2013), from the magnitude spectrum ``HopAnalyser`` already
computes (no second FFT)::

    L_t  = log1p(γ · |X_t|)                                  (bins above 30 Hz)
    R_t  = maxfilter_3bins(max(L_{t-1}, ..., L_{t-n}))       (n frames ≈ 30 ms: 5 at hop 256, 3 at 512)
    flux = Σ_bins max(0, L_t − R_t)

Comparing against the maximum of the last ~30 ms rather than the previous frame alone is what
keeps sustained low notes quiet: a 40-60 Hz sawtooth has one edge per 3-4 hops, and each one
swings its upper harmonics from frame to frame (with the previous frame alone, a bass line fired
three times a note). The 3-bin maximum does the same for vibrato and beating partials.

Threshold: the median of the last 0.5 s of flux plus ``threshold`` × max(30 × their median
absolute deviation, 13). A hop is an onset when its flux is above that, rising, the hop's level
is above ``silence_db``, and the last onset is at least ``minioi`` ago. The flux of an attack
keeps rising for a hop or two after the deciding one, so the detector stays disarmed until the
flux falls back under the threshold: one hit fires once.

``threshold`` (``AnalysisSettings.onset_threshold`` / the control surface's ``onset_threshold``)
is a sensitivity on the same 0..1 range the control surface sends: 0.3, the default, scored best
on the synthesised mixes (tests/audio/onset_accuracy.py --fast-sweep); 0.2-0.5 stay within two
points of F; lower fires on softer hits (and on more noise), higher only on clear hits.

Onset time: the attack is placed inside the deciding hop and the one before it, at the first
32-sample block whose high-passed (first difference) energy reaches a quarter of the largest
block's: sub-millisecond on drum hits. Two known limits: a soft low note (a bass line under
nothing else) is only certain 2-3 hops after it starts, once a period of it is in the window, and
lossy-coded audio (MP3, Vorbis) smears an attack's high frequencies up to ~25 ms ahead of it
(pre-echo), which this detector may fire on: earlier than the hit, with the pre-echo's strength.
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np

#: ``threshold`` where the detector scores best on the synthesised mixes.
DEFAULT_THRESHOLD = 0.3
#: threshold × this many median absolute deviations of the recent flux, above its median ...
K_PER_THRESHOLD = 30.0
#: ... and never less than threshold × this (flux units) above it.
FLOOR_PER_THRESHOLD = 13.0


class FastOnset:
    """Streaming detector: ``process(magnitude, samples)`` once per hop, in order.

    magnitude:  the hop's magnitude spectrum (``win // 2 + 1`` bins, aubio's pvoc scale).
    samples:    the hop's samples (the silence gate, and placing the attack in time).
    """

    def __init__(self, *, hop: int, win: int, sample_rate: int, threshold: float = DEFAULT_THRESHOLD,
                 minioi_seconds: float = 0.05, silence_db: float = -60.0, gamma: float = 1.0,
                 history_seconds: float = 0.5, reference_seconds: float = 0.03, min_hz: float = 30.0,
                 block: int = 32) -> None:
        self.hop, self.win, self.sample_rate = hop, win, sample_rate
        self.gamma = float(gamma)
        bins = win // 2 + 1
        self._first_bin = min(bins - 2, math.ceil(min_hz * win / sample_rate))
        size = bins - self._first_bin
        self._frames: deque[np.ndarray] = deque(maxlen=max(1, round(reference_seconds * sample_rate / hop)))
        self._peak = np.zeros(size, dtype=np.float32)
        self._reference = np.zeros(size, dtype=np.float32)
        self._history: deque[float] = deque(maxlen=max(8, round(history_seconds * sample_rate / hop)))
        self._minioi = max(1, round(minioi_seconds * sample_rate / hop))
        self._silence = 10.0 ** (silence_db / 20.0)
        self._block = block
        self._tail = np.zeros(hop, dtype=np.float32)  # the previous hop's samples
        self._hops = 0
        self._last_onset = -(10**9)
        self._last_flux = 0.0
        self._armed = True
        self.set_threshold(threshold)

    def set_threshold(self, threshold: float) -> None:
        """Sensitivity, 0..1 (above 1 is allowed: stricter still); lower fires on softer hits."""
        self.threshold = max(0.0, float(threshold))
        self._k = K_PER_THRESHOLD * self.threshold
        self._floor = FLOOR_PER_THRESHOLD * self.threshold

    @property
    def armed(self) -> bool:
        """False while the flux of the last reported attack is still above the threshold."""
        return self._armed

    def _flux(self, magnitude: np.ndarray) -> float:
        current = np.log1p(self.gamma * np.asarray(magnitude[self._first_bin:], dtype=np.float32))
        frames = self._frames
        if not frames:
            frames.append(current)
            return 0.0
        peak = self._peak
        np.copyto(peak, frames[0])
        for frame in list(frames)[1:]:
            np.maximum(peak, frame, out=peak)
        reference = self._reference  # the recent maximum, max-filtered over 3 neighbouring bins
        np.copyto(reference, peak)
        np.maximum(reference[1:], peak[:-1], out=reference[1:])
        np.maximum(reference[:-1], peak[1:], out=reference[:-1])
        frames.append(current)
        rise = current - reference
        return float(rise[rise > 0].sum())

    def process(self, magnitude: np.ndarray, samples: np.ndarray) -> tuple[bool, float, float]:
        """Returns (is_onset, offset, flux): ``offset`` is where the attack is, in samples from the
        start of this hop (-hop..hop; NaN when no onset), ``flux`` the detection function."""
        flux = self._flux(magnitude)
        index = self._hops
        self._hops += 1
        history = self._history
        if len(history) >= 4:
            recent = np.fromiter(history, dtype=np.float64, count=len(history))
            median = float(np.median(recent))
            spread = float(np.median(np.abs(recent - median)))
            threshold = median + max(self._k * spread, self._floor)
        else:
            threshold = math.inf  # too little history to know what is normal
        history.append(flux)
        rising = flux > self._last_flux
        self._last_flux = flux
        fire = False
        if flux <= threshold:
            self._armed = True
        elif (self._armed and rising and index - self._last_onset >= self._minioi
              and float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) >= self._silence):
            fire, self._armed, self._last_onset = True, False, index
        offset = self._place(samples) if fire else math.nan
        if len(samples) == len(self._tail):
            np.copyto(self._tail, samples)
        return fire, offset, flux

    def _place(self, samples: np.ndarray) -> float:
        """The attack's position (samples from the start of this hop) within this hop and the one
        before: the first block whose high-passed energy reaches a quarter of the largest block's."""
        both = np.concatenate((self._tail, samples)).astype(np.float64)
        high = np.diff(both, prepend=both[0])
        usable = len(high) // self._block * self._block
        blocks = np.square(high[:usable]).reshape(-1, self._block).sum(axis=1)
        peak = float(blocks.max()) if len(blocks) else 0.0
        if peak <= 0.0:
            return 0.0
        first = int(np.argmax(blocks >= 0.25 * peak))
        return float(first * self._block - len(self._tail))


__all__ = ["DEFAULT_THRESHOLD", "FLOOR_PER_THRESHOLD", "K_PER_THRESHOLD", "FastOnset"]
