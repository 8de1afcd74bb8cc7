"""YouTube-8M metrics, exactly as the starter code defines them.

Sources (github.com/google/youtube-8m, master): ``eval_util.py`` (Hit@1, PERR, top-k
per video, GAP, the per-class mAP of ``EvaluationMetrics``),
``average_precision_calculator.py`` (non-interpolated AP at n),
``mean_average_precision_calculator.py`` (``filter_empty_classes=True``: classes with
no positive are left out of the mean) and ``segment_eval_inference.py`` (the 2019
segment-level MAP). In short, for ``predictions`` and 0/1 ``actuals`` [videos, classes]:

* Hit@1: mean over videos of ``actuals[v, argmax(predictions[v])]`` (argmax takes the
  first maximum; a video without labels scores 0).
* PERR: mean over videos of the precision of the video's top k classes, k = its number
  of labels (``argpartition`` picks among ties), counting only scores > 0; a video
  without labels scores 0.
* GAP@20: each video's top 20 (``argpartition``) pooled over all videos into one list;
  ``AP = sum_i precision@i * [item i positive] / P`` over the list sorted by score, where
  P is the total number of labels (not only those in the top 20).
* mAP: the same top 20 split by class; per class ``AP = sum_i precision@i * [positive] /
  P_class``; the mean over classes with ``P_class > 0``.
* Segment MAP@N: per class in the submission, its first N segments, then only rated
  ones, scored by rank ``(L - r) / L``; AP with ``P`` = the class's positive ratings;
  the mean over classes with a positive rating.

Ties: the starter code pushes items onto a heap, shuffles the heap with
``random.seed(0)`` and sorts stably by score. This module does exactly that whenever
ties between a positive and a negative item could change the result (results are then
those of the starter code given the same accumulation order), and a plain sort otherwise.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

#: Items per video in GAP and mAP (``--top_k`` of eval.py).
TOP_K = 20
#: Segments per class scored by the 2019 segment MAP (the Kaggle cap).
SEGMENT_TOP_N = 100_000
#: ``accumulate`` counts actuals above this as positives when not told how many there are.
_POSITIVE_THRESHOLD = 1e-5


def hit_at_one(predictions: npt.ArrayLike, actuals: npt.ArrayLike) -> float:
    """``calculate_hit_at_one``: mean of the label at each video's top prediction."""
    p, a = np.asarray(predictions), np.asarray(actuals)
    if p.shape[0] == 0:
        return 0.0
    top = np.argmax(p, 1)
    return float(np.average(a[np.arange(a.shape[0]), top]))


def precision_at_equal_recall_rate(predictions: npt.ArrayLike, actuals: npt.ArrayLike) -> float:
    """``calculate_precision_at_equal_recall_rate`` (PERR), averaged over videos."""
    p, a = np.asarray(predictions), np.asarray(actuals)
    if p.shape[0] == 0:
        return 0.0
    total = 0.0
    for row in range(a.shape[0]):
        num_labels = int(np.sum(a[row]))
        top = np.argpartition(p[row], -num_labels)[-num_labels:]
        total += float(np.sum(a[row][top][p[row][top] > 0])) / top.size
    return total / a.shape[0]


@dataclass(frozen=True)
class TopK:
    """``top_k_by_class`` of one batch, flattened class-major (the order the starter code pushes)."""

    classes: npt.NDArray[np.int64]
    predictions: npt.NDArray[np.float64]
    actuals: npt.NDArray[np.float64]
    positives: npt.NDArray[np.float64]  #: per class, all labels of the batch (not only the top k)


def top_k_by_class(predictions: npt.ArrayLike, actuals: npt.ArrayLike, k: int = TOP_K) -> TopK:
    """Each video's top ``k`` (``argpartition``), grouped by class keeping video order."""
    if k <= 0:
        raise ValueError("k must be a positive integer.")
    p, a = np.asarray(predictions), np.asarray(actuals)
    k = min(k, p.shape[1])
    index = np.argpartition(p, -k, axis=1)[:, -k:] if p.shape[0] else np.zeros((0, k), np.int64)
    rows = np.repeat(np.arange(p.shape[0]), k)
    classes = index.reshape(-1)
    order = np.argsort(classes, kind="stable")
    classes, rows = classes[order], rows[order]
    return TopK(classes.astype(np.int64), p[rows, classes].astype(np.float64),
                a[rows, classes].astype(np.float64), a.sum(0).astype(np.float64))


