from pathlib import Path

import numpy as np
import pytest

from audio_synth import write_audio
from vj.audio.decode import AudioError, decode_audio, decode_audio_stereo


def _tone(seconds: float, sample_rate: int, freq: float = 441.0) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("suffix", ["wav", "flac", "ogg", "mp3", "m4a"])
def test_common_formats_decode_to_mono_float32(tmp_path: Path, suffix: str):
    tone = _tone(1.0, 44100)
    path = write_audio(tmp_path / f"tone.{suffix}", tone)
    samples = decode_audio(path)
    assert samples.dtype == np.float32 and samples.ndim == 1
    # Lossy codecs add encoder delay/padding: allow 0.1 s either way.
    assert abs(len(samples) - 44100) < 4410
    assert np.max(np.abs(samples)) <= 1.0
    rms = float(np.sqrt(np.mean(samples[4410:-4410] ** 2)))
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.1)


def test_48k_file_is_resampled_to_44k1(tmp_path: Path):
    path = write_audio(tmp_path / "tone48k.wav", _tone(2.0, 48000, freq=1000.0), sample_rate=48000)
    samples = decode_audio(path, sample_rate=44100)
    assert abs(len(samples) - 88200) <= 64
    spectrum = np.abs(np.fft.rfft(samples[:44100]))
    assert np.argmax(spectrum) == pytest.approx(1000, abs=2)  # 1 Hz bins: the pitch survived


def test_stereo_is_kept_and_mono_averages_channels(tmp_path: Path):
    left, right = _tone(0.5, 44100, 300.0), np.zeros(22050, dtype=np.float32)
    path = write_audio(tmp_path / "stereo.wav", np.vstack([left, right]))
    stereo = decode_audio_stereo(path)
    assert stereo.shape == (2, 22050)
    assert np.max(np.abs(stereo[1])) < 1e-3 < np.max(np.abs(stereo[0]))
    mono = decode_audio(path)
    np.testing.assert_allclose(mono, stereo.mean(axis=0), atol=1e-4)


def test_mono_file_gives_two_equal_channels_for_stereo(tmp_path: Path):
    path = write_audio(tmp_path / "mono.flac", _tone(0.25, 44100))
    stereo = decode_audio_stereo(path, sample_rate=22050)
    assert stereo.shape[0] == 2 and abs(stereo.shape[1] - 5512) <= 32
    np.testing.assert_allclose(stereo[0], stereo[1], atol=1e-6)


def test_missing_file_names_the_path(tmp_path: Path):
    with pytest.raises(AudioError, match="not found.*nope.wav"):
        decode_audio(tmp_path / "nope.wav")


def test_folder_is_refused(tmp_path: Path):
    with pytest.raises(AudioError, match=str(tmp_path.name)):
        decode_audio(tmp_path)


@pytest.mark.parametrize("content", [b"", b"this is not audio at all " * 100, b"RIFF\x00\x00\x00\x00WAVEfmt junk"])
def test_undecodable_file_is_an_audio_error(tmp_path: Path, content: bytes):
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match="broken.wav"):
        decode_audio(path)


def test_file_without_audio_stream(tmp_path: Path):
    import av

    path = tmp_path / "silent-video.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    with pytest.raises(AudioError, match="no audio stream"):
        decode_audio(path)
