"""Time + features + controls + setlist → FrameParams, frame by frame."""
