"""The VGGish front end: 16 kHz mono samples -> log-mel spectrogram -> [96, 64] examples.

The reference chain (mediapipe/graphs/youtube8m/feature_extraction.pbtxt) is
``SpectrogramCalculator`` (frame 0.025 s, overlap 0.015 s, SQUARED_MAGNITUDE) ->
``MelSpectrumCalculator`` (64 channels, 125-7500 Hz) -> ``StabilizedLogCalculator``
(stabilizer 0.01) -> ``TimeSeriesFramerCalculator`` (frame 0.96 s, overlap -0.04 s).
From those sources (mediapipe/calculators/audio/*.cc, audio/dsp/spectrogram/spectrogram.cc,
audio/dsp/mfcc/mel_filterbank.cc):

* Spectrogram: 400-sample frames every 160 samples, periodic Hann window (double),
  zero-padded to a 512-point FFT (double), ``re^2 + im^2`` stored as float32. No
  padding at the start. At the end of the stream (``pad_final_packet``, default true)
  it feeds ``160 - 1`` zeros, or ``400 - n`` zeros when only ``n < 400`` samples came.
* Mel: ``sqrt`` of each squared magnitude (double) weighted by triangles linear in
  HTK mel, ``1127 ln(1 + f / 700)``, between 66 equally spaced edges from mel(125) to
  mel(7500), over bins at ``k * 8000 / 256`` Hz, DC excluded, no area normalisation;
  result stored as float32. This is exactly VGGish's
  ``mel_features.spectrogram_to_mel_matrix`` applied to the magnitude spectrogram (the
  C++ restricts the sum to bins 5..240, where every other bin has weight 0 anyway).
* ``log(mel + 0.01)`` in float32.
* Examples: 96 rows, starting every 100 rows (overlap -0.04 s at 100 rows/s); when rows
  remain after the last full example's 100-row step, they start one more example,
  zero-padded (0.0) to 96 rows. So ``R`` rows give ``ceil(R / 100)`` examples. Example
  ``k`` is stamped ``audio_start + k * 100 rows = audio_start + k s``.

``mode="vggish"`` follows the original VGGish code (vggish_input.waveform_to_examples)
instead: no end padding of the spectrogram, float64 throughout (cast to float32 at the
end), examples every 96 rows, incomplete tail dropped; example ``k`` at
``audio_start + k * 0.96 s``. The resampler is ours in both modes (VGGish used resampy).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt

from yt8m.features.resample import TARGET_SAMPLE_RATE, RationalResampler
from yt8m.media.audio import AudioReader

FramingMode = Literal["mediapipe", "vggish"]
FRAMING_MODES: tuple[str, ...] = get_args(FramingMode)

#: Sample rate of the front end's input, in Hz.
SAMPLE_RATE = TARGET_SAMPLE_RATE
#: Spectrogram frame: 25 ms.
STFT_WINDOW_SAMPLES = 400
#: Spectrogram step: 10 ms.
STFT_HOP_SAMPLES = 160
#: FFT length: the smallest power of two holding a frame.
FFT_LENGTH = 512
NUM_SPECTROGRAM_BINS = FFT_LENGTH // 2 + 1
#: Spectrogram rows per second (100).
ROWS_PER_SECOND = SAMPLE_RATE // STFT_HOP_SAMPLES
NUM_MEL_BANDS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
#: HTK mel scale: mel(f) = MEL_HIGH_FREQUENCY_Q * ln(1 + f / MEL_BREAK_FREQUENCY_HZ).
MEL_BREAK_FREQUENCY_HZ = 700.0
MEL_HIGH_FREQUENCY_Q = 1127.0
#: Added before the natural log (the reference's stabilizer, VGGish's LOG_OFFSET).
LOG_OFFSET = 0.01
#: Rows (10 ms each) in one example: 0.96 s.
EXAMPLE_ROWS = 96
#: Rows between the starts of consecutive examples, per framing mode.
EXAMPLE_STEP_ROWS: dict[str, int] = {"mediapipe": 100, "vggish": 96}
#: Value of the padding rows of the reference's last example (in the log domain).
EXAMPLE_PAD_VALUE = 0.0
_MICROSECONDS_PER_ROW = 1_000_000 // ROWS_PER_SECOND


def _check_mode(mode: str) -> None:
    if mode not in FRAMING_MODES:
        raise ValueError(f"Invalid framing mode ({mode!r}). Supported values are {', '.join(FRAMING_MODES)}")


def periodic_hann(window_length: int) -> npt.NDArray[np.float64]:
    """The periodic Hann window ``0.5 - 0.5 cos(2 pi n / N)``, n = 0 .. N-1 (float64)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi / window_length * np.arange(window_length))


