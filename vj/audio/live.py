"""Live audio input: a PyAudio callback fills a ring buffer, an analysis thread publishes features.

The callback runs on PortAudio's thread and must never wait: it copies the chosen channel into a
single-producer ring buffer, notes when the buffer arrived, and pokes a pipe so the analysis
thread wakes without polling (no Python lock is taken on the audio thread). The analysis thread
runs the same ``HopAnalyser`` as offline (with the causal ``fast`` onset detector unless another
is asked for) and publishes each hop with the monotonic time of the audio it came from, so onsets
are placed where they happened, not where they were noticed.

If the device disappears or stops delivering, the thread keeps the show informed (``state``),
and retries opening the input; the live loop carries on from its internal tempo clock.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from vj.audio.analysis import FAST, ONSET_METHODS, AnalysisSettings, HopAnalyser, HopResult
from vj.audio.beats import LiveBeatTracker
from vj.errors import VjError

log = logging.getLogger(__name__)

#: Sample rates tried, in order, after the one asked for and the device's own default.
FALLBACK_RATES = (48000, 44100, 96000, 88200, 32000, 22050)
#: Hops the analysis supports live (5.8 / 11.6 ms at 44.1 kHz).
LIVE_HOPS = (256, 512)
#: The live onset detector unless one is asked for: the causal one (vj/audio/fast_onset.py), which
#: decides on the attack's hop or the next instead of aubio's 4-5 hops later, and scored as well as
#: aubio's hfc on the synthesised mixes (tests/audio/test_fast_onset.py).
LIVE_ONSET_METHOD = FAST


class AudioInputError(VjError):
    """The input the user named does not exist or cannot be opened (exit 2, lists what exists)."""


@dataclass(frozen=True)
class InputDevice:
    """One audio input as PortAudio lists it."""

    index: int
    name: str
    host_api: str
    channels: int
    default_rate: float

    def describe(self) -> str:
        return (f"[{self.index}] {self.name} ({self.host_api}, {self.channels} ch, "
                f"{self.default_rate:g} Hz)")


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence C-level stderr while PortAudio probes ALSA: it prints dozens of lines about
    cards that don't exist, which would bury the messages a VJ needs to read."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def open_portaudio() -> Any:
    """A fresh ``pyaudio.PyAudio`` (device lists are only re-read on a new one)."""
    import pyaudio

    with _quiet_stderr():
        return pyaudio.PyAudio()


def input_devices(pa: Any) -> list[InputDevice]:
    """Every device with at least one input channel."""
    devices = []
    for index in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(index)
        if int(info.get("maxInputChannels", 0)) < 1:
            continue
        api = pa.get_host_api_info_by_index(int(info["hostApi"]))["name"]
        devices.append(InputDevice(index, str(info["name"]), str(api), int(info["maxInputChannels"]),
                                   float(info["defaultSampleRate"])))
    return devices


def find_input_device(pa: Any, spec: str | int | None) -> InputDevice:
    """The input named by ``spec``: an index, an exact name, or a unique part of a name
    (case-insensitive); ``None`` picks the default input. Raises AudioInputError listing inputs."""
    devices = input_devices(pa)
    listing = "\n  ".join(d.describe() for d in devices) or "(none: no audio input found)"
    if spec is None or spec == "":
        try:
            default = int(pa.get_default_input_device_info()["index"])
        except (IOError, OSError, KeyError):
            default = None
        for device in devices:
            if device.index == default:
                return device
        if devices:
            return devices[0]
        raise AudioInputError(f"no audio input found; available inputs:\n  {listing}")
    text = str(spec).strip()
    if text.isdigit():
        for device in devices:
            if device.index == int(text):
                return device
        raise AudioInputError(f"--input {text}: no input device with that index; available inputs:\n  {listing}")
    exact = [d for d in devices if d.name.lower() == text.lower()]
    if exact:
        return exact[0]
    partial = [d for d in devices if text.lower() in d.name.lower()]
    if len(partial) == 1:
        return partial[0]
    if len(partial) > 1:
        raise AudioInputError(f"--input '{text}' matches several inputs; give an index or a longer name:\n  "
                              + "\n  ".join(d.describe() for d in partial))
    raise AudioInputError(f"--input '{text}': no such audio input; available inputs:\n  {listing}")


def choose_sample_rate(pa: Any, device: InputDevice, channels: int, wanted: int | None) -> tuple[int, str | None]:
    """A rate the device accepts: ``wanted`` if it can, else the device default or a common one.
    Returns (rate, a message saying what changed, or None)."""
    import pyaudio

    candidates: list[int] = []
    for rate in (wanted, int(device.default_rate), *FALLBACK_RATES):
        if rate and rate not in candidates:
            candidates.append(int(rate))
    for rate in candidates:
        try:
            with _quiet_stderr():
                ok = pa.is_format_supported(rate, input_device=device.index, input_channels=channels,
                                            input_format=pyaudio.paFloat32)
        except ValueError:
            ok = False
        if ok:
            if wanted and rate != wanted:
                return rate, (f"input '{device.name}' does not take {wanted} Hz; using {rate} Hz instead")
            return rate, None
    raise AudioInputError(f"input '{device.name}' accepts none of the sample rates "
                          f"{', '.join(map(str, candidates))} Hz with {channels} channel(s)")


class SampleRing:
    """Single-producer, single-consumer ring of float32 samples in shared memory.

    The producer is the audio callback in the capture process; the consumer is the analysis
    thread here. Only the producer moves ``written`` (one aligned int64 store after the samples are
    in place) and only the consumer moves ``read``, so neither side takes a lock. Each write also
    stores one clock estimate (see ``SampleClock``) and pokes a pipe so the consumer wakes without
    polling. A consumer that falls a whole buffer behind skips ahead and counts what it lost.
    """

    #: header int64 slots
    WRITTEN, STOP, CALLBACKS, OVERFLOWS, STAMPS, LAST_NS = range(6)
    STAMP_SLOTS = 128

    def __init__(self, capacity: int = 1 << 19, *, name: str | None = None, wake_fd: int | None = None) -> None:
        from multiprocessing import shared_memory

        size = 1 << max(10, int(capacity - 1).bit_length())
        nbytes = 64 + 8 * self.STAMP_SLOTS + 4 * size
        self.owner = name is None
        self._shm = shared_memory.SharedMemory(name=name, create=self.owner, size=nbytes)
        if not self.owner:
            _untrack(self._shm)
        buf = self._shm.buf
        self._header = np.ndarray((8,), dtype=np.int64, buffer=buf, offset=0)
        self.stamps = np.ndarray((self.STAMP_SLOTS,), dtype=np.float64, buffer=buf, offset=64)
        self._data = np.ndarray((size,), dtype=np.float32, buffer=buf, offset=64 + 8 * self.STAMP_SLOTS)
        if self.owner:
            self._header[:] = 0
            self.stamps[:] = np.inf
        self._mask = size - 1
        self.capacity = size
        self.read = 0
        self.overruns = 0
        if wake_fd is None:
            self._wake_r, self._wake_w = os.pipe()
            os.set_blocking(self._wake_r, False)
        else:
            self._wake_r, self._wake_w = -1, wake_fd
        os.set_blocking(self._wake_w, False)

    @property
    def name(self) -> str:
        return self._shm.name

    @property
    def wake_fd(self) -> int:
        """The pipe end the producer writes to (pass it to the capture process)."""
        return self._wake_w

    @property
    def written(self) -> int:
        return int(self._header[self.WRITTEN])

    # ---- producer --------------------------------------------------------------------------

    def write(self, samples: np.ndarray, origin: float | None = None) -> None:
        """Copy in, note the clock estimate ``origin`` (monotonic time of sample 0), publish, wake.
        Never blocks."""
        header = self._header
        written = int(header[self.WRITTEN])
        if origin is not None:
            count = int(header[self.STAMPS])
            self.stamps[count % self.STAMP_SLOTS] = origin
            header[self.STAMPS] = count + 1
        n = len(samples)
        if n > self.capacity:  # keep the newest; indices still count every sample
            written += n - self.capacity
            samples = samples[-self.capacity:]
            n = self.capacity
        start = written & self._mask
        first = min(n, self.capacity - start)
        self._data[start:start + first] = samples[:first]
        if first < n:
            self._data[:n - first] = samples[first:]
        header[self.WRITTEN] = written + n
        header[self.CALLBACKS] += 1
        header[self.LAST_NS] = time.monotonic_ns()
        try:
            os.write(self._wake_w, b"\0")
        except (BlockingIOError, OSError):
            pass  # the pipe is full: the consumer has wake-ups waiting already

    def count_overflow(self) -> None:
        self._header[self.OVERFLOWS] += 1

    @property
    def stop_requested(self) -> bool:
        return bool(self._header[self.STOP])

    # ---- consumer --------------------------------------------------------------------------

    def request_stop(self) -> None:
        self._header[self.STOP] = 1

    @property
    def stamp_count(self) -> int:
        return int(self._header[self.STAMPS])

    @property
    def callbacks(self) -> int:
        return int(self._header[self.CALLBACKS])

    @property
    def last_callback(self) -> float:
        """Monotonic seconds of the last write (0 before any)."""
        return int(self._header[self.LAST_NS]) / 1e9

    def available(self) -> int:
        return self.written - self.read

    def wait(self, count: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until ``count`` samples are readable."""
        deadline = time.monotonic() + timeout
        while self.available() < count:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            readable, _, _ = select.select([self._wake_r], [], [], left)
            if readable:
                try:
                    os.read(self._wake_r, 4096)
                except BlockingIOError:
                    pass
        return True

    def take(self, count: int) -> tuple[int, np.ndarray]:
        """The next ``count`` samples and the index of the first; call after ``wait``."""
        written = self.written
        if written - self.read > self.capacity:
            lost = written - self.read - self.capacity
            self.overruns += lost
            self.read += lost
        start = self.read & self._mask
        end = start + count
        if end <= self.capacity:
            out = self._data[start:end].copy()
        else:
            out = np.concatenate((self._data[start:], self._data[:end - self.capacity]))
        first = self.read
        self.read += count
        return first, out

    def close(self) -> None:
        for fd in (self._wake_r, self._wake_w) if self.owner else ():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._header = self.stamps = self._data = None  # type: ignore[assignment]
        with contextlib.suppress(BufferError):
            self._shm.close()
        if self.owner:
            with contextlib.suppress(FileNotFoundError):
                self._shm.unlink()


