"""yt8m predict-dataset --engine ray, on a local Ray cluster of two nodes.

The Ray engine's three outputs (windows JSON lines, video-level and segment-level
submissions) are compared byte for byte with the local engine's on the same shards.
"""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest

from yt8m.errors import InputError
from yt8m.formats.tfrecord import write_records
from yt8m.formats.yt8m_records import Segments, make_frame_record
from yt8m.inference.classifiers import build_model, save_native

try:
    import ray
    import ray.data

    HAVE_RAY = True
except ImportError:
    HAVE_RAY = False

needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="Ray is not installed (pip install 'yt8m[ray]')")
C = 12
_MB = 1024 * 1024


def _shard(path, seed: int, lengths=(7, 12, 4), *, rated: bool = True):
    """As tests/test_inference_cli.py builds shards, with ids unique across shards."""
    rng = np.random.default_rng(seed)
    records = []
    for i, n in enumerate(lengths):
        starts = np.arange(0, n, 5)
        scores = (rng.random(starts.size) < 0.5).astype(np.float32)
        segments = Segments(np.repeat([3], starts.size), starts, scores)
        records.append(make_frame_record(f"s{seed}id{i}", [3, i], rng.integers(0, 256, (n, 1024), np.uint8),
                                         rng.integers(0, 256, (n, 128), np.uint8),
                                         segments=segments if rated else None).SerializeToString())
    write_records(path, records)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("ray_predict")
    model = save_native(build_model("dbof", num_classes=C, cluster_size=24, hidden_size=12, seed=1),
                        d / "dbof")
    (d / "shards").mkdir()
    shards = [_shard(d / "shards" / f"validate{k:04d}.tfrecord", k, lengths)
              for k, lengths in enumerate([(7, 12, 4), (9, 5), (15, 3, 6, 8), (11,)])]
    labels = d / "label_map.txt"
    labels.write_text("\n".join(["Game", "Nike, Inc.", "Pokémon"] + [f"c{i}" for i in range(3, C)]) + "\n",
                      encoding="utf-8")
    whitelist = d / "segment_label_ids.csv"
    whitelist.write_text("Index\n3\n5\n7\n")
    return {"dir": d, "model": model, "shards": shards, "labels": labels, "whitelist": whitelist}


@pytest.fixture(scope="module")
def cluster():
    if not HAVE_RAY:
        pytest.skip("Ray is not installed (pip install 'yt8m[ray]')")
    from ray.cluster_utils import Cluster

    store = 200 * _MB
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": store,
                                                      "include_dashboard": False})
    c.add_node(num_cpus=1, object_store_memory=store)
    ray.init(address=c.address, logging_level="WARNING", log_to_driver=False)
    c.wait_for_nodes()
    try:
        yield c
    finally:
        ray.shutdown()
        c.shutdown()


def _outputs(out) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in ("w.jsonl", "video.csv", "seg.csv")}


def _args(data, out) -> list:
    return ["--model", data["model"], "--labels", data["labels"], "-o", out / "w.jsonl", "--submission",
            out / "video.csv", "--segment-submission", out / "seg.csv", "--whitelist", data["whitelist"]]


