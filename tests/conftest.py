"""Shared fixtures: generated test media (made once per session) and CLI runners."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import media_factory as mf  # noqa: E402


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every kind of test video the issues ask for, plus broken inputs."""
    d = tmp_path_factory.mktemp("media")
    out = {
        "h264_aac": mf.make_video(d / "h264_aac.mp4", duration_s=3.0),
        "no_audio": mf.make_video(d / "no_audio.mp4", duration_s=2.0, audio=None),
        "audio_only": mf.make_audio_only(d / "audio_only.m4a", duration_s=2.0),
        "vp9_opus": mf.make_video(d / "vp9_opus.webm", duration_s=2.0, codec="libvpx-vp9",
                                  audio=mf.AudioSpec(codec="libopus", sample_rate=48000)),
        "vfr": mf.make_video(d / "vfr.mp4", audio=None, duration_s=3.0,
                             frame_times_s=[0.0, 0.1, 0.15, 0.6, 1.3, 1.31, 2.5]),
        "rotated": mf.set_mp4_rotation(mf.make_video(d / "rotated.mp4", duration_s=1.0, audio=None), 90),
        "odd_size": mf.make_video(d / "odd_size.mp4", duration_s=1.0, width=161, height=97,
                                  pix_fmt="yuv444p", audio=None),
        "half_second": mf.make_video(d / "half_second.mp4", duration_s=0.5),
    }
    out.update(mf.make_broken_inputs(d / "broken", out["h264_aac"]))
    return out


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli():
    """Run ``python -m yt8m ARGS`` in a subprocess, as a user would."""

    def run(*args: str | os.PathLike[str], cwd: Path | None = None) -> CliResult:
        proc = subprocess.run([sys.executable, "-m", "yt8m", *map(str, args)], capture_output=True,
                              text=True, cwd=cwd, timeout=600)
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def run_cli_without_ray(tmp_path: Path):
    """Run ``python -m yt8m ARGS`` in a subprocess where ``import ray`` fails, as without Ray installed."""
    shadow = tmp_path / "no_ray"
    (shadow / "ray").mkdir(parents=True)
    (shadow / "ray" / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    path = [str(shadow), os.environ.get("PYTHONPATH")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in path if p))

    def run(*args: str | os.PathLike[str]) -> CliResult:
        proc = subprocess.run([sys.executable, "-m", "yt8m", *map(str, args)], capture_output=True,
                              text=True, env=env, timeout=300)
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture(autouse=True)
def yt8m_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty weights cache and no mirror: never the user's."""
    home = tmp_path / "yt8m_home"
    monkeypatch.setenv("YT8M_HOME", str(home))
    monkeypatch.delenv("YT8M_MIRROR", raising=False)
    return home


@pytest.fixture(scope="session")
def official_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Generated files in the official formats, named as published (random weights)."""
    import numpy as np

    import official_fixtures as of

    d = tmp_path_factory.mktemp("official")
    work = tmp_path_factory.mktemp("official_work")
    graph = d / "classify_image_graph_def.pb"
    of.make_inception_graph(graph, work, seed=0)
    tgz = of.tgz_with(d / "inception-2015-12-05.tgz", {"classify_image_graph_def.pb": graph.read_bytes(),
                                                        "LICENSE": b"test fixture"})
    rng = np.random.default_rng(1)
    out = {"inception-graph": graph, "inception-2015-12-05": tgz}
    for prefix, dim, k in (("inception3", 2048, 1024), ("vggish", 128, 128)):
        mean = d / f"{prefix}_mean_matrix_data.pb"
        mean.write_bytes(of.matrix_data_bytes(rng.normal(size=(dim, 1)).astype(np.float32)))
        proj = d / f"{prefix}_projection_matrix_data.pb"
        proj.write_bytes(of.matrix_data_bytes(rng.normal(scale=0.05, size=(k, dim)).astype(np.float32)))
        out[f"{prefix}-pca-mean"], out[f"{prefix}-pca-projection"] = mean, proj
    out["yt8m-pca"] = of.tgz_with(d / "yt8m_pca.tgz", {
        "mean.npy": of.npy_bytes(rng.normal(size=(2048, 1))),
        "eigenvals.npy": of.npy_bytes(rng.uniform(0.1, 5.0, size=(2048, 1))),
        "eigenvecs.npy": of.npy_bytes(rng.normal(size=(2048, 2048)).astype(np.float32)),
    })
    npz = d / "vggish_pca_params.npz"
    np.savez(npz, pca_eigen_vectors=rng.normal(size=(128, 128)), pca_means=rng.normal(size=(128,)))
    out["vggish-pca-params"] = npz
    return out


@pytest.fixture(scope="session")
def vggish_v1(tmp_path_factory: pytest.TempPathFactory):
    """A full-size VGGish V1 checkpoint written by TensorFlow's Saver, and its values by name."""
    import official_fixtures as of

    return of.make_vggish_v1(tmp_path_factory.mktemp("vggish"))


@pytest.fixture(scope="session")
def weights_home(tmp_path_factory: pytest.TempPathFactory, official_files, vggish_v1) -> Path:
    """A weights cache holding every extraction model, converted from the generated official files."""
    home = tmp_path_factory.mktemp("weights_home")
    old = os.environ.get("YT8M_HOME")
    os.environ["YT8M_HOME"] = str(home)
    try:
        from yt8m.weights import store

        store.import_files([official_files["inception-graph"], official_files["inception3-pca-mean"],
                            official_files["inception3-pca-projection"], official_files["vggish-pca-mean"],
                            official_files["vggish-pca-projection"], vggish_v1[0]],
                           allow_size_mismatch=True)  # the generated graph is not the published size
    finally:
        if old is None:
            os.environ.pop("YT8M_HOME", None)
        else:
            os.environ["YT8M_HOME"] = old
    return home


@pytest.fixture
def with_weights(weights_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Use the session's converted weights (the cache is shared: do not modify it)."""
    monkeypatch.setenv("YT8M_HOME", str(weights_home))
    return weights_home


@pytest.fixture(scope="session")
def extractor(weights_home: Path):
    """One Extractor (models loaded once) for the session."""
    old = os.environ.get("YT8M_HOME")
    os.environ["YT8M_HOME"] = str(weights_home)
    try:
        from yt8m.extraction import Extractor, ExtractOptions

        return Extractor(ExtractOptions(), fetch=False)
    finally:
        if old is None:
            os.environ.pop("YT8M_HOME", None)
        else:
            os.environ["YT8M_HOME"] = old


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module (training tests): on two shared cores, one thread is many
    times faster than two fighting other work."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