def _untrack(shm: Any) -> None:
    """An attached (not owned) block must not be unlinked by this process's resource tracker."""
    try:
        from multiprocessing import resource_tracker

        resource_tracker.unregister(shm._name, "shared_memory")  # noqa: SLF001
    except (ImportError, AttributeError, KeyError):
        pass


class SampleClock:
    """Maps a sample index of the current input stream to ``time.monotonic()`` seconds.

    Each callback leaves one estimate of when sample 0 was captured: arrival time minus how long
    ago its buffer started (PortAudio's time info when it has it) minus the samples before it.
    Callbacks are only ever late, never early, so the earliest of the last ``STAMP_SLOTS``
    estimates is the least jittery; the sliding window follows drift between the audio and
    system clocks, and a jump in the recent ones (lost samples) is followed at once. ``time.monotonic`` is system-wide on Linux, so the capture process's stamps
    read the same here.
    """

    def __init__(self, ring: SampleRing, sample_rate: int) -> None:
        self.ring = ring
        self.sample_rate = sample_rate

    #: Recent estimates this much later than the window's earliest mean samples were lost (an xrun,
    #: a USB dropout): the stream's timeline moved, so follow the recent ones at once.
    DROPOUT = 0.010
    RECENT = 32

    def origin(self) -> float:
        """Monotonic time of sample 0."""
        stamps = self.ring.stamps
        earliest = float(np.min(stamps))
        if not math.isfinite(earliest):
            return time.monotonic()
        count = int(self.ring.stamp_count)
        if count > self.RECENT:
            recent = stamps[(np.arange(count - self.RECENT, count)) % len(stamps)]
            recent_earliest = float(np.min(recent))
            if recent_earliest - earliest > self.DROPOUT:
                return recent_earliest
        return earliest

    def time_of_sample(self, index: float) -> float:
        return self.origin() + index / self.sample_rate


