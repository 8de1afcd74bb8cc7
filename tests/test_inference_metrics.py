"""Metrics: hand-computed cases, and the starter code's definitions transcribed as an oracle."""

from __future__ import annotations

import heapq
import random

import numpy as np
import pytest

from yt8m.inference.metrics import (
    AveragePrecisionCalculator,
    MeanAveragePrecisionCalculator,
    SegmentRatings,
    VideoMetrics,
    average_precision_at_n,
    hit_at_one,
    precision_at_equal_recall_rate,
    segment_map,
)

# Three videos, four classes. Video 0 has class 0, video 1 classes 2 and 3, video 2 no label;
# class 1 has no positive at all.
PREDICTIONS = np.array([[0.9, 0.6, 0.3, 0.05],
                        [0.8, 0.35, 0.4, 0.3],
                        [0.1, 0.7, 0.2, 0.3]], np.float32)
LABELS = np.array([[1, 0, 0, 0],
                   [0, 0, 1, 1],
                   [0, 0, 0, 0]], np.float32)


def test_hand_computed_video_metrics() -> None:
    # Hit@1: top classes 0, 0, 1 -> hits 1, 0, 0.
    assert hit_at_one(PREDICTIONS, LABELS) == pytest.approx(1 / 3)
    # PERR: video 0 top-1 {0}: 1/1; video 1 top-2 {0, 2}: 1/2; video 2 has no label: 0.
    assert precision_at_equal_recall_rate(PREDICTIONS, LABELS) == pytest.approx(0.5)
    metrics = VideoMetrics(4, top_k=2)
    metrics.accumulate(PREDICTIONS, LABELS)
    result = metrics.results()
    # Top 2 pooled: .9(+) .8 .7 .6 .4(+) .3 ; P = 3 labels in all -> (1/1 + 2/5) / 3.
    assert result["gap"] == pytest.approx(1.4 / 3)
    # Per class: class 0 [.9(+), .8] P=1 -> 1; class 2 [.4(+)] P=1 -> 1; class 3 [.3] P=1 -> 0;
    # class 1 has no positive and is left out of the mean.
    assert metrics.class_average_precisions() == pytest.approx({0: 1.0, 2: 1.0, 3: 0.0})
    assert result["map"] == pytest.approx(2 / 3)
    assert result["num_classes_with_positives"] == 3 and result["num_videos"] == 3
    assert result["hit_at_one"] == pytest.approx(1 / 3) and result["perr"] == pytest.approx(0.5)


def test_ties() -> None:
    # argmax takes the first of equal scores.
    assert hit_at_one([[0.5, 0.5]], [[0, 1]]) == 0.0
    assert hit_at_one([[0.5, 0.5]], [[1, 0]]) == 1.0
    # Ties among negatives only do not matter: [.9(+), .5, .5, .1(+)], P = 2 -> (1 + 2/4) / 2.
    assert average_precision_at_n([0.5, 0.9, 0.1, 0.5], [0, 1, 1, 0], n=None) == pytest.approx(0.75)
    # A tie between a positive and a negative is broken by the starter code's seeded shuffle:
    # the result is one of the two orders' APs, and always the same one.
    ap = average_precision_at_n([0.5, 0.5], [1, 0], n=None)
    assert ap in (1.0, 0.5)
    assert average_precision_at_n([0.5, 0.5], [1, 0], n=None) == ap == _starter_ap_at_n([0.5, 0.5],
                                                                                        [1, 0], None)


def test_no_positives_and_no_videos() -> None:
    assert average_precision_at_n([0.3, 0.2], [0, 0]) == 0.0
    metrics = VideoMetrics(3)
    metrics.accumulate(np.array([[0.2, 0.5, 0.1]]), np.zeros((1, 3)))
    result = metrics.results()
    assert result["map"] is None and result["gap"] == 0.0 and result["num_classes_with_positives"] == 0
    with pytest.raises(ValueError, match="no videos"):
        VideoMetrics(3).results()


