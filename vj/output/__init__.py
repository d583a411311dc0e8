"""Outputs that read finished frames: the MP4 recorder (and its recovery) and the timeline picture."""
from __future__ import annotations

from vj.output.recorder import LiveAudioInput, OutputError, Recorder, SongAudio

__all__ = ["LiveAudioInput", "OutputError", "Recorder", "SongAudio"]
