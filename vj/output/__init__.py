"""Outputs that read finished frames: the MP4 recorder and the timeline picture."""
from __future__ import annotations

from vj.output.recorder import BackgroundRecorder, OutputError, VideoRecorder

__all__ = ["BackgroundRecorder", "OutputError", "VideoRecorder"]
