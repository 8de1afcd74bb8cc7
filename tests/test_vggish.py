"""VGGish in PyTorch against the VGGish network built in TensorFlow from the same V1 checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tf_oracle import run_tf
from yt8m.features.vggish import vggish
from yt8m.weights import store

# The vggish_slim network in plain TensorFlow ops, variables restored by name from the
# V1 checkpoint; the output is vggish/fc2/BiasAdd (no activation).
_TF_VGGISH = """
tf.compat.v1.disable_eager_execution()
g = tf.Graph()
with g.as_default():
    x = tf.compat.v1.placeholder(tf.float32, [None, 96, 64])
    net = tf.reshape(x, [-1, 96, 64, 1])
    def var(name, shape):
        return tf.compat.v1.get_variable(name, shape, tf.float32)
    def conv(net, scope, cin, cout):
        w = var(scope + "/weights", [3, 3, cin, cout]); b = var(scope + "/biases", [cout])
        return tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(net, w, [1, 1, 1, 1], "SAME"), b))
    def pool(net):
        return tf.nn.max_pool2d(net, 2, 2, "SAME")
    net = pool(conv(net, "vggish/conv1", 1, 64))
    net = pool(conv(net, "vggish/conv2", 64, 128))
    net = pool(conv(conv(net, "vggish/conv3/conv3_1", 128, 256), "vggish/conv3/conv3_2", 256, 256))
    net = pool(conv(conv(net, "vggish/conv4/conv4_1", 256, 512), "vggish/conv4/conv4_2", 512, 512))
    net = tf.reshape(net, [-1, 6 * 4 * 512])
    def fc(net, scope, cin, cout):
        return tf.nn.bias_add(tf.matmul(net, var(scope + "/weights", [cin, cout])), var(scope + "/biases",
                                                                                        [cout]))
    net = tf.nn.relu(fc(net, "vggish/fc1/fc1_1", 12288, 4096))
    net = tf.nn.relu(fc(net, "vggish/fc1/fc1_2", 4096, 4096))
    emb = fc(net, "vggish/fc2", 4096, 128)
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session(graph=g) as sess:
        saver.restore(sess, args["ckpt"])
        result = sess.run(emb, {x: np.load(args["examples"])}).tolist()
"""


def _relative_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.abs(ours - theirs).max() / np.linalg.norm(theirs))


@pytest.mark.oracle
def test_embeddings_match_tensorflow(vggish_v1, tmp_path) -> None:
    ckpt, _ = vggish_v1
    rng = np.random.default_rng(3)
    # Log-mel-like input: log(mel + 0.01) lies roughly in [-4.6, 5]. 37 examples cross the
    # boundaries of the CPU's convolution chunks (8 examples, 4 for conv1) in the middle.
    examples = rng.uniform(-4.6, 3.0, size=(37, 96, 64)).astype(np.float32)
    np.save(tmp_path / "examples.npy", examples)
    theirs = np.asarray(run_tf(_TF_VGGISH, tmp_path, ckpt=str(ckpt), examples=str(tmp_path / "examples.npy")),
                        np.float32)

    assert store.import_files([ckpt]) == ["vggish"]
    model = vggish(fetch=False)
    with torch.inference_mode():
        ours = model(torch.from_numpy(examples)).numpy()
    assert ours.shape == (37, 128)
    for i in range(len(examples)):
        assert _relative_error(ours[i], theirs[i]) < 1e-4


def test_vggish_rejects_wrong_input_shape() -> None:
    from yt8m.features.vggish import VGGish

    with pytest.raises(ValueError, match=r"\[N, 96, 64\]"):
        VGGish()(torch.zeros(1, 95, 64))


def test_new_weights_replace_the_cached_winograd_kernels() -> None:
    # The CPU path caches transformed kernels per layer; loading other weights must not
    # leave the old ones in use. A fresh model with the second weights is the reference.
    from yt8m.features.vggish import VGGish

    torch.manual_seed(0)
    first, second = VGGish().eval(), VGGish().eval()
    examples = torch.randn(3, 96, 64)
    with torch.inference_mode():
        before = first(examples)
        first.load_state_dict(second.state_dict())
        after, expected = first(examples), second(examples)
    assert not torch.allclose(before, expected)
    torch.testing.assert_close(after, expected, rtol=0, atol=0)


def test_a_model_built_in_inference_mode_runs_and_takes_new_weights() -> None:
    # Weights made under inference_mode have no version counter; load_state_dict still
    # refreshes the cached kernels.
    from yt8m.features.vggish import VGGish

    torch.manual_seed(1)
    examples = torch.randn(2, 96, 64)
    with torch.inference_mode():
        model, other = VGGish().eval(), VGGish().eval()
        model(examples)
        model.load_state_dict(other.state_dict())
        torch.testing.assert_close(model(examples), other(examples), rtol=0, atol=0)
