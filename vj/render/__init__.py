"""GL rendering: contexts and targets (``gl``), the passes (``passes``); shaders live in ``shaders/``."""