def test_ap_at_n_caps_the_denominator() -> None:
    # n = 2: [.9(+), .8(+), .7, .6(+)], P = 3 capped to 2 -> (1 + 1) / 2.
    assert average_precision_at_n([0.9, 0.8, 0.7, 0.6], [1, 1, 0, 1], n=2) == pytest.approx(1.0)
    assert average_precision_at_n([0.9, 0.8, 0.7, 0.6],
                                  [1, 1, 0, 1], n=None) == pytest.approx((1 + 1 + 3 / 4) / 3)
    # An explicit total counts positives not in the list.
    assert average_precision_at_n([0.9], [1], n=None, total_num_positives=4) == pytest.approx(0.25)


def test_hand_computed_segment_map() -> None:
    ratings = SegmentRatings()
    ratings.add("a", [1, 1, 2], [0, 5, 10], [1.0, 0.0, 1.0])
    ratings.add("b", [1, 2], [0, 5], [1.0, 0.0])
    submission = {1: ["a:5", "b:0", "x:0", "a:0"], 2: ["b:5", "a:10"], 3: ["a:0"]}
    # Class 1 rated in order: a:5 (0), b:0 (+), a:0 (+); P = 2 -> (1/2 + 2/3) / 2 = 7/12.
    # Class 2: b:5 (0), a:10 (+); P = 1 -> 1/2. Class 3 has no positive rating: left out.
    result = segment_map(submission, ratings, top_n=None)
    assert result["map"] == pytest.approx((7 / 12 + 1 / 2) / 2)
    assert (result["num_classes"], result["num_classes_scored"]) == (3, 2)
    # The cap applies before unrated segments are dropped: class 1 keeps a:5, b:0 -> (1/2) / 2.
    assert segment_map(submission, ratings, top_n=2)["map"] == pytest.approx((1 / 4 + 1 / 2) / 2)
    assert segment_map({3: ["a:0"]}, ratings)["map"] is None


# --- the starter code, transcribed (eval_util.py, average_precision_calculator.py,
# --- mean_average_precision_calculator.py at master) as an independent oracle ----------------------


def _starter_ap_at_n(predictions, actuals, n=20, total_num_positives=None):
    predictions, actuals = np.array(predictions), np.array(actuals)
    rnd = random.Random()
    rnd.seed(0)  # random.seed(0) in the original, then random.sample from the same generator
    shuffled = rnd.sample(range(len(predictions)), len(predictions))
    predictions, actuals = predictions[shuffled], actuals[shuffled]
    sortidx = sorted(range(len(predictions)), key=lambda k: predictions[k], reverse=True)
    numpos = np.size(np.where(actuals > 0)) if total_num_positives is None else total_num_positives
    if numpos == 0:
        return 0
    if n is not None:
        numpos = min(numpos, n)
    delta_recall, poscount, ap = 1.0 / numpos, 0.0, 0.0
    r = len(sortidx) if n is None else min(len(sortidx), n)
    for i in range(r):
        if actuals[sortidx[i]] > 0:
            poscount += 1
            ap += poscount / (i + 1) * delta_recall
    return ap


class _StarterAP:
    def __init__(self, top_n=None):
        self.top_n, self.total, self.heap = top_n, 0, []

    def accumulate(self, predictions, actuals, num_positives=None):
        self.total += (num_positives if num_positives is not None
                       else np.size(np.where(np.array(actuals) > 1e-5)))
        for i in range(np.size(predictions)):
            if self.top_n is None or len(self.heap) < self.top_n:
                heapq.heappush(self.heap, (predictions[i], actuals[i]))
            elif predictions[i] > self.heap[0][0]:
                heapq.heappop(self.heap)
                heapq.heappush(self.heap, (predictions[i], actuals[i]))

    def peek(self):
        if not self.heap:
            return 0
        predlists = np.array(list(zip(*self.heap, strict=True)))
        return _starter_ap_at_n(predlists[0], predlists[1], n=self.top_n, total_num_positives=self.total)