@dataclass
class LiveAudioSettings:
    """How to capture.

    device:        index, name or part of a name (None: the default input).
    channel:       1-based input channel to analyse; 0 mixes every opened channel.
    sample_rate:   Hz asked for (None: the device's default); refused rates fall back, with a message.
    hop:           analysis hop in samples, 256 or 512.
    buffer:        PortAudio frames per buffer (None: the hop; smaller adds nothing, larger adds delay).
    onset_method:  onset detector: ``fast`` (None gives it: ``LIVE_ONSET_METHOD``) or an aubio method
                   (``hfc``, ``specflux``, ...: see ``vj.audio.analysis.ONSET_METHODS``). A method other
                   than the analysis template's starts at its own default threshold.
    lost_after:    seconds without a callback before the input counts as lost.
    retry_every:   seconds between attempts to reopen a lost input.
    silent_after:  seconds below ``silence_db`` before a 'no signal' warning.
    silence_db:    dBFS under which the input counts as silent.
    """

    device: str | int | None = None
    channel: int = 1
    sample_rate: int | None = None
    hop: int = 256
    buffer: int | None = None
    onset_method: str | None = None
    lost_after: float = 0.5
    retry_every: float = 2.0
    silent_after: float = 3.0
    silence_db: float = -70.0

    def __post_init__(self) -> None:
        if self.hop not in LIVE_HOPS:
            raise AudioInputError(f"--hop must be one of {', '.join(map(str, LIVE_HOPS))} (got {self.hop})")
        if self.channel < 0:
            raise AudioInputError(f"--channel counts from 1, or 0 for a mix of all (got {self.channel})")
        self.onset_method = self.onset_method or LIVE_ONSET_METHOD
        if self.onset_method not in ONSET_METHODS:
            raise AudioInputError(f"--onset-method '{self.onset_method}': no such onset method; use one of "
                                  f"{', '.join(ONSET_METHODS)}")