def _consequential_ties(predictions: npt.NDArray[np.float64], positive: npt.NDArray[np.bool_]) -> bool:
    """True when some equal scores hold both a positive and a negative item."""
    order = np.argsort(predictions, kind="stable")
    p, t = predictions[order], positive[order]
    return bool(np.any((p[1:] == p[:-1]) & (t[1:] != t[:-1])))


def _ap_of_order(positive: npt.NDArray[np.bool_], numpos: float, n: int | None) -> float:
    """AP of items already sorted by descending score (``ap_at_n``'s loop)."""
    if n is not None:
        numpos = min(numpos, n)
    ranked = positive if n is None else positive[:n]
    delta_recall = 1.0 / numpos
    ap = 0.0
    for poscount, i in enumerate(np.flatnonzero(ranked).tolist(), 1):  # summed in the starter code's order
        ap += poscount / (i + 1) * delta_recall
    return ap


def average_precision_at_n(predictions: npt.ArrayLike, actuals: npt.ArrayLike, n: int | None = 20,
                           total_num_positives: float | None = None) -> float:
    """``AveragePrecisionCalculator.ap_at_n``: non-interpolated AP of the top ``n`` (None: all).

    Items are taken in the given order, shuffled with ``random.seed(0)`` and sorted
    stably by descending score; ``P = total_num_positives`` (default: the positives
    given), capped at ``n``. Returns 0 when P is 0.
    """
    p = np.asarray(predictions, dtype=np.float64).reshape(-1)
    a = np.asarray(actuals, dtype=np.float64).reshape(-1)
    if p.shape != a.shape:
        raise ValueError("the shape of predictions and actuals does not match.")
    if n is not None and (not isinstance(n, int) or n <= 0):
        raise ValueError(f"n must be 'None' or a positive integer. It was '{n}'.")
    numpos = float(np.count_nonzero(a > 0)) if total_num_positives is None else float(total_num_positives)
    if numpos == 0:
        return 0.0
    positive = a > 0
    if _consequential_ties(p, positive):
        shuffled = np.asarray(random.Random(0).sample(range(p.size), p.size), dtype=np.int64)
        order = shuffled[np.argsort(-p[shuffled], kind="stable")]
    else:
        order = np.argsort(-p, kind="stable")
    return _ap_of_order(positive[order], numpos, n)


