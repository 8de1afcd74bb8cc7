"""Rational-factor polyphase resampling to 16 kHz, as the reference does it.

The reference's ``RationalFactorResampleCalculator`` (mediapipe/calculators/audio/
rational_factor_resample_calculator.cc, 2021 and later) runs audio_dsp's ``QResampler``
(audio/dsp/resampler_q.h, resampler_q.cc) with default ``QResamplerParams`` except
``max_denominator = 2000``, one resampler per channel, and calls ``Flush()`` when the
stream closes. When the input rate already equals the target rate it makes no resampler
and passes the samples through unchanged. This module reproduces, from those sources:

* The factor ``input_rate / output_rate`` (computed in double from the rates as float)
  is approximated by the closest fraction ``a / b`` with ``b <= 2000``
  (audio/dsp/number_util.h ``RationalApproximation``; ``Fraction.limit_denominator``
  returns the same best approximation).
* The kernel (audio/dsp/portable/rational_factor_resampler_kernel.c), ``x`` in input
  samples: ``K(x) = theta / I0(beta) * sinc(pi * theta * x) * I0(beta * sqrt(1 - (x/r)^2))``
  for ``|x| <= r`` (plus 100 double ulps), 0 beyond, with
  ``theta = 0.9 / max(1, factor)`` (cutoff at 90 % of the lower Nyquist frequency),
  ``r = ceil(5 * max(1, factor))`` input samples, ``beta = 6``, and ``I0`` evaluated by
  its power series, stopping when a term drops below ``DBL_EPSILON * sum``. The three
  parameters are C ``float`` values (0.9 is really 0.899999976...).
* ``b`` polyphase filters of ``2r + 1`` taps, stored as float:
  ``filter_p[j] = K(p / b + r - j)``.
* Output ``n`` sits at input position ``n * a / b``: it is
  ``sum_j x[i + j - r] * filter_p[j]`` with ``i = floor(n a / b)``, ``p = n a mod b``,
  and ``x`` zero before the first sample (the delay line starts with ``r`` zeros, so the
  first output is time-aligned with the first input sample).
* Outputs are produced while the whole filter lies inside the input seen so far; at the
  end of stream ``Flush()`` feeds ``2r`` zeros. For ``N`` input samples the stream thus
  has ``ceil((N + r) * b / a)`` output samples (a few more than ``N * b / a``).

Each output here is the float64 sum of the exact products of float32 samples and float32
taps, rounded to float32 (the C++ sums in float32); a fixed computation per output, so
feeding a stream in any chunking gives bit-identical results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

#: Sample rate VGGish expects, in Hz.
TARGET_SAMPLE_RATE = 16000
#: Largest denominator of the rational resampling factor (the MediaPipe calculator's kMaxDenominator).
MAX_DENOMINATOR = 2000
#: Kernel radius in units of the slower rate's samples (QResamplerParams default).
FILTER_RADIUS_FACTOR = 5.0
#: Anti-aliasing cutoff as a proportion of the lower Nyquist frequency (QResamplerParams default).
CUTOFF_PROPORTION = 0.9
#: Kaiser window beta (QResamplerParams default; about 60 dB stopband).
KAISER_BETA = 6.0

# The bounded series for I0 (rational_factor_resampler_kernel.c): terms k = 2, 4, ..., 78.
_BESSEL_MAX_K = 80
# Outputs computed per block, to bound temporary memory (blocks hold taps x outputs samples).
_BLOCK_OUTPUTS = 16384


def _bessel_i0(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """I0(x) by its power series, stopped per element exactly like the C reference."""
    x_squared = x * x
    term = np.ones_like(x)
    total = np.ones_like(x)
    active = np.ones(x.shape, dtype=bool)
    eps = np.finfo(np.float64).eps
    for k in range(2, _BESSEL_MAX_K, 2):
        term = np.where(active, term * (x_squared / float(k * k)), term)
        active &= ~(term < eps * total)
        total = np.where(active, total + term, total)
        if not active.any():
            break
    return total


@dataclass(frozen=True)
class ResamplingKernel:
    """The Kaiser-windowed sinc kernel for one pair of rates; ``x`` is in input samples."""

    factor: float
    radius: int
    radians_per_sample: float
    normalization: float
    kaiser_beta: float

    @classmethod
    def design(
        cls, input_sample_rate: float, output_sample_rate: float, *,
        filter_radius_factor: float = FILTER_RADIUS_FACTOR,
        cutoff_proportion: float = CUTOFF_PROPORTION, kaiser_beta: float = KAISER_BETA,
    ) -> ResamplingKernel:
        """The reference kernel for ``input_sample_rate`` -> ``output_sample_rate`` (Hz).

        Parameters are rounded to float32 first, as the C API takes ``float``.
        """
        f32 = np.float32
        in_rate, out_rate = float(f32(input_sample_rate)), float(f32(output_sample_rate))
        radius_factor, cutoff, beta = (float(f32(filter_radius_factor)), float(f32(cutoff_proportion)),
                                       float(f32(kaiser_beta)))
        if not (in_rate > 0 and out_rate > 0 and radius_factor > 0 and 0 < cutoff <= 1 and beta > 0):
            raise ValueError(
                f"invalid resampler parameters: rates {input_sample_rate} -> {output_sample_rate} Hz, "
                f"radius factor {filter_radius_factor}, cutoff {cutoff_proportion}, beta {kaiser_beta}")
        factor = in_rate / out_rate
        factor_max_1 = max(factor, 1.0)
        theta = cutoff / factor_max_1
        i0_beta = float(_bessel_i0(np.array([beta]))[0])
        return cls(factor=factor, radius=math.ceil(radius_factor * factor_max_1),
                   radians_per_sample=math.pi * theta, normalization=theta / i0_beta, kaiser_beta=beta)

    def __call__(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Kernel values at ``x`` (input samples), float64."""
        x = np.abs(np.asarray(x, dtype=np.float64))
        omega = self.radians_per_sample * x
        with np.errstate(invalid="ignore", divide="ignore"):
            sinc = np.where(omega < 1e-8, 1.0, np.sin(omega) / np.where(omega == 0, 1.0, omega))
        y = x / float(self.radius)
        inside = ~(y > 1.0 + 100 * np.finfo(np.float64).eps)
        window = _bessel_i0(self.kaiser_beta * np.sqrt(np.maximum(1.0 - y * y, 0.0)))
        return np.where(inside, self.normalization * sinc * window, 0.0)


