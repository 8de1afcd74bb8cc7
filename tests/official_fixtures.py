"""Fixtures in the official file formats, generated with TensorFlow (or by hand).

* ``make_inception_graph``: a frozen GraphDef with the node names, op types (including
  ``BatchNormWithGlobalNormalization``, removed from TensorFlow at GraphDef version 9,
  hence ``versions.producer = 3`` as in the 2015 file) and the structure of
  ``classify_image_graph_def.pb``, with random weights. It is built node by node here,
  from this file's own description of the 2015 network, independent of yt8m's model.
* ``matrix_data_bytes``: MediaPipe MatrixData written from the wire format by hand.
* PCA files in the older numpy forms.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np

from tf_oracle import run_tf

# The 2015 graph, block by block: (scope, kind, args). Convolutions inside each block are
# listed as (sub_scope, out_channels, (kh, kw), stride, padding); the TF code below
# turns this into nodes.
_GRAPH_CODE = r'''
from tensorflow.core.framework import graph_pb2
rng = np.random.default_rng(args["seed"])
gd = graph_pb2.GraphDef()
gd.versions.producer = 3
F = tf.float32.as_datatype_enum

def node(name, op, inputs=(), **attrs):
    n = gd.node.add(); n.name = name; n.op = op; n.input.extend(inputs)
    for k, v in attrs.items():
        n.attr[k].CopyFrom(v)
    return name

def a_type(t): v = tf.compat.v1.AttrValue(); v.type = t; return v
def a_ints(xs): v = tf.compat.v1.AttrValue(); v.list.i.extend(xs); return v
def a_str(s): v = tf.compat.v1.AttrValue(); v.s = s.encode(); return v
def a_f(x): v = tf.compat.v1.AttrValue(); v.f = x; return v
def a_b(x): v = tf.compat.v1.AttrValue(); v.b = x; return v
def a_tensor(arr): v = tf.compat.v1.AttrValue(); v.tensor.CopyFrom(tf.make_tensor_proto(arr)); return v

def const(name, arr):
    return node(name, "Const", dtype=a_type(tf.as_dtype(arr.dtype).as_datatype_enum), value=a_tensor(arr))

channels = {}
def conv(scope, inp, cout, k, stride=1, padding="SAME"):
    kh, kw = (k, k) if isinstance(k, int) else k
    cin = channels[inp]
    w = (rng.standard_normal((kh, kw, cin, cout)) * np.sqrt(2.0 / (kh * kw * cin))).astype(np.float32)
    const(scope + "/conv2d_params", w)
    node(scope + "/Conv2D", "Conv2D", [inp, scope + "/conv2d_params"], T=a_type(F),
         strides=a_ints([1, stride, stride, 1]), padding=a_str(padding), data_format=a_str("NHWC"),
         use_cudnn_on_gpu=a_b(True))
    const(scope + "/batchnorm/beta", rng.normal(0.0, 0.1, cout).astype(np.float32))
    const(scope + "/batchnorm/gamma", np.ones(cout, np.float32))
    const(scope + "/batchnorm/moving_mean", rng.normal(0.0, 0.2, cout).astype(np.float32))
    const(scope + "/batchnorm/moving_variance", rng.uniform(0.5, 2.0, cout).astype(np.float32))
    node(scope + "/batchnorm", "BatchNormWithGlobalNormalization",
         [scope + "/Conv2D", scope + "/batchnorm/moving_mean", scope + "/batchnorm/moving_variance",
          scope + "/batchnorm/beta", scope + "/batchnorm/gamma"],
         T=a_type(F), variance_epsilon=a_f(args["epsilon"]), scale_after_normalization=a_b(False))
    node(scope, "Relu", [scope + "/batchnorm"], T=a_type(F))
    channels[scope] = cout
    return scope

def pool(name, inp, op, k, stride, padding):
    node(name, op, [inp], T=a_type(F), ksize=a_ints([1, k, k, 1]), strides=a_ints([1, stride, stride, 1]),
         padding=a_str(padding), data_format=a_str("NHWC"))
    channels[name] = channels[inp]
    return name

def concat(name, inputs):
    dim = const(name + "/concat_dim", np.array(3, np.int32))
    n = gd.node.add(); n.name = name; n.op = "Concat"; n.input.extend([dim] + list(inputs))
    n.attr["T"].type = F; n.attr["N"].i = len(inputs)
    channels[name] = sum(channels[i] for i in inputs)
    return name

# Preprocessing, as in the 2015 graph: DecodeJpeg -> Cast -> ExpandDims -> ResizeBilinear -> Sub -> Mul.
const("DecodeJpeg/contents", np.array(b"", dtype=object))
n = gd.node.add(); n.name = "DecodeJpeg"; n.op = "DecodeJpeg"; n.input.append("DecodeJpeg/contents")
n.attr["channels"].i = 3; n.attr["ratio"].i = 1; n.attr["fancy_upscaling"].b = True
n.attr["try_recover_truncated"].b = False; n.attr["acceptable_fraction"].f = 1.0
node("Cast", "Cast", ["DecodeJpeg"], SrcT=a_type(tf.uint8.as_datatype_enum), DstT=a_type(F))
const("ExpandDims/dim", np.array(0, np.int32))
node("ExpandDims", "ExpandDims", ["Cast", "ExpandDims/dim"], T=a_type(F),
     Tdim=a_type(tf.int32.as_datatype_enum))
const("ResizeBilinear/size", np.array([299, 299], np.int32))
node("ResizeBilinear", "ResizeBilinear", ["ExpandDims", "ResizeBilinear/size"], T=a_type(F),
     align_corners=a_b(False))
const("Sub/y", np.array(128.0, np.float32))
node("Sub", "Sub", ["ResizeBilinear", "Sub/y"], T=a_type(F))
const("Mul/y", np.array(0.0078125, np.float32))
node("Mul", "Mul", ["Sub", "Mul/y"], T=a_type(F))
channels["Mul"] = 3

x = conv("conv", "Mul", 32, 3, 2, "VALID")
x = conv("conv_1", x, 32, 3, 1, "VALID")
x = conv("conv_2", x, 64, 3, 1, "SAME")
x = pool("pool", x, "MaxPool", 3, 2, "VALID")
x = conv("conv_3", x, 80, 1, 1, "VALID")
x = conv("conv_4", x, 192, 3, 1, "VALID")
x = pool("pool_1", x, "MaxPool", 3, 2, "VALID")

def block_35(s, x, pool_features):
    a = conv(s + "/conv", x, 64, 1)
    b = conv(s + "/tower/conv_1", conv(s + "/tower/conv", x, 48, 1), 64, 5)
    c = conv(s + "/tower_1/conv", x, 64, 1)
    c = conv(s + "/tower_1/conv_2", conv(s + "/tower_1/conv_1", c, 96, 3), 96, 3)
    d = conv(s + "/tower_2/conv", pool(s + "/tower_2/pool", x, "AvgPool", 3, 1, "SAME"), pool_features, 1)
    return concat(s + "/join", [a, b, c, d])

def block_17(s, x, c7):
    a = conv(s + "/conv", x, 192, 1)
    b = conv(s + "/tower/conv", x, c7, 1)
    b = conv(s + "/tower/conv_2", conv(s + "/tower/conv_1", b, c7, (1, 7)), 192, (7, 1))
    c = conv(s + "/tower_1/conv", x, c7, 1)
    c = conv(s + "/tower_1/conv_1", c, c7, (7, 1))
    c = conv(s + "/tower_1/conv_2", c, c7, (1, 7))
    c = conv(s + "/tower_1/conv_3", c, c7, (7, 1))
    c = conv(s + "/tower_1/conv_4", c, 192, (1, 7))
    d = conv(s + "/tower_2/conv", pool(s + "/tower_2/pool", x, "AvgPool", 3, 1, "SAME"), 192, 1)
    return concat(s + "/join", [a, b, c, d])

def block_8(s, x, pool_op):
    a = conv(s + "/conv", x, 320, 1)
    b = conv(s + "/tower/conv", x, 384, 1)
    b = concat(s + "/tower/mixed",
               [conv(s + "/tower/mixed/conv", b, 384, (1, 3)),
                conv(s + "/tower/mixed/conv_1", b, 384, (3, 1))])
    c = conv(s + "/tower_1/conv_1", conv(s + "/tower_1/conv", x, 448, 1), 384, 3)
    c = concat(s + "/tower_1/mixed",
               [conv(s + "/tower_1/mixed/conv", c, 384, (1, 3)),
                conv(s + "/tower_1/mixed/conv_1", c, 384, (3, 1))])
    d = conv(s + "/tower_2/conv", pool(s + "/tower_2/pool", x, pool_op, 3, 1, "SAME"), 192, 1)
    return concat(s + "/join", [a, b, c, d])

x = block_35("mixed", x, 32)
x = block_35("mixed_1", x, 64)
x = block_35("mixed_2", x, 64)
a = conv("mixed_3/conv", x, 384, 3, 2, "VALID")
b = conv("mixed_3/tower/conv_1", conv("mixed_3/tower/conv", x, 64, 1), 96, 3)
b = conv("mixed_3/tower/conv_2", b, 96, 3, 2, "VALID")
x = concat("mixed_3/join", [a, b, pool("mixed_3/pool", x, "MaxPool", 3, 2, "VALID")])
for s, c7 in (("mixed_4", 128), ("mixed_5", 160), ("mixed_6", 160), ("mixed_7", 192)):
    x = block_17(s, x, c7)
a = conv("mixed_8/tower/conv_1", conv("mixed_8/tower/conv", x, 192, 1), 320, 3, 2, "VALID")
b = conv("mixed_8/tower_1/conv", x, 192, 1)
b = conv("mixed_8/tower_1/conv_2", conv("mixed_8/tower_1/conv_1", b, 192, (1, 7)), 192, (7, 1))
b = conv("mixed_8/tower_1/conv_3", b, 192, 3, 2, "VALID")
x = concat("mixed_8/join", [a, b, pool("mixed_8/pool", x, "MaxPool", 3, 2, "VALID")])
x = block_8("mixed_9", x, "AvgPool")
x = block_8("mixed_10", x, "MaxPool")
x = pool("pool_3", x, "AvgPool", 8, 1, "VALID")
const("pool_3/_reshape/shape", np.array([1, 2048], np.int32))
node("pool_3/_reshape", "Reshape", [x, "pool_3/_reshape/shape"], T=a_type(F),
     Tshape=a_type(tf.int32.as_datatype_enum))
const("softmax/weights", (rng.standard_normal((2048, 1008)) * 0.02).astype(np.float32))
const("softmax/biases", rng.normal(0, 0.1, 1008).astype(np.float32))
node("softmax/logits/MatMul", "MatMul", ["pool_3/_reshape", "softmax/weights"], T=a_type(F),
     transpose_a=a_b(False), transpose_b=a_b(False))
node("softmax/logits", "BiasAdd", ["softmax/logits/MatMul", "softmax/biases"], T=a_type(F))
node("softmax", "Softmax", ["softmax/logits"], T=a_type(F))
open(args["path"], "wb").write(gd.SerializeToString())
result = len(gd.node)
'''

_RUN_GRAPH_CODE = r'''
from tensorflow.core.framework import graph_pb2
gd = graph_pb2.GraphDef.FromString(open(args["graph"], "rb").read())
g = tf.Graph()
with g.as_default():
    tf.import_graph_def(gd, name="")
out = {"pool_3": [], "logits": []}
with tf.compat.v1.Session(graph=g) as sess:
    for f in args["frames"]:
        frame = np.load(f)
        pool3, logits = sess.run(["pool_3/_reshape:0", "softmax/logits:0"], {"DecodeJpeg:0": frame})
        out["pool_3"].append(pool3[0].tolist())
        out["logits"].append(logits[0].tolist())
result = out
'''


def make_inception_graph(path: Path, tmp_path: Path, *, seed: int = 0, epsilon: float = 0.001) -> int:
    """Write a 2015-structured Inception v3 GraphDef with random weights; return its node count."""
    return run_tf(_GRAPH_CODE, tmp_path, path=str(path), seed=seed, epsilon=epsilon)


def run_inception_graph(graph: Path, frames: list[np.ndarray], tmp_path: Path) -> dict[str, np.ndarray]:
    """Feed each uint8 RGB frame to ``DecodeJpeg:0``; return ``pool_3`` and the logits per frame."""
    files = []
    for i, frame in enumerate(frames):
        files.append(str(tmp_path / f"frame_{i}.npy"))
        np.save(files[-1], frame)
    out = run_tf(_RUN_GRAPH_CODE, tmp_path, graph=str(graph), frames=files)
    return {k: np.asarray(v, np.float32) for k, v in out.items()}


def tgz_with(path: Path, members: dict[str, bytes]) -> Path:
    """Write a .tgz holding ``members`` (name -> bytes)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def matrix_data_bytes(matrix: np.ndarray, *, row_major: bool = False) -> bytes:
    """MatrixData from the wire format by hand: rows=1, cols=2, packed_data=3, layout=4."""
    rows, cols = matrix.shape
    packed = np.asarray(matrix, np.float32).ravel(order="C" if row_major else "F").astype("<f4").tobytes()

    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            byte = n & 0x7F
            n >>= 7
            out.append(byte | (0x80 if n else 0))
            if not n:
                return bytes(out)

    data = b"\x08" + varint(rows) + b"\x10" + varint(cols) + b"\x1a" + varint(len(packed)) + packed
    return data + (b"\x20\x01" if row_major else b"")


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


