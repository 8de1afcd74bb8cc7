"""Throughput of ``yt8m predict-dataset``: a native DBoF model against the same model as a SavedModel.

Writes a shard of YouTube-8M frame-level records (random quantized features, --seconds
each), builds a random DBoF model of the starter code's default size (cluster 8192,
hidden 1024, MoE of 2 experts over 3862 classes) as a yt8m native model, exports the
very same weights as a TF1 SavedModel with the baseline signature (TensorFlow runs in a
subprocess, as yt8m runs it), and times ``predict_dataset`` with each: dataset windows
(5 s, one ending at every second, top 9 labels, written as JSON lines) and, with
--submission, the video-level submission too. Prints records/s, windows/s, the ratio of
the two and the largest score difference between them on one record.

    python benchmarks/predict_dataset.py                       # 1,000 records of 300 s
    python benchmarks/predict_dataset.py --records 50          # a quicker estimate

TensorFlow must be importable by this Python (or by $YT8M_TF_PYTHON) for the
SavedModel half; --skip-savedmodel times the native model alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import torch

from yt8m.formats.tfrecord import TFRecordWriter
from yt8m.formats.yt8m_records import make_frame_record
from yt8m.inference.classifiers import build_model, load_classifier, save_native
from yt8m.inference.prediction_files import predict_dataset

_EXPORT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf

    args = json.loads(sys.argv[1])
    t = dict(np.load(args["weights"]))
    c, m = args["num_classes"], args["num_mixtures"]
    graph = tf.Graph()
    with graph.as_default():
        def var(name):
            return tf.compat.v1.get_variable(name.replace(".", "/"), initializer=t[name])

        def bn(x, scope):
            return tf.nn.batch_normalization(x, var(scope + ".moving_mean"), var(scope + ".moving_variance"),
                                             var(scope + ".beta"), var(scope + ".gamma"), 1e-3)

        features = tf.compat.v1.placeholder(tf.float32, [None, None, 1152], name="rgb_and_audio")
        num_frames = tf.compat.v1.placeholder(tf.int32, [None, 1], name="num_frames")
        shape = tf.shape(features)
        x = tf.reshape(tf.nn.l2_normalize(features, 2), [-1, 1152])
        h = tf.nn.relu6(bn(tf.matmul(bn(x, "input_bn"), var("cluster_weights")), "cluster_bn"))
        h = tf.reshape(h, [shape[0], shape[1], -1])
        valid = tf.sequence_mask(tf.squeeze(num_frames, 1), shape[1])[:, :, None]
        h = tf.reduce_max(tf.where(valid, h, tf.fill(tf.shape(h), -np.inf)), 1)
        h = tf.nn.relu6(bn(tf.matmul(h, var("hidden1_weights")), "hidden1_bn"))
        gates = tf.nn.softmax(tf.reshape(tf.matmul(h, var("classifier.gates.weights")), [-1, m + 1]))
        experts = tf.nn.sigmoid(tf.reshape(tf.matmul(h, var("classifier.experts.weights"))
                                           + var("classifier.experts.biases"), [-1, m]))
        predictions = tf.reshape(tf.reduce_sum(gates[:, :m] * experts, 1), [-1, c])
        session = tf.compat.v1.Session(graph=graph)
        session.run(tf.compat.v1.global_variables_initializer())
        signature = tf.compat.v1.saved_model.predict_signature_def(
            {"rgb_and_audio": features, "num_frames": num_frames}, {"predictions": predictions})
        builder = tf.compat.v1.saved_model.Builder(args["export_dir"])
        builder.add_meta_graph_and_variables(session, ["serve"],
                                             signature_def_map={"serving_default": signature})
        builder.save()
""")


def write_shard(path: Path, records: int, seconds: int) -> float:
    """Write ``records`` frame-level records of ``seconds`` random seconds; return the seconds it took."""
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    with TFRecordWriter(path) as writer:
        for i in range(records):
            rgb = rng.integers(0, 256, (seconds, 1024), np.uint8)
            audio = rng.integers(0, 256, (seconds, 128), np.uint8)
            writer.write(make_frame_record(f"{i:04x}", [int(i % 3862)], rgb, audio).SerializeToString())
    return time.perf_counter() - started


