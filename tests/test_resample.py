"""The rational-factor resampler (yt8m.features.resample) against its reference design."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly
from scipy.special import i0

from yt8m.features import resample as rs
from yt8m.features.resample import (
    PolyphaseFilters,
    RationalResampler,
    ResamplingKernel,
    resample,
)

# (input rate, factor a/b = input/output, kernel radius in input samples), from the
# QResampler rules: a/b is the closest fraction with b <= 2000 and
# radius = ceil(5 * max(1, input/output)).
KNOWN_DESIGNS = [
    (44100, 441, 160, 14),
    (48000, 3, 1, 15),
    (8000, 1, 2, 5),
    (22050, 441, 320, 7),
    (32000, 2, 1, 10),
    (11025, 441, 640, 5),
]


def _sine(rate: int, freq_hz: float, duration_s: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(rate * duration_s)) / rate
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def _scipy_taps(rate: int) -> tuple[PolyphaseFilters, np.ndarray]:
    """The same kernel sampled at the upsampled rate, as resample_poly wants it.

    Tap ``m`` of the length ``2 r b + 1`` filter is ``K((m - r b) / b)`` rounded to float32
    (our taps are float32); resample_poly multiplies the taps by ``up = b``, hence ``/ b``.
    """
    filters = PolyphaseFilters.design(rate, 16000)
    kernel = ResamplingKernel.design(rate, 16000)
    b, r = filters.denominator, filters.radius
    m = np.arange(-r * b, r * b + 1)
    return filters, kernel(m / b).astype(np.float32).astype(np.float64) / b


@pytest.mark.parametrize(("rate", "a", "b", "radius"), KNOWN_DESIGNS)
def test_design_factor_and_radius(rate: int, a: int, b: int, radius: int) -> None:
    filters = PolyphaseFilters.design(rate, 16000)
    assert (filters.numerator, filters.denominator, filters.radius) == (a, b, radius)
    assert filters.coeffs.shape == (b, 2 * radius + 1) and filters.coeffs.dtype == np.float32
    # Each phase has (almost) unit DC gain: the kernel is normalised by theta / I0(beta).
    np.testing.assert_allclose(filters.coeffs.sum(axis=1), 1.0, atol=2e-3)


def test_arbitrary_factor_is_approximated_with_denominator_at_most_2000() -> None:
    filters = PolyphaseFilters.design(44099, 16000)
    assert filters.denominator <= rs.MAX_DENOMINATOR
    assert abs(filters.numerator / filters.denominator - 44099 / 16000) <= 0.5 / rs.MAX_DENOMINATOR


def test_kernel_formula() -> None:
    kernel = ResamplingKernel.design(48000, 16000)
    theta = float(np.float32(0.9)) / 3.0  # cutoff as a proportion of the input Nyquist
    assert kernel.radius == 15
    assert kernel(0.0) == pytest.approx(theta, rel=1e-15)
    x = np.linspace(-16, 16, 321)
    omega = np.pi * theta * x
    sinc = np.where(omega == 0, 1.0, np.sin(omega) / np.where(omega == 0, 1, omega))
    window = np.where(np.abs(x) <= 15, i0(6.0 * np.sqrt(np.clip(1 - (x / 15) ** 2, 0, None))) / i0(6.0), 0.0)
    np.testing.assert_allclose(kernel(x), theta * sinc * window, rtol=1e-12, atol=1e-15)
    # Taps are stored backwards: filter_p[j] = K(p / b + radius - j).
    filters = PolyphaseFilters.design(44100, 16000)
    kernel = ResamplingKernel.design(44100, 16000)
    np.testing.assert_array_equal(filters.coeffs[7], kernel(7 / 160 + 14 - np.arange(29)).astype(np.float32))


def test_bessel_series_matches_scipy() -> None:
    x = np.linspace(0, 6, 601)
    np.testing.assert_allclose(rs._bessel_i0(x), i0(x), rtol=1e-14)


@pytest.mark.parametrize(("rate", "freq_hz"), [(44100, 1000.0), (44100, 3000.0), (48000, 1000.0),
                                               (48000, 3000.0), (8000, 440.0), (8000, 1000.0)])
def test_sine_keeps_frequency_and_amplitude(rate: int, freq_hz: float) -> None:
    """Output n sits at time n / 16000 s: compare with the ideal 16 kHz sine, away from the edges."""
    y = resample(_sine(rate, freq_hz, 1.0), rate)
    n = np.arange(y.size)
    ideal = 0.5 * np.sin(2 * np.pi * freq_hz * n / 16000)
    inner = slice(200, 16000 - 200)
    error_db = 10 * np.log10(np.mean((y[inner] - ideal[inner]) ** 2) / np.mean(ideal[inner] ** 2))
    assert error_db < -60.0
    spectrum = np.abs(np.fft.rfft(y[:16000] * np.hanning(16000)))
    assert np.argmax(spectrum) == int(freq_hz)  # 1 Hz bins


@pytest.mark.parametrize("rate", [44100, 48000, 8000, 22050])
def test_matches_scipy_resample_poly_with_the_same_taps(rate: int) -> None:
    """Same filter through scipy.signal.resample_poly (float64 throughout).

    Our outputs are float64 sums of exact products of float32 samples and float32 taps,
    rounded once to float32; scipy sums the same products in float64 in another order.
    The difference is therefore at most half a float32 ulp of the output (6e-8 for
    |y| < 1) plus float64 noise: tolerance 1e-7 absolute. Padding the input with ``radius``
    zeros makes scipy produce the reference's flushed length ``ceil((N + r) b / a)``.
    """
    x = np.random.default_rng(rate).uniform(-0.9, 0.9, rate // 2).astype(np.float32)
    filters, taps = _scipy_taps(rate)
    expected = resample_poly(np.pad(x.astype(np.float64), (0, filters.radius)), filters.denominator,
                             filters.numerator, window=taps)
    y = resample(x, rate)
    assert y.dtype == np.float32
    assert y.size == expected.size == filters.output_length(x.size)
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-7)


@pytest.mark.parametrize("rate", [44100, 48000, 8000])
def test_output_length_includes_the_flush(rate: int) -> None:
    filters = PolyphaseFilters.design(rate, 16000)
    for n in (1, 2, 13, 100, 4410, 44100, 44101):
        expected = -(-(n + filters.radius) * filters.denominator // filters.numerator)
        assert filters.output_length(n) == expected == resample(np.zeros(n, np.float32), rate).size
    assert resample(np.zeros(0, np.float32), rate).size == 0


def test_upsampling_8k_interpolates_between_samples() -> None:
    x = _sine(8000, 440.0, 0.5)
    y = resample(x, 8000)
    assert y.size == 2 * (x.size + 5)  # ceil((N + radius) * b / a) with a/b = 1/2, radius 5
    # Even outputs sit on input samples; odd ones half-way between.
    inner = slice(50, x.size - 50)
    np.testing.assert_allclose(y[0::2][inner], x[inner], atol=2e-3)


def test_16k_passes_through_bit_exactly() -> None:
    x = np.random.default_rng(0).uniform(-1, 1, 12345).astype(np.float32)
    np.testing.assert_array_equal(resample(x, 16000), x)
    resampler = RationalResampler(16000)
    assert resampler.passthrough
    out = np.concatenate([resampler.process(x[:100]), resampler.process(x[100:]), resampler.flush()])
    np.testing.assert_array_equal(out, x)


@pytest.mark.parametrize("rate", [44100, 48000, 8000, 22050, 44099])
def test_streaming_in_uneven_chunks_equals_one_shot(rate: int) -> None:
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, rate).astype(np.float32)
    whole = resample(x, rate)
    resampler = RationalResampler(rate)
    pieces, i = [], 0
    for size in [0, 1, 1, 2, 7, 500, 3, 4409, 1, 10000, 0, 999]:
        pieces.append(resampler.process(x[i:i + size]))
        i += size
    pieces.append(resampler.process(x[i:]))
    pieces.append(resampler.flush())
    np.testing.assert_array_equal(np.concatenate(pieces), whole)
    # flush() resets: the same resampler serves a second stream identically.
    np.testing.assert_array_equal(np.concatenate([resampler.process(x), resampler.flush()]), whole)


def test_flush_without_input_gives_nothing() -> None:
    assert RationalResampler(44100).flush().size == 0


def test_invalid_rates_are_rejected() -> None:
    with pytest.raises(ValueError, match="positive"):
        RationalResampler(0)
