"""Training against TensorFlow: the starter code's loss and training step, and the VLAD families'
forward pass.

The TensorFlow side is written from the published sources, not from yt8m: ``losses.py``
``CrossEntropyLoss``, ``train.py`` (``l2_normalize`` of the input, ``final_loss =
regularization_penalty * reg_loss + label_loss``, ``utils.clip_gradient_norms``,
``exponential_decay(staircase=True)``, ``tf.compat.v1.train.AdamOptimizer``),
``video_level_models.py`` (``LogisticModel``, ``MoeModel`` with ``slim.l2_regularizer``),
WILLOW's ``NetVLADModelLF`` (gating, ``moe_prob_gating``) and linrongc's ``NeXtVLADModel``.
It all runs in one TensorFlow subprocess (see tf_oracle.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from test_inference_native import C, randomised
from tf_oracle import run_tf
from yt8m.formats.tfrecord import write_records
from yt8m.formats.yt8m_records import make_video_record
from yt8m.inference.classifiers import build_model, load_native
from yt8m.train import TrainOptions, cross_entropy_loss, train

pytestmark = pytest.mark.oracle

_ORACLE = r"""
eps = 1e-5


def xent(predictions, labels):  # losses.py CrossEntropyLoss.calculate_loss
    float_labels = tf.cast(labels, tf.float32)
    cross_entropy_loss = float_labels * tf.math.log(predictions + eps) + (
        1 - float_labels) * tf.math.log(1 - predictions + eps)
    cross_entropy_loss = tf.negative(cross_entropy_loss)
    return tf.reduce_mean(tf.reduce_sum(cross_entropy_loss, 1))


result = {"loss": float(xent(tf.constant(args["p"], tf.float32), tf.constant(args["y"], tf.float32)))}


def bn(x, t, name):  # slim.batch_norm(center=True, scale=True, is_training=False), epsilon 0.001
    return tf.nn.batch_normalization(x, t[name + ".moving_mean"], t[name + ".moving_variance"],
                                     t[name + ".beta"], t[name + ".gamma"], 1e-3)


def moe(x, t, prefix, m, vocab):  # MoeModel
    gate_activations = tf.matmul(x, t[prefix + "gates.weights"])
    expert_activations = tf.matmul(x, t[prefix + "experts.weights"]) + t[prefix + "experts.biases"]
    gating_distribution = tf.nn.softmax(tf.reshape(gate_activations, [-1, m + 1]))
    expert_distribution = tf.nn.sigmoid(tf.reshape(expert_activations, [-1, m]))
    p = tf.reduce_sum(gating_distribution[:, :m] * expert_distribution, 1)
    return tf.reshape(p, [-1, vocab])


# --- training steps of LogisticModel and MoeModel, as train.py runs them ---------------------------------
steps = {}
for family, run in args["runs"].items():
    t = {k: tf.Variable(np.array(v, np.float32)) for k, v in run["init"].items()}
    regularized = run["regularized"]
    current = {}
    optimizer = tf.compat.v1.train.AdamOptimizer(lambda: current["lr"])  # default betas and epsilon
    for step, (x, y) in enumerate(run["batches"]):
        decayed = tf.compat.v1.train.exponential_decay(run["lr"], step * run["batch_size"],
                                                       run["decay_examples"],
                                                       run["decay"], staircase=True)
        current["lr"] = float(decayed() if callable(decayed) else decayed)
        with tf.GradientTape() as tape:
            model_input = tf.nn.l2_normalize(tf.constant(x, tf.float32), 1)
            if family == "logistic":
                p = tf.nn.sigmoid(tf.matmul(model_input, t["classifier.fully_connected.weights"])
                                  + t["classifier.fully_connected.biases"])
            else:
                p = moe(model_input, t, "classifier.", run["num_mixtures"], run["vocab"])
            label_loss = xent(p, tf.constant(y, tf.float32))
            reg_loss = tf.add_n([run["l2"] * tf.nn.l2_loss(t[k]) for k in regularized])  # slim.l2_regularizer
            final_loss = run["regularization_penalty"] * reg_loss + label_loss
        names = sorted(t)
        grads = tape.gradient(final_loss, [t[k] for k in names])
        grads = [tf.clip_by_norm(g, run["clip"]) for g in grads]  # utils.clip_gradient_norms
        optimizer.apply_gradients(list(zip(grads, [t[k] for k in names])))
    steps[family] = {k: v.numpy().tolist() for k, v in t.items()}
