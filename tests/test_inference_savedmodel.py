"""TensorFlow SavedModels with the baseline signature, through yt8m and through TensorFlow itself.

The tests build a TF1-style SavedModel with TensorFlow in a subprocess (the starter
code's FrameLevelLogisticModel with train.py's per-frame L2 normalisation inside;
tf.compat.v1 SavedModelBuilder, tag "serve", signature "serving_default"), score a
batch with a direct TensorFlow session, and compare with yt8m's worker-process backend.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from tf_oracle import run_tf
from yt8m.errors import Yt8mError
from yt8m.inference.classifiers import build_model, load_classifier, save_native
from yt8m.inference.classifiers.loader import recognise_model_dir, resolve_model

pytestmark = pytest.mark.oracle

NUM_CLASSES = 23

_BUILD = """
weights = np.asarray(args["weights"], np.float32)
biases = np.asarray(args["biases"], np.float32)


def build(export_dir, features_key):
    graph = tf.Graph()
    with graph.as_default():
        rgb_and_audio = tf.compat.v1.placeholder(tf.float32, [None, None, 1152], name="rgb_and_audio")
        num_frames = tf.compat.v1.placeholder(tf.int32, [None, 1], name="num_frames")
        model_input = tf.nn.l2_normalize(rgb_and_audio, 2)  # train.py: l2_normalize over the feature axis
        counts = tf.cast(tf.squeeze(num_frames, 1),
                         tf.float32)  # export_model_mediapipe.py squeezes [batch, 1]
        avg_pooled = tf.reduce_sum(model_input, axis=[1]) / tf.expand_dims(counts, 1)
        w = tf.compat.v1.get_variable("fully_connected/weights", initializer=weights)
        b = tf.compat.v1.get_variable("fully_connected/biases", initializer=biases)
        predictions = tf.nn.sigmoid(tf.matmul(avg_pooled, w) + b)
        session = tf.compat.v1.Session(graph=graph)
        session.run(tf.compat.v1.global_variables_initializer())
        inputs = {features_key: rgb_and_audio, "num_frames": num_frames}
        signature = tf.compat.v1.saved_model.predict_signature_def(inputs, {"predictions": predictions})
        builder = tf.compat.v1.saved_model.Builder(export_dir)
        builder.add_meta_graph_and_variables(session, ["serve"],
                                             signature_def_map={"serving_default": signature})
        builder.save()


build(args["export_dir"], "rgb_and_audio")
build(args["wrong_dir"], "features")

# The oracle: load what was saved into a fresh session and run the signature directly.
x = np.asarray(args["features"], np.float32)
n = np.asarray(args["num_frames"], np.int32).reshape(-1, 1)
with tf.Graph().as_default() as g2, tf.compat.v1.Session(graph=g2) as s2:
    meta = tf.compat.v1.saved_model.loader.load(s2, ["serve"], args["export_dir"])
    sig = meta.signature_def["serving_default"]
    feed = {sig.inputs["rgb_and_audio"].name: x, sig.inputs["num_frames"].name: n}
    result = s2.run(sig.outputs["predictions"].name, feed_dict=feed).tolist()
"""


def _weights(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.normal(scale=0.8, size=(1152, NUM_CLASSES)).astype(np.float32),
            rng.normal(size=NUM_CLASSES).astype(np.float32))


def _batch(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(6, 7, 1152)).astype(np.float32)
    n = np.array([7, 5, 1, 3, 7, 2])
    for i, count in enumerate(n):
        x[i, count:] = 0.0  # padding rows are zeros, as yt8m and the starter code pad
    return x, n


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A good SavedModel (and TensorFlow's own scores of :func:`_batch`) and one with a wrong input name."""
    d = tmp_path_factory.mktemp("savedmodel")
    weights, biases = _weights()
    x, n = _batch()
    out = run_tf(_BUILD, d, export_dir=str(d / "saved_model"), wrong_dir=str(d / "wrong" / "saved_model"),
                 weights=weights.tolist(), biases=biases.tolist(), features=x.tolist(), num_frames=n.tolist())
    return {"path": d / "saved_model", "expected": np.asarray(out, np.float32),
            "wrong": d / "wrong" / "saved_model"}


