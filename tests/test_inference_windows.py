"""Window rules: counts, starts and stamps below, at and above the segment size.

See docs/inference.md, 'Local windows', 'Dataset windows' and 'Segment chunks'.
"""

from __future__ import annotations

import pytest

from yt8m.errors import InputError
from yt8m.inference.windows import dataset_windows, local_windows, segment_chunks


@pytest.mark.parametrize("n,starts", [
    (0, []), (4, []),  # below the segment size: none
    (5, [0]),  # equal: one
    (6, [0, 1]), (9, [0, 1, 2, 3, 4]),  # above: floor((N - s) / (s - o)) + 1, one per second
])
def test_local_windows_readme_example(n, starts) -> None:
    w = local_windows(n, segment_size=5, overlap=4)
    assert w.starts.tolist() == starts
    assert w.stamps.tolist() == starts  # stamped with the first second
    assert w.lengths.tolist() == [5] * len(starts)
    assert len(w) == ((n - 5) // 1 + 1 if n >= 5 else 0)


@pytest.mark.parametrize("n,size,overlap,starts", [
    (9, 4, 0, [0, 4]),  # 8 seconds in two windows; the ninth (a tail shorter than a window) dropped
    (12, 4, 0, [0, 4, 8]),
    (11, 5, 2, [0, 3, 6]),  # floor((11 - 5) / 3) + 1 = 3; seconds 9-10 dropped
    (10, 5, 2, [0, 3]),  # floor(5 / 3) + 1 = 2
    (3, 3, 2, [0]),
    (1, 1, 0, [0]),
])
def test_local_windows_other_steps(n, size, overlap, starts) -> None:
    w = local_windows(n, segment_size=size, overlap=overlap)
    assert w.starts.tolist() == starts and w.stamps.tolist() == starts
    assert len(w) == (n - size) // (size - overlap) + 1
    assert (w.ends <= n).all()


@pytest.mark.parametrize("n,starts,stamps,length", [
    (0, [], [], None),
    (1, [0], [0], 1),  # below: seg = N, one window stamped at its last second
    (3, [0], [2], 3),
    (5, [0], [4], 5),  # equal: one
    (8, [0, 1, 2, 3], [4, 5, 6, 7], 5),  # above: one ending at every second from seg-1 to N-1
])
def test_dataset_windows(n, starts, stamps, length) -> None:
    w = dataset_windows(n, segment_size=5)
    assert w.starts.tolist() == starts
    assert w.stamps.tolist() == stamps
    assert len(w) == max(n - min(n, 5) + 1, 0) if n else len(w) == 0
    assert set(w.lengths.tolist()) == ({length} if length else set())
    assert (w.stamps == w.ends - 1).all()


def test_dataset_windows_300_seconds() -> None:
    w = dataset_windows(300, segment_size=5)
    assert len(w) == 296 and w.stamps[0] == 4 and w.stamps[-1] == 299 and w.starts[-1] == 295


@pytest.mark.parametrize("n,starts,lengths", [
    (0, [], []), (3, [0], [3]), (5, [0], [5]), (12, [0, 5, 10], [5, 5, 2]), (15, [0, 5, 10], [5, 5, 5]),
])
def test_segment_chunks(n, starts, lengths) -> None:
    w = segment_chunks(n)
    assert w.starts.tolist() == starts and w.lengths.tolist() == lengths and w.stamps.tolist() == starts


@pytest.mark.parametrize("call,message", [
    (lambda: local_windows(10, segment_size=5, overlap=5), r"overlap \(5\) must be >= 0 and less than"),
    (lambda: local_windows(10, segment_size=5, overlap=-1), r"overlap \(-1\)"),
    (lambda: local_windows(10, segment_size=0, overlap=0), r"segment size \(0\) must be at least 1"),
    (lambda: dataset_windows(10, segment_size=0), r"segment size \(0\)"),
])
def test_bad_window_options(call, message) -> None:
    with pytest.raises(InputError, match=message):
        call()
