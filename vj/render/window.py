"""The projector window: GLFW + ModernGL, fullscreen on a chosen monitor or windowed (the HUD is
``vj.render.hud``; ``HeadlessDisplay`` stands in for the window where there is no window system).

GLFW wants its windows made and its events pumped on the main thread, so this module owns only
that: the window, its GL context, keys turned into ``Action``s, and monitor hot-plug. The generator gets a hidden window sharing this one's textures
(``make_shared_context``) so its frames reach the screen without leaving the GPU.
"""
from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from vj.errors import VjError

log = logging.getLogger(__name__)


class WindowError(VjError):
    """No window can be opened (no display, no GL 3.3, unknown monitor): a message for people."""


class Action(enum.Enum):
    """What a key (or later an OSC/MIDI control) asks the show to do."""

    NEXT_CUE = "next_cue"
    PREVIOUS_CUE = "previous_cue"
    ARM_DOWNBEAT = "arm_downbeat"   # the next cue fires on the next downbeat
    ARM_ONSET = "arm_onset"         # the next cue fires on the next onset
    NEXT_SONG = "next_song"
    PREVIOUS_SONG = "previous_song"
    BLACKOUT = "blackout"
    FREEZE = "freeze"
    TAP = "tap"
    RESYNC = "resync"               # the next instant is a downbeat
    BPM_UP = "bpm_up"
    BPM_DOWN = "bpm_down"
    HUD = "hud"
    QUIT = "quit"                   # asks for a confirmation: a second QUIT within QUIT_CONFIRM_SECONDS


#: Seconds within which a second quit key confirms the first.
QUIT_CONFIRM_SECONDS = 2.0

#: Key help, shown by ``vj live --help`` and docs/live.md.
KEY_HELP = """\
  →  N        next cue                 ←  P        previous cue
  D           next cue on the downbeat O           next cue on the next onset
  ]           next song                [           previous song
  B           blackout (toggle)        F           freeze frame (toggle)
  Space  T    tap tempo                R           resync: now is a downbeat
  ↑  ↓        BPM +1 / −1              H           HUD (toggle)
  Esc  Q      quit (press twice)"""


def _key_map() -> dict[int, Action]:
    import glfw

    return {
        glfw.KEY_RIGHT: Action.NEXT_CUE, glfw.KEY_N: Action.NEXT_CUE,
        glfw.KEY_LEFT: Action.PREVIOUS_CUE, glfw.KEY_P: Action.PREVIOUS_CUE,
        glfw.KEY_D: Action.ARM_DOWNBEAT, glfw.KEY_O: Action.ARM_ONSET,
        glfw.KEY_RIGHT_BRACKET: Action.NEXT_SONG, glfw.KEY_LEFT_BRACKET: Action.PREVIOUS_SONG,
        glfw.KEY_B: Action.BLACKOUT, glfw.KEY_F: Action.FREEZE,
        glfw.KEY_SPACE: Action.TAP, glfw.KEY_T: Action.TAP, glfw.KEY_R: Action.RESYNC,
        glfw.KEY_UP: Action.BPM_UP, glfw.KEY_DOWN: Action.BPM_DOWN,
        glfw.KEY_H: Action.HUD, glfw.KEY_ESCAPE: Action.QUIT, glfw.KEY_Q: Action.QUIT,
    }


@dataclass(frozen=True)
class MonitorInfo:
    index: int
    name: str
    width: int
    height: int
    refresh: int
    handle: Any = None

    def describe(self) -> str:
        rate = f" @ {self.refresh} Hz" if self.refresh else ""
        return f"[{self.index}] {self.name} ({self.width}x{self.height}{rate})"


def init_glfw() -> None:
    """Initialise GLFW once, with a message naming what is missing when it can't."""
    import glfw

    glfw.ERROR_REPORTING = "log"  # GLFW errors become debug logs, not warnings printed mid-show
    if not glfw.init():
        description = glfw.get_error()[1] if hasattr(glfw, "get_error") else None
        raise WindowError("cannot open a window: GLFW failed to initialise"
                          + (f" ({description.decode() if isinstance(description, bytes) else description})"
                             if description else "")
                          + "; is a display available (DISPLAY set, or run under Xvfb)?")


def list_monitors() -> list[MonitorInfo]:
    """The connected monitors (GLFW must be initialised)."""
    import glfw

    monitors = []
    for index, handle in enumerate(glfw.get_monitors() or []):
        mode = glfw.get_video_mode(handle)
        name = glfw.get_monitor_name(handle)
        name = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
        monitors.append(MonitorInfo(index, name, mode.size.width, mode.size.height, mode.refresh_rate, handle))
    return monitors