@pytest.fixture(scope="module")
def saved_model(saved_models) -> tuple[Path, np.ndarray]:
    return saved_models["path"], saved_models["expected"]


def test_savedmodel_matches_a_direct_tensorflow_session(saved_model) -> None:
    path, expected = saved_model
    assert recognise_model_dir(path) == ("savedmodel", path)
    x, n = _batch()
    with load_classifier(path) as classifier:
        assert classifier.num_classes == NUM_CLASSES
        assert classifier.describe()["kind"] == "savedmodel"
        got = classifier.predict(x, n)
        spans = classifier.predict_spans(x.reshape(-1, 1152), np.arange(6) * 7, n, width=7)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(spans, expected, rtol=0, atol=1e-6)


def test_native_frame_logistic_with_the_same_weights_agrees(saved_model, tmp_path) -> None:
    _, expected = saved_model
    weights, biases = _weights()
    model = build_model("frame_logistic", num_classes=NUM_CLASSES)
    model.classifier.fully_connected.weights.data[:] = torch.from_numpy(weights)
    model.classifier.fully_connected.biases.data[:] = torch.from_numpy(biases)
    x, n = _batch()
    with load_classifier(save_native(model, tmp_path / "native")) as native:
        np.testing.assert_allclose(native.predict(x, n), expected, rtol=0, atol=2e-6)


def test_savedmodel_from_a_tar_gz_one_folder_down(saved_model, tmp_path, yt8m_home) -> None:
    path, _ = saved_model
    archive = tmp_path / "saved_model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(path, arcname="saved_model")  # the official archive's layout: a folder inside
    kind, unpacked = resolve_model(archive)
    assert kind == "savedmodel" and unpacked.name == "saved_model"
    # unpacked into the cache, not beside the archive
    assert unpacked.is_relative_to(yt8m_home / "classifiers")
    assert (unpacked / "saved_model.pb").read_bytes() == (path / "saved_model.pb").read_bytes()
    assert resolve_model(archive) == (kind, unpacked)  # unpacked once


def test_predict_dataset_cli_with_a_savedmodel(saved_model, tmp_path, run_cli) -> None:
    from yt8m.formats.quantize import dequantize
    from yt8m.formats.tfrecord import write_records
    from yt8m.formats.yt8m_records import make_frame_record

    path, _ = saved_model
    rng = np.random.default_rng(3)
    rgb, audio = rng.integers(0, 256, (9, 1024), np.uint8), rng.integers(0, 256, (9, 128), np.uint8)
    shard = tmp_path / "train0000.tfrecord"
    write_records(shard, [make_frame_record("abcd", [1], rgb, audio).SerializeToString()])
    result = run_cli("predict-dataset", shard, "--model", path, "--top-k", "4", "-o", tmp_path / "w.jsonl")
    assert result.exit_code == 0, result.stderr
    (record,) = [json.loads(line) for line in (tmp_path / "w.jsonl").read_text().splitlines()]
    assert [w["time_s"] for w in record["windows"]] == [4, 5, 6, 7, 8]
    frames = np.concatenate([dequantize(rgb), dequantize(audio)], axis=1)
    weights, biases = _weights()
    for w in record["windows"]:
        x = frames[w["start_s"]:w["end_s"]].astype(np.float64)
        x /= np.sqrt(np.maximum((x * x).sum(1, keepdims=True), 1e-12))
        scores = 1 / (1 + np.exp(-(x.mean(0) @ weights + biases)))
        assert [label["index"] for label in w["labels"]] == np.argsort(-scores)[:4].tolist()
        np.testing.assert_allclose([label["score"] for label in w["labels"]],
                                   np.sort(scores)[::-1][:4], atol=1e-5)


def test_savedmodel_with_the_wrong_signature_is_a_clear_error(saved_models) -> None:
    with pytest.raises(Yt8mError, match="must have inputs 'rgb_and_audio' and 'num_frames'.*'features'"):
        load_classifier(saved_models["wrong"])