def live_analysis_settings(base: AnalysisSettings | None, sample_rate: int, hop: int,
                           onset_method: str | None = None) -> AnalysisSettings:
    """The per-hop analysis settings live mode runs with (also what ``vj analyse --live`` replays):
    the template at the input's rate and hop, the live onset method at its own threshold."""
    base = base or AnalysisSettings()
    changes: dict[str, Any] = {"sample_rate": int(sample_rate), "hop": int(hop)}
    method = onset_method or LIVE_ONSET_METHOD
    if method != base.onset_method:  # another method: its own threshold, not the template's
        changes.update(onset_method=method, onset_threshold=None)
    if base.high_hz >= sample_rate / 2:  # 8 kHz input: the high band starts below Nyquist
        changes["high_hz"] = sample_rate / 4
    return replace(base, **changes)


@dataclass(frozen=True)
class LiveHop:
    """One analysed hop, stamped in ``time.monotonic()`` seconds.

    time:          when the hop's first sample was captured.
    onset_time:    when the onset happened (the detector's estimate of the attack); NaN when none.
    beat_time:     when the tracked beat fell; NaN when none.
    beat_position: that beat's place in its bar (1 = downbeat; 0 when no beat).
    beats_per_bar: the meter the live tracker believes in now.
    features:      normalised 0..1 values (rms, low, mid, high, perc, harm) for ``Features``.
    level_db:      the hop's RMS in dBFS (``AudioStatus.level_db`` is the peak-hold meter).
    published:     when the analysis thread published it (minus ``time`` = buffering + detection).
    arrived:       when the callback that completed this hop ran (the buffering stage ends here).
    """

    time: float
    is_onset: bool
    onset_time: float
    onset_strength: float
    is_beat: bool
    beat_time: float
    bpm: float
    features: dict[str, float]
    level_db: float
    published: float
    arrived: float
    beat_position: int = 0
    beats_per_bar: int = 4