def export_savedmodel(model: torch.nn.Module, directory: Path, *, num_classes: int,
                      num_mixtures: int) -> None:
    """Export the native DBoF's weights as a SavedModel computing the same function."""
    weights = directory / "weights.npz"
    np.savez(weights, **{k: v.numpy() for k, v in model.state_dict().items()})
    python = os.environ.get("YT8M_TF_PYTHON") or sys.executable
    args = {"weights": str(weights), "export_dir": str(directory / "saved_model"), "num_classes": num_classes,
            "num_mixtures": num_mixtures}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([python, "-c", _EXPORT, json.dumps(args)], check=True, env=env)


def time_run(label: str, model_path: Path, shard: Path, out_dir: Path, *, submission: bool,
             batch_frames: int) -> tuple[float, float]:
    """Load the model, run predict_dataset over the shard; print and return (records/s, windows/s)."""
    started = time.perf_counter()
    with load_classifier(model_path) as classifier:
        load_s = time.perf_counter() - started
        run = predict_dataset([shard], classifier, windows_out=out_dir / f"{label}.jsonl",
                              submission=out_dir / f"{label}.csv" if submission else None,
                              batch_frames=batch_frames)
    print(f"{label:12s} load {load_s:5.1f} s | {run.records} records, {run.windows} windows in "
          f"{run.elapsed_s:7.1f} s | {run.records_per_s:7.3f} records/s, {run.windows / run.elapsed_s:8.1f} "
          f"windows/s, {run.seconds / run.elapsed_s:7.1f} video s/s")
    return run.records_per_s, run.windows / run.elapsed_s


def max_difference(native: Path, saved: Path, shard: Path) -> float:
    """Largest |native - SavedModel| score over the windows of the shard's first record."""
    from yt8m.inference.shard_scoring import iter_dataset_records
    from yt8m.inference.windows import dataset_windows

    record = next(iter_dataset_records([shard]))
    windows = dataset_windows(record.num_seconds)
    with load_classifier(native) as a, load_classifier(saved) as b:
        return float(np.abs(a.predict_spans(record.frames, windows.starts, windows.lengths)
                            - b.predict_spans(record.frames, windows.starts, windows.lengths)).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--classes", type=int, default=3862)
    parser.add_argument("--cluster-size", type=int, default=8192)
    parser.add_argument("--hidden-size", type=int, default=1024)
    parser.add_argument("--num-mixtures", type=int, default=2)
    parser.add_argument("--batch-frames", type=int, default=8192, help="seconds of features per batch")
    parser.add_argument("--submission", action="store_true", help="also write the video-level submission")
    parser.add_argument("--skip-savedmodel", action="store_true")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp dir)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        d = Path(tmp)
        shard = d / "bench.tfrecord"
        took = write_shard(shard, args.records, args.seconds)
        print(f"shard: {args.records} records x {args.seconds} s, {shard.stat().st_size / 1e6:.0f} MB, "
              f"written in {took:.1f} s; torch {torch.__version__} with {torch.get_num_threads()} threads")
        model = build_model("dbof", num_classes=args.classes, cluster_size=args.cluster_size,
                            hidden_size=args.hidden_size, num_mixtures=args.num_mixtures, seed=0)
        native = save_native(model, d / "native_dbof")
        print(f"model: DBoF cluster {args.cluster_size}, hidden {args.hidden_size}, MoE {args.num_mixtures} "
              f"experts x {args.classes} classes")
        native_rate, _ = time_run("native", native, shard, d, submission=args.submission,
                                  batch_frames=args.batch_frames)
        if args.skip_savedmodel:
            return
        started = time.perf_counter()
        export_savedmodel(model, d, num_classes=args.classes, num_mixtures=args.num_mixtures)
        print(f"SavedModel exported in {time.perf_counter() - started:.1f} s")
        saved_rate, _ = time_run("savedmodel", d / "saved_model", shard, d, submission=args.submission,
                                 batch_frames=args.batch_frames)
        print(f"ratio native / savedmodel: {native_rate / saved_rate:.2f}x records/s")
        print(f"max |native - savedmodel| score on record 0's windows: "
              f"{max_difference(native, d / 'saved_model', shard):.2e}")


if __name__ == "__main__":
    main()
