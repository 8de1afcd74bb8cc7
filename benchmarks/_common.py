"""Shared set-up for the benchmarks: test media and a weights cache.

Real weights are used when ``$YT8M_HOME`` already holds them; otherwise a cache is
filled with generated files in the official formats (random values, the real
architectures, hence the real compute), made with TensorFlow by the test fixtures.
"""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


#: TensorFlow code building VGGish as vggish_slim does and restoring it from the V1
#: checkpoint at ``CKPT``: defines ``x`` (placeholder [None, 96, 64]), ``emb`` (fc2
#: BiasAdd) and the session ``vsess``. Used by the benchmarks' TensorFlow peers.
TF_VGGISH = r"""
vg = tf.Graph()
with vg.as_default():
    x = tf.compat.v1.placeholder(tf.float32, [None, 96, 64])
    net = tf.reshape(x, [-1, 96, 64, 1])
    v = lambda n, s: tf.compat.v1.get_variable(n, s, tf.float32)
    def conv(net, s, cin, cout):
        w, b = v(s + "/weights", [3, 3, cin, cout]), v(s + "/biases", [cout])
        return tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(net, w, 1, "SAME"), b))
    pool = lambda n: tf.nn.max_pool2d(n, 2, 2, "SAME")
    net = pool(conv(net, "vggish/conv1", 1, 64))
    net = pool(conv(net, "vggish/conv2", 64, 128))
    net = pool(conv(conv(net, "vggish/conv3/conv3_1", 128, 256), "vggish/conv3/conv3_2", 256, 256))
    net = pool(conv(conv(net, "vggish/conv4/conv4_1", 256, 512), "vggish/conv4/conv4_2", 512, 512))
    net = tf.reshape(net, [-1, 12288])
    fc = lambda n, s, i, o: tf.nn.bias_add(tf.matmul(n, v(s + "/weights", [i, o])), v(s + "/biases", [o]))
    net = tf.nn.relu(fc(net, "vggish/fc1/fc1_1", 12288, 4096))
    net = tf.nn.relu(fc(net, "vggish/fc1/fc1_2", 4096, 4096))
    emb = fc(net, "vggish/fc2", 4096, 128)
    vsess = tf.compat.v1.Session(graph=vg)
    tf.compat.v1.train.Saver().restore(vsess, CKPT)
"""


class TfPeer:
    """A TensorFlow worker process (``python -c code *argv``) that prints ``ready`` once
    set up, then answers each line on its stdin with the seconds of one timed pass, so
    that TensorFlow and yt8m can be measured in turn, interleaved, under the same load."""

    def __init__(self, code: str, *argv: str) -> None:
        import subprocess

        self.proc = subprocess.Popen([sys.executable, "-c", code, *argv], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            self.proc.kill()
            raise RuntimeError(f"the TensorFlow peer did not start ({' '.join(argv)})")

    def time(self, command: str = "run") -> float:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def ensure_weights(work: Path) -> Path:
    """Point ``$YT8M_HOME`` at a cache with all extraction models; return it."""
    from yt8m.artifacts import cache
    from yt8m.weights import store

    if os.environ.get("YT8M_HOME") and all(
            store.model_path(m).exists() for m in ("inception", "inception-pca", "vggish", "vggish-pca")):
        return cache.cache_dir()
    home = work / "weights_home"
    os.environ["YT8M_HOME"] = str(home)
    if all(store.model_path(m).exists() for m in ("inception", "inception-pca", "vggish", "vggish-pca")):
        return home
    import numpy as np

    import official_fixtures as of

    files = work / "official"
    files.mkdir(parents=True, exist_ok=True)
    graph = files / "classify_image_graph_def.pb"
    if not graph.exists():
        of.make_inception_graph(graph, files)
    rng = np.random.default_rng(1)
    paths = [graph]
    for prefix, dim, k in (("inception3", 2048, 1024), ("vggish", 128, 128)):
        mean, proj = files / f"{prefix}_mean_matrix_data.pb", files / f"{prefix}_projection_matrix_data.pb"
        mean.write_bytes(of.matrix_data_bytes(rng.normal(size=(dim, 1)).astype(np.float32)))
        proj.write_bytes(of.matrix_data_bytes(rng.normal(scale=0.05, size=(k, dim)).astype(np.float32)))
        paths += [mean, proj]
    ckpt = files / "vggish_model.ckpt"
    if not ckpt.exists():
        of.make_vggish_v1(files)
    store.import_files(paths + [ckpt], allow_size_mismatch=True)  # generated files, not the published sizes
    return home


def make_test_video(path: Path, *, duration_s: float, width: int, height: int, fps: float = 30) -> Path:
    """An H.264 mp4 with stereo 44.1 kHz AAC (cached by file name)."""
    if path.exists():
        return path
    import media_factory as mf

    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    mf.make_video(tmp, duration_s=duration_s, fps=fps, width=width, height=height)
    tmp.rename(path)
    return path


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    Linux's ``VmHWM``, the high-water mark of this process's own memory map. Not
    ``ru_maxrss``: a process started by ``subprocess`` (fork or vfork, then exec) inherits
    its parent's ``ru_maxrss``, so a small child of a large benchmark process would report
    the parent's size. ``ru_maxrss`` is the fallback where ``/proc`` is missing.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