def _starter_evaluation(batches, num_classes, top_k):
    sum_hit = sum_perr = 0.0
    examples = 0
    per_class = [_StarterAP() for _ in range(num_classes)]
    global_ap = _StarterAP()
    for predictions, labels in batches:
        hits = labels[np.arange(labels.shape[0]), np.argmax(predictions, 1)]
        perr = 0.0
        for row in range(labels.shape[0]):
            num_labels = int(np.sum(labels[row]))
            top = np.argpartition(predictions[row], -num_labels)[-num_labels:]
            item = sum(labels[row][i] for i in top if predictions[row][i] > 0)
            perr += item / top.size
        k = min(top_k, predictions.shape[1])
        out_p, out_l = [[] for _ in range(num_classes)], [[] for _ in range(num_classes)]
        for v in range(predictions.shape[0]):
            for index in np.argpartition(predictions[v], -k)[-k:]:
                out_p[index].append(predictions[v][index])
                out_l[index].append(labels[v][index])
        positives = [np.sum(labels[:, i]) for i in range(num_classes)]
        for i in range(num_classes):
            per_class[i].accumulate(out_p[i], out_l[i], positives[i])
        global_ap.accumulate([x for c in out_p for x in c], [x for c in out_l for x in c], sum(positives))
        examples += labels.shape[0]
        sum_hit += np.average(hits) * labels.shape[0]
        sum_perr += perr
    aps = [c.peek() for c in per_class if c.total > 0]  # filter_empty_classes=True
    return {"hit_at_one": sum_hit / examples, "perr": sum_perr / examples, "gap": global_ap.peek(),
            "map": float(np.mean(aps))}


@pytest.mark.parametrize("seed", range(6))
def test_video_metrics_equal_the_starter_code_with_many_ties(seed) -> None:
    rng = np.random.default_rng(seed)
    videos, classes = 70, 30
    predictions = (rng.integers(0, 6, (videos, classes)) / 5).astype(np.float32)  # many ties, some zeros
    labels = (rng.random((videos, classes)) < 0.08).astype(np.float32)
    labels[:5] = 0  # videos with no label
    labels[:, 3] = 0  # a class with no positive
    batches = [(predictions[i:i + 32], labels[i:i + 32]) for i in range(0, videos, 32)]
    metrics = VideoMetrics(classes, top_k=4)
    for p, a in batches:
        metrics.accumulate(p, a)
    # The transcription runs on float64 labels: with float32 ones its PERR sums in float32 or float64
    # depending on the NumPy version (NEP 50), a difference of 1e-8 that is not the definition's.
    expected = _starter_evaluation([(p, a.astype(np.float64)) for p, a in batches], classes, top_k=4)
    got = metrics.results()
    for key in ("hit_at_one", "perr", "gap", "map"):
        assert got[key] == pytest.approx(expected[key], rel=1e-12, abs=1e-12), key


@pytest.mark.parametrize("top_n", [None, 3, 50])
def test_average_precision_calculator_equals_the_starter_code(top_n) -> None:
    rng = np.random.default_rng(1)
    ours, theirs = AveragePrecisionCalculator(top_n), _StarterAP(top_n)
    for _ in range(4):
        p = (rng.integers(0, 8, 25) / 7).astype(np.float32)
        a = (rng.random(25) < 0.3).astype(np.float64)
        ours.accumulate(p, a)
        theirs.accumulate(p, a)
    assert ours.num_accumulated_positives == theirs.total
    assert ours.peek_ap_at_n() == pytest.approx(theirs.peek(), rel=1e-12, abs=1e-12)


def test_mean_average_precision_calculator_filters_empty_classes() -> None:
    calc = MeanAveragePrecisionCalculator(3)
    calc.accumulate([[0.9, 0.1], [0.4], []], [[1, 0], [0], []], [1, 0, 2])
    assert calc.peek_map_at_n() == [1.0, 0.0]  # class 1 (no positive) left out; class 2 has none listed
    unfiltered = MeanAveragePrecisionCalculator(3, filter_empty_classes=False)
    unfiltered.accumulate([[0.9, 0.1], [0.4], []], [[1, 0], [0], []], [1, 0, 2])
    assert unfiltered.peek_map_at_n() == [1.0, 0.0, 0.0]
