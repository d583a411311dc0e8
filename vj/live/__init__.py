"""Live performance: audio input → onsets and beats → the director → a projector window.

``vj live`` (``cli.py``) wires it: the tempo leader (``clock.py``), the display loop with the
generator in its own thread (``loop.py``, ``handoff.py``), the GLFW window and HUD (``window.py``),
the live recorder (``record.py``) and ``vj devices`` (``devices.py``). Audio capture and analysis
live in ``vj.audio.live``. See docs/live.md.
"""