class FeatureNormaliser:
    """Live stand-in for the offline per-track normalisation: each value over its own slowly
    decaying peak, so quiet and loud rooms both reach 0..1 without knowing the song in advance."""

    NAMES = ("rms", "low", "mid", "high", "perc", "harm")

    def __init__(self, hop_seconds: float, half_life: float = 8.0) -> None:
        self._decay = 0.5 ** (hop_seconds / half_life)
        self._peaks = dict.fromkeys(self.NAMES, 0.0)

    def __call__(self, result: HopResult, silent: bool) -> dict[str, float]:
        out = {}
        for name in self.NAMES:
            value = float(getattr(result, name))
            value = math.sqrt(value) if name != "rms" else value  # energies → amplitudes: meters read evenly
            peak = max(value, self._peaks[name] * self._decay)
            self._peaks[name] = peak
            out[name] = 0.0 if silent or peak <= 1e-9 else min(value / peak, 1.0)
        return out


@dataclass
class AudioStatus:
    """What the HUD and the loop show about the input: one small snapshot, replaced whole."""

    state: str = "off"          # off | running | silent | lost
    message: str = ""
    device: str = ""
    sample_rate: int = 0
    hop: int = 256
    level_db: float = -120.0
    overruns: int = 0


class LiveAudio:
    """Capture + analysis thread. Read ``latest`` (the newest hop) any time; drain ``events``
    (hops that hold an onset or a beat) with ``popleft()`` until it raises IndexError."""

    def __init__(self, settings: LiveAudioSettings, *, analysis: AnalysisSettings | None = None) -> None:
        self.settings = settings
        self._analysis_template = analysis
        self.capture = AudioCapture(settings)
        self.latest: LiveHop | None = None
        self.events: deque[LiveHop] = deque(maxlen=1024)
        self.status = AudioStatus(hop=settings.hop)
        self.hops = 0
        #: linear gain before analysis (the control surface's ``input_gain``)
        self.input_gain = 1.0
        #: onset threshold from the control surface (None: the method's own, from the settings)
        self.onset_threshold: float | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._tap: Any | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self, *, required: bool = True) -> None:
        """Open the input and start analysing. With ``required``, a missing device raises
        AudioInputError now (before a window opens); otherwise the show starts on the internal
        clock and the thread keeps trying."""
        try:
            self.capture.open()
            self._set_status("running", self.capture.notice or "")
        except AudioInputError:
            if required:
                raise
            self._set_status("lost", "no audio input; running on the internal tempo clock")
            log.warning("no audio input; running on the internal tempo clock and retrying")
        except OSError as exc:
            if required:
                raise AudioInputError(f"cannot open the audio input: {exc}") from None
            self._set_status("lost", f"audio input failed ({exc}); running on the internal clock")
            log.warning("audio input failed (%s); running on the internal tempo clock", exc)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="vj-audio-analysis", daemon=True)
        self._thread.start()

    def record_input(self, sink: Any) -> None:
        """Also hand each hop to ``sink.write(time_of_first, samples, sample_rate)`` as it comes in
        (the live recording's soundtrack, ``vj.output.recorder.LiveAudioInput``)."""
        self._tap = sink

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        self.capture.close()
        self._set_status("off", "")

    # ---- the analysis thread ---------------------------------------------------------------

    def _new_analyser(self) -> HopAnalyser:
        settings = live_analysis_settings(self._analysis_template, self.capture.sample_rate, self.settings.hop,
                                          self.settings.onset_method)
        return HopAnalyser(settings, beats=False)  # beats: LiveBeatTracker

    def _reopen_fresh(self, hop: int) -> "tuple[HopAnalyser, FeatureNormaliser] | None":
        """Reopen the input; on success a fresh analyser and normaliser (the rate may have changed)."""
        if not self._reopen():
            return None
        self._beats = LiveBeatTracker(self.capture.sample_rate)
        return self._new_analyser(), FeatureNormaliser(hop / self.capture.sample_rate)

    def _run(self) -> None:
        hop = self.settings.hop
        analyser = self._new_analyser() if self.capture.ring is not None else None
        self._beats = LiveBeatTracker(max(self.capture.sample_rate, 1))
        normaliser = FeatureNormaliser(hop / max(self.capture.sample_rate, 1))
        last_retry = time.monotonic()
        quiet_since: float | None = None
        meter = -120.0
        while not self._stop.is_set():
            ring, clock = self.capture.ring, self.capture.clock
            if ring is None or clock is None or analyser is None:
                if time.monotonic() - last_retry >= self.settings.retry_every:
                    last_retry = time.monotonic()
                    fresh = self._reopen_fresh(hop)
                    if fresh is not None:
                        analyser, normaliser = fresh
                        quiet_since = None
                        continue
                self._stop.wait(0.05)
                continue
            if not ring.wait(hop, timeout=0.1):
                silent_for = time.monotonic() - self.capture.last_callback
                if silent_for > self.settings.lost_after and self.status.state != "lost":
                    self._set_status("lost", f"audio input '{self.capture.device.name if self.capture.device else '?'}'"
                                     f" delivers nothing; running on the internal clock, retrying")
                    log.warning("%s", self.status.message)
                    last_retry = time.monotonic()
                if self.status.state == "lost" and time.monotonic() - last_retry >= self.settings.retry_every:
                    last_retry = time.monotonic()
                    fresh = self._reopen_fresh(hop)
                    if fresh is not None:
                        analyser, normaliser = fresh
                        quiet_since = None
                continue
            if self.onset_threshold is not None and self.onset_threshold != analyser.onset_threshold:
                analyser.set_onset_threshold(self.onset_threshold)
            while ring.available() >= hop and not self._stop.is_set():
                first, samples = ring.take(hop)
                if self.input_gain != 1.0:
                    samples *= self.input_gain
                arrived = self.capture.last_callback
                result = analyser.process(samples)
                start_time = clock.time_of_sample(first)
                level_db = 20.0 * math.log10(max(result.rms, 1e-6))
                # The meter holds peaks and falls at 20 dB/s, as a console's does: a click of
                # 30 ms is otherwise gone before anyone sees it.
                meter = max(level_db, meter - 20.0 * hop / self.capture.sample_rate)
                silent = level_db < self.settings.silence_db
                to_mono = lambda t: clock.time_of_sample(t * self.capture.sample_rate)  # noqa: E731 (stream s → monotonic)
                hop_record = LiveHop(
                    time=start_time, is_onset=result.is_onset,
                    onset_time=to_mono(result.onset_time) if result.is_onset else math.nan,
                    onset_strength=result.onset_strength, is_beat=False, beat_time=math.nan,
                    bpm=self._beats.tempo, features=normaliser(result, silent), level_db=level_db,
                    published=time.monotonic(), arrived=arrived, beat_position=0, beats_per_bar=self._beats.meter)
                # The onset goes out first: the beat tracker's step (three networks every 20 ms of
                # audio) must not delay a hit decided on this hop.
                self.latest = hop_record
                if hop_record.is_onset:
                    self.events.append(hop_record)
                beats = self._beats.push(samples)
                if beats:
                    beat = beats[-1]
                    hop_record = replace(hop_record, is_onset=False, onset_time=math.nan, is_beat=True,
                                         beat_time=to_mono(beat.time), bpm=self._beats.tempo,
                                         beat_position=beat.position, beats_per_bar=self._beats.meter,
                                         published=time.monotonic())
                    self.latest = hop_record
                    self.events.append(hop_record)
                if self._tap is not None:
                    self._write_tap(start_time, samples)
                self.hops += 1
                quiet_since = self._track_silence(silent, quiet_since)
            self.status.level_db = meter
            self.status.overruns = ring.overruns

    def _track_silence(self, silent: bool, quiet_since: float | None) -> float | None:
        now = time.monotonic()
        if not silent:
            if self.status.state != "running":
                self._set_status("running", "")
                log.info("audio input is back")
            return None
        quiet_since = quiet_since or now
        if now - quiet_since > self.settings.silent_after and self.status.state == "running":
            self._set_status("silent", "no signal on the audio input; running on the internal clock")
            log.warning("%s", self.status.message)
        return quiet_since

    def _reopen(self) -> bool:
        try:
            self.capture.open()
        except (AudioInputError, OSError) as exc:
            log.debug("reopening the audio input failed: %s", exc)
            return False
        self._set_status("running", "audio input reopened")
        log.warning("audio input reopened: %s", self.capture.device.describe() if self.capture.device else "")
        return True

    def _write_tap(self, start_time: float, samples: np.ndarray) -> None:
        try:
            self._tap.write(start_time, samples, self.capture.sample_rate)  # type: ignore[union-attr]
        except Exception as exc:  # the show goes on; only the recording's sound stops
            log.error("cannot record the input audio: %s", exc)
            self._tap = None

    def _set_status(self, state: str, message: str) -> None:
        device = self.capture.device
        self.status = AudioStatus(state=state, message=message, device=device.name if device else "",
                                  sample_rate=self.capture.sample_rate, hop=self.settings.hop,
                                  level_db=self.status.level_db, overruns=self.status.overruns)


