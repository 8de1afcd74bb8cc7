"""FeatureSequence.aligned_audio: audio examples onto video seconds, hand-computed cases.

Each video second takes the free audio example stamped nearest to it within half a
second (the earlier on a tie); the others are padded with zeros; examples no second took
are dropped; both are said.
"""

from __future__ import annotations

import numpy as np
import pytest

from yt8m.features.sequence import FeatureSequence

S = 1_000_000


def _sequence(seconds: int, audio_stamps_s: list[float] | None) -> FeatureSequence:
    rgb = np.zeros((seconds, 1024), np.float32)
    if audio_stamps_s is None:
        return FeatureSequence(rgb, np.arange(seconds) * S, None, None)
    # Row j of the audio is filled with j + 1, so the aligned rows say which example they took.
    audio = np.repeat(np.arange(1, len(audio_stamps_s) + 1, dtype=np.float32)[:, None], 128, axis=1)
    return FeatureSequence(rgb, np.arange(seconds) * S, audio, np.round(np.asarray(audio_stamps_s) * S))


def _taken(seq: FeatureSequence) -> tuple[list[int | None], list[str]]:
    aligned, notes = seq.aligned_audio()
    assert np.all(aligned == aligned[:, :1])
    return [int(v) - 1 if v else None for v in aligned[:, 0]], notes


@pytest.mark.parametrize(("seconds", "stamps", "taken", "padded", "dropped"), [
    # Same start and length: one to one, nothing said.
    (3, [0, 1, 2], [0, 1, 2], None, None),
    # The reference's zero-padded last example makes one more audio second: dropped.
    (3, [0, 1, 2, 3], [0, 1, 2], None, "examples 3"),
    # Audio shorter than the video: the last seconds padded.
    (4, [0, 1], [0, 1, None, None], "2 of 4 seconds (2-3)", None),
    # Audio starting 0.3 s late: second k takes example k (0.3 s away).
    (3, [0.3, 1.3, 2.3], [0, 1, 2], None, None),
    # 0.7 s late: second 0 has none within half a second; second k takes example k - 1.
    (3, [0.7, 1.7, 2.7], [None, 0, 1], "1 of 3 seconds (0)", "examples 2"),
    # Exactly half a second late: second 0 takes 0.5 s; for second 1, 0.5 s and 1.5 s tie
    # and 0.5 s is taken, so 1.5 s; and so on. Nothing padded.
    (3, [0.5, 1.5, 2.5], [0, 1, 2], None, None),
    # Half a second early: second k takes the example at k - 0.5 s (the earlier on the
    # tie); the last example, at 2.5 s, is one no second needs.
    (3, [-0.5, 0.5, 1.5, 2.5], [0, 1, 2], None, "examples 3"),
    # The original VGGish hop (0.96 s): 14 examples over 13 seconds; second 12 ties
    # between 11.52 s and 12.48 s and takes the earlier, so 12.48 s goes.
    (13, [0.96 * k for k in range(14)], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], None, "examples 13"),
])
def test_alignment(seconds, stamps, taken, padded, dropped) -> None:
    got, notes = _taken(_sequence(seconds, stamps))
    assert got == taken
    padded_notes = [n for n in notes if n.startswith("audio padded")]
    dropped_notes = [n for n in notes if n.startswith("dropped")]
    assert (padded_notes[0].endswith(f"for {padded}") if padded else not padded_notes), notes
    assert (dropped_notes[0].endswith(f"({dropped})") if dropped else not dropped_notes), notes


def test_unsorted_stamps_align_by_time() -> None:
    got, notes = _taken(_sequence(3, [2, 0, 1]))
    assert got == [1, 2, 0] and notes == []


def test_no_audio_is_all_zeros_and_said() -> None:
    aligned, notes = _sequence(4, None).aligned_audio()
    assert aligned.shape == (4, 128) and not aligned.any()
    assert notes == ["no audio: all 4 seconds have zero (mean) audio features"]


def test_empty_audio_pads_every_second() -> None:
    got, notes = _taken(_sequence(2, []))
    expected = "audio padded with zeros (the mean audio embedding) for 2 of 2 seconds (0-1)"
    assert got == [None, None] and notes == [expected]
