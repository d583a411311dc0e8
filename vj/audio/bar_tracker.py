"""Beats, downbeats and meter from beat/downbeat activations: a bar-pointer hidden Markov model.

The model is madmom's (Krebs, Böck & Widmer 2015; Böck, Krebs & Widmer 2016): a state is a place
inside a beat of a bar of a given meter at a given tempo (one state per 20 ms frame of the beat's
length); time moves it one state on; at each beat boundary the tempo may change, the more
rarely the larger the change (``transition_lambda``); at a bar boundary the meter may change,
very rarely (``meter_switch``). The first 1/``observation_lambda`` of each beat "sees" the beat
activation (the downbeat activation on beat 1), the rest sees neither.

Offline the best path is found with Viterbi; live the forward filter gives, each frame, the most
probable place in the bar from the past alone. Both run in numpy: within a beat the predecessor
of a state is fixed, so only the few beat-boundary states need a maximum (or sum) per frame.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vj.audio.beat_features import FPS

_TINY = 1e-12


@dataclass(frozen=True)
class TrackerSettings:
    """The model's knobs.

    meters:             beats per bar the model may choose between.
    min_bpm, max_bpm:   tempo range of the state space (wide: real tempi run from ~50 to ~210).
    num_tempi:          tempo states, log-spaced (fewer where frames are coarser than the spacing).
    transition_lambda:  how strongly tempo changes between beats are penalised (madmom's 100).
    observation_lambda: the part of a beat that sees the beat activation is 1/λ (madmom's 16).
    meter_switch:       probability of changing meter at a bar line.
    threshold:          activations below this at the start and end of a file are left out.
    """

    meters: tuple[int, ...] = (3, 4)
    min_bpm: float = 50.0
    max_bpm: float = 220.0
    num_tempi: int = 60
    transition_lambda: float = 100.0
    observation_lambda: float = 16.0
    meter_switch: float = 1e-5
    threshold: float = 0.05
    fps: float = FPS

    def __post_init__(self) -> None:
        if not self.meters or any(m < 1 for m in self.meters):
            raise ValueError(f"meters must be positive beat counts, got {self.meters}")
        if not 0 < self.min_bpm < self.max_bpm:
            raise ValueError(f"need 0 < min_bpm < max_bpm, got {self.min_bpm}, {self.max_bpm}")


class BarStateSpace:
    """Every (meter, beat, tempo, phase) state, in blocks: one block per (meter, beat in bar, tempo)
    holding one state per frame of that beat length.

    Blocks are ring buffers: at frame t the state of phase k lives in slot (k − t) mod n of its
    block, so time moving every state one phase on costs nothing, and a frame's work is only the
    blocks' first states (where tempo and meter change) and the few states at the start of each
    beat that see the activations. ``groups`` lists (meter, beat) pairs; block (g, i) is group g
    at the i-th tempo (``intervals[i]`` frames a beat).
    """

    def __init__(self, settings: TrackerSettings) -> None:
        self.settings = settings
        fps = settings.fps
        low, high = 60.0 * fps / settings.max_bpm, 60.0 * fps / settings.min_bpm
        self.intervals = np.unique(np.round(np.exp(np.linspace(math.log(low), math.log(high),
                                                               settings.num_tempi)))).astype(int)
        self.groups = [(m, b) for m in settings.meters for b in range(m)]
        tempi = len(self.intervals)
        per_group = int(self.intervals.sum())
        self.size = per_group * len(self.groups)
        starts = np.concatenate([[0], np.cumsum(self.intervals)[:-1]])
        self.base = (np.arange(len(self.groups))[:, None] * per_group + starts[None, :]).ravel()  # (blocks,)
        self.block_n = np.tile(self.intervals, len(self.groups))
        self.block_group = np.repeat(np.arange(len(self.groups)), tempi)
        self.block_meter = np.array([self.groups[g][0] for g in self.block_group])
        self.block_beat = np.array([self.groups[g][1] for g in self.block_group])
        # The states that see the activations: phases k < n/λ at the start of every beat.
        reach = np.ceil(self.block_n / settings.observation_lambda).astype(int)
        self.reach = reach
        self.reg_block = np.repeat(np.arange(len(self.base)), reach)
        self.reg_k = np.concatenate([np.arange(r) for r in reach])
        self.reg_base = self.base[self.reg_block]
        self.reg_n = self.block_n[self.reg_block]
        self.reg_class = np.where(self.block_beat[self.reg_block] == 0, 2, 1)
        self._transitions()

    def _transitions(self) -> None:
        """Predecessor groups of each group's first states with their weights, and the tempo matrix."""
        s = self.settings
        ratio = self.intervals[None, :] / self.intervals[:, None]  # [from, to]
        tempo = np.exp(-s.transition_lambda * np.abs(ratio - 1.0))
        tempo[tempo <= np.spacing(1)] = 0.0
        tempo /= tempo.sum(axis=1, keepdims=True)
        self.tempo = tempo
        self.log_tempo = np.log(np.maximum(tempo, 1e-300))
        # Viterbi looks only at tempo changes that can win: within the band where log p > -40.
        j, i = np.nonzero(self.log_tempo > -20.0)
        band = int(np.abs(j - i).max()) if len(i) else 0
        offsets = np.arange(-band, band + 1)
        rows = np.arange(len(self.intervals))[:, None] + offsets[None, :]  # [to, k] -> from
        valid = (rows >= 0) & (rows < len(self.intervals))
        self.band_from = np.clip(rows, 0, len(self.intervals) - 1)
        self.band_log = np.where(valid, self.log_tempo[self.band_from, np.arange(len(self.intervals))[:, None]],
                                 -np.inf)
        index = {group: k for k, group in enumerate(self.groups)}
        others = len(s.meters) - 1
        width = len(s.meters)
        self.pred = np.zeros((len(self.groups), width), dtype=int)
        self.pred_weight = np.zeros((len(self.groups), width))
        for k, (m, b) in enumerate(self.groups):
            if b > 0:
                entries = [(index[(m, b - 1)], 1.0)]
            else:
                stay = 1.0 - s.meter_switch if others else 1.0
                entries = [(index[(m, m - 1)], stay)]
                entries += [(index[(o, o - 1)], s.meter_switch / others) for o in s.meters if o != m]
            while len(entries) < width:
                entries.append((entries[0][0], 0.0))
            self.pred[k] = [e[0] for e in entries]
            self.pred_weight[k] = [e[1] for e in entries]
        self.log_pred_weight = np.log(np.maximum(self.pred_weight, 1e-300))

    def first_slots(self, t: int) -> np.ndarray:
        """Per block, the slot of phase 0 at frame t (which held the last phase at frame t − 1)."""
        return self.base + (-t) % self.block_n

    def region_slots(self, t: int) -> np.ndarray:
        """The slots of the activation-seeing states at frame t."""
        return self.reg_base + (self.reg_k - t) % self.reg_n

    def locate(self, slot: int, t: int) -> tuple[int, int]:
        """(block, phase) of the state in ``slot`` at frame t."""
        block = int(np.searchsorted(self.base, slot, side="right") - 1)
        n = int(self.block_n[block])
        return block, int((slot - self.base[block] + t) % n)

    def log_observation(self, activations: np.ndarray) -> np.ndarray:
        """(frames, 3) log densities of the three observation classes for (frames, 2) activations:
        0 = between beats, 1 = the start of a beat other than beat 1, 2 = the start of beat 1."""
        beat = np.clip(activations[:, 0], _TINY, 1.0)
        down = np.clip(activations[:, 1], _TINY, 1.0)
        rest = np.clip(1.0 - beat - down, _TINY, 1.0) / (self.settings.observation_lambda - 1.0)
        return np.log(np.stack([rest, beat, down], axis=1))


@dataclass(frozen=True)
class BarPath:
    """Decoded beats: frame indices, 1-based positions in the bar and the meter at each."""

    frames: np.ndarray
    positions: np.ndarray
    meters: np.ndarray


def viterbi(space: BarStateSpace, activations: np.ndarray) -> BarPath:
    """The most probable beat sequence of a whole song's (frames, 2) activations."""
    empty = BarPath(*(np.zeros(0, int) for _ in range(3)))
    s = space.settings
    strong = np.nonzero(activations.max(axis=1) >= s.threshold)[0] if len(activations) else np.zeros(0, int)
    if len(strong) < 2:
        return empty
    offset, stop = int(strong[0]), int(strong[-1]) + 1
    acts = activations[offset:stop]
    obs = space.log_observation(acts)
    gain = obs[:, 1:] - obs[:, :1]  # what a beat-start state gains over the rest, per class 1 and 2
    groups, tempi = len(space.groups), len(space.intervals)
    back = np.zeros((len(acts), groups, tempi), dtype=np.int16)
    delta = np.zeros(space.size)
    band = space.band_from.shape[1]
    # Row g·tempi + to, column w·band + k: the way into block (g, to) from group pred[g, w] at
    # tempo band_from[to, k]; ``source`` is that predecessor block, ``step_log`` the way's log weight.
    source = (space.pred[:, None, :, None] * tempi + space.band_from[None, :, None, :]).reshape(groups * tempi, -1)
    step_log = (space.log_pred_weight[:, None, :, None] + space.band_log[None, :, None, :]).reshape(groups * tempi, -1)
    rows = np.arange(groups * tempi)
    region_class = space.reg_class - 1
    delta[space.region_slots(0)] += gain[0, region_class]
    for t in range(1, len(acts)):
        slots = space.first_slots(t)
        cand = delta[slots[source]] + step_log
        best = cand.argmax(axis=1)
        back[t] = best.reshape(groups, tempi)
        delta[slots] = cand[rows, best]
        delta[space.region_slots(t)] += gain[t, region_class]
        if t % 512 == 0:
            delta -= delta.max()
    last = len(acts) - 1
    block, phase = space.locate(int(np.argmax(delta)), last)
    blocks = np.empty(len(acts), dtype=np.int64)
    phases = np.empty(len(acts), dtype=np.int64)
    for t in range(last, -1, -1):
        blocks[t], phases[t] = block, phase
        if phase > 0:
            phase -= 1
        elif t > 0:
            g, i = divmod(block, tempi)
            w, k = divmod(int(back[t, g, i]), band)
            block = int(space.pred[g, w]) * tempi + int(space.band_from[i, k])
            phase = int(space.block_n[block]) - 1
    return _beats_from_path(space, blocks, phases, acts, offset)


def _beats_from_path(space: BarStateSpace, blocks: np.ndarray, phases: np.ndarray, acts: np.ndarray,
                     offset: int) -> BarPath:
    """One beat per visit of a beat's start region, placed on its strongest activation (madmom's
    ``correct``): the region spans a few frames, the activation peak is sharper."""
    in_range = phases < space.reach[blocks]
    edges = np.nonzero(np.diff(in_range.astype(int)))[0] + 1
    if in_range[0]:
        edges = np.r_[0, edges]
    if in_range[-1]:
        edges = np.r_[edges, len(in_range)]
    frames, positions, meters = [], [], []
    for left, right in edges.reshape(-1, 2):
        peak = left + int(np.argmax(acts[left:right].sum(axis=1)))
        block = blocks[peak]
        frames.append(peak + offset)
        positions.append(int(space.block_beat[block]) + 1)
        meters.append(int(space.block_meter[block]))
    return BarPath(*(np.array(v, int) for v in (frames, positions, meters)))


@dataclass(frozen=True)
class BarPosition:
    """Where the live filter thinks the music is, at one frame."""

    meter: int
    beat: int  # 0-based beat in the bar
    phase: int  # frames since that beat
    interval: int  # frames per beat
    confidence: float  # posterior probability mass of the most probable state's block
    beat_mass: float = 0.0  # probability that a beat is starting now (mass in the beat-start states)
    beat_group: tuple[int, int] = (4, 0)  # (meter, beat) holding most of that mass
    beat_interval: int = 0  # beat length (frames) of the block holding most of that mass


class ForwardFilter:
    """The causal counterpart: P(state | activations so far), one frame at a time."""

    def __init__(self, space: BarStateSpace) -> None:
        self.space = space
        self._alpha = np.full(space.size, 1.0 / space.size)
        self._t = 0
        self._weight = space.pred_weight[:, :, None]

    def reset(self) -> None:
        """Forget everything heard (a new song, or the input came back after silence)."""
        self._alpha[:] = 1.0 / self.space.size
        self._t = 0

    def step(self, activation: np.ndarray) -> BarPosition:
        """Advance one frame with its (2,) beat/downbeat activation; return the most probable place."""
        space = self.space
        alpha = self._alpha
        groups, tempi = len(space.groups), len(space.intervals)
        t = self._t
        if t > 0:
            slots = space.first_slots(t)
            ends = alpha[slots].reshape(groups, tempi)
            alpha[slots] = ((ends[space.pred] * self._weight).sum(axis=1) @ space.tempo).ravel()
        obs = np.exp(space.log_observation(np.asarray(activation, dtype=np.float64)[None, :])[0])
        alpha[space.region_slots(t)] *= (obs[1:] / obs[0])[space.reg_class - 1]
        total = alpha.sum()
        if total > 0 and math.isfinite(total):
            alpha /= total
        else:
            alpha[:] = 1.0 / space.size
        slot = int(np.argmax(alpha))
        block, phase = space.locate(slot, t)
        base, n = int(space.base[block]), int(space.block_n[block])
        region = alpha[space.region_slots(t)]
        by_group = np.bincount(space.block_group[space.reg_block], weights=region, minlength=len(space.groups))
        by_block = np.bincount(space.reg_block, weights=region, minlength=len(space.base))
        self._t = t + 1
        return BarPosition(meter=int(space.block_meter[block]), beat=int(space.block_beat[block]), phase=phase,
                           interval=n, confidence=float(alpha[base:base + n].sum()), beat_mass=float(region.sum()),
                           beat_group=space.groups[int(np.argmax(by_group))],
                           beat_interval=int(space.block_n[int(np.argmax(by_block))]))