class AudioCapture:
    """One PortAudio input stream in callback mode, in a child process, feeding a ``SampleRing``.

    Why a process: once a JACK server dies under an open stream, PortAudio's JACK backend hangs
    for ever in ``Pa_StopStream``, ``Pa_CloseStream`` and ``Pa_Terminate``, and cannot be
    initialised again in the same process (measured with PortAudio 19.6 here). A child process
    can be killed and started again, so a lost device never freezes the show and can be retried.
    The child only copies samples into shared memory; everything else happens here.
    """

    #: Seconds the child gets to open the device and report.
    OPEN_TIMEOUT = 15.0

    def __init__(self, settings: LiveAudioSettings) -> None:
        self.settings = settings
        self.device: InputDevice | None = None
        self.sample_rate = settings.sample_rate or 0
        self.channels = 0
        self.notice: str | None = None
        self.ring: SampleRing | None = None
        self.clock: SampleClock | None = None
        self._process: subprocess.Popen | None = None
        self.opened_at = 0.0

    def open(self) -> None:
        """Start (or restart, re-reading the device list) the capture process; raises
        AudioInputError when the input doesn't exist or refuses every rate."""
        self.close()
        ring = SampleRing()
        request = {"device": self.settings.device, "channel": self.settings.channel,
                   "sample_rate": self.settings.sample_rate or self.sample_rate or None,
                   "buffer": self.settings.buffer or self.settings.hop, "ring": ring.name, "wake_fd": ring.wake_fd}
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = package_root + os.pathsep + env.get("PYTHONPATH", "")
        try:
            process = subprocess.Popen([sys.executable, "-m", "vj.audio.live", json.dumps(request)],
                                       stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, pass_fds=(ring.wake_fd,),
                                       env=env, start_new_session=True)
        except OSError as exc:
            ring.close()
            raise AudioInputError(f"cannot start the audio capture process: {exc}") from None
        self._process = process
        self.ring = ring
        report = self._read_report(process)
        if "error" in report:
            self.close()
            raise AudioInputError(report["error"])
        self.device = InputDevice(**report["device"])
        self.sample_rate, self.channels = int(report["rate"]), int(report["channels"])
        self.notice = report.get("notice")
        if self.notice:
            log.warning("%s", self.notice)
        self.clock = SampleClock(ring, self.sample_rate)
        self.opened_at = time.monotonic()
        log.info("audio input: %s at %d Hz, %d channel(s), hop %d", self.device.describe(), self.sample_rate,
                 self.channels, self.settings.hop)

    def _read_report(self, process: subprocess.Popen) -> dict:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], self.OPEN_TIMEOUT)
        line = process.stdout.readline() if ready else b""
        if not line:
            self.close()
            raise AudioInputError("the audio input did not open (the capture process gave no answer within "
                                  f"{self.OPEN_TIMEOUT:g} s)")
        try:
            return json.loads(line)
        except ValueError:
            self.close()
            raise AudioInputError(f"the audio capture process said: {line!r}") from None

    @property
    def last_callback(self) -> float:
        """Monotonic time of the last delivered buffer (the open time before the first)."""
        ring = self.ring
        if ring is None:
            return 0.0
        return max(ring.last_callback, self.opened_at)

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def close(self) -> None:
        """Stop the capture process (killed if the driver hangs it) and free the ring."""
        process, self._process = self._process, None
        if process is not None:
            if self.ring is not None:
                self.ring.request_stop()
            try:
                process.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                process.kill()  # a driver stuck in a dead server: nothing else will free it
                process.wait(timeout=5.0)
            if process.stdout is not None:
                process.stdout.close()
        if self.ring is not None:
            ring, self.ring = self.ring, None
            self.clock = None
            ring.close()