result["steps"] = steps


# --- WILLOW's NetVLADModelLF (gated, moe_prob_gating), inference ----------------------------------------
def netvlad(reshaped_input, t, prefix, feature_size, max_frames, cluster_size):
    activation = tf.matmul(reshaped_input, t[prefix + ".cluster_weights"])
    activation = bn(activation, t, prefix + ".cluster_bn")
    activation = tf.nn.softmax(activation)
    activation = tf.reshape(activation, [-1, max_frames, cluster_size])
    a_sum = tf.reduce_sum(activation, -2, keepdims=True)
    a = tf.multiply(a_sum, t[prefix + ".cluster_weights2"])
    activation = tf.transpose(activation, perm=[0, 2, 1])
    reshaped_input = tf.reshape(reshaped_input, [-1, max_frames, feature_size])
    vlad = tf.matmul(activation, reshaped_input)
    vlad = tf.transpose(vlad, perm=[0, 2, 1])
    vlad = tf.subtract(vlad, a)
    vlad = tf.nn.l2_normalize(vlad, 1)
    vlad = tf.reshape(vlad, [-1, cluster_size * feature_size])
    return tf.nn.l2_normalize(vlad, 1)


v = args["netvlad"]
t = {k: tf.constant(np.array(x, np.float32)) for k, x in v["tensors"].items()}
x = tf.nn.l2_normalize(tf.constant(v["x"], tf.float32), 2)
max_frames, k = x.shape[1], v["cluster_size"]
reshaped_input = bn(tf.reshape(x, [-1, 1152]), t, "input_bn")
vlad = tf.concat([netvlad(reshaped_input[:, 0:1024], t, "video_VLAD", 1024, max_frames, k),
                  netvlad(reshaped_input[:, 1024:], t, "audio_VLAD", 128, max_frames, k // 2)], 1)
activation = tf.matmul(vlad, t["hidden1_weights"]) + t["hidden1_biases"]  # netvlad_relu=False
gates = tf.sigmoid(bn(tf.matmul(activation, t["gating_weights_2"]), t, "gating_bn"))
activation = tf.multiply(activation, gates)
probabilities = moe(activation, t, "classifier.", v["num_mixtures"], v["vocab"])
gates = bn(tf.matmul(probabilities, t["classifier.gating_prob_weights"]), t, "classifier.gating_prob_bn")
result["netvlad"] = tf.multiply(probabilities, tf.sigmoid(gates)).numpy().tolist()


# --- linrongc's NeXtVLADModel (logistic classifier), inference -------------------------------------------
def dense(x, t, name, activation=None):  # slim.fully_connected over the last axis
    y = tf.tensordot(x, t[name + ".weights"], 1) + t[name + ".biases"]
    return activation(y) if activation else y


def nextvlad(inp, t, prefix, feature_size, max_frames, cluster_size, expansion, groups, mask):
    inp = dense(inp, t, prefix + ".fully_connected")
    attention = dense(inp, t, prefix + ".fully_connected_1", tf.nn.sigmoid)
    attention = tf.multiply(attention, tf.expand_dims(mask, -1))
    attention = tf.reshape(attention, [-1, max_frames * groups, 1])
    fs = expansion * feature_size // groups
    reshaped_input = tf.reshape(inp, [-1, expansion * feature_size])
    activation = tf.matmul(reshaped_input, t[prefix + ".cluster_weights"])
    activation = bn(activation, t, prefix + ".cluster_bn")
    activation = tf.reshape(activation, [-1, max_frames * groups, cluster_size])
    activation = tf.nn.softmax(activation, axis=-1)
    activation = tf.multiply(activation, attention)
    a_sum = tf.reduce_sum(activation, -2, keepdims=True)
    a = tf.multiply(a_sum, t[prefix + ".cluster_weights2"])
    activation = tf.transpose(activation, perm=[0, 2, 1])
    reshaped_input = tf.reshape(inp, [-1, max_frames * groups, fs])
    vlad = tf.matmul(activation, reshaped_input)
    vlad = tf.transpose(vlad, perm=[0, 2, 1])
    vlad = tf.subtract(vlad, a)
    vlad = tf.nn.l2_normalize(vlad, 1)
    vlad = tf.reshape(vlad, [-1, cluster_size * fs])
    return bn(vlad, t, prefix + ".vlad_bn")


v = args["nextvlad"]
t = {k: tf.constant(np.array(x, np.float32)) for k, x in v["tensors"].items()}
model_input = tf.nn.l2_normalize(tf.constant(v["x"], tf.float32), 2)
max_frames = model_input.shape[1]
mask = tf.sequence_mask(v["n"], max_frames, dtype=tf.float32)
k, g, e = v["cluster_size"], v["groups"], v["expansion"]
vlad = tf.concat([nextvlad(model_input[:, :, 0:1024], t, "video_VLAD", 1024, max_frames, k, e, g, mask),
                  nextvlad(model_input[:, :, 1024:], t, "audio_VLAD", 128, max_frames, k // 2, e, g // 2,
                           mask)], 1)
activation = bn(tf.matmul(vlad, t["hidden1_weights"]), t, "hidden1_bn")  # dropout: inference
gates = tf.nn.relu(bn(tf.matmul(activation, t["gating_weights_1"]), t, "gating_bn"))
gates = tf.sigmoid(tf.matmul(gates, t["gating_weights_2"]))
activation = tf.multiply(activation, gates)
result["nextvlad"] = tf.sigmoid(tf.matmul(activation, t["classifier.fully_connected.weights"])
                                + t["classifier.fully_connected.biases"]).numpy().tolist()
"""

BATCH, STEPS = 8, 4
RUN = {"lr": 0.02, "decay": 0.5, "decay_examples": 16, "clip": 0.05, "l2": 1e-2,
       "regularization_penalty": 0.7}


def _video_shard(path, rng, videos):
    x = rng.normal(size=(videos, 1152)).astype(np.float32)
    labels = [np.sort(rng.choice(C, size=int(rng.integers(1, 4)), replace=False)) for _ in range(videos)]
    write_records(path, [make_video_record(f"v{i}", labels[i], x[i, :1024], x[i, 1024:]).SerializeToString()
                         for i in range(videos)])
    y = np.zeros((videos, C), np.float32)
    for i, ids in enumerate(labels):
        y[i, ids] = 1
    return x, y


@pytest.fixture(scope="module")
def oracle(tmp_path_factory):
    """Everything TensorFlow computes, and what yt8m computed on the same inputs."""
    tmp = tmp_path_factory.mktemp("train_oracle")
    rng = np.random.default_rng(3)
    ours: dict = {}
    # The loss on probabilities that include the extremes 0 and 1.
    p = rng.uniform(0, 1, size=(6, C)).astype(np.float32)
    p[0, :3] = [0.0, 1.0, 1e-7]
    y = (rng.random((6, C)) < 0.3).astype(np.float32)
    y[0, :2] = [1.0, 0.0]
    ours["loss"] = float(cross_entropy_loss(torch.from_numpy(p), torch.from_numpy(y)))
    # Training runs of the video-level starter families through yt8m's whole loop.
    x, labels = _video_shard(tmp / "train.tfrecord", rng, BATCH * STEPS)
    runs = {}
    for family, options in (("logistic", {}), ("moe", {"num_mixtures": 3})):
        init = build_model(family, num_classes=C, **options).state_dict()
        out = train(TrainOptions(
            train_shards=[str(tmp / "train.tfrecord")], family=family, output=str(tmp / family),
            model_options=options,
            num_classes=C, batch_size=BATCH, base_learning_rate=RUN["lr"], learning_rate_decay=RUN["decay"],
            learning_rate_decay_examples=RUN["decay_examples"], clip_gradient_norm=RUN["clip"],
            l2_penalty=RUN["l2"],
            regularization_penalty=RUN["regularization_penalty"], epochs=1, shuffle_buffer=0, workers=0,
            progress=False))
        assert out.steps == STEPS
        ours[family] = {k: v.numpy() for k, v in load_native(out.output).model.state_dict().items()}
        runs[family] = {**RUN, "batch_size": BATCH, "vocab": C,
                        "num_mixtures": options.get("num_mixtures", 0),
                        "init": {k: v.numpy().tolist() for k, v in init.items()},
                        "regularized": sorted(k for k in init if k.endswith("weights")),
                        "batches": [(x[i:i + BATCH].tolist(), labels[i:i + BATCH].tolist())
                                    for i in range(0, BATCH * STEPS, BATCH)]}
    # The VLAD families' inference on random weights (every tensor, batch norm statistics too).
    frames = rng.normal(size=(3, 5, 1152)).astype(np.float32)
    netvlad = randomised("gated_netvlad", {"cluster_size": 8, "hidden_size": 16, "num_mixtures": 2}, seed=4)
    nextvlad = randomised("nextvlad", {"cluster_size": 6, "hidden_size": 16, "groups": 4, "expansion": 2,
                                       "gating_reduction": 4}, seed=5)
    n = np.array([5, 3, 1])
    padded = frames.copy()
    for i, count in enumerate(n):
        padded[i, count:] = 0.0
    with torch.inference_mode():
        full = torch.full((3,), 5)
        # WILLOW pools every row it gets
        ours["netvlad"] = netvlad.eval()(torch.from_numpy(frames), full).numpy()
        ours["nextvlad"] = nextvlad.eval()(torch.from_numpy(padded), torch.from_numpy(n)).numpy()
    def tensors(m):
        return {k: v.numpy().tolist() for k, v in m.state_dict().items()}
    theirs = run_tf(_ORACLE, tmp, p=p.tolist(), y=y.tolist(), runs=runs,
                    netvlad={"tensors": tensors(netvlad), "x": frames.tolist(), "cluster_size": 8,
                             "num_mixtures": 2,
                             "vocab": C},
                    nextvlad={"tensors": tensors(nextvlad), "x": padded.tolist(), "n": n.tolist(),
                              "cluster_size": 6,
                              "groups": 4, "expansion": 2})
    return ours, theirs


def test_cross_entropy_loss_is_the_starter_codes(oracle) -> None:
    ours, theirs = oracle
    assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-6)


@pytest.mark.parametrize("family", ["logistic", "moe"])
def test_training_steps_match_the_starter_codes_train_py(oracle, family) -> None:
    """Four steps with clipping, L2, the staircase decay and Adam: the same weights as TensorFlow.

    Steps move weights by about the learning rate (0.02); 1e-5 leaves room for float32
    rounding that Adam's ``m / sqrt(v)`` amplifies where a gradient is almost zero.
    """
    ours, theirs = oracle
    assert set(ours[family]) == set(theirs["steps"][family])
    for name, value in theirs["steps"][family].items():
        np.testing.assert_allclose(ours[family][name], np.array(value, np.float32), rtol=1e-4, atol=1e-5,
                                   err_msg=name)


@pytest.mark.parametrize("family", ["netvlad", "nextvlad"])
def test_vlad_families_match_their_published_tensorflow_code(oracle, family) -> None:
    ours, theirs = oracle
    np.testing.assert_allclose(ours[family], np.array(theirs[family], np.float32), rtol=0, atol=1e-5)
