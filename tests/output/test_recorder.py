"""Recorder: real H.264/AAC through PyAV, decoded back and compared frame by frame; the file it
leaves while writing plays too (crash safety), and the finished one is a faststart MP4."""
from __future__ import annotations

import os
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from output_synth import FPS, HEIGHT, SECONDS, WIDTH, synthetic_frame

from vj.render.frame import Frame
from vj.output.recorder import (LiveAudioInput, OutputError, Recorder, SongAudio, finalise,
                               partial_path)


def record(path: Path, frames: list[np.ndarray], audio_path: Path | None = None, audio_start: float = 0.0) -> Path:
    audio = SongAudio(audio_path, audio_start) if audio_path is not None else None
    with Recorder(path, WIDTH, HEIGHT, FPS, audio=audio) as recorder:
        for frame in frames:
            recorder.write(frame)
    return path


def decode_video(path: Path) -> tuple[av.video.stream.VideoStream, list[av.VideoFrame]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoded = list(container.decode(stream))
        return stream, decoded


def decode_audio(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [frame.to_ndarray().reshape(2, -1) for frame in container.decode(stream)]
        return np.concatenate(chunks, axis=1), stream.codec_context.sample_rate


def test_video_is_frame_exact_with_audio_of_the_same_length(tmp_path, frames, tone_wav):
    path = record(tmp_path / "out.mp4", frames, audio_path=tone_wav)
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.width, video.codec_context.height) == (WIDTH, HEIGHT)
        assert video.average_rate == FPS and video.time_base == Fraction(1, FPS)
        assert video.codec_context.name == "h264" and audio.codec_context.name == "aac"
        video_seconds = float(video.duration * video.time_base)
        audio_seconds = float(audio.duration * audio.time_base)
        assert video_seconds == pytest.approx(SECONDS)
        assert abs(audio_seconds - video_seconds) <= 1024 / audio.codec_context.sample_rate
        decoded = list(container.decode(video))
    assert len(decoded) == len(frames) == SECONDS * FPS
    assert [f.pts for f in decoded] == list(range(len(frames)))
    for index, (written, got) in enumerate(zip(frames, decoded)):
        pixels = got.to_ndarray(format="rgb24").astype(float)
        assert np.abs(pixels - written).mean() < 5.0, f"frame {index} differs"  # 4:2:0 + CRF 18
        # The red level names the frame: each decoded frame is the one written at its index.
        assert round(pixels[..., 0].mean() / 10) == index
    samples, rate = decode_audio(path)
    assert samples.shape[1] == pytest.approx(SECONDS * rate, abs=1024)
    assert not list(tmp_path.glob("*.partial*"))


def test_audio_start_cuts_the_song_where_asked(tmp_path, frames, tone_wav):
    from_zero, rate = decode_audio(record(tmp_path / "zero.mp4", frames, audio_path=tone_wav))
    from_one, _ = decode_audio(record(tmp_path / "one.mp4", frames, audio_path=tone_wav, audio_start=1.0))
    rms = lambda x: float(np.sqrt(np.mean(x ** 2)))  # noqa: E731
    early = slice(2048, int(0.8 * rate))  # past the AAC warm-up, before the tone's start at 1 s
    assert rms(from_zero[:, early]) < 0.01
    assert rms(from_one[:, early]) == pytest.approx(0.5 / np.sqrt(2), rel=0.15)
    # Song time 1 s in the first recording is the same tone the second starts with.
    assert rms(from_zero[:, int(1.1 * rate):int(1.8 * rate)]) == pytest.approx(0.354, rel=0.15)


def test_negative_audio_start_and_short_audio_are_padded_with_silence(tmp_path, frames, tone_wav):
    samples, rate = decode_audio(record(tmp_path / "pad.mp4", frames, audio_path=tone_wav, audio_start=-1.5))
    assert samples.shape[1] == pytest.approx(SECONDS * rate, abs=1024)
    assert np.abs(samples[:, 2048:int(2.4 * rate) // 2]).max() < 0.01  # silence, then the file's own silence
    late, _ = decode_audio(record(tmp_path / "late.mp4", frames, audio_path=tone_wav, audio_start=3.5))
    assert late.shape[1] == pytest.approx(SECONDS * rate, abs=1024)
    assert np.abs(late[:, int(0.7 * rate):]).max() < 0.01  # the file ended at 4 s: silence after


def test_same_input_gives_the_same_file(tmp_path, frames, tone_wav):
    first = record(tmp_path / "a.mp4", frames, audio_path=tone_wav)
    second = record(tmp_path / "b.mp4", frames, audio_path=tone_wav)
    decoded = [[f.to_ndarray(format="rgb24") for f in decode_video(p)[1]] for p in (first, second)]
    assert all(np.array_equal(a, b) for a, b in zip(*decoded))
    assert first.read_bytes() == second.read_bytes()


def test_frames_and_arrays_both_accepted_without_audio(tmp_path):
    path = tmp_path / "sub" / "dir" / "frames.mp4"  # missing folders are created
    with Recorder(path, WIDTH, HEIGHT, FPS) as recorder:
        recorder.write(Frame(array=synthetic_frame(0).astype(np.float32) / 255.0))
        recorder.write(synthetic_frame(1))
    with av.open(str(path)) as container:
        assert len(container.streams.audio) == 0
        assert len(list(container.decode(video=0))) == 2


def test_exception_inside_leaves_neither_output_nor_partial(tmp_path, frames):
    path = tmp_path / "out.mp4"
    path.write_bytes(b"the previous take")
    with pytest.raises(RuntimeError):
        with Recorder(path, WIDTH, HEIGHT, FPS) as recorder:
            for frame in frames[:5]:
                recorder.write(frame)
            assert partial_path(path).exists() and path.read_bytes() == b"the previous take"
            raise RuntimeError("generator crashed")
    assert path.read_bytes() == b"the previous take"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]
    fresh = tmp_path / "fresh.mp4"
    with pytest.raises(RuntimeError):
        with Recorder(fresh, WIDTH, HEIGHT, FPS):
            raise RuntimeError("before any frame")
    assert not fresh.exists() and not partial_path(fresh).exists()


def test_unwritable_paths_fail_at_construction(tmp_path):
    with pytest.raises(OutputError, match="is a directory"):
        Recorder(tmp_path, WIDTH, HEIGHT, FPS)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError, match="cannot create the folder"):
        Recorder(blocker / "out.mp4", WIDTH, HEIGHT, FPS)
    with pytest.raises(OutputError, match="cannot read audio"):
        SongAudio(tmp_path / "missing.wav")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_read_only_folder_fails_at_construction(tmp_path):
    # /proc takes no new files from anyone, root included (a chmod-ed folder would not stop root).
    with pytest.raises(OutputError, match="not writable"):
        Recorder(Path("/proc") / "out.mp4", WIDTH, HEIGHT, FPS)
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.geteuid() != 0:
            with pytest.raises(OutputError, match="not writable"):
                Recorder(folder / "out.mp4", WIDTH, HEIGHT, FPS)
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize("size", [(63, 48), (64, 47), (0, 48)])
def test_odd_sizes_are_refused_with_a_suggestion(tmp_path, size):
    with pytest.raises(OutputError, match="even"):
        Recorder(tmp_path / "odd.mp4", *size, FPS)
    assert not list(tmp_path.iterdir())


def test_wrong_frame_shape_is_refused(tmp_path):
    with Recorder(tmp_path / "out.mp4", WIDTH, HEIGHT, FPS) as recorder:
        with pytest.raises(OutputError, match="must be 48x64x3 uint8"):
            recorder.write(np.zeros((HEIGHT, WIDTH + 2, 3), dtype=np.uint8))
        recorder.write(synthetic_frame(0))


def test_closing_without_frames_writes_nothing(tmp_path):
    path = tmp_path / "empty.mp4"
    with pytest.raises(OutputError, match="no frames"):
        with Recorder(path, WIDTH, HEIGHT, FPS):
            pass
    assert not list(tmp_path.iterdir())


def _boxes(path: Path) -> list[str]:
    """The top-level MP4 boxes, in file order."""
    data, names, at = path.read_bytes(), [], 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        names.append(data[at + 4:at + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[at + 8:at + 16], "big")
        if size < 8:
            break
        at += size
    return names


def test_finished_recording_is_a_faststart_mp4_with_every_frame(tmp_path, frames, tone_wav):
    path = record(tmp_path / "out.mp4", frames, audio_path=tone_wav)
    boxes = _boxes(path)
    assert "moof" not in boxes and boxes.index("moov") < boxes.index("mdat"), boxes
    _, decoded = decode_video(path)
    assert len(decoded) == len(frames)


def _snapshot(recorder: Recorder, to: Path) -> Path:
    """The partial file as it is on disk right now: what a SIGKILL at this moment would leave."""
    to.write_bytes(recorder.partial.read_bytes())
    return to


def test_the_file_being_written_plays_to_within_two_seconds(tmp_path, tone_wav):
    fps, seconds = 24, 5
    recorder = Recorder(tmp_path / "out.mp4", WIDTH, HEIGHT, fps, audio=SongAudio(tone_wav))
    try:
        for index in range(fps * seconds):
            recorder.write(synthetic_frame(index))
        cut = _snapshot(recorder, tmp_path / "cut.mp4")
    finally:
        recorder.abort()
    with av.open(str(cut)) as container:
        assert container.streams.audio, "the audio is in the fragments too"
        video_frames = list(container.decode(video=0))
    assert fps * (seconds - 2) <= len(video_frames) < fps * seconds
    assert [f.pts for f in video_frames] == list(range(len(video_frames)))
    audio, rate = decode_audio(cut)
    assert abs(audio.shape[1] / rate - len(video_frames) / fps) < 0.1  # the sound plays as far as the picture
    # Red names the frame: the saved frames are the first ones, in order.
    assert [round(f.to_ndarray(format="rgb24")[..., 0].mean() / 10) for f in video_frames[:25:6]] == [0, 6, 12, 18, 24]
    finished = finalise(cut, tmp_path / "recovered.mp4")
    assert finished.frames == len(video_frames) and not cut.exists()
    assert "moof" not in _boxes(finished.output)
    assert len(decode_video(finished.output)[1]) == len(video_frames)


def test_a_fragment_cut_short_is_kept_to_its_last_whole_packet(tmp_path, tone_wav):
    fps = 24
    recorder = Recorder(tmp_path / "out.mp4", WIDTH, HEIGHT, fps, audio=SongAudio(tone_wav))
    try:
        for index in range(fps * 3):
            recorder.write(synthetic_frame(index))
        whole = recorder.partial.read_bytes()
    finally:
        recorder.abort()
    last_moof = whole.rindex(b"moof") - 4
    last_mdat = whole.rindex(b"mdat") - 4
    assert 0 < last_moof < last_mdat
    # Killed while writing the last fragment's header, and while writing its data.
    for cut in (last_moof + 40, last_mdat + 200):
        cut_file = tmp_path / f"cut{cut}.mp4"
        cut_file.write_bytes(whole[:cut])
        finished = finalise(cut_file, tmp_path / f"fixed{cut}.mp4")
        assert fps * 1.5 <= finished.frames <= fps * 3
        assert len(decode_video(finished.output)[1]) == finished.frames
        assert decode_audio(finished.output)[0].shape[1] > 0


def test_offered_frames_are_timed_by_their_swap_and_the_live_audio_lines_up(tmp_path):
    """The live path: offer() with swap times (a gap where the display stalled), audio fed as it
    'comes in' in hops stamped with capture times."""
    fps, rate, hop = 24, 48000, 256
    origin = 1000.0
    sound = LiveAudioInput(rate)
    recorder = Recorder(tmp_path / "live.mp4", WIDTH, HEIGHT, fps, audio=sound)
    times = [origin + i / fps for i in range(3 * fps) if not 30 <= i < 40]  # 10 frames never shown
    recorder.offer(synthetic_frame(0), times[0])
    t = np.arange(int(3.5 * rate)) / rate
    signal = (0.5 * np.sin(2 * np.pi * 440 * t) * (t >= 1.0)).astype(np.float32)
    for start in range(0, len(signal), hop):  # captured from 0.1 s before the first frame on
        if not 2.0 <= start / rate < 2.4:  # the input was lost for 0.4 s
            sound.write(origin - 0.1 + start / rate, signal[start:start + hop], rate)
    for index, when in enumerate(times[1:], 1):
        while recorder._queue.full():  # as a display would, at its own pace (this test drops nothing)
            time.sleep(0.002)
        assert recorder.offer(synthetic_frame(index), when)
    path = recorder.close()
    assert recorder.dropped == 0
    with av.open(str(path)) as container:
        pts = [f.pts for f in container.decode(video=0)]
    assert pts == [i for i in range(3 * fps) if not 30 <= i < 40]
    audio, got_rate = decode_audio(path)
    assert got_rate == rate and abs(audio.shape[1] / rate - 3.0) < 0.03
    window = rate // 200  # 5 ms
    rms = np.sqrt((audio[0, :len(audio[0]) // window * window].reshape(-1, window) ** 2).mean(axis=1))
    loud = rms > 0.2
    changes = np.flatnonzero(np.diff(loud.astype(int))) * 0.005
    # The tone began 1.0 s into the capture, which started 0.1 s before the first frame; the input
    # lost for 0.4 s is silence in its place (1.9-2.3 s), and what came after plays where it was played.
    assert changes[:3] == pytest.approx([0.9, 1.9, 2.3], abs=0.011), changes


def test_a_live_recording_whose_input_never_comes_gets_silence_as_long_as_the_video(tmp_path):
    recorder = Recorder(tmp_path / "live.mp4", WIDTH, HEIGHT, 24, audio=LiveAudioInput(44100))
    for index in range(48):
        while recorder._queue.full():
            time.sleep(0.002)
        recorder.offer(synthetic_frame(index), 5.0 + index / 24)
    path = recorder.close()
    audio, rate = decode_audio(path)
    assert rate == 44100 and abs(audio.shape[1] / rate - 2.0) < 0.03 and np.abs(audio).max() < 1e-3


def test_offer_never_blocks_and_counts_what_it_drops(tmp_path):
    release = threading.Event()

    def slow(pixels: np.ndarray) -> np.ndarray:
        release.wait(5)
        return pixels

    recorder = Recorder(tmp_path / "live.mp4", WIDTH, HEIGHT, FPS, queue_size=2, convert=slow)
    started = time.monotonic()
    taken = [recorder.offer(synthetic_frame(i), 10.0 + i / FPS) for i in range(20)]
    assert time.monotonic() - started < 1.0
    release.set()
    recorder.close()
    assert recorder.dropped == taken.count(False) and recorder.dropped >= 16
    assert len(decode_video(recorder.path)[1]) == taken.count(True)