def _heap_order(predictions: npt.NDArray[np.float64], actuals: npt.NDArray[np.float64]
                ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The items as ``heapq.heappush`` of ``(prediction, actual)`` in this order leaves them."""
    heap: list[tuple[float, float]] = []
    for item in zip(predictions.tolist(), actuals.tolist(), strict=True):
        heapq.heappush(heap, item)
    if not heap:
        return predictions[:0], actuals[:0]
    p, a = zip(*heap, strict=True)
    return np.asarray(p, np.float64), np.asarray(a, np.float64)


def ap_of_pushes(predictions: npt.NDArray[np.float64], actuals: npt.NDArray[np.float64],
                 total_positives: float, n: int | None = None) -> float:
    """``peek_ap_at_n`` of an unbounded calculator fed these items in this order."""
    if predictions.size == 0:
        return 0.0
    if _consequential_ties(predictions, actuals > 0):
        predictions, actuals = _heap_order(predictions, actuals)
    return average_precision_at_n(predictions, actuals, n=n, total_num_positives=total_positives)


class AveragePrecisionCalculator:
    """``average_precision_calculator.AveragePrecisionCalculator``: AP of a growing list.

    ``top_n`` None keeps every item; otherwise a min-heap keeps the ``top_n`` highest
    (a later item equal to the lowest kept one does not replace it).
    """

    def __init__(self, top_n: int | None = None) -> None:
        if top_n is not None and (not isinstance(top_n, int) or top_n <= 0):
            raise ValueError("top_n must be a positive integer or None.")
        self._top_n = top_n
        self._total_positives = 0.0
        self._chunks: list[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] = []
        self._heap: list[tuple[float, float]] = []

    @property
    def heap_size(self) -> int:
        return len(self._heap) if self._top_n is not None else sum(c[0].size for c in self._chunks)

    @property
    def num_accumulated_positives(self) -> float:
        return self._total_positives

    def accumulate(self, predictions: npt.ArrayLike, actuals: npt.ArrayLike,
                   num_positives: float | None = None) -> None:
        """Add items; ``num_positives`` (default: actuals > 1e-5) adds to the AP's denominator."""
        p = np.asarray(predictions, dtype=np.float64).reshape(-1)
        a = np.asarray(actuals, dtype=np.float64).reshape(-1)
        if p.shape != a.shape:
            raise ValueError("the shape of predictions and actuals does not match.")
        if num_positives is not None and num_positives < 0:
            raise ValueError("'num_positives' was provided but it was a negative number.")
        self._total_positives += (float(num_positives) if num_positives is not None
                                  else float(np.count_nonzero(a > _POSITIVE_THRESHOLD)))
        if self._top_n is None:
            self._chunks.append((p, a))
            return
        heap, top = self._heap, self._top_n
        for item in zip(p.tolist(), a.tolist(), strict=True):
            if len(heap) < top:
                heapq.heappush(heap, item)
            elif item[0] > heap[0][0]:
                heapq.heappop(heap)
                heapq.heappush(heap, item)

    def clear(self) -> None:
        self._total_positives = 0.0
        self._chunks.clear()
        self._heap.clear()

    def peek_ap_at_n(self) -> float:
        """The AP at ``top_n`` of everything accumulated (0 when empty)."""
        if self.heap_size <= 0:
            return 0.0
        if self._top_n is None:
            p = np.concatenate([c[0] for c in self._chunks])
            a = np.concatenate([c[1] for c in self._chunks])
            return ap_of_pushes(p, a, self._total_positives)
        p, a = (np.asarray(v, np.float64) for v in zip(*self._heap, strict=True))
        return average_precision_at_n(p, a, n=self._top_n, total_num_positives=self._total_positives)


class MeanAveragePrecisionCalculator:
    """``mean_average_precision_calculator.MeanAveragePrecisionCalculator`` (one AP calculator per class)."""

    def __init__(self, num_class: int, filter_empty_classes: bool = True, top_n: int | None = None) -> None:
        if not isinstance(num_class, int) or num_class < 1:
            raise ValueError("num_class must be a positive integer.")
        self._num_class = num_class
        self._filter_empty_classes = filter_empty_classes
        self._calculators = [AveragePrecisionCalculator(top_n) for _ in range(num_class)]

    def accumulate(self, predictions: Sequence[npt.ArrayLike], actuals: Sequence[npt.ArrayLike],
                   num_positives: Sequence[float] | None = None) -> None:
        """Add per-class item lists (outer index: class)."""
        for i in range(self._num_class):
            self._calculators[i].accumulate(predictions[i], actuals[i],
                                            None if num_positives is None else num_positives[i])

    def clear(self) -> None:
        for calculator in self._calculators:
            calculator.clear()

    def is_empty(self) -> bool:
        return all(c.heap_size == 0 for c in self._calculators)

    def peek_map_at_n(self) -> list[float]:
        """Per-class APs (of classes with a positive, unless ``filter_empty_classes`` is False)."""
        return [c.peek_ap_at_n() for c in self._calculators
                if not self._filter_empty_classes or c.num_accumulated_positives > 0]


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


@dataclass
class VideoMetrics:
    """``eval_util.EvaluationMetrics``: Hit@1, PERR, GAP@top_k and mAP over batches of videos.

    Call :meth:`accumulate` per batch (results with ties depend on the batches, as in
    the starter code's eval.py, which uses batches of 1024 videos), then :meth:`results`.
    """

    num_classes: int
    top_k: int = TOP_K
    num_videos: int = 0
    _sum_hit_at_one: float = 0.0
    _sum_perr: float = 0.0
    _batches: list[TopK] = field(default_factory=list)

    def accumulate(self, predictions: npt.ArrayLike, actuals: npt.ArrayLike) -> dict[str, float]:
        """Add a batch of predictions and 0/1 actuals [videos, num_classes]; return its Hit@1 and PERR."""
        p, a = np.asarray(predictions), np.asarray(actuals)
        if p.shape != a.shape or p.ndim != 2 or p.shape[1] != self.num_classes:
            raise ValueError(f"predictions {p.shape} and actuals {a.shape} must both be [videos, "
                             f"{self.num_classes}]")
        if p.shape[0] == 0:
            return {"hit_at_one": 0.0, "perr": 0.0}
        hit, perr = hit_at_one(p, a), precision_at_equal_recall_rate(p, a)
        self._batches.append(top_k_by_class(p, a, self.top_k))
        self.num_videos += p.shape[0]
        self._sum_hit_at_one += hit * p.shape[0]
        self._sum_perr += perr * p.shape[0]
        return {"hit_at_one": hit, "perr": perr}

    def class_average_precisions(self) -> dict[int, float]:
        """AP of each class with at least one positive label (the terms of mAP)."""
        if not self._batches:
            return {}
        classes = np.concatenate([b.classes for b in self._batches])
        preds = np.concatenate([b.predictions for b in self._batches])
        acts = np.concatenate([b.actuals for b in self._batches])
        positives = np.sum([b.positives for b in self._batches], axis=0)
        order = np.argsort(classes, kind="stable")
        bounds = np.searchsorted(classes[order], np.arange(self.num_classes + 1))
        aps = {}
        for c in np.flatnonzero(positives > 0).tolist():
            items = order[bounds[c]:bounds[c + 1]]
            aps[c] = ap_of_pushes(preds[items], acts[items], float(positives[c]))
        return aps

    def global_average_precision(self) -> float:
        """GAP: one AP over every video's top ``top_k``, P = all labels."""
        if not self._batches:
            return 0.0
        preds = np.concatenate([b.predictions for b in self._batches])
        acts = np.concatenate([b.actuals for b in self._batches])
        total = float(sum(b.positives.sum() for b in self._batches))
        return ap_of_pushes(preds, acts, total)

    def results(self) -> dict[str, float | int | None]:
        """``{"num_videos", "hit_at_one", "perr", "gap", "map", "num_classes_with_positives"}``.

        ``map`` is None when no class has a positive label.
        """
        if self.num_videos <= 0:
            raise ValueError("no videos were accumulated")
        aps = self.class_average_precisions()
        return {"num_videos": self.num_videos, "hit_at_one": self._sum_hit_at_one / self.num_videos,
                "perr": self._sum_perr / self.num_videos, "gap": self.global_average_precision(),
                "map": _mean(list(aps.values())), "num_classes_with_positives": len(aps)}


def segment_id(video_id: str, start_s: int) -> str:
    """The 2019 submission's segment name, ``<video id>:<start second>``."""
    return f"{video_id}:{start_s}"


@dataclass
class SegmentRatings:
    """Rated segments of 2019-style records: ``(segment id, class) -> score`` (a later rating wins)."""

    scores: dict[tuple[str, int], float] = field(default_factory=dict)

    def add(self, video_id: str, labels: Iterable[int], start_times: Iterable[int],
            scores: Iterable[float]) -> None:
        """Add the ratings of one video (``segment_labels``, ``segment_start_times``, ``segment_scores``)."""
        for label, start, score in zip(labels, start_times, scores, strict=True):
            self.scores[(segment_id(video_id, int(start)), int(label))] = float(score)

    def positives(self) -> dict[int, int]:
        """Positive ratings per class."""
        counts: dict[int, int] = {}
        for (_, label), score in self.scores.items():
            if score > 0:
                counts[label] = counts.get(label, 0) + 1
        return counts

    def __len__(self) -> int:
        return len(self.scores)


def segment_map(submission: Mapping[int, Sequence[str]], ratings: SegmentRatings, *,
                top_n: int | None = SEGMENT_TOP_N) -> dict[str, float | int | None]:
    """``segment_eval_inference.py``: the MAP of a ``Class,Segments`` submission.

    ``submission`` maps a class to its segment ids, best first. A class whose segments
    have no positive rating is left out of the mean (the script would fail on it).
    Returns ``{"map", "num_classes", "num_classes_scored", "top_n"}``; ``map`` is None
    when no class has a positive rating.
    """
    positives = ratings.positives()
    aps = []
    for label in sorted(submission):
        ranked = list(submission[label])[:top_n] if top_n else list(submission[label])
        rated = [s for s in ranked if (s, label) in ratings.scores]
        count = positives.get(label, 0)
        if count <= 0:
            continue
        size = len(rated)
        scores = np.arange(size, 0, -1, dtype=np.float64) / size if size else np.zeros(0)
        actuals = np.asarray([ratings.scores[(s, label)] for s in rated], np.float64)
        aps.append(ap_of_pushes(scores, actuals, float(count)))
    value = _mean(aps)
    return {"map": None if value is None or math.isnan(value) else value, "num_classes": len(submission),
            "num_classes_scored": len(aps), "top_n": top_n}