#: The VGGish checkpoint's variables, real names and shapes (about 289 MB; docs/audio.md, 'VGGish').
VGGISH_SHAPES = {
    "vggish/conv1/weights": [3, 3, 1, 64], "vggish/conv1/biases": [64],
    "vggish/conv2/weights": [3, 3, 64, 128], "vggish/conv2/biases": [128],
    "vggish/conv3/conv3_1/weights": [3, 3, 128, 256], "vggish/conv3/conv3_1/biases": [256],
    "vggish/conv3/conv3_2/weights": [3, 3, 256, 256], "vggish/conv3/conv3_2/biases": [256],
    "vggish/conv4/conv4_1/weights": [3, 3, 256, 512], "vggish/conv4/conv4_1/biases": [512],
    "vggish/conv4/conv4_2/weights": [3, 3, 512, 512], "vggish/conv4/conv4_2/biases": [512],
    "vggish/fc1/fc1_1/weights": [12288, 4096], "vggish/fc1/fc1_1/biases": [4096],
    "vggish/fc1/fc1_2/weights": [4096, 4096], "vggish/fc1/fc1_2/biases": [4096],
    "vggish/fc2/weights": [4096, 128], "vggish/fc2/biases": [128],
}

# Shared by the TensorFlow snippets: save every value as OUT/<i>.npy, name -> file.
DUMP_CODE = """
def dump(values, out):
    names = {}
    for i, (name, value) in enumerate(sorted(values.items())):
        np.save(f"{out}/{i}.npy", np.asarray(value))
        names[name] = f"{i}.npy"
    return names
"""

_VGGISH_V1 = DUMP_CODE + """
with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(8)
    variables = {name: tf.compat.v1.get_variable(name, shape, tf.float32,
                 initializer=tf.compat.v1.random_normal_initializer(stddev=0.05))
                 for name, shape in args["shapes"].items()}
    saver = tf.compat.v1.train.Saver(write_version=tf.compat.v1.train.SaverDef.V1)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        saver.save(sess, args["out"] + "/vggish_model.ckpt", write_meta_graph=False)
        result = dump(sess.run(variables), args["out"])
"""



def load_dumped(directory: Path, manifest: dict[str, str]) -> dict[str, np.ndarray]:
    """The arrays a DUMP_CODE snippet saved, by name."""
    return {name: np.load(directory / file) for name, file in manifest.items()}


def make_vggish_v1(out: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A full-size VGGish V1 checkpoint (real names and shapes, random values) and its values."""
    manifest = run_tf(_VGGISH_V1, out, out=str(out), shapes=VGGISH_SHAPES)
    return out / "vggish_model.ckpt", load_dumped(out, manifest)
