"""Audio decoding (yt8m.media.audio): streams, sample formats, mono mix, times, windows."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest

import media_factory as mf
from yt8m.errors import InputError
from yt8m.features import logmel as lm
from yt8m.media import audio as au
from yt8m.media.audio import AudioChunk, AudioReader, decode_audio, frame_to_mono, iter_audio_chunks

WAV_SPEC = mf.AudioSpec(codec="pcm_s16le", layout="stereo", sample_rate=44100, frequencies_hz=(440.0, 1250.0))


@pytest.fixture(scope="module")
def audio_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Audio files beyond the shared ``media`` fixture."""
    d = tmp_path_factory.mktemp("audio")
    out = {
        "surround": mf.make_audio_only(d / "surround.m4a", duration_s=1.0, spec=mf.AudioSpec(
            layout="5.1", frequencies_hz=(200.0, 300.0, 500.0, 700.0, 1100.0, 1300.0))),
        "mono_8k": mf.make_audio_only(d / "mono_8k.m4a", duration_s=1.5, spec=mf.AudioSpec(
            sample_rate=8000, layout="mono", frequencies_hz=(1000.0,))),
        "wav_stereo": mf.make_audio_only(d / "stereo.wav", duration_s=1.0, spec=WAV_SPEC),
        "wav_mono": mf.make_audio_only(d / "mono.wav", duration_s=0.5, spec=mf.AudioSpec(
            codec="pcm_s16le", layout="mono", sample_rate=22050, frequencies_hz=(330.0,), amplitude=0.9)),
        "silent": mf.make_audio_only(d / "silent.m4a", duration_s=1.5, spec=mf.AudioSpec(amplitude=0.0)),
    }
    two = d / "two_audio.m4a"
    with av.open(str(two), mode="w") as container:
        _, first = mf._encode_audio(container, mf.AudioSpec(frequencies_hz=(440.0,)), 1.0)
        _, second = mf._encode_audio(container, mf.AudioSpec(sample_rate=48000, layout="mono"), 1.0)
        container.mux(first)
        container.mux(second)
    out["two_audio"] = two
    return out