def find_monitor(spec: str | int | None, monitors: Sequence[MonitorInfo] | None = None) -> MonitorInfo:
    """The monitor named by ``spec`` (index, exact name or a unique part of it; None: the primary)."""
    monitors = list(monitors if monitors is not None else list_monitors())
    listing = "\n  ".join(m.describe() for m in monitors) or "(none connected)"
    if not monitors:
        raise WindowError(f"no monitor found for a fullscreen window; use --windowed. Monitors:\n  {listing}")
    if spec is None or spec == "":
        return monitors[0]
    text = str(spec).strip()
    if text.isdigit():
        if int(text) < len(monitors):
            return monitors[int(text)]
        raise WindowError(f"--screen {text}: no monitor with that index; available monitors:\n  {listing}")
    exact = [m for m in monitors if m.name.lower() == text.lower()]
    partial = exact or [m for m in monitors if text.lower() in m.name.lower()]
    if len(partial) == 1 or exact:
        return partial[0]
    if partial:
        raise WindowError(f"--screen '{text}' matches several monitors; give an index:\n  "
                          + "\n  ".join(m.describe() for m in partial))
    raise WindowError(f"--screen '{text}': no such monitor; available monitors:\n  {listing}")


def letterbox(window: tuple[int, int], picture: tuple[int, int]) -> tuple[int, int, int, int]:
    """The largest (x, y, w, h) viewport of the picture's aspect centred in the window."""
    ww, wh = max(window[0], 1), max(window[1], 1)
    pw, ph = picture
    scale = min(ww / pw, wh / ph)
    w, h = max(1, int(round(pw * scale))), max(1, int(round(ph * scale)))
    return (ww - w) // 2, (wh - h) // 2, w, h


