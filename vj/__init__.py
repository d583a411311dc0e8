"""vj — a real-time VJ performance engine: audio-reactive few-step diffusion, live and rehearsed."""

__version__ = "0.1.0"