def _pyav_channels(path: Path, audio_stream: int = 0) -> np.ndarray:
    """All decoded samples of one audio stream as float32 [channels, n], straight from PyAV."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray() for f in container.decode(container.streams.audio[audio_stream])]
    return np.concatenate(frames, axis=1).astype(np.float32)


def test_stereo_aac_is_the_mean_of_its_channels(media: dict[str, Path]) -> None:
    channels = _pyav_channels(media["h264_aac"])  # fltp: one row per channel
    assert channels.shape[0] == 2 and not np.allclose(channels[0], channels[1], atol=0.1)
    audio = decode_audio(media["h264_aac"])
    assert audio.sample_rate == 44100 and audio.start_us == 0
    np.testing.assert_array_equal(audio.samples, (channels[0] + channels[1]) / np.float32(2))


def test_reader_reports_the_stream(media: dict[str, Path]) -> None:
    with AudioReader(media["h264_aac"]) as reader:
        assert reader.first_frame_us is None
        chunks = list(reader)
        assert reader.first_frame_us == chunks[0].start_us == 0
        info = reader.info
    assert (info.audio_index, info.stream_index, info.codec) == (0, 1, "aac")
    assert (info.sample_rate, info.channels) == (44100, 2)


def test_surround_5_1_is_averaged_over_six_channels(audio_media: dict[str, Path]) -> None:
    channels = _pyav_channels(audio_media["surround"])
    assert channels.shape[0] == 6
    expected = channels[0].copy()
    for row in channels[1:]:
        expected += row
    audio = decode_audio(audio_media["surround"])
    np.testing.assert_allclose(audio.samples, expected / np.float32(6), rtol=0, atol=1e-7)


def test_mono_8k_decodes_and_feeds_the_front_end(audio_media: dict[str, Path]) -> None:
    audio = decode_audio(audio_media["mono_8k"])
    assert audio.sample_rate == 8000
    np.testing.assert_array_equal(audio.samples, _pyav_channels(audio_media["mono_8k"])[0])
    result = lm.log_mel_examples_from_file(audio_media["mono_8k"])
    edges = np.linspace(lm.hertz_to_mel(125), lm.hertz_to_mel(7500), 66)
    band = int(np.argmin(np.abs(edges[1:-1] - lm.hertz_to_mel(1000.0))))
    assert int(np.argmax(result.examples[0, 10:90].mean(axis=0))) == band  # 1 kHz survives upsampling


def test_s16_wav_is_exactly_s16_over_32768(audio_media: dict[str, Path]) -> None:
    n = 44100
    pcm = (mf._audio_samples(WAV_SPEC, 1.0).T * 32767).astype(np.int16)  # what the factory wrote
    audio = decode_audio(audio_media["wav_stereo"])
    assert audio.num_samples == n
    left, right = pcm[:, 0].astype(np.float32) / 32768, pcm[:, 1].astype(np.float32) / 32768
    np.testing.assert_array_equal(audio.samples, (left + right) / np.float32(2))

    mono = decode_audio(audio_media["wav_mono"])
    raw = _pyav_channels(audio_media["wav_mono"])  # int16 values as float32
    np.testing.assert_array_equal(mono.samples, raw[0] / np.float32(32768))
    assert mono.samples.min() < -0.85 and np.all(mono.samples * 32768 == np.round(mono.samples * 32768))


# Stereo sample pairs (-32768, 32767) and (16384, -1), averaged: s16 / 32768.
S16_MONO = [(-1 + 32767 / 32768) / 2, (0.5 - 2 ** -15) / 2]


@pytest.mark.parametrize(("fmt", "data", "expected"), [
    ("s16", np.array([[-32768, 32767, 16384, -1]], np.int16), S16_MONO),
    ("s16p", np.array([[-32768, 16384], [32767, -1]], np.int16), S16_MONO),
    ("s32", np.array([[-2 ** 31, 2 ** 30, 0, -2 ** 30]], np.int32), [-0.25, -0.25]),
    ("s32p", np.array([[-2 ** 31, 0], [2 ** 30, -2 ** 30]], np.int32), [-0.25, -0.25]),
    ("flt", np.array([[0.25, -0.75, 1.0, 0.5]], np.float32), [-0.25, 0.75]),
    ("fltp", np.array([[0.25, 1.0], [-0.75, 0.5]], np.float32), [-0.25, 0.75]),
    ("dbl", np.array([[0.25, -0.75, 1.0, 0.5]], np.float64), [-0.25, 0.75]),
    ("u8", np.array([[0, 255, 128, 192]], np.uint8), [(-1 + 127 / 128) / 2, 0.25]),
])
def test_sample_formats_are_scaled_to_unit_range(fmt: str, data: np.ndarray, expected: list[float]) -> None:
    frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="stereo")
    mono = frame_to_mono(frame)
    assert mono.dtype == np.float32
    np.testing.assert_allclose(mono, expected, rtol=0, atol=1e-9)


def test_clip_window_keeps_whole_frames_stamped_inside(media: dict[str, Path]) -> None:
    full = decode_audio(media["h264_aac"])
    frame_us = [au.rescale_rounded(k * 1024, Fraction(1, 44100), Fraction(1, 10 ** 6)) for k in range(200)]
    kept = [k for k, t in enumerate(frame_us) if 1_000_000 <= t < 2_000_000]
    clip = decode_audio(media["h264_aac"], start_us=1_000_000, end_us=2_000_000)
    assert clip.start_us == frame_us[kept[0]] and 1_000_000 <= clip.start_us < 1_000_000 + 23_220
    np.testing.assert_array_equal(clip.samples, full.samples[kept[0] * 1024:(kept[-1] + 1) * 1024])
    assert clip.start_us + clip.duration_s * 1e6 > 2_000_000  # the last frame is not cut
    tail = decode_audio(media["h264_aac"], start_us=2_500_000)
    first = next(k for k, t in enumerate(frame_us) if t >= 2_500_000)
    assert tail.start_us == frame_us[first]
    np.testing.assert_array_equal(tail.samples, full.samples[first * 1024:])
    head = decode_audio(media["h264_aac"], end_us=500_000)
    assert head.start_us == 0 and head.num_samples == 22 * 1024  # frames at 0 .. 487.6 ms


def test_empty_clip_window_is_an_input_error(media: dict[str, Path]) -> None:
    with pytest.raises(InputError, match="empty clip window"):
        decode_audio(media["h264_aac"], start_us=2_000_000, end_us=1_000_000)


def test_no_audio_stream_names_the_file(media: dict[str, Path]) -> None:
    with pytest.raises(InputError) as excinfo:
        decode_audio(media["no_audio"])
    assert str(media["no_audio"]) in str(excinfo.value) and "no audio stream" in str(excinfo.value)
    with pytest.raises(InputError, match="no audio stream"):
        lm.log_mel_examples_from_file(media["no_audio"])


def test_audio_stream_index_out_of_range(media: dict[str, Path], audio_media: dict[str, Path]) -> None:
    with pytest.raises(InputError, match=r"stream 1 requested, but the file has 1 audio stream \(valid: 0\)"):
        decode_audio(media["h264_aac"], audio_stream=1)
    with pytest.raises(InputError, match="audio stream -1 requested"):
        decode_audio(media["h264_aac"], audio_stream=-1)
    with pytest.raises(InputError, match=r"has 2 audio streams \(valid: 0 to 1\)"):
        decode_audio(audio_media["two_audio"], audio_stream=2)


def test_second_audio_stream_is_selectable(audio_media: dict[str, Path]) -> None:
    with AudioReader(audio_media["two_audio"], audio_stream=1) as reader:
        assert (reader.info.audio_index, reader.info.sample_rate, reader.info.channels) == (1, 48000, 1)
    second = decode_audio(audio_media["two_audio"], audio_stream=1)
    np.testing.assert_array_equal(second.samples, _pyav_channels(audio_media["two_audio"], 1)[0])
    assert decode_audio(audio_media["two_audio"]).sample_rate == 44100


def test_audio_shorter_than_one_example(media: dict[str, Path]) -> None:
    audio = decode_audio(media["half_second"])
    assert 0.45 < audio.duration_s < 0.6
    padded = lm.log_mel_examples_from_file(media["half_second"])
    assert len(padded) == 1 and padded.audio_start_us == audio.start_us
    rows = lm.num_spectrogram_rows(-(-(audio.num_samples + 14) * 160 // 441))
    assert rows < 96 and np.all(padded.examples[0, rows:] == 0.0) and np.all(padded.examples[0, :rows] != 0.0)
    dropped = lm.log_mel_examples_from_file(media["half_second"], mode="vggish")
    assert len(dropped) == 0 and dropped.audio_start_us == audio.start_us


def test_silent_audio(audio_media: dict[str, Path]) -> None:
    audio = decode_audio(audio_media["silent"])
    assert audio.num_samples > 44100 and np.all(audio.samples == 0.0)
    result = lm.log_mel_examples_from_file(audio_media["silent"])
    assert len(result) == 2
    np.testing.assert_array_equal(result.examples[0], np.full((96, 64), np.log(np.float32(0.01))))


def test_opus_48k(media: dict[str, Path]) -> None:
    with AudioReader(media["vp9_opus"]) as reader:
        chunks = list(reader)
        assert reader.info.codec == "opus" and chunks[0].sample_rate == 48000
    assert sum(c.num_samples for c in chunks) > 1.9 * 48000


def test_chunks_are_bounded_and_concatenate_to_the_whole(media: dict[str, Path]) -> None:
    chunks = list(iter_audio_chunks(media["h264_aac"], chunk_s=0.25))
    assert len(chunks) > 8
    assert all(c.num_samples >= 0.25 * 44100 for c in chunks[:-1])
    assert all(c.num_samples < 0.25 * 44100 + 1024 for c in chunks)
    whole = decode_audio(media["h264_aac"]).samples
    np.testing.assert_array_equal(np.concatenate([c.samples for c in chunks]), whole)
    done = 0
    for chunk in chunks:  # contiguous chunks: each starts where the sample count says
        assert chunk.start_us == au.rescale_rounded(done, Fraction(1, 44100), Fraction(1, 10 ** 6))
        done += chunk.num_samples


def test_sample_clock_follows_the_reference_rules() -> None:
    """Sample-counted stamps; resync past a 5 s drift; regressing frames dropped."""
    clock = au._SampleClock(1000)
    tb = Fraction(1, 1000)

    def frame(pts: int | None, samples: int = 100) -> SimpleNamespace:
        return SimpleNamespace(pts=pts, time_base=tb, samples=samples)

    assert clock.stamp(frame(50)) == (50_000, 50)  # the first pts starts the count
    assert clock.stamp(frame(170)) == (150_000, 150)  # 20 ms jitter: keep counting
    assert clock.stamp(frame(None)) == (250_000, 250)
    assert clock.stamp(frame(5_360)) == (5_360_000, 5_360)  # 5.01 s drift: resync to pts
    assert clock.stamp(frame(5_300, samples=10)) == (5_460_000, 5_460)  # stamped by count, still increasing
    back = au._SampleClock(1000)
    back.stamp(frame(10_000))
    assert back.stamp(frame(1_000)) is None  # resynced 9 s back: regresses, dropped


def test_rescale_rounds_half_away_from_zero() -> None:
    half = Fraction(1, 2)
    assert [au.rescale_rounded(v, half, Fraction(1)) for v in (1, 3, -1, -3, 2)] == [1, 2, -1, -2, 1]


@pytest.mark.parametrize("kind", ["truncated", "random", "empty", "text"])
def test_unreadable_input_is_an_input_error_naming_the_file(media: dict[str, Path], kind: str) -> None:
    with pytest.raises(InputError) as excinfo:
        decode_audio(media[kind])
    assert str(media[kind]) in str(excinfo.value)


def test_audio_chunk_validates_and_prints_shapes() -> None:
    with pytest.raises(ValueError, match="1-D float32"):
        AudioChunk(np.zeros(4, np.float64), 16000, 0)  # type: ignore[arg-type]
    chunk = AudioChunk(np.zeros(160, np.float32), 16000, 2_000_000)
    assert repr(chunk) == "AudioChunk(samples=<160 float32>, sample_rate=16000, start_us=2000000)"
    assert chunk.start_s == 2.0 and chunk.duration_s == 0.01