def hertz_to_mel(frequencies_hz: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """HTK mel scale of ``frequencies_hz``."""
    return MEL_HIGH_FREQUENCY_Q * np.log(1.0 + np.asarray(frequencies_hz, dtype=np.float64)
                                         / MEL_BREAK_FREQUENCY_HZ)


def mel_matrix(*, num_mel_bands: int = NUM_MEL_BANDS, num_spectrogram_bins: int = NUM_SPECTROGRAM_BINS,
               sample_rate: float = SAMPLE_RATE, lower_hz: float = MEL_MIN_HZ,
               upper_hz: float = MEL_MAX_HZ) -> npt.NDArray[np.float64]:
    """Weights ``[num_spectrogram_bins, num_mel_bands]`` mapping magnitudes to mel bands.

    Band ``i`` is a triangle in mel rising from edge ``i`` to 1 at edge ``i + 1`` and
    falling to 0 at edge ``i + 2`` of ``num_mel_bands + 2`` equally spaced mel edges from
    ``lower_hz`` to ``upper_hz``; bins sit at ``linspace(0, sample_rate / 2, bins)``; the
    DC row is zero.
    """
    if not 0.0 <= lower_hz < upper_hz <= sample_rate / 2:
        raise ValueError(f"mel band edges must satisfy 0 <= lower < upper <= Nyquist, "
                         f"got {lower_hz}, {upper_hz} at {sample_rate} Hz")
    bins_mel = hertz_to_mel(np.linspace(0.0, sample_rate / 2.0, num_spectrogram_bins))[:, None]
    edges = np.linspace(hertz_to_mel(lower_hz), hertz_to_mel(upper_hz), num_mel_bands + 2)
    lower, center, upper = edges[None, :-2], edges[None, 1:-1], edges[None, 2:]
    rising = (bins_mel - lower) / (center - lower)
    falling = (upper - bins_mel) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0
    return weights


class _BandSums:
    """Applies a mel matrix band by band over its nonzero bins, in increasing bin order.

    The same sums as ``magnitudes @ weights`` without BLAS (whose worker threads compete
    with decoding for the CPU when called once per chunk), and in the order the C++
    ``MelFilterbank::Compute`` accumulates them.
    """

    def __init__(self, weights: npt.NDArray[np.float64]) -> None:
        bins: list[int] = []
        values: list[float] = []
        starts: list[int] = []
        for band in range(weights.shape[1]):
            nonzero = np.flatnonzero(weights[:, band])
            if nonzero.size == 0:  # an empty band sums one zero weight
                nonzero = np.array([0])
            starts.append(len(bins))
            bins.extend(nonzero.tolist())
            values.extend(weights[nonzero, band].tolist())
        self._bins = np.array(bins)
        self._values = np.array(values, dtype=np.float64)
        self._starts = np.array(starts)

    def __call__(self, magnitudes: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Band values ``[n, bands]`` of magnitudes ``[n, bins]``."""
        if magnitudes.shape[0] == 0:
            return np.zeros((0, self._starts.size), dtype=np.float64)
        return np.add.reduceat(magnitudes[:, self._bins] * self._values, self._starts, axis=1)


_MEL_BANDS = _BandSums(mel_matrix())
_HANN = periodic_hann(STFT_WINDOW_SAMPLES)


def end_padding_samples(num_samples: int) -> int:
    """Zeros the reference appends at the end of a stream of ``num_samples`` samples."""
    if num_samples <= 0:
        return 0
    if num_samples < STFT_WINDOW_SAMPLES:
        return STFT_WINDOW_SAMPLES - num_samples
    return STFT_HOP_SAMPLES - 1


def num_spectrogram_rows(num_samples: int, *, mode: FramingMode = "mediapipe") -> int:
    """Spectrogram rows a whole stream of ``num_samples`` 16 kHz samples gives."""
    _check_mode(mode)
    total = num_samples + (end_padding_samples(num_samples) if mode == "mediapipe" else 0)
    return 0 if total < STFT_WINDOW_SAMPLES else (total - STFT_WINDOW_SAMPLES) // STFT_HOP_SAMPLES + 1


def num_examples(num_rows: int, *, mode: FramingMode = "mediapipe") -> int:
    """Examples ``num_rows`` spectrogram rows give: ``ceil(R / 100)`` or ``floor((R - 96) / 96) + 1``."""
    _check_mode(mode)
    if num_rows <= 0:
        return 0
    step = EXAMPLE_STEP_ROWS[mode]
    if mode == "mediapipe":
        return -(-num_rows // step)
    return 0 if num_rows < EXAMPLE_ROWS else (num_rows - EXAMPLE_ROWS) // step + 1


def example_timestamps_us(audio_start_us: int, count: int, *, first_index: int = 0,
                          mode: FramingMode = "mediapipe") -> npt.NDArray[np.int64]:
    """Times (microseconds) of examples ``first_index .. first_index + count``.

    Example ``k`` is stamped ``audio_start_us + k * step`` where the step is 1 s
    (``mediapipe``) or 0.96 s (``vggish``).
    """
    _check_mode(mode)
    step_us = EXAMPLE_STEP_ROWS[mode] * _MICROSECONDS_PER_ROW
    return audio_start_us + (first_index + np.arange(count, dtype=np.int64)) * step_us


def _log_mel_of_frames(frames: npt.NDArray[np.float32], mode: FramingMode) -> npt.NDArray[np.float32]:
    """Log-mel rows ``[n, 64]`` of sample frames ``[n, 400]``."""
    spectrum = np.fft.rfft(frames.astype(np.float64) * _HANN, n=FFT_LENGTH, axis=1)
    if mode == "mediapipe":
        squared = (spectrum.real * spectrum.real + spectrum.imag * spectrum.imag).astype(np.float32)
        mel = _MEL_BANDS(np.sqrt(squared.astype(np.float64))).astype(np.float32)
        return np.log(mel + np.float32(LOG_OFFSET))
    return np.log(_MEL_BANDS(np.abs(spectrum)) + LOG_OFFSET).astype(np.float32)


class LogMelSpectrogram:
    """Streaming log-mel spectrogram of 16 kHz mono samples: rows of 64 float32 values.

    :meth:`process` returns the rows completed by the samples so far; :meth:`flush`
    ends the stream (``mediapipe`` mode appends the reference's end padding first).
    Keeps fewer than 400 samples between calls.
    """

    def __init__(self, *, mode: FramingMode = "mediapipe") -> None:
        _check_mode(mode)
        self.mode = mode
        self._reset()

    def _reset(self) -> None:
        self._pending = np.zeros(0, dtype=np.float32)  # starts at the next frame's first sample
        self._num_samples = 0

    def process(self, samples: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Feed 16 kHz mono samples; return the newly completed rows ``[n, 64]``."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._num_samples += x.size
        buf = np.concatenate([self._pending, x]) if self._pending.size else x
        if buf.size < STFT_WINDOW_SAMPLES:
            self._pending = buf.copy()
            return np.zeros((0, NUM_MEL_BANDS), dtype=np.float32)
        count = (buf.size - STFT_WINDOW_SAMPLES) // STFT_HOP_SAMPLES + 1
        windows = np.lib.stride_tricks.sliding_window_view(buf, STFT_WINDOW_SAMPLES)
        frames = windows[::STFT_HOP_SAMPLES][:count]
        rows = _log_mel_of_frames(frames, self.mode)
        self._pending = buf[count * STFT_HOP_SAMPLES:].copy()
        return rows

    def flush(self) -> npt.NDArray[np.float32]:
        """End the stream: return the last rows and reset for a new stream."""
        rows = np.zeros((0, NUM_MEL_BANDS), dtype=np.float32)
        if self.mode == "mediapipe" and self._num_samples > 0:
            rows = self.process(np.zeros(end_padding_samples(self._num_samples), dtype=np.float32))
        self._reset()
        return rows


def log_mel_spectrogram(samples: npt.ArrayLike, *,
                        mode: FramingMode = "mediapipe") -> npt.NDArray[np.float32]:
    """Log-mel rows ``[R, 64]`` (float32) of a whole 16 kHz mono signal, end padding included."""
    spectrogram = LogMelSpectrogram(mode=mode)
    return np.concatenate([spectrogram.process(samples), spectrogram.flush()])


class ExampleFramer:
    """Streaming cut of log-mel rows into ``[96, 64]`` examples (see the module docstring)."""

    def __init__(self, *, mode: FramingMode = "mediapipe") -> None:
        _check_mode(mode)
        self.mode = mode
        self.step_rows = EXAMPLE_STEP_ROWS[mode]
        self._reset()

    def _reset(self) -> None:
        self._pending = np.zeros((0, NUM_MEL_BANDS), dtype=np.float32)  # starts at the next example
        self._skip = 0  # rows still to drop before the next example starts

    def process(self, rows: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Feed rows ``[n, 64]``; return the examples ``[k, 96, 64]`` now complete."""
        new = np.asarray(rows, dtype=np.float32).reshape(-1, NUM_MEL_BANDS)
        buf = np.concatenate([self._pending, new]) if self._pending.size else new
        dropped = min(self._skip, buf.shape[0])
        buf, self._skip = buf[dropped:], self._skip - dropped
        count = (buf.shape[0] - EXAMPLE_ROWS) // self.step_rows + 1 if buf.shape[0] >= EXAMPLE_ROWS else 0
        starts = np.arange(count) * self.step_rows
        examples = buf[starts[:, None] + np.arange(EXAMPLE_ROWS)[None, :]]
        consumed = count * self.step_rows
        self._skip += max(consumed - buf.shape[0], 0)
        self._pending = buf[consumed:].copy()
        return examples

    def flush(self) -> npt.NDArray[np.float32]:
        """End the stream: the zero-padded last example (``mediapipe`` mode), if rows remain."""
        examples = np.zeros((0, EXAMPLE_ROWS, NUM_MEL_BANDS), dtype=np.float32)
        if self.mode == "mediapipe" and self._pending.shape[0] > 0:
            last = np.full((1, EXAMPLE_ROWS, NUM_MEL_BANDS), EXAMPLE_PAD_VALUE, dtype=np.float32)
            last[0, : self._pending.shape[0]] = self._pending
            examples = last
        self._reset()
        return examples


def frame_examples(rows: npt.ArrayLike, *, mode: FramingMode = "mediapipe") -> npt.NDArray[np.float32]:
    """Cut all log-mel rows ``[R, 64]`` of a stream into examples ``[K, 96, 64]``."""
    framer = ExampleFramer(mode=mode)
    return np.concatenate([framer.process(rows), framer.flush()])


class AudioFrontEnd:
    """Streaming chain: mono samples at ``input_sample_rate`` -> examples ``[k, 96, 64]``.

    Resamples to 16 kHz (:class:`~yt8m.features.resample.RationalResampler`), computes
    log-mel rows and frames them; :meth:`flush` ends the stream.
    """

    def __init__(self, input_sample_rate: float, *, mode: FramingMode = "mediapipe") -> None:
        _check_mode(mode)
        self.mode = mode
        self.resampler = RationalResampler(input_sample_rate, SAMPLE_RATE)
        self.spectrogram = LogMelSpectrogram(mode=mode)
        self.framer = ExampleFramer(mode=mode)

    def process(self, samples: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Feed mono samples; return the examples now complete."""
        return self.framer.process(self.spectrogram.process(self.resampler.process(samples)))

    def flush(self) -> npt.NDArray[np.float32]:
        """End the stream: return the remaining examples and reset."""
        rows = np.concatenate([self.spectrogram.process(self.resampler.flush()), self.spectrogram.flush()])
        return np.concatenate([self.framer.process(rows), self.framer.flush()])


@dataclass(frozen=True, repr=False)
class LogMelExamples:
    """VGGish input examples ``[K, 96, 64]`` (float32) with their times in microseconds."""

    examples: npt.NDArray[np.float32]
    timestamps_us: npt.NDArray[np.int64]
    audio_start_us: int | None  # first decoded frame's time; None when there was no audio
    mode: FramingMode = "mediapipe"

    def __post_init__(self) -> None:
        if self.examples.ndim != 3 or self.examples.shape[1:] != (EXAMPLE_ROWS, NUM_MEL_BANDS):
            raise ValueError(f"examples must have shape [K, {EXAMPLE_ROWS}, {NUM_MEL_BANDS}], "
                             f"got {list(self.examples.shape)}")
        if self.timestamps_us.shape != (self.examples.shape[0],):
            raise ValueError(f"need one timestamp per example: {self.examples.shape[0]} examples, "
                             f"timestamps of shape {list(self.timestamps_us.shape)}")

    def __len__(self) -> int:
        return int(self.examples.shape[0])

    def __repr__(self) -> str:
        return (f"LogMelExamples(examples=<{list(self.examples.shape)} float32>, "
                f"timestamps_us=<{len(self)} int64>, audio_start_us={self.audio_start_us}, "
                f"mode={self.mode!r})")


def log_mel_examples(samples: npt.ArrayLike, sample_rate: float, *, audio_start_us: int = 0,
                     mode: FramingMode = "mediapipe") -> LogMelExamples:
    """Examples of a whole mono signal at ``sample_rate`` Hz starting at ``audio_start_us``."""
    front_end = AudioFrontEnd(sample_rate, mode=mode)
    examples = np.concatenate([front_end.process(samples), front_end.flush()])
    return LogMelExamples(examples, example_timestamps_us(audio_start_us, len(examples), mode=mode),
                          audio_start_us, mode)


def _batch(examples: npt.NDArray[np.float32], audio_start_us: int, first_index: int,
           mode: FramingMode) -> LogMelExamples:
    times = example_timestamps_us(audio_start_us, len(examples), first_index=first_index, mode=mode)
    return LogMelExamples(examples, times, audio_start_us, mode)


def _examples_from_reader(reader: AudioReader, mode: FramingMode) -> Iterator[LogMelExamples]:
    front_end: AudioFrontEnd | None = None
    audio_start_us = 0
    done = 0
    for chunk in reader:
        if front_end is None:
            front_end, audio_start_us = AudioFrontEnd(chunk.sample_rate, mode=mode), chunk.start_us
        examples = front_end.process(chunk.samples)
        if len(examples):
            yield _batch(examples, audio_start_us, done, mode)
            done += len(examples)
    if front_end is not None:
        examples = front_end.flush()
        if len(examples):
            yield _batch(examples, audio_start_us, done, mode)


def iter_log_mel_examples(path: str | os.PathLike[str], *, audio_stream: int = 0,
                          mode: FramingMode = "mediapipe", start_us: int | None = None,
                          end_us: int | None = None) -> Iterator[LogMelExamples]:
    """Decode a file's audio stream and yield its examples in batches as they complete.

    Every batch carries the stream's ``audio_start_us``; memory stays bounded for long
    files. Raises :class:`~yt8m.errors.InputError` when the file has no such audio stream.
    """
    _check_mode(mode)
    with AudioReader(path, audio_stream=audio_stream, start_us=start_us, end_us=end_us) as reader:
        yield from _examples_from_reader(reader, mode)


def log_mel_examples_from_file(path: str | os.PathLike[str], *, audio_stream: int = 0,
                               mode: FramingMode = "mediapipe", start_us: int | None = None,
                               end_us: int | None = None) -> LogMelExamples:
    """All examples of a file's audio stream, stamped from its first decoded frame.

    ``audio_start_us`` is None only when the stream decodes to no samples at all.
    """
    _check_mode(mode)
    with AudioReader(path, audio_stream=audio_stream, start_us=start_us, end_us=end_us) as reader:
        batches = list(_examples_from_reader(reader, mode))
        audio_start_us = reader.first_frame_us
    if not batches:
        return LogMelExamples(np.zeros((0, EXAMPLE_ROWS, NUM_MEL_BANDS), np.float32), np.zeros(0, np.int64),
                              audio_start_us, mode)
    return LogMelExamples(np.concatenate([b.examples for b in batches]),
                          np.concatenate([b.timestamps_us for b in batches]), audio_start_us, mode)