def _capture_main(request: dict) -> int:
    """The capture process: open the input, report (one JSON line on stdout), copy samples into
    the shared ring from the callback until told to stop or the parent goes away."""
    import pyaudio

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the show; it stops us itself
    parent = os.getppid()
    ring = SampleRing(name=request["ring"], wake_fd=int(request["wake_fd"]))
    channel = int(request["channel"])

    def report(message: dict) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    try:
        pa = open_portaudio()
        device = find_input_device(pa, request["device"])
        if channel > device.channels:
            raise AudioInputError(f"--channel {channel}: input '{device.name}' has {device.channels} channel(s)")
        channels = min(device.channels if channel == 0 else max(channel, 1), device.channels)
        rate, notice = choose_sample_rate(pa, device, channels, request["sample_rate"])
    except AudioInputError as exc:
        report({"error": str(exc)})
        return 2

    def callback(in_data: bytes | None, frame_count: int, time_info: dict, status: int) -> tuple[None, int]:
        arrival = time.monotonic()
        if in_data is None:
            return None, pyaudio.paContinue
        if status & pyaudio.paInputOverflow:
            ring.count_overflow()
        samples = np.frombuffer(in_data, dtype=np.float32)
        if channels > 1:
            frames = samples.reshape(-1, channels)
            samples = frames.mean(axis=1) if channel == 0 else frames[:, channel - 1]
        current, adc = time_info.get("current_time", 0.0), time_info.get("input_buffer_adc_time", 0.0)
        age = current - adc if 0.0 < current - adc < 1.0 else frame_count / rate
        ring.write(samples, arrival - age - ring.written / rate)
        return None, pyaudio.paContinue

    try:
        with _quiet_stderr():
            stream = pa.open(format=pyaudio.paFloat32, channels=channels, rate=rate, input=True,
                             input_device_index=device.index, frames_per_buffer=int(request["buffer"]),
                             stream_callback=callback)
    except OSError as exc:
        report({"error": f"cannot open input '{device.name}': {exc}"})
        return 2
    report({"device": vars(device), "rate": rate, "channels": channels, "notice": notice})
    while not ring.stop_requested and os.getppid() == parent:
        time.sleep(0.05)
    with _quiet_stderr():  # may hang on a dead server; the parent kills us then
        stream.stop_stream()
        stream.close()
        pa.terminate()
    return 0


__all__ = ["AudioCapture", "AudioInputError", "AudioStatus", "FeatureNormaliser", "InputDevice", "LiveAudio",
           "LiveAudioSettings", "LiveHop", "SampleClock", "SampleRing", "choose_sample_rate",
           "find_input_device", "input_devices", "open_portaudio", "live_analysis_settings", "LIVE_HOPS",
           "LIVE_ONSET_METHOD"]


if __name__ == "__main__":
    sys.exit(_capture_main(json.loads(sys.argv[1])))