@dataclass(frozen=True)
class PolyphaseFilters:
    """Rational factor ``numerator / denominator`` (= input/output rate) and its filters.

    ``coeffs[p, j]`` (float32, shape ``[denominator, 2 * radius + 1]``) weighs input sample
    ``i + j - radius`` for an output at input position ``i + p / denominator``.
    """

    numerator: int
    denominator: int
    radius: int
    coeffs: npt.NDArray[np.float32]

    @property
    def num_taps(self) -> int:
        return 2 * self.radius + 1

    @classmethod
    def design(cls, input_sample_rate: float, output_sample_rate: float, *,
               max_denominator: int = MAX_DENOMINATOR) -> PolyphaseFilters:
        """The reference's filters for ``input_sample_rate`` -> ``output_sample_rate`` (Hz)."""
        if max_denominator <= 0:
            raise ValueError(f"max_denominator must be positive, got {max_denominator}")
        kernel = ResamplingKernel.design(input_sample_rate, output_sample_rate)
        rational = Fraction(kernel.factor).limit_denominator(max_denominator)
        a, b = rational.numerator, rational.denominator
        r = kernel.radius
        offsets = np.arange(b, dtype=np.float64)[:, None] / b  # p / b, as the C++ computes it
        k = np.arange(r, -r - 1, -1, dtype=np.float64)[None, :]  # filter[r - k] = K(p/b + k)
        coeffs = kernel(offsets + k).astype(np.float32)
        return cls(numerator=a, denominator=b, radius=r, coeffs=coeffs)

    def output_length(self, num_input_samples: int) -> int:
        """Samples a whole stream of ``num_input_samples`` gives, flush included."""
        if num_input_samples <= 0:
            return 0
        return -(-(num_input_samples + self.radius) * self.denominator // self.numerator)


class _Engine:
    """Computes the outputs of whole periods of ``b`` outputs (``a`` inputs each).

    Output ``r`` of a period starts its filter at input ``base_r = floor(r a / b)`` of the
    period and uses phase ``r a mod b``. The sum runs over the taps in a fixed order with
    element-wise float64 operations (no BLAS), so each output is computed the same way
    whatever the chunking.
    """

    def __init__(self, filters: PolyphaseFilters) -> None:
        self.filters = filters
        a, b = filters.numerator, filters.denominator
        r = np.arange(b)
        base = (r * a) // b
        self._columns = np.arange(filters.num_taps)[:, None] + base[None, :]  # [taps, b] input offsets
        self._taps = filters.coeffs[(r * a) % b].T.astype(np.float64)  # [taps, b], output order
        self.span = int(base[-1]) + filters.num_taps  # inputs one period touches
        self._block = max(1, _BLOCK_OUTPUTS // b)  # periods per block

    def periods(self, buf: npt.NDArray[np.float32], count: int) -> npt.NDArray[np.float32]:
        """Outputs of ``count`` whole periods; ``buf[0]`` is the first period's first input."""
        a, b = self.filters.numerator, self.filters.denominator
        if count <= 0:
            return np.zeros(0, dtype=np.float32)
        buf = np.ascontiguousarray(buf[: (count - 1) * a + self.span], dtype=np.float32)
        rows = np.lib.stride_tricks.as_strided(buf, shape=(count, self.span),
                                               strides=(a * buf.itemsize, buf.itemsize), writeable=False)
        out = np.empty((count, b), dtype=np.float32)
        for start in range(0, count, self._block):
            windows = rows[start:start + self._block][:, self._columns]  # [periods, taps, b]
            acc = np.zeros((windows.shape[0], b), dtype=np.float64)
            term = np.empty_like(acc)
            for j in range(self.filters.num_taps):
                np.multiply(windows[:, j, :], self._taps[j], out=term)
                acc += term
            out[start:start + self._block] = acc
        return out.reshape(-1)


class RationalResampler:
    """Streaming resampler from ``input_sample_rate`` to ``output_sample_rate`` (Hz).

    Push float samples with :meth:`process` (any chunk sizes), then call :meth:`flush`
    once at the end of the stream; the concatenated outputs are the reference's output
    for the whole stream. Memory is bounded by one chunk plus one filter period.
    Equal rates pass samples through bit-exactly (as float32).

    Outputs are released a whole period (``denominator`` outputs) at a time, so an
    individual call may return fewer samples than the C++ would; the stream is the same.
    """

    def __init__(self, input_sample_rate: float, output_sample_rate: float = TARGET_SAMPLE_RATE, *,
                 max_denominator: int = MAX_DENOMINATOR) -> None:
        if not (input_sample_rate > 0 and output_sample_rate > 0):
            raise ValueError(
                f"sample rates must be positive, got {input_sample_rate} -> {output_sample_rate}")
        self.input_sample_rate = input_sample_rate
        self.output_sample_rate = output_sample_rate
        self.passthrough = input_sample_rate == output_sample_rate
        self.filters: PolyphaseFilters | None = None
        self._engine: _Engine | None = None
        if not self.passthrough:
            self.filters = PolyphaseFilters.design(input_sample_rate, output_sample_rate,
                                                   max_denominator=max_denominator)
            self._engine = _Engine(self.filters)
        self._reset()

    def _reset(self) -> None:
        radius = self.filters.radius if self.filters is not None else 0
        self._pending = np.zeros(radius, dtype=np.float32)  # starts at the next period's first input
        self._input_samples = 0
        self._output_samples = 0

    def process(self, samples: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Feed mono samples; return the output samples now complete (float32, 1-D)."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._input_samples += x.size
        if self._engine is None:
            self._output_samples += x.size
            return x.copy()
        buf = np.concatenate([self._pending, x]) if self._pending.size else x
        a = self.filters.numerator
        count = (buf.size - self._engine.span) // a + 1 if buf.size >= self._engine.span else 0
        out = self._engine.periods(buf, count)
        self._pending = buf[count * a:].copy()
        self._output_samples += out.size
        return out

    def flush(self) -> npt.NDArray[np.float32]:
        """End the stream: return the remaining output samples and reset for a new stream.

        Matches the reference's ``Flush()`` (``2 * radius`` zeros fed through); a stream
        that received no samples yields nothing, as the calculator then never flushes.
        """
        if self._engine is None or self._input_samples == 0:
            self._reset()
            return np.zeros(0, dtype=np.float32)
        total = self.filters.output_length(self._input_samples)
        remaining = total - self._output_samples
        a, b = self.filters.numerator, self.filters.denominator
        periods = -(-remaining // b)
        needed = (periods - 1) * a + self._engine.span if periods > 0 else 0
        buf = np.concatenate([self._pending, np.zeros(max(needed - self._pending.size, 0), np.float32)])
        out = self._engine.periods(buf, periods)[:remaining]
        self._reset()
        return out


def resample(samples: npt.ArrayLike, input_sample_rate: float,
             output_sample_rate: float = TARGET_SAMPLE_RATE) -> npt.NDArray[np.float32]:
    """Resample a whole mono signal (flush included), as the reference's stream would be."""
    resampler = RationalResampler(input_sample_rate, output_sample_rate)
    head = resampler.process(samples)
    tail = resampler.flush()
    return np.concatenate([head, tail]) if tail.size else head
