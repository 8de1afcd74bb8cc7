"""TensorFlow SavedModel worker: runs in its own process, imports only numpy and tensorflow.

Started by :mod:`yt8m.inference.classifiers.savedmodel` as ``python tf_worker.py DIR``
(any Python with TensorFlow: yt8m itself need not be installed there). It loads the
SavedModel with the TF1 loader (tag ``serve``), checks the ``serving_default`` signature
(inputs ``rgb_and_audio`` and ``num_frames``, output ``predictions``) and then serves
requests on stdin/stdout. Everything TensorFlow prints goes to stderr.

Protocol (little-endian), after one JSON line ``{"ok": true, ...}`` or
``{"ok": false, "error": "..."}``:

* request ``b"P" + <III batch frames dims> + float32 features + int32 num_frames[batch]``
  -> ``b"R" + <II batch classes> + float32 scores`` or ``b"E" + <I n> + n bytes of UTF-8``;
* request ``b"Q"``: exit.
"""

import json
import os
import struct
import sys

SIGNATURE = "serving_default"
TAG = "serve"
FEATURES = "rgb_and_audio"
NUM_FRAMES = "num_frames"
PREDICTIONS = "predictions"


def _read_exactly(stream, n):
    data = stream.read(n)
    if len(data) != n:
        raise EOFError("the client closed the pipe")
    return data


def _dims(tensor_info):
    if tensor_info.tensor_shape.unknown_rank:
        return None
    return [d.size for d in tensor_info.tensor_shape.dim]


class _Model:
    def __init__(self, tf, np, path):
        self.np = np
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        with self.graph.as_default():
            meta = tf.compat.v1.saved_model.loader.load(self.session, [TAG], path)
        signatures = dict(meta.signature_def)
        if SIGNATURE not in signatures:
            raise ValueError(f"no {SIGNATURE!r} signature (it has {sorted(signatures) or 'none'})")
        signature = signatures[SIGNATURE]
        inputs, outputs = dict(signature.inputs), dict(signature.outputs)
        missing = [n for n in (FEATURES, NUM_FRAMES) if n not in inputs]
        if missing or PREDICTIONS not in outputs:
            raise ValueError(
                f"signature {SIGNATURE!r} must have inputs {FEATURES!r} and {NUM_FRAMES!r} and output "
                f"{PREDICTIONS!r}; it has inputs {sorted(inputs)} and outputs {sorted(outputs)}")
        self.features_dims = _dims(inputs[FEATURES])
        self.num_frames_dims = _dims(inputs[NUM_FRAMES])
        self.num_frames_dtype = tf.dtypes.as_dtype(inputs[NUM_FRAMES].dtype).as_numpy_dtype
        self.features_name = inputs[FEATURES].name
        self.num_frames_name = inputs[NUM_FRAMES].name
        self.predictions_name = outputs[PREDICTIONS].name
        feature_dim = self.features_dims[-1] if self.features_dims else -1
        if self.features_dims is not None and len(self.features_dims) != 3:
            raise ValueError(f"input {FEATURES!r} has shape {self.features_dims}, expected [batch, frames, "
                             "dims]")
        self.feature_size = feature_dim
        self.fixed_frames = (self.features_dims[1] if self.features_dims and self.features_dims[1] > 0
                             else None)

    def run(self, features, num_frames):
        np = self.np
        if self.fixed_frames is not None and features.shape[1] != self.fixed_frames:
            if features.shape[1] > self.fixed_frames:
                raise ValueError(f"the model takes {self.fixed_frames} frames, got {features.shape[1]}")
            pad = np.zeros((features.shape[0], self.fixed_frames - features.shape[1], features.shape[2]),
                           features.dtype)
            features = np.concatenate([features, pad], axis=1)
        counts = num_frames.astype(self.num_frames_dtype)
        if self.num_frames_dims is None or len(self.num_frames_dims) == 2:
            counts = counts.reshape(-1, 1)
        scores = self.session.run(self.predictions_name, feed_dict={
            self.features_name: features, self.num_frames_name: counts})
        scores = np.asarray(scores, np.float32)
        if scores.ndim != 2 or scores.shape[0] != features.shape[0]:
            raise ValueError(f"output {PREDICTIONS!r} has shape {scores.shape} for a batch of "
                             f"{features.shape[0]}")
        return scores


def main():
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever else prints to stdout ends up on stderr
    protocol_in = sys.stdin.buffer
    try:
        import numpy as np
        import tensorflow as tf

        model = _Model(tf, np, sys.argv[1])
        probe = model.run(np.zeros((1, 1 if model.fixed_frames is None else model.fixed_frames,
                                    model.feature_size if model.feature_size > 0 else 1152), np.float32),
                          np.ones(1, np.int32))
        hello = {"ok": True, "num_classes": int(probe.shape[1]), "feature_size": model.feature_size,
                 "fixed_frames": model.fixed_frames, "tensorflow": tf.__version__}
    except Exception as exc:  # noqa: BLE001 - reported to the client as text
        hello = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    protocol_out.write((json.dumps(hello) + "\n").encode())
    protocol_out.flush()
    if not hello["ok"]:
        return 1
    while True:
        try:
            kind = protocol_in.read(1)
            if kind in (b"", b"Q"):
                return 0
            batch, frames, dims = struct.unpack("<III", _read_exactly(protocol_in, 12))
            features = np.frombuffer(_read_exactly(protocol_in, batch * frames * dims * 4), np.float32)
            num_frames = np.frombuffer(_read_exactly(protocol_in, batch * 4), np.int32)
        except EOFError:
            return 0
        try:
            scores = model.run(features.reshape(batch, frames, dims), num_frames)
            protocol_out.write(b"R" + struct.pack("<II", *scores.shape) + scores.tobytes())
        except Exception as exc:  # noqa: BLE001 - reported to the client as text
            message = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")
            protocol_out.write(b"E" + struct.pack("<I", len(message)) + message)
        protocol_out.flush()


if __name__ == "__main__":
    sys.exit(main())
