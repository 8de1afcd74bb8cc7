"""Training learns: every family on synthetic shards with a known label rule, resume, and predict/eval.

The shards (train_data.py) put each class's fixed random prototype into the frames of the
videos it labels, under noise. Two hand-computed references bound what a model can
reach on the held-out videos: the *oracle*, which scores each class by the dot product of
the mean features with the true prototype (the matched filter of the rule, which no
model is told), and the *prior*, which scores every video by the training label
frequencies (what a model that learned nothing from the features does). Each family must
close most of the gap between them within a few epochs of small batches; the thresholds
below sit below what each reached when this test was written (noted beside them), and far
above the prior.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

import train_data as td
from yt8m.cli import main
from yt8m.features.sequence import FeatureSequence
from yt8m.inference.metrics import VideoMetrics
from yt8m.train import TrainOptions, train

CLASSES = 120
#: family -> (model options, learning rate, epochs, GAP@20 it must reach on the held-out videos).
#: The oracle reaches 0.97 and the prior 0.03 on these shards. Learning rates are the recipes'
#: raised for 30 steps of 50 videos per epoch (the recipes assume millions of videos).
FAMILIES = {
    "logistic": ({}, 0.03, 5, 0.75),  # reached 0.81 (seeds 0 and 1)
    "moe": ({"num_mixtures": 2}, 0.03, 5, 0.75),  # reached 0.82
    "frame_logistic": ({}, 0.03, 8, 0.78),  # reached 0.84
    "dbof": ({"cluster_size": 64, "hidden_size": 32, "iterations": 8}, 0.05, 10, 0.22),  # reached 0.32
    "lstm": ({"lstm_cells": 32, "lstm_layers": 1}, 0.05, 10, 0.25),  # reached 0.36-0.41
    # reached 0.55
    "gated_netvlad": ({"cluster_size": 16, "hidden_size": 64, "iterations": 8}, 0.005, 8, 0.45),
    "nextvlad": ({"cluster_size": 16, "hidden_size": 64, "groups": 4, "expansion": 1, "drop_rate": 0.2},
                 0.005, 8,
                 0.45),  # reached 0.53
}


# Two shared cores: one torch thread is many times faster than two fighting other work.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    d = tmp_path_factory.mktemp("train_shards")
    rule = {"amplitude": 0.2, "noise": 0.8, "frames": (3, 8)}
    train_videos = td.make_videos(1500, CLASSES, seed=1, **rule)
    val_videos = td.make_videos(400, CLASSES, seed=2, **rule)
    train_paths = td.write_shards(d, train_videos, 3, prefix="train")
    val_paths = td.write_shards(d, val_videos, 1, prefix="validate")
    y_train = td.dense_labels(train_videos, CLASSES)
    y_val = td.dense_labels(val_videos, CLASSES)
    oracle = VideoMetrics(CLASSES)
    oracle.accumulate(td.mean_features(val_videos) @ td.prototypes(CLASSES).T, y_val)
    prior = VideoMetrics(CLASSES)
    tie_break = np.random.default_rng(0).random(y_val.shape) * 1e-9
    prior.accumulate(np.tile(y_train.mean(0), (len(val_videos), 1)) + tie_break, y_val)
    return {"train": [str(p) for p in train_paths], "validate": [str(p) for p in val_paths], "dir": d,
            "videos": val_videos, "oracle": oracle.results(), "prior": prior.results()}


def _options(shards, family, out, **overrides):
    options, lr, epochs, _ = FAMILIES[family]
    values = dict(train_shards=shards["train"], validate_shards=shards["validate"], family=family,  # noqa: C408
                  output=str(out), model_options=options, num_classes=CLASSES, batch_size=50,
                  base_learning_rate=lr,
                  epochs=epochs,
                  checkpoint_every=10_000, log_every=25, shuffle_buffer=200, workers=0, batch_norm_decay=0.9,
                  progress=False)
    return TrainOptions(**{**values, **overrides})


def test_the_references_bracket_the_task(shards) -> None:
    """The rule is learnable (the oracle is near 1) and not guessable (the prior is near 0)."""
    assert shards["oracle"]["gap"] > 0.95
    assert shards["prior"]["gap"] < 0.05


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_learns_the_rule(shards, family, tmp_path) -> None:
    result = train(_options(shards, family, tmp_path / family))
    gap = result.validation["gap"]
    assert result.validation["num_videos"] == 400
    assert gap >= FAMILIES[family][3], (family, result.validation)
    assert gap <= shards["oracle"]["gap"] + 0.02  # nothing beats the rule itself by more than noise
    lines = [json.loads(line) for line in (tmp_path / family / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["kind"] == "validation" and lines[-1]["gap"] == gap
    losses = [line["loss"] for line in lines if line["kind"] == "train"]
    assert losses and losses[-1] < losses[0]


def test_resume_ends_where_an_uninterrupted_run_ends(shards, tmp_path) -> None:
    """DBoF (batch norm, random frame sampling) read by two workers: stop at step 20, resume to 45."""
    common = {"workers": 2, "epochs": 2, "checkpoint_every": 7, "log_every": 5}
    whole = train(_options(shards, "dbof", tmp_path / "whole", max_steps=45, **common))
    train(_options(shards, "dbof", tmp_path / "split", max_steps=20, **common))
    resumed = train(_options(shards, "dbof", tmp_path / "split", max_steps=45, resume=True, **common))
    assert whole.steps == resumed.steps == 45 and whole.epochs_done == resumed.epochs_done == 1
    a = load_file(str(tmp_path / "whole" / "model.safetensors"))
    b = load_file(str(tmp_path / "split" / "model.safetensors"))
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert whole.validation["gap"] == resumed.validation["gap"]
    # metrics.jsonl has the train lines of an uninterrupted run (the loss too), and its validations
    # plus the one made when the first part stopped.
    split = [json.loads(line) for line in (tmp_path / "split" / "metrics.jsonl").open()]
    unbroken = [json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").open()]
    def train_lines(lines):
        return [{k: v for k, v in x.items() if k != "examples_per_s"} for x in lines if x["kind"] == "train"]

    assert train_lines(split) == train_lines(unbroken)
    checks = {x["step"]: x["gap"] for x in split if x["kind"] == "validation"}
    assert {x["step"]: x["gap"] for x in unbroken if x["kind"] == "validation"}.items() <= checks.items()
    assert 20 in checks


def test_a_trained_model_loads_in_predict_and_eval(shards, tmp_path, capsys) -> None:
    out = tmp_path / "moe"
    result = train(_options(shards, "moe", out, epochs=2))
    assert main(["eval", *shards["validate"], "--model", str(out), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)["video"]
    for key in ("gap", "map", "hit_at_one", "perr"):
        assert evaluated[key] == pytest.approx(result.validation[key], abs=1e-6), key
    # predict on one held-out video's features: its top labels are its true ones.
    _, labels, q = next(v for v in shards["videos"] if len(v[1]) == 1)
    x = td.dequantize(q)
    seconds = np.arange(x.shape[0], dtype=np.int64) * 1_000_000
    features = tmp_path / "video.npz"
    FeatureSequence(x[:, :1024], seconds, x[:, 1024:], seconds.copy(), None, []).save_npz(features)
    assert main(["predict", str(features), "--model", str(out), "--segment-size", "2", "--overlap", "0",
                 "-o", str(tmp_path / "p.json")]) == 0
    predicted = json.loads((tmp_path / "p.json").read_text())
    assert predicted["video"]["labels"][0]["index"] == int(labels[0]), predicted["video"]