@pytest.fixture(scope="module")
def local_outputs(data) -> dict[str, bytes]:
    from click.testing import CliRunner

    from yt8m.cli import cli

    out = data["dir"] / "local"
    result = CliRunner().invoke(cli, ["predict-dataset", *map(str, data["shards"]), *map(str, _args(data,
                                                                                                    out))],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return _outputs(out)


def test_missing_ray_is_one_clear_error(monkeypatch, tmp_path, data) -> None:
    from yt8m.inference.ray_scoring import predict_dataset_ray

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(InputError, match=r"yt8m\[ray\]"):
        predict_dataset_ray(data["shards"], data["model"], windows_out=tmp_path / "w.jsonl")


def test_cli_without_ray_says_how_to_install_it_and_exits_2(run_cli_without_ray, data, tmp_path) -> None:
    out = tmp_path / "w.jsonl"
    result = run_cli_without_ray("predict-dataset", *data["shards"], "--model", data["model"], "-o", out,
                                 "--engine", "ray")
    assert result.exit_code == 2, result.stderr
    assert result.stderr.splitlines() == [
        "yt8m: error: --engine ray needs Ray: pip install 'yt8m[ray]' (or pip install 'ray[data]>=2.60')"]
    assert not out.exists()


def test_expand_shards_globs_paths_and_urls(data) -> None:
    from yt8m.inference.ray_scoring import expand_shards

    d = data["dir"]
    assert expand_shards([str(d / "shards" / "validate*.tfrecord")]) == [str(p) for p in data["shards"]]
    assert expand_shards(["./a.tfrecord", "s3://bucket/b.tfrecord"]) == ["a.tfrecord", "s3://bucket/b.tfrecord"]
    with pytest.raises(InputError, match="no shard matches"):
        expand_shards([str(d / "nothing*.tfrecord")])


@pytest.mark.ray
@needs_ray
def test_cli_outputs_match_the_local_engine(cluster, data, local_outputs, run_cli) -> None:
    out = data["dir"] / "ray_cli"
    result = run_cli("predict-dataset", str(data["dir"] / "shards" / "validate*.tfrecord"), *_args(data, out),
                     "--engine", "ray", "--ray-address", cluster.address, "--ray-actors", "2")
    assert result.exit_code == 0, result.stderr
    assert "10 records, " in result.stderr and "[ray: 2 actors, 4 shards]" in result.stderr, result.stderr
    ours = _outputs(out)
    assert ours == local_outputs
    assert len(ours["w.jsonl"].splitlines()) == 10
    assert ours["seg.csv"].startswith(b"Class,Segments\n3,")


@pytest.mark.ray
@needs_ray
def test_api_with_a_file_url_on_the_cluster_nodes(cluster, data, local_outputs) -> None:
    from yt8m.inference.labels import read_class_ids, read_label_map
    from yt8m.inference.ray_scoring import predict_dataset_ray

    out = data["dir"] / "ray_api"
    shards = [data["shards"][0].as_uri()] + [str(p) for p in data["shards"][1:]]
    run = predict_dataset_ray(shards, data["model"], labels=read_label_map(data["labels"]),
                              windows_out=out / "w.jsonl", submission=out / "video.csv",
                              segment_submission=out / "seg.csv", whitelist=read_class_ids(data["whitelist"]),
                              actors=2, progress=False)
    assert run.records == 10 and run.shards == 4 and run.actors == 2
    # Actors on the cluster's nodes (both, unless one actor took every shard before the other started).
    assert run.nodes and run.nodes <= {n["NodeID"] for n in ray.nodes()}
    ours = _outputs(out)
    assert ours["video.csv"] == local_outputs["video.csv"] and ours["seg.csv"] == local_outputs["seg.csv"]
    # The windows name the first shard by its URL; the rest is the local engine's.
    first = str(data["shards"][0]).encode()
    assert ours["w.jsonl"] == local_outputs["w.jsonl"].replace(first, data["shards"][0].as_uri().encode())


@pytest.mark.ray
@needs_ray
def test_an_actor_dying_mid_shard_loses_and_duplicates_nothing(cluster, data, local_outputs,
                                                               monkeypatch) -> None:
    from yt8m.extraction.ray_engine import CRASH_ONCE_ENV
    from yt8m.inference.labels import read_class_ids, read_label_map
    from yt8m.inference.ray_scoring import predict_dataset_ray

    marker = data["dir"] / "crashed"
    monkeypatch.setenv(CRASH_ONCE_ENV, str(marker))
    out = data["dir"] / "ray_crash"
    run = predict_dataset_ray(data["shards"], data["model"], labels=read_label_map(data["labels"]),
                              windows_out=out / "w.jsonl", submission=out / "video.csv",
                              segment_submission=out / "seg.csv", whitelist=read_class_ids(data["whitelist"]),
                              actors=2, progress=False, records_per_block=1)
    assert marker.is_file()  # an actor did die after sending a shard's first record
    print(f"rows sent twice by the retried task: {run.duplicates}")
    assert run.records == 10
    assert _outputs(out) == local_outputs


@pytest.mark.ray
@needs_ray
def test_a_corrupt_shard_is_one_clear_error_and_writes_nothing(cluster, data, run_cli) -> None:
    bad = data["dir"] / "bad" / "validate0099.tfrecord"
    bad.parent.mkdir()
    raw = bytearray(data["shards"][2].read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # a flipped byte inside a later record
    bad.write_bytes(bytes(raw))
    out = data["dir"] / "ray_bad"
    result = run_cli("predict-dataset", *data["shards"][:2], bad, *_args(data, out), "--engine", "ray",
                     "--ray-address", cluster.address, "--ray-actors", "2")
    assert result.exit_code == 2, result.stderr
    # the rest: Ray's log lines
    ours = [line for line in result.stderr.splitlines() if line.startswith("yt8m")]
    assert len(ours) == 1 and "Traceback" not in result.stderr, result.stderr
    assert re.fullmatch(rf"yt8m: error: {re.escape(str(bad))}: record 1 at byte offset \d+ is corrupt "
                        rf"\(data checksum mismatch over \d+ bytes\)", ours[0]), result.stderr
    assert not out.exists() or not list(out.iterdir())  # no output, not even a part file
