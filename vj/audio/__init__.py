"""Audio in: decoding files (``decode``), the per-hop streaming analyser shared by offline and live
mode (``analysis``), the whole-track analysis with its cache (``offline``) and the beat grid (``grid``).

Import from the submodules; this package imports nothing itself so that ``vj.grid`` stays
cheap (no aubio, no FFmpeg).
"""
