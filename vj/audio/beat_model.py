"""Beat and downbeat activations from BeatNet's causal CRNN, 50 frames a second, in numpy.

The network (Heydari, Cwitkowitz & Duan, "BeatNet: CRNN and particle filtering for online joint
beat, downbeat and meter tracking", ISMIR 2021) is small (a 1-D convolution across frequency,
a linear layer, two unidirectional LSTM layers of 150 cells, a softmax over beat / downbeat / no
beat) and causal, so the same weights serve offline and live. The weights are BeatNet 1.1.3's
``model_1_weights.pt`` (the model trained with GTZAN held out), converted to safetensors
unchanged and shipped in ``vj/audio/models/`` under CC BY 4.0 (see ``vj/audio/models/NOTICE.md``);
nothing is downloaded.

It runs in numpy rather than torch: one live step is a few small matrix-vector products, which
torch's thread pool makes tens of times slower when the render loop keeps the cores busy, and
the live analysis thread must not share torch's global thread setting with the generator.

Output per frame: (P(beat that is not a downbeat), P(downbeat)), each 0..1.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from vj.audio.beat_features import NUM_FEATURES

WEIGHTS = Path(__file__).with_name("models") / "beatnet_gtzan_held_out.safetensors"
KERNEL = 10
CELLS = 150


class BeatNetCRNN:
    """BeatNet's ``BDA`` network (same parameter names as its PyTorch state dict)."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        w = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
        self.conv_w = w["conv1.weight"][:, 0, :].T.copy()  # (kernel, channels)
        self.conv_b = w["conv1.bias"]
        self.linear0_w, self.linear0_b = w["linear0.weight"].T.copy(), w["linear0.bias"]
        # The input, forget and output gates' weights halved: σ(x) = (1 + tanh(x / 2)) / 2, so one
        # tanh over all four gates serves each step (the same activations to BLAS rounding, ~2e-7).
        half = np.where((np.arange(4 * CELLS) // CELLS) == 2, 1.0, 0.5).astype(np.float32)
        # C order: OpenBLAS multiplies a few rows by a transposed (F-order) matrix ~4× slower.
        self.layers = [(np.ascontiguousarray(w[f"lstm.weight_ih_l{n}"].T * half),
                        np.ascontiguousarray(w[f"lstm.weight_hh_l{n}"].T * half),
                        (w[f"lstm.bias_ih_l{n}"] + w[f"lstm.bias_hh_l{n}"]) * half) for n in range(2)]
        self.out_w, self.out_b = w["linear.weight"].T.copy(), w["linear.bias"]
        if self.linear0_w.shape[0] != 2 * ((NUM_FEATURES - KERNEL + 1) // 2):
            raise ValueError("beat network weights do not match the feature size")

    def embed(self, frames: np.ndarray) -> np.ndarray:
        """(time, 272) features → (time, 150) LSTM inputs: conv across frequency, ReLU, max-pool, linear.

        The 10-tap convolution is ten shifted multiply-adds per channel: numpy runs one large
        array operation far faster than a matrix product per (frame, band) window (~4×)."""
        frames = np.asarray(frames, dtype=np.float32)
        width = frames.shape[1] - KERNEL + 1
        usable = (width // 2) * 2
        pooled = []
        for channel in range(self.conv_w.shape[1]):
            taps = self.conv_w[:, channel]
            conv = frames[:, :width] * taps[0]
            for k in range(1, KERNEL):
                conv += frames[:, k:k + width] * taps[k]
            conv += self.conv_b[channel]
            np.maximum(conv, 0.0, out=conv)
            pooled.append(np.maximum(conv[:, 0:usable:2], conv[:, 1:usable:2]))
        flat = np.concatenate(pooled, axis=1)  # channel-major, as torch flattens
        return flat @ self.linear0_w + self.linear0_b

    def run(self, frames: np.ndarray, state: list[tuple[np.ndarray, np.ndarray]] | None = None
            ) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """(time, 272) features → ((time, 2) beat / downbeat probabilities, LSTM state to carry on)."""
        x = self.embed(frames)
        state = state or [(np.zeros(CELLS, np.float32), np.zeros(CELLS, np.float32)) for _ in self.layers]
        new_state = []
        for (w_ih, w_hh, bias), (h, c) in zip(self.layers, state):
            x, h, c = _lstm_steps(x @ w_ih + bias, w_hh, h, c)
            new_state.append((h, c))
        return self._probabilities(x), new_state

    def run_songs(self, songs: list[np.ndarray]) -> list[np.ndarray]:
        """Several whole songs' (time, 272) features from a fresh state → each one's (time, 2)
        probabilities. Every LSTM step advances all songs in one matrix product, which reads the
        weights once for all of them: three songs take about as long as two one after the other.
        Shorter songs are padded at their end, which a causal network's earlier outputs never see."""
        lengths = [len(song) for song in songs]
        if not songs or max(lengths) == 0:
            return [np.zeros((n, 2), dtype=np.float32) for n in lengths]
        x = np.zeros((max(lengths), len(songs), CELLS), dtype=np.float32)  # (time, song, cell)
        for k, song in enumerate(songs):
            if len(song):
                x[:len(song), k] = self.embed(song)
        for w_ih, w_hh, bias in self.layers:
            zeros = np.zeros((len(songs), CELLS), np.float32)
            gates_in = (x.reshape(-1, x.shape[2]) @ w_ih + bias).reshape(len(x), len(songs), -1)  # one 2-D product
            x, _, _ = _lstm_steps(gates_in, w_hh, zeros, zeros)
        return [self._probabilities(x[:n, k]) for k, n in enumerate(lengths)]

    def _probabilities(self, hidden: np.ndarray) -> np.ndarray:
        """(time, 150) last-layer outputs → (time, 2) beat / downbeat probabilities (softmax)."""
        logits = hidden @ self.out_w + self.out_b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        return p[:, :2].astype(np.float32)


def _lstm_steps(gates_in: np.ndarray, w_hh: np.ndarray, h: np.ndarray, c: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One LSTM layer over (time, ..., 4 × 150) input gates (the input half of every step, done at
    once), from state h, c shaped (..., 150) → ((time, ..., 150) outputs, last h, last c). The
    i, f and o weights come halved (see ``BeatNetCRNN``), so one tanh serves all four gates."""
    out = np.empty(gates_in.shape[:-1] + (CELLS,), dtype=np.float32)
    for t in range(len(gates_in)):
        gates = np.tanh(gates_in[t] + h @ w_hh)  # tanh(i/2), tanh(f/2), tanh(cell), tanh(o/2)
        s = gates * 0.5 + 0.5  # σ(i), σ(f), -, σ(o)
        c = s[..., CELLS:2 * CELLS] * c + s[..., :CELLS] * gates[..., 2 * CELLS:3 * CELLS]
        h = s[..., 3 * CELLS:] * np.tanh(c)
        out[t] = h
    return out, h, c


@lru_cache(maxsize=1)
def load_network() -> BeatNetCRNN:
    """The shipped network (loaded once per process)."""
    from safetensors.numpy import load_file

    return BeatNetCRNN(load_file(str(WEIGHTS)))


def activations(features: np.ndarray) -> np.ndarray:
    """(frames, 2) beat and downbeat probabilities of a whole song's features."""
    return song_activations([features])[0]


def song_activations(songs: list[np.ndarray]) -> list[np.ndarray]:
    """``activations`` of several whole songs (or versions of one) at once (``run_songs``)."""
    return load_network().run_songs([np.asarray(song, dtype=np.float32) for song in songs])


class StreamingActivations:
    """The network run a few frames at a time, carrying the LSTM state: what the live tracker hears."""

    def __init__(self) -> None:
        self._network = load_network()
        self._state: list[tuple[np.ndarray, np.ndarray]] | None = None

    def push(self, features: np.ndarray) -> np.ndarray:
        """(n, 272) new feature frames → (n, 2) probabilities."""
        if len(features) == 0:
            return np.zeros((0, 2), dtype=np.float32)
        probabilities, self._state = self._network.run(features, self._state)
        return probabilities
