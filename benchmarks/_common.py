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


def ensure_weights(work: Path) -> Path:
    """Point ``$YT8M_HOME`` at a cache with all extraction models; return it."""
    from yt8m.weights import cache, store

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
    store.import_files(paths + [ckpt])
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
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
