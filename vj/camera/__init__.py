"""Camera motion: 2D warps and 3D poses, from FrameParams' CameraMotion."""
