"""The 1 Hz sampler (MediaPipe PacketResampler, no jitter): hand-worked cases and MediaPipe's own.

Notation in the comments: ``f_i`` is input ``i``; "period k" is the k-th output slot,
at ``first + k s``; ``pc`` is the index of the next period to emit. Expected values were
worked out by hand from the rule in ``yt8m.media.sampling``'s docstring.
"""

from __future__ import annotations

import pytest

from yt8m.media.sampling import (
    PacketResampler,
    ResamplerOptions,
    mediapipe_round,
    one_hz_sampler,
    resample,
    sample_1hz,
)

S = 1_000_000  # microseconds per second


def cfr_times(count: int, *, num: int, den: int, start_us: int = 0) -> list[int]:
    """Frame i at start + i * den/num s, truncated to whole microseconds (as decoders stamp)."""
    return [start_us + i * den * S // num for i in range(count)]


def chosen(pairs: list[tuple[int, int]]) -> list[tuple[float, int]]:
    """(period time in seconds, chosen frame position), for readable assertions."""
    return [(t / S, i) for t, i in pairs]


# ---------------------------------------------------------------------------------------
# MediaPipe's rounding


@pytest.mark.parametrize(("x", "expected"), [
    (0.0, 0), (0.49, 0), (0.5, 1), (1.5, 2), (2.5, 3), (-0.3, 0), (-0.5, -1), (-1.5, -2),
    (float("nan"), 0),
])
def test_mediapipe_round_is_half_away_from_zero(x: float, expected: int) -> None:
    assert mediapipe_round(x) == expected


# ---------------------------------------------------------------------------------------
# Hand-worked 1 Hz cases (frame_rate 1, base 0, flush_last_packet, window [start, end))


def test_30fps() -> None:
    # t_i = trunc(i * 33333.3 us): f_30k is exactly at k s, so it wins period k outright
    # (t - T = 0). The last frame f_89 (2.967 s) belongs to period round(2.967) = 3, which
    # is still due at the end, so the flush emits it at 3 s.
    times = cfr_times(90, num=30, den=1)
    assert chosen(sample_1hz(times)) == [(0, 0), (1, 30), (2, 60), (3, 89)]


def test_29_97fps_switches_to_the_earlier_frame_when_it_is_nearer() -> None:
    # t_i = trunc(i * 1001/30000 s). f_30k is at k * 1.001 s, 1000k us after k s; f_30k-1
    # is 33367 - 1000k us before k s. The later frame wins while 1000k <= 33367 - 1000k,
    # i.e. up to k = 16 (16000 vs 17367); from k = 17 the earlier one does (17000 vs 16367).
    # f_599 (19.987 s) rounds to period 20, due at the end: flushed at 20 s.
    times = cfr_times(600, num=30000, den=1001)
    expected = [(k, 30 * k) for k in range(17)] + [(17, 509), (18, 539), (19, 569), (20, 599)]
    assert chosen(sample_1hz(times)) == expected


def test_24fps_without_flush() -> None:
    # f_24k is exactly at k s. A 2.5 s video: last frame f_59 at 2.458 s rounds to period 2,
    # already emitted (pc = 3), so nothing is flushed.
    times = cfr_times(60, num=24, den=1)
    assert chosen(sample_1hz(times)) == [(0, 0), (1, 24), (2, 48)]


def test_1fps_on_the_second() -> None:
    # Every frame sits on its period: each is emitted as it arrives; f_4's period 4 is
    # done (pc = 5), nothing flushed.
    times = [k * S for k in range(5)]
    assert chosen(sample_1hz(times)) == [(k, k) for k in range(5)]


def test_1fps_on_half_seconds_fills_with_the_earlier_frame() -> None:
    # Frames at 0.5, 1.5, 2.5 s. first = round(0.5) = 1 s (half away from zero), so
    # periods are 1, 2, 3 s. f_0: period round(-0.5) = -1 < pc 0, only "previous".
    # f_1 (1.5 s): period round(0.5) = 1 > pc 0: fill 1 s with f_0; 1.5 < 2 s: wait.
    # f_2 (2.5 s): period 2 > 1: fill 2 s with f_1; 2.5 < 3 s: wait.
    # Flush: f_2's period 2 == pc: f_2 at 3 s. Ties at 1 s and 2 s go to the EARLIER
    # frame here because the slot is filled, not compared.
    times = [500_000, 1_500_000, 2_500_000]
    assert chosen(sample_1hz(times)) == [(1, 0), (2, 1), (3, 2)]


def test_half_fps_repeats_frames_over_empty_seconds() -> None:
    # Frames at 0, 2, 4, 6 s. f_0 -> 0 s. f_1 (2 s, period 2 > pc 1): fill 1 s with f_0,
    # then 2 s: t - T = 0 -> f_1. Same for f_2 and f_3. Flush: f_3's period 6 < pc 7.
    times = [0, 2 * S, 4 * S, 6 * S]
    assert chosen(sample_1hz(times)) == [(0, 0), (1, 0), (2, 1), (3, 1), (4, 2), (5, 2), (6, 3)]


def test_variable_frame_rate() -> None:
    # The test media's VFR video: frames at 0, .1, .15, .6, 1.3, 1.31, 2.5 s.
    # f_0 -> 0 s (pc 1). f_1, f_2: period 0 < 1, "previous" only. f_3 (0.6): period 1,
    # before 1 s: wait. f_4 (1.3): 1.3 - 1 = 0.3 <= 1 - 0.6 = 0.4 -> f_4 at 1 s (pc 2).
    # f_5 (1.31): period 1 < 2. f_6 (2.5): period round(2.5) = 3 > 2: fill 2 s with f_5
    # (although f_6 is nearer to 2 s); 2.5 < 3: wait. Flush: f_6's period 3 == pc -> 3 s.
    times = [0, 100_000, 150_000, 600_000, 1_300_000, 1_310_000, 2_500_000]
    assert chosen(sample_1hz(times)) == [(0, 0), (1, 4), (2, 5), (3, 6)]


def test_first_frame_at_0_7_s_has_no_output_at_0() -> None:
    # 30 fps starting at 0.7 s: t_i = 700000 + trunc(i * 33333.3). first = round(0.7) = 1 s,
    # so the periods are 1, 2, 3, ... s and none is at 0 s. f_9 is exactly at 1 s, f_39 at
    # 2 s, f_69 at 3 s (pc is then 3, i.e. 4 s). f_89 (3.667 s) has period index
    # round(3.667 - 1) = 3, the due one: flushed at 4 s.
    times = cfr_times(90, num=30, den=1, start_us=700_000)
    assert chosen(sample_1hz(times)) == [(1, 9), (2, 39), (3, 69), (4, 89)]


def test_first_frame_after_half_a_second_rounds_up() -> None:
    # One frame at 0.5 s: first = round(0.5) = 1 s; its period round(-0.5) = -1 is not the
    # due period 0, so it is not even flushed: no output at all.
    assert sample_1hz([500_000]) == []
    # At 0.49 s: first = 0 s, period 0, 0.49 >= 0 -> emitted at 0 s immediately.
    assert chosen(sample_1hz([490_000])) == [(0, 0)]


def test_clip_window_starting_mid_video() -> None:
    # 30 fps, 10 s. The grid stays anchored at 0 (base 0); the window only filters:
    # [3 s, 6 s) keeps 3, 4, 5 s = f_90, f_120, f_150.
    times = cfr_times(300, num=30, den=1)
    assert chosen(sample_1hz(times, start_us=3 * S, end_us=6 * S)) == [(3, 90), (4, 120), (5, 150)]
    # A window on half seconds keeps the whole seconds inside it: [2.5 s, 5.5 s) -> 3, 4, 5 s.
    assert chosen(sample_1hz(times, start_us=2_500_000, end_us=5_500_000)) == [(3, 90), (4, 120), (5, 150)]


def test_clip_end_beyond_the_video() -> None:
    # 30 fps, 3 s, window [0, 10 s): the outputs are those of the whole video, including
    # the flushed 3 s (see test_30fps). With end 3 s the flushed one falls outside.
    times = cfr_times(90, num=30, den=1)
    assert chosen(sample_1hz(times, end_us=10 * S)) == [(0, 0), (1, 30), (2, 60), (3, 89)]
    assert chosen(sample_1hz(times, end_us=3 * S)) == [(0, 0), (1, 30), (2, 60)]


def test_half_second_video_gives_one_frame() -> None:
    # 15 frames at 30 fps (last at 0.467 s): f_0 -> 0 s, pc 1 (1 s). All others are in
    # period 0 < 1; at the end f_14's period round(0.467) = 0 != 1: no flush.
    times = cfr_times(15, num=30, den=1)
    assert chosen(sample_1hz(times)) == [(0, 0)]


def test_a_0_to_120_s_clip_gives_120_frames() -> None:
    # 30 fps, 130 s: f_30k is exactly at k s for every k, and [0, 120 s) holds k = 0..119.
    times = cfr_times(130 * 30, num=30, den=1)
    assert chosen(sample_1hz(times, start_us=0, end_us=120 * S)) == [(k, 30 * k) for k in range(120)]


def test_negative_start_is_cut_by_the_default_window() -> None:
    # A frame at -0.4 s (e.g. an edit list): first = round(-0.4) = 0 s; its period 0 and
    # -0.4 < 0 s: it waits; f_1 at 0.2 s: 0.2 <= 0.4 -> f_1 at 0 s. Nothing negative.
    assert chosen(sample_1hz([-400_000, 200_000])) == [(0, 1)]
    # A frame at -1.2 s: first = round(-1.2) = -1 s; f_0 waits (before -1 s); f_1 (0 s) is
    # in period 1, so -1 s is filled with f_0 (dropped by start 0) and 0 s gets f_1.
    assert chosen(sample_1hz([-1_200_000, 0, 1_000_000])) == [(0, 1), (1, 2)]


# ---------------------------------------------------------------------------------------
# Streaming form


def test_streaming_emits_as_soon_as_decided_and_keeps_one_previous_item() -> None:
    sampler = one_hz_sampler()
    assert sampler.next_period_us is None
    assert sampler.push(0, "a") == [(0, "a")]                  # t >= T = 0: decided now
    assert sampler.next_period_us == S
    assert sampler.push(900_000, "b") == []                    # before 1 s: only previous
    assert sampler.push(1_050_000, "c") == [(S, "c")]          # 0.05 <= 0.1: this one
    assert sampler.push(3_600_000, "d") == [(2 * S, "c"), (3 * S, "c")]  # fills; 3.6 < 4
    assert sampler.flush() == [(4 * S, "d")]                   # period round(3.6) = 4 due
    with pytest.raises(ValueError, match="after flush"):
        sampler.push(5 * S, "e")


def test_streaming_rejects_non_increasing_timestamps() -> None:
    sampler = one_hz_sampler()
    sampler.push(100, "a")
    with pytest.raises(ValueError, match="strictly increase"):
        sampler.push(100, "b")


def test_streaming_window_filters_outputs() -> None:
    sampler = one_hz_sampler(start_us=S, end_us=2 * S)
    out = sampler.push(0, "a") + sampler.push(S, "b") + sampler.push(2 * S, "c") + sampler.flush()
    assert out == [(S, "b")]


def test_invalid_options() -> None:
    with pytest.raises(ValueError, match="frame_rate"):
        ResamplerOptions(frame_rate=0.0)
    with pytest.raises(ValueError, match="greater than"):
        ResamplerOptions(frame_rate=1.0, start_time_us=5, end_time_us=5)


# ---------------------------------------------------------------------------------------
# MediaPipe's packet_resampler_calculator_test.cc, every no-jitter case, with its exact
# inputs and expected outputs ("expected frames" are input timestamps). Tests whose frame
# rate comes from a VIDEO_HEADER (use_input_frame_rate / max_frame_rate) are ported with
# the effective frame rate; SetVideoHeader checks only the header and is not ported.

MEDIAPIPE_CASES: list[tuple[str, dict, list[int], list[int], list[int]]] = [
    ("NoPacketsInStream", {"frame_rate": 30}, [], [], []),
    ("SinglePacketInStream/0", {"frame_rate": 30}, [0], [0], [0]),
    ("SinglePacketInStream/1000", {"frame_rate": 30}, [1000], [1000], [1000]),
    ("SinglePacketInStream/16668", {"frame_rate": 30}, [16668], [16668], [16668]),
    ("TwoPacketsInStream/1period", {"frame_rate": 30}, [0, 16666], [0], [0]),
    ("TwoPacketsInStream/left", {"frame_rate": 30}, [0, 16667], [0, 16667], [0, 33333]),
    ("TwoPacketsInStream/right", {"frame_rate": 30}, [0, 49999], [0, 49999], [0, 33333]),
    ("TwoPacketsInStream/fill1", {"frame_rate": 30}, [0, 50000], [0, 0, 50000], [0, 33333, 66667]),
    ("TwoPacketsInStream/fill2", {"frame_rate": 30}, [2000, 118666],
     [2000, 2000, 2000, 118666], [2000, 35333, 68667, 102000]),
    ("UseInputFrameRate_HeaderHasSameFramerate", {"frame_rate": 200},
     [0, 5000, 10010, 15001, 19990], [0, 5000, 10010, 15001, 19990], [0, 5000, 10000, 15000, 20000]),
    ("UseInputFrameRate_HeaderHasSmallerFramerate", {"frame_rate": 100},
     [0, 5000, 10010, 15001], [0, 10010, 15001], [0, 10000, 20000]),
    ("UseInputFrameRate_MaxFrameRateSmallerThanInput", {"frame_rate": 50},
     [0, 5000, 10010, 15001, 20010], [0, 20010], [0, 20000]),
    ("InputAtExactFrequencyMiddlepoints", {"frame_rate": 30},
     [0, 33333, 66667, 100000, 133333, 166667, 200000],
     [0, 33333, 66667, 100000, 133333, 166667, 200000],
     [0, 33333, 66667, 100000, 133333, 166667, 200000]),
    ("MultiplePacketsForPeriods", {"frame_rate": 30},
     [0, 16666, 16667, 20000, 33300, 49999, 50000, 66600], [0, 33300, 66600], [0, 33333, 66667]),
    ("FillPeriodsWithLatestPacket/1", {"frame_rate": 30}, [0, 5000, 16666, 83334],
     [0, 16666, 16666, 83334], [0, 33333, 66667, 100000]),
    ("FillPeriodsWithLatestPacket/2", {"frame_rate": 30}, [0, 16666, 16667, 25000, 33000, 35000, 135000],
     [0, 33000, 35000, 35000, 135000], [0, 33333, 66667, 100000, 133333]),
    ("FillPeriodsWithLatestPacket/3", {"frame_rate": 30}, [0, 15000, 32000, 49999, 150000],
     [0, 32000, 49999, 49999, 49999, 150000], [0, 33333, 66667, 100000, 133333, 166667]),
    ("SuperHighFrameRate/500000", {"frame_rate": 500000}, [0, 10, 13],
     [0, 0, 0, 0, 0, 10, 10, 13], [0, 2, 4, 6, 8, 10, 12, 14]),
    ("SuperHighFrameRate/1000000", {"frame_rate": 1000000}, [0, 10, 13],
     [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 10, 10, 13], list(range(14))),
    ("NegativeTimestampTest/1period", {"frame_rate": 30}, [-200, -20, 16466], [-200], [-200]),
    ("NegativeTimestampTest/2periods", {"frame_rate": 30}, [-200, -20, 16467], [-200, 16467], [-200, 33133]),
    ("NegativeTimestampTest/fill", {"frame_rate": 30}, [-500, 66667],
     [-500, -500, 66667], [-500, 32833, 66167]),
    ("NegativeTimestampTest/below-period", {"frame_rate": 30}, [-50000, -33334, 33334],
     [-50000, -33334, -33334, 33334], [-50000, -16667, 16667, 50000]),
    ("ExactFramesPerSecond/1", {"frame_rate": 50}, [0, 9999, 29999], [0, 29999], [0, 20000]),
    ("ExactFramesPerSecond/fill", {"frame_rate": 50}, [0, 10000, 50000],
     [0, 10000, 10000, 50000], [0, 20000, 40000, 60000]),
    ("FrameRateTest/same", {"frame_rate": 50}, [0, 10000, 30000, 50000, 60000],
     [0, 10000, 30000, 60000], [0, 20000, 40000, 60000]),
    ("FrameRateTest/update_header", {"frame_rate": 50}, [0, 5000, 10010, 15001, 19990],
     [0, 19990], [0, 20000]),
    ("FrameRateTest/pass_header", {"frame_rate": 50}, [0, 5000, 10010, 15001, 19990], [0, 19990], [0, 20000]),
    ("FlushLastPacketWithoutRound", {"frame_rate": 1}, [0, 333333, 666667, 1000000, 1333333],
     [0, 1000000], [0, 1000000]),
    ("FlushLastPacketWithRound", {"frame_rate": 1}, [0, 333333, 666667, 1000000, 1333333, 1666667],
     [0, 1000000, 1666667], [0, 1000000, 2000000]),
    ("DoNotFlushLastPacketWithoutRound", {"frame_rate": 1, "flush_last_packet": False},
     [0, 333333, 666667, 1000000, 1333333], [0, 1000000], [0, 1000000]),
    ("DoNotFlushLastPacketWithRound", {"frame_rate": 1, "flush_last_packet": False},
     [0, 333333, 666667, 1000000, 1333333, 1666667], [0, 1000000], [0, 1000000]),
    ("InputAtExactFrequencyMiddlepointsAligned/unaligned", {"frame_rate": 30},
     [33111, 66667, 100000, 133333, 166667, 200000], [33111, 66667, 100000, 133333, 166667, 200000],
     [33111, 66444, 99778, 133111, 166444, 199778]),
    ("InputAtExactFrequencyMiddlepointsAligned/base0", {"frame_rate": 30, "base_timestamp_us": 0},
     [33111, 66667, 100000, 133333, 166667, 200000], [33111, 66667, 100000, 133333, 166667, 200000],
     [33333, 66666, 100000, 133333, 166666, 200000]),
    ("MultiplePacketsForPeriodsAligned/unaligned", {"frame_rate": 30},
     [-222, 16666, 16667, 20000, 33300, 49999, 50000, 66600], [-222, 33300, 66600], [-222, 33111, 66445]),
    ("MultiplePacketsForPeriodsAligned/base900011", {"frame_rate": 30, "base_timestamp_us": 900011},
     [-222, 16666, 16667, 20000, 33300, 49999, 50000, 66600], [-222, 33300, 66600], [11, 33344, 66678]),
    ("MultiplePacketsForPeriodsAligned/base11", {"frame_rate": 30, "base_timestamp_us": 11},
     [899888, 916666, 916667, 920000, 933300, 949999, 950000, 966600],
     [899888, 933300, 966600], [900011, 933344, 966678]),
    ("FillPeriodsWithLatestPacketAligned/unaligned", {"frame_rate": 30}, [-222, 15000, 32000, 49999, 150000],
     [-222, 32000, 49999, 49999, 49999, 150000], [-222, 33111, 66445, 99778, 133111, 166445]),
    ("FillPeriodsWithLatestPacketAligned/base0", {"frame_rate": 30, "base_timestamp_us": 0},
     [-222, 15000, 32000, 49999, 150000],
     [-222, 32000, 49999, 49999, 49999, 150000], [0, 33333, 66667, 100000, 133333, 166667]),
    ("FirstInputAfterMiddlepointAligned/1", {"frame_rate": 30, "base_timestamp_us": 0},
     [66667, 100020, 133333, 166667], [66667, 100020, 133333, 166667], [66667, 100000, 133334, 166667]),
    ("FirstInputAfterMiddlepointAligned/seek", {"frame_rate": 30, "base_timestamp_us": 0},
     [100020, 133333, 166667], [100020, 133333, 166667], [100000, 133333, 166667]),
    ("OutputTimestampRangeAligned/base0", {"frame_rate": 30, "base_timestamp_us": 0},
     [-222, 15000, 32000, 49999, 150000],
     [-222, 32000, 49999, 49999, 49999, 150000], [0, 33333, 66667, 100000, 133333, 166667]),
    ("OutputTimestampRangeAligned/window",
     {"frame_rate": 30, "base_timestamp_us": 0, "start_time_us": 40000, "end_time_us": 160000},
     [-222, 15000, 32000, 49999, 150000], [49999, 49999, 49999], [66667, 100000, 133333]),
    ("OutputTimestampRangeAligned/round_limits",
     {"frame_rate": 30, "base_timestamp_us": 0, "start_time_us": 40000, "end_time_us": 160000,
      "round_limits": True},
     [-222, 15000, 32000, 49999, 150000],
     [32000, 49999, 49999, 49999, 150000], [33333, 66667, 100000, 133333, 166667]),
]


@pytest.mark.parametrize(("options", "inputs", "expected_frames", "expected_times"),
                         [case[1:] for case in MEDIAPIPE_CASES], ids=[case[0] for case in MEDIAPIPE_CASES])
def test_mediapipe_no_jitter_cases(options: dict, inputs: list[int], expected_frames: list[int],
                                   expected_times: list[int]) -> None:
    out = resample(inputs, ResamplerOptions(**options))
    assert [t for t, _ in out] == expected_times
    assert [inputs[i] for _, i in out] == expected_frames


@pytest.mark.parametrize("options", [{"frame_rate": 30, "base_timestamp_us": 0}, {"frame_rate": 30}],
                         ids=["merged", "replaced"])
def test_mediapipe_options_side_packet(options: dict) -> None:
    # OptionsSidePacket: both variants resolve to 30 fps and expect 6 outputs.
    assert len(resample([-222, 15000, 32000, 49999, 150000], ResamplerOptions(**options))) == 6


def test_streaming_and_batch_agree() -> None:
    times = [0, 100_000, 150_000, 600_000, 1_300_000, 1_310_000, 2_500_000]
    sampler: PacketResampler[int] = one_hz_sampler()
    streamed = [pair for i, t in enumerate(times) for pair in sampler.push(t, i)] + sampler.flush()
    assert streamed == sample_1hz(times)
