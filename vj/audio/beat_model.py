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
        self.layers = [(w[f"lstm.weight_ih_l{n}"].T * half, w[f"lstm.weight_hh_l{n}"].T * half,
                        (w[f"lstm.bias_ih_l{n}"] + w[f"lstm.bias_hh_l{n}"]) * half) for n in range(2)]
        self.out_w, self.out_b = w["linear.weight"].T.copy(), w["linear.bias"]
        if self.linear0_w.shape[0] != 2 * ((NUM_FEATURES - KERNEL + 1) // 2):
            raise ValueError("beat network weights do not match the feature size")

    def embed(self, frames: np.ndarray) -> np.ndarray:
        """(time, 272) features → (time, 150) LSTM inputs: conv across frequency, ReLU, max-pool, linear."""
        windows = np.lib.stride_tricks.sliding_window_view(frames, KERNEL, axis=1)  # (t, 263, kernel)
        conv = np.maximum(windows @ self.conv_w + self.conv_b, 0.0)  # (t, 263, 2)
        usable = (conv.shape[1] // 2) * 2
        pooled = conv[:, :usable].reshape(len(frames), -1, 2, conv.shape[2]).max(axis=2)  # (t, 131, 2)
        flat = pooled.transpose(0, 2, 1).reshape(len(frames), -1)  # channel-major, as torch flattens
        return flat @ self.linear0_w + self.linear0_b

    def run(self, frames: np.ndarray, state: list[tuple[np.ndarray, np.ndarray]] | None = None
            ) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """(time, 272) features → ((time, 2) beat / downbeat probabilities, LSTM state to carry on)."""
        x = self.embed(np.asarray(frames, dtype=np.float32))
        state = state or [(np.zeros(CELLS, np.float32), np.zeros(CELLS, np.float32)) for _ in self.layers]
        new_state = []
        for (w_ih, w_hh, bias), (h, c) in zip(self.layers, state):
            gates_in = x @ w_ih + bias  # the input half of every step at once
            out = np.empty((len(x), CELLS), dtype=np.float32)
            for t in range(len(x)):
                gates = np.tanh(gates_in[t] + h @ w_hh)  # tanh(i/2), tanh(f/2), tanh(cell), tanh(o/2)
                s = gates * 0.5 + 0.5  # σ(i), σ(f), -, σ(o)
                c = s[CELLS:2 * CELLS] * c + s[:CELLS] * gates[2 * CELLS:3 * CELLS]
                h = s[3 * CELLS:] * np.tanh(c)
                out[t] = h
            new_state.append((h, c))
            x = out
        logits = x @ self.out_w + self.out_b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        return p[:, :2].astype(np.float32), new_state


@lru_cache(maxsize=1)
def load_network() -> BeatNetCRNN:
    """The shipped network (loaded once per process)."""
    from safetensors.numpy import load_file

    return BeatNetCRNN(load_file(str(WEIGHTS)))


def activations(features: np.ndarray) -> np.ndarray:
    """(frames, 2) beat and downbeat probabilities of a whole song's features."""
    if len(features) == 0:
        return np.zeros((0, 2), dtype=np.float32)
    probabilities, _ = load_network().run(features)
    return probabilities


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