class OutputWindow:
    """One GLFW window with a ModernGL context: the projector output.

    size:      windowed size (ignored fullscreen: the monitor's mode is used).
    monitor:   a MonitorInfo for fullscreen, or None for a window.
    vsync:     swap on the monitor's refresh (the display loop paces itself when the platform
               ignores it, as Xvfb does).
    """

    def __init__(self, title: str, size: tuple[int, int], monitor: MonitorInfo | None = None,
                 vsync: bool = True) -> None:
        import glfw
        import moderngl

        from vj.render.gl import release_egl_thread

        release_egl_thread()   # a headless context left current here would make X refuse this one
        init_glfw()
        glfw.default_window_hints()
        for hint, value in ((glfw.CONTEXT_VERSION_MAJOR, 3), (glfw.CONTEXT_VERSION_MINOR, 3),
                            (glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE), (glfw.OPENGL_FORWARD_COMPAT, True),
                            (glfw.AUTO_ICONIFY, False)):
            glfw.window_hint(hint, value)
        self.monitor = monitor
        if monitor is not None:
            mode = glfw.get_video_mode(monitor.handle)
            glfw.window_hint(glfw.REFRESH_RATE, mode.refresh_rate)
            self.handle = glfw.create_window(mode.size.width, mode.size.height, title, monitor.handle, None)
        else:
            self.handle = glfw.create_window(size[0], size[1], title, None, None)
        if not self.handle:
            raise WindowError("cannot open a window: no OpenGL 3.3 core context (install Mesa: libgl1-mesa-dri)")
        glfw.make_context_current(self.handle)
        glfw.swap_interval(1 if vsync else 0)
        self.ctx = moderngl.create_context()
        self.windowed_size = size
        self._keys = _key_map()
        self._actions: list[Action] = []
        glfw.set_key_callback(self.handle, self._on_key)
        glfw.set_window_close_callback(self.handle, self._on_close)
        glfw.set_monitor_callback(self._on_monitor)
        if monitor is None:
            glfw.show_window(self.handle)
        self._shared: list[Any] = []

    # ---- events -----------------------------------------------------------------------------

    def _on_key(self, window: Any, key: int, scancode: int, action: int, mods: int) -> None:
        import glfw

        if action == glfw.PRESS and key in self._keys:
            self._actions.append(self._keys[key])

    def _on_close(self, window: Any) -> None:
        import glfw

        glfw.set_window_should_close(window, False)  # a stray click must not end the show
        self._actions.append(Action.QUIT)

    def _on_monitor(self, handle: Any, event: int) -> None:
        import glfw

        if event == glfw.DISCONNECTED and self.monitor is not None and handle == self.monitor.handle:
            log.warning("monitor '%s' disconnected; continuing in a window", self.monitor.name)
            self.monitor = None
            glfw.set_window_monitor(self.handle, None, 40, 40, *self.windowed_size, 0)
        elif event == glfw.CONNECTED:
            log.info("a monitor was connected")

    def poll(self) -> list[Action]:
        """Pump window events; the actions asked for since the last call."""
        import glfw

        glfw.poll_events()
        actions, self._actions = self._actions, []
        return actions

    def inject(self, action: Action) -> None:
        """Queue an action as if its key were pressed (tests, OSC/MIDI bridges on the main thread)."""
        self._actions.append(action)

    # ---- drawing ----------------------------------------------------------------------------

    @property
    def screen(self) -> Any:
        """The framebuffer the show draws into (the window's own)."""
        return self.ctx.screen

    @property
    def framebuffer_size(self) -> tuple[int, int]:
        import glfw

        return tuple(glfw.get_framebuffer_size(self.handle))  # type: ignore[return-value]

    @property
    def refresh_rate(self) -> float:
        """The monitor's refresh (Hz); 60 when the platform doesn't say (Xvfb, some drivers)."""
        import glfw

        handle = self.monitor.handle if self.monitor else glfw.get_primary_monitor()
        mode = glfw.get_video_mode(handle) if handle else None
        return float(mode.refresh_rate) if mode and mode.refresh_rate else 60.0

    def swap(self) -> float:
        """Swap buffers; returns ``time.monotonic()`` right after."""
        import glfw

        glfw.swap_buffers(self.handle)
        return time.monotonic()

    def screenshot(self) -> np.ndarray:
        """H×W×3 uint8 of the back buffer, row 0 at the top: call after drawing, before ``swap``."""
        width, height = self.framebuffer_size
        raw = self.ctx.screen.read(viewport=(0, 0, width, height), components=3)
        return np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)[::-1].copy()

    def make_shared_context(self) -> Any:
        """A hidden 1×1 window whose context shares textures with this one (for another thread:
        call ``glfw.make_context_current`` on it there, then ``moderngl.create_context()``)."""
        import glfw

        glfw.window_hint(glfw.VISIBLE, False)
        hidden = glfw.create_window(1, 1, "vj generator", None, self.handle)
        glfw.window_hint(glfw.VISIBLE, True)
        if not hidden:
            raise WindowError("cannot create a shared GL context for the generator thread")
        self._shared.append(hidden)
        return hidden

    def close(self) -> None:
        import glfw

        for hidden in self._shared:
            glfw.destroy_window(hidden)
        self._shared.clear()
        if self.handle:
            self.ctx.release()
            glfw.destroy_window(self.handle)
            self.handle = None
        glfw.terminate()



class HeadlessDisplay:
    """A display without a window: an offscreen framebuffer on a headless (EGL) context, the
    same interface as ``OutputWindow`` (keys are injected, swaps return at once). The live show
    runs on it in tests and benchmarks without a window system."""

    monitor = None

    def __init__(self, size: tuple[int, int], now: Any = time.monotonic, refresh_rate: float = 60.0) -> None:
        from vj.render.gl import create_headless_context

        self.ctx = create_headless_context()
        self.size = size
        self._color = self.ctx.texture(size, 4, dtype="f1")
        self.screen = self.ctx.framebuffer(color_attachments=[self._color])
        self.now = now
        self.refresh_rate = refresh_rate
        self._actions: list[Action] = []
        self.swaps = 0

    @property
    def framebuffer_size(self) -> tuple[int, int]:
        return self.size

    def poll(self) -> list[Action]:
        actions, self._actions = self._actions, []
        return actions

    def inject(self, action: Action) -> None:
        self._actions.append(action)

    def swap(self) -> float:
        self.swaps += 1
        return self.now()

    def screenshot(self) -> np.ndarray:
        """H×W×3 uint8 of what was drawn, row 0 at the top."""
        width, height = self.size
        raw = self.screen.read(components=3)
        return np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)[::-1].copy()

    def make_shared_context(self) -> Any:
        raise WindowError("a headless display has no window to share a GL context with")

    def close(self) -> None:
        from vj.render.gl import release_context

        self.screen.release()
        self._color.release()
        release_context(self.ctx)


__all__ = ["Action", "HeadlessDisplay", "KEY_HELP", "MonitorInfo", "OutputWindow", "WindowError",
           "find_monitor", "init_glfw", "letterbox", "list_monitors", "QUIT_CONFIRM_SECONDS"]
