"""Training throughput of ``yt8m train``: examples/s of each family on this machine.

Writes shards of random YouTube-8M frame-level records (--seconds each, with the video
means, so the same shards serve the video-level families), then runs the real training
loop (``yt8m.train.train``: reading, shuffling, batching, forward, loss, backward, clipping,
Adam) for --steps steps per family after one warm-up step, and prints examples/s (the
loop's own count, without the warm-up) and seconds per step.

For the starter families (logistic, moe, frame_logistic, dbof, lstm) a TensorFlow peer
process (``_common.TfPeer``) builds the same model as the starter code does
(``tf.compat.v1`` graph: ``l2_normalize`` of the input, ``CrossEntropyLoss`` plus the L2
term, ``clip_by_norm`` of each gradient, ``AdamOptimizer``; batch norm in training mode)
and trains it on one batch of the same shape, with as many intra-op threads as torch has.
yt8m and TensorFlow are timed in turn, --rounds times per family, so both see the same load;
the table gives the median of each and the ratio yt8m / TensorFlow.

Both sides time the same work: TensorFlow's figure is ``session.run`` of the training op on a
batch already in memory (fed each step), so yt8m's compared figure ("in memory") is its real
training loop (``train``) given batches already read: the shards are read and batched once
before the loop starts (``make_loader`` replaced by a list of its batches), and the loop
times forward, loss, backward, clipping, Adam and its own bookkeeping. The "streamed" column
is the same loop reading the shards as it goes (``--workers``), as ``yt8m train`` runs; it
has no TensorFlow counterpart here (the starter code's input pipeline is not built).

    python benchmarks/train_speed.py                          # published sizes and batches
    python benchmarks/train_speed.py --small --steps 20       # the test suite's sizes
    python benchmarks/train_speed.py --families logistic,dbof --device cuda --precision bfloat16

Published sizes are large on a CPU (gated NetVLAD's hidden layer alone has 285M weights):
--batch-size and --seconds shrink a run without changing the model. --no-tf skips the peer.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from yt8m.formats.quantize import quantize
from yt8m.formats.tfrecord import write_records
from yt8m.formats.yt8m_records import make_frame_record
from yt8m.train import RECIPES, TrainOptions, train
from yt8m.train import trainer as trainer_module

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import TfPeer  # noqa: E402

SMALL = {
    "logistic": {}, "moe": {}, "frame_logistic": {},
    "dbof": {"cluster_size": 64, "hidden_size": 32, "iterations": 8},
    "lstm": {"lstm_cells": 32, "lstm_layers": 1},
    "gated_netvlad": {"cluster_size": 16, "hidden_size": 64, "iterations": 8},
    "nextvlad": {"cluster_size": 16, "hidden_size": 64, "groups": 4, "expansion": 1},
}

#: Families the TensorFlow peer builds (the starter code's); the VLAD families have none.
TF_FAMILIES = ("logistic", "moe", "frame_logistic", "dbof", "lstm")

#: The TensorFlow peer: argv[1] is JSON (family, batch, classes, frames, options, threads);
#: it prints ``ready``, then for each line N on stdin trains N steps and prints the seconds.
TF_TRAIN = r'''
import collections, json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf
tf.compat.v1.disable_eager_execution()
cfg = json.loads(sys.argv[1])
family, batch, classes, frames = cfg["family"], cfg["batch"], cfg["classes"], cfg["frames"]
o = cfg["options"]
rng = np.random.default_rng(0)
frame_level = family not in ("logistic", "moe")
shape = [batch, frames, 1152] if frame_level else [batch, 1152]
x_value = np.clip(rng.normal(scale=0.5, size=shape), -2, 2).astype(np.float32)
y_value = np.zeros((batch, classes), np.float32)
for row in y_value:
    row[rng.choice(classes, size=3, replace=False)] = 1
n_value = np.full(batch, frames, np.int32)
v1 = tf.compat.v1
LSTMStateTuple = collections.namedtuple("LSTMStateTuple", ("c", "h"))


class BasicLSTMCell:  # rnn_cell_impl.BasicLSTMCell (forget_bias 1.0), not available with Keras 3
    def __init__(self, units):
        self.units = units
        self.state_size = LSTMStateTuple(units, units)
        self.output_size = units

    def zero_state(self, batch_size, dtype):
        zeros = tf.zeros([batch_size, self.units], dtype)
        return LSTMStateTuple(zeros, zeros)

    def __call__(self, inputs, state, scope=None):
        with v1.variable_scope(scope or "basic_lstm_cell"):
            kernel = v1.get_variable("kernel", [int(inputs.shape[-1]) + self.units, 4 * self.units])
            bias = v1.get_variable("bias", [4 * self.units], initializer=v1.zeros_initializer())
        c, h = state
        i, j, f, o = tf.split(tf.nn.bias_add(tf.matmul(tf.concat([inputs, h], 1), kernel), bias), 4, axis=1)
        new_c = c * tf.sigmoid(f + 1.0) + tf.sigmoid(i) * tf.tanh(j)
        new_h = tf.tanh(new_c) * tf.sigmoid(o)
        return new_h, LSTMStateTuple(new_c, new_h)


class MultiRNNCell:  # rnn_cell_impl.MultiRNNCell
    def __init__(self, cells):
        self.cells = cells
        self.state_size = tuple(cell.state_size for cell in cells)
        self.output_size = cells[-1].output_size

    def zero_state(self, batch_size, dtype):
        return tuple(cell.zero_state(batch_size, dtype) for cell in self.cells)

    def __call__(self, inputs, state, scope=None):
        new_states = []
        with v1.variable_scope(scope or "multi_rnn_cell"):
            for i, cell in enumerate(self.cells):
                with v1.variable_scope(f"cell_{i}"):
                    inputs, new_state = cell(inputs, state[i])
                    new_states.append(new_state)
        return inputs, tuple(new_states)


g = tf.Graph()
with g.as_default():
    x = v1.placeholder(tf.float32, shape)
    y = v1.placeholder(tf.float32, [batch, classes])
    num_frames = v1.placeholder(tf.int32, [batch])
    regularized = []

    def var(name, shape, std):
        return v1.get_variable(name, shape, initializer=v1.random_normal_initializer(stddev=std))

    def weights(name, i, o_):
        w = var(name, [i, o_], 1 / np.sqrt(i))
        return w

    def bn(t, name):  # slim.batch_norm(is_training=True): batch moments, moving averages updated
        size = int(t.shape[-1])
        with v1.variable_scope(name):
            beta = v1.get_variable("beta", [size], initializer=v1.zeros_initializer())
            gamma = v1.get_variable("gamma", [size], initializer=v1.ones_initializer())
            moving_mean = v1.get_variable("moving_mean", [size], initializer=v1.zeros_initializer(),
                                          trainable=False)
            moving_variance = v1.get_variable("moving_variance", [size], initializer=v1.ones_initializer(),
                                              trainable=False)
        mean, variance = tf.nn.moments(t, [0])
        for moving, value in ((moving_mean, mean), (moving_variance, variance)):
            v1.add_to_collection(v1.GraphKeys.UPDATE_OPS, v1.assign_sub(moving, (moving - value) * 0.001))
        return tf.nn.batch_normalization(t, mean, variance, beta, gamma, 1e-3)

    def logistic(t, size):
        w = weights("fully_connected/weights", size, classes)
        regularized.append(w)
        return tf.nn.sigmoid(tf.matmul(t, w) + v1.get_variable("fully_connected/biases", [classes],
                                                               initializer=v1.zeros_initializer()))

    def moe(t, size, m):  # video_level_models.MoeModel
        gw = weights("gates/weights", size, classes * (m + 1))
        ew = weights("experts/weights", size, classes * m)
        regularized.extend([gw, ew])
        eb = v1.get_variable("experts/biases", [classes * m], initializer=v1.zeros_initializer())
        gating = tf.nn.softmax(tf.reshape(tf.matmul(t, gw), [-1, m + 1]))
        experts = tf.nn.sigmoid(tf.reshape(tf.matmul(t, ew) + eb, [-1, m]))
        return tf.reshape(tf.reduce_sum(gating[:, :m] * experts, 1), [-1, classes])

    inp = tf.nn.l2_normalize(x, len(shape) - 1)  # train.py
    if family == "logistic":
        p = logistic(inp, 1152)
    elif family == "moe":
        p = moe(inp, 1152, o.get("num_mixtures", 2))
    elif family == "frame_logistic":  # FrameLevelLogisticModel
        denominators = tf.reshape(tf.tile(tf.cast(tf.expand_dims(num_frames, 1), tf.float32), [1, 1152]),
                                  [-1, 1152])
        p = logistic(tf.reduce_sum(inp, 1) / denominators, 1152)
    elif family == "dbof":  # DbofModel: SampleRandomFrames, input_bn, cluster, relu6, max, hidden, MoE
        it, k, h = o.get("iterations", 30), o.get("cluster_size", 8192), o.get("hidden_size", 1024)
        index = tf.cast(tf.multiply(tf.random.uniform([batch, it]),
                                    tf.tile(tf.cast(tf.expand_dims(num_frames, 1), tf.float32), [1, it])),
                        tf.int32)
        batch_index = tf.tile(tf.expand_dims(tf.range(batch), 1), [1, it])
        sampled = tf.gather_nd(inp, tf.stack([batch_index, index], 2))
        t = bn(tf.reshape(sampled, [-1, 1152]), "input_bn")
        t = tf.nn.relu6(bn(tf.matmul(t, weights("cluster_weights", 1152, k)), "cluster_bn"))
        t = tf.reduce_max(tf.reshape(t, [-1, it, k]), 1)
        t = tf.nn.relu6(bn(tf.matmul(t, weights("hidden1_weights", k, h)), "hidden1_bn"))
        p = moe(t, h, o.get("num_mixtures", 2))
    elif family == "lstm":  # LstmModel: MultiRNNCell of BasicLSTMCell, dynamic_rnn, last state's h, MoE
        units, layers = o.get("lstm_cells", 1024), o.get("lstm_layers", 2)
        cell = MultiRNNCell([BasicLSTMCell(units) for _ in range(layers)])
        _, state = v1.nn.dynamic_rnn(cell, inp, sequence_length=num_frames, dtype=tf.float32)
        p = moe(state[-1].h, units, o.get("num_mixtures", 2))
    else:
        raise SystemExit(f"no TensorFlow peer for {family}")
    eps = 1e-5  # losses.CrossEntropyLoss
    cross_entropy = -(y * tf.math.log(p + eps) + (1 - y) * tf.math.log(1 - p + eps))
    label_loss = tf.reduce_mean(tf.reduce_sum(cross_entropy, 1))
    loss = label_loss + tf.add_n([1e-8 * tf.nn.l2_loss(w) for w in regularized])
    optimizer = v1.train.AdamOptimizer(0.01)
    grads = optimizer.compute_gradients(loss)
    grads = [(tf.clip_by_norm(gr, 1.0), var_) for gr, var_ in grads if gr is not None]
    with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
        step = optimizer.apply_gradients(grads)
    config = v1.ConfigProto(intra_op_parallelism_threads=cfg["threads"], inter_op_parallelism_threads=1)
    sess = v1.Session(graph=g, config=config)
    sess.run(v1.global_variables_initializer())
feed = {x: x_value, y: y_value, num_frames: n_value}
sess.run(step, feed)  # warm-up
print("ready", flush=True)
for line in sys.stdin:
    steps = int(line)
    t0 = time.perf_counter()
    for _ in range(steps):
        sess.run(step, feed)
    print(time.perf_counter() - t0, flush=True)
'''


def write_shards(directory: Path, videos: int, seconds: int, classes: int, shards: int) -> list[str]:
    rng = np.random.default_rng(0)
    paths = []
    for s in range(shards):
        records = []
        for v in range(s, videos, shards):
            x = rng.normal(scale=0.5, size=(seconds, 1152)).astype(np.float32)
            labels = rng.choice(classes, size=3, replace=False)
            q = quantize(np.clip(x, -2, 2))
            records.append(make_frame_record(f"v{v}", labels, q[:, :1024], q[:, 1024:],
                                             mean_rgb=x[:, :1024].mean(0),
                                             mean_audio=x[:, 1024:].mean(0)).SerializeToString())
        path = directory / f"train{s:03d}.tfrecord"
        write_records(path, records)
        paths.append(str(path))
    return paths


def run_yt8m(options: TrainOptions, *, in_memory: bool) -> tuple[float, int]:
    """yt8m's examples/s over the steps after the first (warm-up) one, and the steps run.

    ``in_memory``: every batch is read and collated before the loop starts, so the loop's
    timing holds no reading (the trainer's own code runs unchanged otherwise).
    """
    original = trainer_module.make_loader
    if in_memory:
        trainer_module.make_loader = lambda dataset, **kw: list(original(dataset, **kw))  # type: ignore
    try:
        result = train(options)
    finally:
        trainer_module.make_loader = original
    out = Path(options.output)
    lines = (out / "metrics.jsonl").read_text().splitlines()[1:]  # 1: the warm-up step
    rates = np.array([json.loads(line)["examples_per_s"] for line in lines])
    shutil.rmtree(out)
    batch = options.batch_size or 1
    return (batch / np.mean(batch / rates) if len(rates) else float("nan")), result.steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", default=",".join(RECIPES), help="comma-separated families")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per family (after one warm-up)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: each family's recipe")
    parser.add_argument("--seconds", type=int, default=300, help="seconds per video (frame-level families)")
    parser.add_argument("--classes", type=int, default=3862)
    parser.add_argument("--small", action="store_true", help="the test suite's model sizes")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timings per family")
    parser.add_argument("--no-tf", action="store_true", help="time yt8m only")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    families = args.families.split(",")
    largest = max(args.batch_size or RECIPES[f].batch_size for f in families)
    videos = largest * (args.steps + 1)
    work = Path(tempfile.mkdtemp(prefix="yt8m-train-speed-"))
    try:
        t = time.perf_counter()
        shards = write_shards(work, videos, args.seconds, args.classes, shards=max(1, args.workers))
        print(f"# {videos} videos of {args.seconds} s in {len(shards)} shard(s), written in "
              f"{time.perf_counter() - t:.1f} s; device {args.device}, precision {args.precision}, "
              f"torch threads {torch.get_num_threads()}, workers {args.workers}", flush=True)
        print("# examples/s and s/step: yt8m's loop on batches in memory, as TensorFlow's; streamed: "
              "yt8m's loop reading the shards as it goes (examples/s)")
        print(f"{'family':<15} {'batch':>6} {'steps':>6} {'examples/s':>11} {'s/step':>8} "
              f"{'TF ex/s':>9} {'yt8m/TF':>8} {'streamed':>11}")
        for family in families:
            batch = args.batch_size or RECIPES[family].batch_size
            model_options = SMALL[family] if args.small else {}
            peer = None
            if not args.no_tf and family in TF_FAMILIES:
                peer = TfPeer(TF_TRAIN, json.dumps({
                    "family": family, "batch": batch, "classes": args.classes, "frames": args.seconds,
                    "options": model_options, "threads": torch.get_num_threads()}))
            ours, streamed, theirs = [], [], []
            steps = 0
            try:
                for round_ in range(args.rounds if peer else 1):
                    def options(name: str) -> TrainOptions:
                        return TrainOptions(train_shards=shards, family=family, output=str(work / name),
                                            model_options=model_options, num_classes=args.classes,
                                            batch_size=batch, max_steps=args.steps + 1, epochs=1,
                                            shuffle_buffer=0, workers=args.workers, device=args.device,
                                            precision=args.precision, checkpoint_every=10**9, log_every=1,
                                            progress=False)
                    rate, steps = run_yt8m(options(family), in_memory=True)
                    ours.append(rate)
                    if round_ == 0:  # once: it has no TensorFlow counterpart to interleave with
                        streamed.append(run_yt8m(options(family + "-streamed"), in_memory=False)[0])
                    if peer:
                        theirs.append(batch * args.steps / peer.time(str(args.steps)))
            finally:
                if peer:
                    peer.close()
            rate = float(np.median(ours))
            tf_rate = float(np.median(theirs)) if theirs else float("nan")
            tf_text = f"{tf_rate:>9.1f} {rate / tf_rate:>7.2f}x" if theirs else f"{'-':>9} {'-':>8}"
            print(f"{family:<15} {batch:>6} {steps - 1:>6} {rate:>11.1f} {batch / rate:>8.3f} "
                  f"{tf_text} {streamed[0]:>11.1f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
