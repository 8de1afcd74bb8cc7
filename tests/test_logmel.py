"""Log-mel front end (yt8m.features.logmel): spectrogram, mel bands, log, examples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from yt8m.features import logmel as lm
from yt8m.features.resample import PolyphaseFilters, resample
from yt8m.media.audio import decode_audio

RATE = 16000
LOG_SILENCE = np.log(np.float32(0.01))


def reference_log_mel(samples: np.ndarray, *, pad_end: bool = True) -> np.ndarray:
    """docs/audio.md, 'Spectrogram' and 'Log-mel', written out in float64, one formula per line."""
    x = np.asarray(samples, dtype=np.float64)
    n = x.size
    if pad_end and n > 0:
        x = np.concatenate([x, np.zeros(159 if n >= 400 else 400 - n)])
    count = (x.size - 400) // 160 + 1 if x.size >= 400 else 0
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    frames = np.array([x[160 * k:160 * k + 400] * hann for k in range(count)]).reshape(count, 400)
    magnitude = np.abs(np.fft.rfft(frames, 512, axis=1))

    def mel(f: np.ndarray | float) -> np.ndarray:
        return 1127.0 * np.log(1.0 + np.asarray(f) / 700.0)

    bins = mel(np.linspace(0, 8000, 257))
    edges = np.linspace(mel(125.0), mel(7500.0), 66)
    weights = np.zeros((257, 64))
    for band in range(64):
        lo, mid, hi = edges[band], edges[band + 1], edges[band + 2]
        for k in range(1, 257):  # DC row stays zero
            weights[k, band] = max(0.0, min((bins[k] - lo) / (mid - lo), (hi - bins[k]) / (hi - mid)))
    return np.log(magnitude @ weights + 0.01)


def _noise(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.5, 0.5, n).astype(np.float32)


@pytest.mark.parametrize("mode", ["mediapipe", "vggish"])
@pytest.mark.parametrize("n", [100, 399, 400, 559, 560, 8000, 16000])
def test_log_mel_matches_float64_formulas(mode: str, n: int) -> None:
    x = _noise(n, seed=n)
    rows = lm.log_mel_spectrogram(x, mode=mode)
    expected = reference_log_mel(x, pad_end=(mode == "mediapipe"))
    assert rows.dtype == np.float32
    assert rows.shape == expected.shape == (lm.num_spectrogram_rows(n, mode=mode), 64)
    np.testing.assert_allclose(rows, expected, rtol=0, atol=1e-5)


def test_mel_matrix_matches_vggish_definition() -> None:
    weights = lm.mel_matrix()
    assert weights.shape == (257, 64)
    assert np.all(weights[0] == 0) and np.all(weights >= 0) and np.all(weights <= 1)
    # Triangles: every band has weight somewhere, peaks near 1, bins past 7500 Hz unused.
    assert np.all(weights.max(axis=0) > 0.5)
    assert np.all(weights[241:] == 0)  # bin 240 is exactly 7500 Hz, the last edge
    centre_mel = np.linspace(lm.hertz_to_mel(125), lm.hertz_to_mel(7500), 66)[1:-1]
    centre_hz = 700.0 * (np.exp(centre_mel / 1127.0) - 1)
    np.testing.assert_array_equal(np.argmax(weights, axis=0), np.rint(centre_hz / 31.25).astype(int))


def test_sine_1khz_lands_in_the_band_containing_1khz() -> None:
    t = np.arange(RATE) / RATE
    rows = lm.log_mel_spectrogram((0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32))
    edges = np.linspace(lm.hertz_to_mel(125), lm.hertz_to_mel(7500), 66)
    band = int(np.argmin(np.abs(edges[1:-1] - lm.hertz_to_mel(1000.0))))  # band whose peak is nearest
    energy = rows[2:-2].mean(axis=0)
    assert int(np.argmax(energy)) == band
    assert energy[band] > energy[band + 3] + 3 and energy[band] > energy[band - 3] + 3


def test_silence_is_log_of_the_offset_everywhere() -> None:
    rows = lm.log_mel_spectrogram(np.zeros(RATE, np.float32))
    assert rows.shape == (99, 64)
    assert np.all(rows == LOG_SILENCE)


# Samples at 16 kHz -> (rows, examples) per mode, from docs/audio.md, 'Spectrogram' and 'Examples':
# mediapipe rows = floor((n + pad - 400) / 160) + 1 with pad = 159 (or 400 - n if n < 400),
# examples = ceil(rows / 100); vggish rows = floor((n - 400) / 160) + 1, examples =
# floor((rows - 96) / 96) + 1.
EXAMPLE_COUNTS = [
    (0, 0, 0, 0, 0),
    (100, 1, 1, 0, 0),
    (3200, 19, 1, 18, 0),        # 0.2 s
    (8000, 49, 1, 48, 0),        # 0.5 s
    (15360, 95, 1, 94, 0),       # 0.96 s: not enough for VGGish's first example
    (15600, 96, 1, 96, 1),       # 0.975 s
    (16000, 99, 1, 98, 1),       # 1 s
    (16160, 100, 1, 99, 1),      # 1.01 s
    (16320, 101, 2, 100, 1),     # 1.02 s: one row past the first step -> a padded 2nd example
    (32000, 199, 2, 198, 2),     # 2 s
    (48000, 299, 3, 298, 3),     # 3 s
]


@pytest.mark.parametrize(("n", "rows_mp", "examples_mp", "rows_vg", "examples_vg"), EXAMPLE_COUNTS)
def test_number_of_rows_and_examples(n: int, rows_mp: int, examples_mp: int, rows_vg: int,
                                     examples_vg: int) -> None:
    assert lm.num_spectrogram_rows(n, mode="mediapipe") == rows_mp
    assert lm.num_spectrogram_rows(n, mode="vggish") == rows_vg
    assert lm.num_examples(rows_mp, mode="mediapipe") == examples_mp
    assert lm.num_examples(rows_vg, mode="vggish") == examples_vg
    x = _noise(n)
    for mode, rows, count in (("mediapipe", rows_mp, examples_mp), ("vggish", rows_vg, examples_vg)):
        assert lm.log_mel_spectrogram(x, mode=mode).shape == (rows, 64)
        result = lm.log_mel_examples(x, RATE, mode=mode)
        assert result.examples.shape == (count, 96, 64) and len(result.timestamps_us) == count


def test_mediapipe_framing_steps_100_rows_and_zero_pads_the_tail() -> None:
    rows = np.random.default_rng(1).normal(size=(250, 64)).astype(np.float32)
    examples = lm.frame_examples(rows, mode="mediapipe")
    assert examples.shape == (3, 96, 64)
    np.testing.assert_array_equal(examples[0], rows[0:96])
    np.testing.assert_array_equal(examples[1], rows[100:196])
    np.testing.assert_array_equal(examples[2, :50], rows[200:250])
    assert np.all(examples[2, 50:] == 0.0)  # 0.0 in the log domain, not log(0.01)
    # Rows 96-99 of a step are never used; 96..100 rows left after a step make no example.
    assert len(lm.frame_examples(rows[:199], mode="mediapipe")) == 2
    assert len(lm.frame_examples(rows[:201], mode="mediapipe")) == 3


def test_vggish_framing_steps_96_rows_and_drops_the_tail() -> None:
    rows = np.random.default_rng(2).normal(size=(250, 64)).astype(np.float32)
    examples = lm.frame_examples(rows, mode="vggish")
    assert examples.shape == (2, 96, 64)
    np.testing.assert_array_equal(examples[1], rows[96:192])


def test_timestamps_follow_the_step() -> None:
    np.testing.assert_array_equal(lm.example_timestamps_us(1234, 3, mode="mediapipe"),
                                  [1234, 1_001_234, 2_001_234])
    np.testing.assert_array_equal(lm.example_timestamps_us(-500, 3, first_index=2, mode="vggish"),
                                  [1_919_500, 2_879_500, 3_839_500])
    result = lm.log_mel_examples(_noise(3 * RATE), RATE, audio_start_us=250_000)
    np.testing.assert_array_equal(result.timestamps_us, [250_000, 1_250_000, 2_250_000])


def test_streaming_in_uneven_chunks_equals_one_shot() -> None:
    x = _noise(5 * RATE, seed=3)
    for mode in ("mediapipe", "vggish"):
        whole = lm.log_mel_spectrogram(x, mode=mode)
        spectrogram, pieces, i = lm.LogMelSpectrogram(mode=mode), [], 0
        for size in [0, 1, 399, 1, 159, 160, 161, 7000, 3, 20000]:
            pieces.append(spectrogram.process(x[i:i + size]))
            i += size
        pieces += [spectrogram.process(x[i:]), spectrogram.flush()]
        np.testing.assert_array_equal(np.concatenate(pieces), whole)

        framer, parts = lm.ExampleFramer(mode=mode), []
        for start in range(0, whole.shape[0], 37):
            parts.append(framer.process(whole[start:start + 37]))
        parts.append(framer.flush())
        np.testing.assert_array_equal(np.concatenate(parts), lm.frame_examples(whole, mode=mode))


def test_front_end_chains_resampler_spectrogram_and_framer() -> None:
    x = _noise(3 * 44100, seed=4)
    expected = lm.frame_examples(lm.log_mel_spectrogram(resample(x, 44100)))
    front_end, parts = lm.AudioFrontEnd(44100), []
    for start in range(0, x.size, 10_000):
        parts.append(front_end.process(x[start:start + 10_000]))
    parts.append(front_end.flush())
    np.testing.assert_array_equal(np.concatenate(parts), expected)


def test_examples_from_file_count_and_times(media: dict[str, Path]) -> None:
    audio = decode_audio(media["h264_aac"])
    samples_16k = PolyphaseFilters.design(44100, 16000).output_length(audio.num_samples)
    rows = lm.num_spectrogram_rows(samples_16k)
    result = lm.log_mel_examples_from_file(media["h264_aac"])
    assert len(result) == lm.num_examples(rows) == 4  # 3 s of AAC decode to 3.02 s: one padded extra example
    assert result.audio_start_us == audio.start_us
    np.testing.assert_array_equal(result.timestamps_us, audio.start_us + np.arange(4) * 1_000_000)
    batches = list(lm.iter_log_mel_examples(media["h264_aac"]))
    np.testing.assert_array_equal(np.concatenate([b.examples for b in batches]), result.examples)
    vggish = lm.log_mel_examples_from_file(media["h264_aac"], mode="vggish")
    assert len(vggish) == 3
    np.testing.assert_array_equal(vggish.timestamps_us, audio.start_us + np.arange(3) * 960_000)


def test_invalid_mode_names_the_choices() -> None:
    with pytest.raises(ValueError, match="mediapipe, vggish"):
        lm.LogMelSpectrogram(mode="htk")  # type: ignore[arg-type]
