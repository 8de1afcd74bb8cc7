"""yt8m extract --engine ray, on a small local Ray cluster of several nodes.

The cluster (module scope): a head and one more node with one CPU each, and a node
declaring one GPU (torch still runs on its CPU), so that the GPU actor scheduling path is
used. The Ray engine's shards are compared with the local engine's on the same inputs.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import media_factory as mf
from yt8m.errors import InputError
from yt8m.extraction.options import ExtractOptions
from yt8m.formats.tfrecord import read_records
from yt8m.formats.yt8m_records import parse_record

try:
    import ray
    import ray.data

    HAVE_RAY = True
except ImportError:
    HAVE_RAY = False

needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="Ray is not installed (pip install 'yt8m[ray]')")
SHARD_SIZE = 3
_MB = 1024 * 1024


# --- without a cluster ------------------------------------------------------------------------

def test_missing_ray_is_one_clear_error(monkeypatch) -> None:
    from yt8m.extraction import ray_engine

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(InputError, match=r"yt8m\[ray\]"):
        ray_engine.require_ray()


def test_cli_without_ray_says_how_to_install_it_and_exits_2(run_cli_without_ray, media, tmp_path) -> None:
    result = run_cli_without_ray("extract", media["h264_aac"], "-o", tmp_path / "out", "--engine", "ray")
    assert result.exit_code == 2, result.stderr
    assert result.stderr.splitlines() == [
        "yt8m: error: --engine ray needs Ray: pip install 'yt8m[ray]' (or pip install 'ray[data]>=2.60')"]
    assert not (tmp_path / "out").exists()


def test_parquet_manifest_paths_ids_and_labels(tmp_path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from yt8m.extraction.ray_engine import collect_ray_inputs

    (tmp_path / "videos").mkdir()
    pq.write_table(pa.table({"path": ["videos/a.mp4", "videos/b.mp4", "/abs/c.mp4"],
                             "id": ["A", None, "C"], "labels": [[1, 2], [], None]}), tmp_path / "m.parquet")
    pq.write_table(pa.table({"path": ["d.mp4"], "labels": ["4;5"]}), tmp_path / "n.parquet")
    videos = collect_ray_inputs([tmp_path / "m.parquet", tmp_path / "n.parquet"], "stem")
    assert [(v.path, v.video_id, v.labels, v.index) for v in videos] == [
        (tmp_path / "videos/a.mp4", "A", (1, 2), 0), (tmp_path / "videos/b.mp4", "b", (), 1),
        (Path("/abs/c.mp4"), "C", (), 2), (tmp_path / "d.mp4", "d", (4, 5), 3)]
    pq.write_table(pa.table({"file": ["x.mp4"]}), tmp_path / "bad.parquet")
    with pytest.raises(InputError, match="'path' column"):
        collect_ray_inputs([tmp_path / "bad.parquet"])


@pytest.mark.parametrize("kind", ["path", "file-url", "fsspec-url"])
def test_output_dir_writes_atomically_on_paths_and_urls(tmp_path, kind) -> None:
    """The file operations of the Ray engine's outputs, on a path, a pyarrow URL and an fsspec URL."""
    pytest.importorskip("pyarrow")
    from yt8m.extraction.ray_output import OutputDir

    if kind == "fsspec-url":
        pytest.importorskip("fsspec")
        location = f"memory://{tmp_path.name}/out"  # a scheme pyarrow does not know: through fsspec
    else:
        location = str(tmp_path / "out") if kind == "path" else (tmp_path / "out").as_uri()
    out = OutputDir(location)
    out.prepare((".yt8m-ray",))
    assert out.read_text("none.json") is None and out.size("none.tfrecord") is None
    size = out.write_records("a.tfrecord", [b"one", b"two"])
    out.write_bytes(".yt8m-ray/a.tfrecord.json", b'{"records": 2}')
    assert out.size("a.tfrecord") == size == 2 * 16 + 6
    assert out.list() == ["a.tfrecord"] and out.list(".yt8m-ray") == ["a.tfrecord.json"]  # no .part left
    assert out.read_text(".yt8m-ray/a.tfrecord.json") == '{"records": 2}'
    assert out.name("a.tfrecord") == (str(tmp_path / "out" / "a.tfrecord") if kind == "path"
                                      else f"{location}/a.tfrecord")
    if kind != "fsspec-url":
        assert list(read_records(tmp_path / "out" / "a.tfrecord")) == [b"one", b"two"]
    out.delete("a.tfrecord")
    out.delete("a.tfrecord")  # gone already: no error
    assert out.list() == []
    if kind != "fsspec-url":
        (tmp_path / "file").write_text("x")
        target = str(tmp_path / "file") if kind == "path" else (tmp_path / "file").as_uri()
        with pytest.raises(InputError, match="exists and is not a directory"):
            OutputDir(target).prepare()


# --- on a cluster -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster():
    if not HAVE_RAY:
        pytest.skip("Ray is not installed (pip install 'yt8m[ray]')")
    from ray.cluster_utils import Cluster

    store = 200 * _MB
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": store,
                                                      "include_dashboard": False})
    c.add_node(num_cpus=1, object_store_memory=store)
    gpu_node = c.add_node(num_cpus=1, num_gpus=1, object_store_memory=store)
    ray.init(address=c.address, logging_level="WARNING", log_to_driver=False)
    c.wait_for_nodes()
    try:
        yield c, gpu_node.node_id
    finally:
        ray.shutdown()
        c.shutdown()


@pytest.fixture(scope="module")
def batch_inputs(tmp_path_factory, media) -> dict[str, Path]:
    """Five tiny videos and two broken ones, as a CSV manifest and as a Parquet manifest."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = tmp_path_factory.mktemp("ray_inputs")
    rows = []
    for i in range(5):
        video = mf.make_video(d / f"v{i}.mp4", duration_s=1.0 + (i % 3), fps=5, width=64, height=48,
                              audio=None if i == 3 else mf.AudioSpec(sample_rate=16000, layout="mono"))
        rows.append((video.name, [i, 100 + i]))
    (d / "broken.mp4").write_bytes(media["truncated"].read_bytes())
    (d / "notes.mp4").write_text("not a video\n")
    rows.insert(2, ("broken.mp4", [7]))
    rows.append(("notes.mp4", []))
    with open(d / "manifest.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        for name, labels in rows:
            writer.writerow([name, ";".join(map(str, labels))])
    pq.write_table(pa.table({"path": [n for n, _ in rows], "labels": [lab for _, lab in rows]}),
                   d / "manifest.parquet")
    return {"csv": d / "manifest.csv", "parquet": d / "manifest.parquet"}


@pytest.fixture(scope="module")
def local_shards(tmp_path_factory, batch_inputs, weights_home) -> Path:
    """The local engine's output on the same inputs (through the CLI)."""
    import os
    import subprocess

    out = tmp_path_factory.mktemp("local") / "shards"
    env = dict(os.environ, YT8M_HOME=str(weights_home))
    proc = subprocess.run([sys.executable, "-m", "yt8m", "extract", str(batch_inputs["csv"]), "-o", str(out),
                           "--shard-size", str(SHARD_SIZE)], capture_output=True, text=True, env=env,
                          timeout=600, check=False)
    assert proc.returncode == 1, proc.stderr  # two videos fail
    return out


def _shard_files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.tfrecord"))}


def _assert_same_shards(ours: Path, local: Path) -> None:
    theirs = _shard_files(local)
    mine = _shard_files(ours)
    assert sorted(mine) == sorted(theirs)
    equal = total = 0
    for name in theirs:
        a = [parse_record(r) for r in read_records(local / name)]
        b = [parse_record(r) for r in read_records(ours / name)]
        assert [(r.video_id, list(r.labels), r.num_seconds) for r in b] == \
               [(r.video_id, list(r.labels), r.num_seconds) for r in a], name
        for ra, rb in zip(a, b, strict=True):
            for key in ("rgb", "audio"):
                x = np.asarray(getattr(ra, key), np.int16)
                y = np.asarray(getattr(rb, key), np.int16)
                assert x.shape == y.shape
                assert np.abs(x - y).max(initial=0) <= 1, (name, ra.video_id, key)
                equal += int((x == y).sum())
                total += x.size
    assert total and equal / total >= 0.999, equal / total
    assert (ours / "failures.csv").read_text() == (local / "failures.csv").read_text()


@pytest.mark.ray
@needs_ray
def test_ray_shards_match_local_engine_on_gpu_actors_and_rerun_is_a_no_op(
        cluster, with_weights, batch_inputs, local_shards, tmp_path) -> None:
    from yt8m.extraction.ray_engine import SIDECAR_DIR, collect_ray_inputs, run_ray

    _, gpu_node = cluster
    out = tmp_path / "ray"
    videos = collect_ray_inputs([batch_inputs["parquet"]])
    # device cpu, but one "GPU" per actor: the actors go to the node that declares one.
    report = run_ray(videos, ExtractOptions(), out, shard_size=SHARD_SIZE, gpus_per_actor=1,
                     fetch=False, progress=False)
    assert report.actors == 1 and report.nodes == {gpu_node}
    assert len(report.done) == 5 and len(report.failed) == 2 and report.shards_written == 3
    _assert_same_shards(out, local_shards)
    # Shard 2 holds only the text file: no shard file (as locally), but a sidecar saying so.
    sidecars = sorted((out / SIDECAR_DIR).glob("*.json"))
    assert len(sidecars) == 3 and len(_shard_files(out)) == 2
    assert json.loads(sidecars[0].read_text())["failures"][0][1]  # the broken video and its reason
    assert json.loads(sidecars[2].read_text())["records"] == 0

    # A rerun: no work, the same bytes, files untouched.
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.glob("*.tfrecord")}
    again = run_ray(videos, ExtractOptions(), out, shard_size=SHARD_SIZE, gpus_per_actor=1, fetch=False,
                    progress=False)
    assert again.done == [] and again.shards_skipped == 3 and again.shards_written == 0
    assert len(again.failed_earlier) == 2
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.glob("*.tfrecord")} == before
    _assert_same_shards(out, local_shards)

    # A changed input list is not taken for finished: new labels for one video redo its shard only.
    changed = [v if v.index != 4 else type(v)(v.path, (99,), v.index, v.video_id) for v in videos]
    redo = run_ray(changed, ExtractOptions(), out, shard_size=SHARD_SIZE, gpus_per_actor=1, fetch=False,
                   progress=False)
    assert redo.shards_skipped == 2 and redo.shards_written == 1 and len(redo.done) == 3
    labels = {r.video_id: list(r.labels) for p in out.glob("*.tfrecord") for r in map(parse_record,
                                                                                      read_records(p))}
    assert labels["v3"] == [99]

    # A video file changed in place (same path, other modification time) redoes its shard only.
    stat = changed[0].path.stat()
    os.utime(changed[0].path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    touched = run_ray(changed, ExtractOptions(), out, shard_size=SHARD_SIZE, gpus_per_actor=1, fetch=False,
                      progress=False)
    assert touched.shards_skipped == 2 and touched.shards_written == 1


@pytest.mark.ray
@needs_ray
def test_actor_crash_mid_run_loses_and_duplicates_nothing(
        cluster, with_weights, batch_inputs, local_shards, tmp_path, monkeypatch, capsys) -> None:
    from yt8m.extraction.ray_engine import CRASH_ONCE_ENV, collect_ray_inputs, run_ray

    marker = tmp_path / "crashed"
    monkeypatch.setenv(CRASH_ONCE_ENV, str(marker))
    out = tmp_path / "ray"
    report = run_ray(collect_ray_inputs([batch_inputs["csv"]]), ExtractOptions(), out, shard_size=SHARD_SIZE,
                     actors=2, fetch=False, progress=True)
    assert marker.is_file()  # an actor did die in the middle of a batch
    assert len(report.done) == 5 and len(report.failed) == 2
    _assert_same_shards(out, local_shards)
    # The bar on the driver, fed while the run goes on: videos, video-s/s, failures, per node.
    bar = capsys.readouterr().err
    assert "extract (ray)" in bar and "video-s/s" in bar and "failed" in bar and "per node" in bar, bar


def test_live_counts_count_a_retried_video_once() -> None:
    from yt8m.extraction.ray_engine import _LiveCounts

    live = _LiveCounts()
    live.add([("node-a", 0, True, 10), ("node-b", 1, False, 0)])
    live.add([("node-b", 0, True, 10), ("node-b", 2, True, 5)])  # video 0 again: a retried shard
    assert (live.done, live.failed, live.video_seconds) == (2, 1, 15)
    assert live.node_seconds == {"node-a": 10, "node-b": 5}
    assert live.postfix(5.0) == "3.0 video-s/s, 1 failed; per node node-a:2.0 node-b:1.0"


@pytest.mark.ray
@needs_ray
def test_cli_joins_a_cluster(cluster, with_weights, run_cli, batch_inputs, local_shards, tmp_path) -> None:
    c, _ = cluster
    out = tmp_path / "cli"
    result = run_cli("extract", batch_inputs["csv"], "-o", out, "--shard-size", SHARD_SIZE, "--engine", "ray",
                     "--ray-address", c.address, "--ray-actors", "1")
    assert result.exit_code == 1, result.stderr  # two videos failed
    assert "5 extracted" in result.stderr and "2 failed" in result.stderr, result.stderr
    _assert_same_shards(out, local_shards)
    result = run_cli("extract", batch_inputs["csv"], "-o", out, "--engine", "ray", "--format", "npz")
    assert result.exit_code == 2 and "yt8m format only" in result.stderr


@pytest.mark.ray
@needs_ray
def test_missing_weights_on_the_actors_stop_with_the_weights_message(cluster, batch_inputs, tmp_path) -> None:
    from yt8m.errors import WeightsError
    from yt8m.extraction.ray_engine import collect_ray_inputs, run_ray

    # The autouse fixture left YT8M_HOME an empty cache: the actors cannot load the models.
    with pytest.raises(WeightsError):
        run_ray(collect_ray_inputs([batch_inputs["csv"]]), ExtractOptions(), tmp_path / "out",
                shard_size=SHARD_SIZE, actors=1, fetch=False, progress=False)
    assert not list((tmp_path / "out").glob("*.tfrecord"))


@pytest.mark.ray
@needs_ray
def test_a_killed_driver_resumes_keeping_the_shards_it_finished(
        cluster, with_weights, batch_inputs, local_shards, tmp_path) -> None:
    import signal
    import subprocess
    import time

    from yt8m.extraction.ray_engine import SIDECAR_DIR

    c, _ = cluster
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "yt8m", "extract", str(batch_inputs["csv"]), "-o", str(out), "--shard-size",
           str(SHARD_SIZE), "--engine", "ray", "--ray-address", c.address, "--ray-actors", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not list((out / SIDECAR_DIR).glob("*.json")):
        time.sleep(0.05)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    import json
    import re

    # Shards finish in any order on Ray, and the last one holds fewer videos: count members.
    sidecars = list((out / SIDECAR_DIR).glob("*.json"))
    finished_videos = sum(len(json.loads(p.read_text())["videos"]) for p in sidecars)
    print(f"driver killed with {len(sidecars)} shards ({finished_videos} videos) finished")
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert rerun.returncode == 1, rerun.stderr
    summary = re.search(r"(\d+) extracted \(.*?\), (\d+) skipped", rerun.stderr)  # Ray logs to stderr too
    assert summary is not None, rerun.stderr
    assert int(summary.group(2)) == finished_videos, rerun.stderr
    _assert_same_shards(out, local_shards)
    assert not list(out.rglob("*.part"))


# --- outputs on an S3-compatible server, and a lost node ----------------------------------------

def test_local_engine_refuses_a_url_output_in_one_line(run_cli, media) -> None:
    result = run_cli("extract", media["h264_aac"], media["h264_aac"], "-o", "s3://bucket/features")
    assert result.exit_code == 2, result.stderr
    assert result.stderr.splitlines() == [
        "yt8m: error: s3://bucket/features: the local engine writes to local paths only; URL outputs need "
        "--engine ray"]


@pytest.fixture
def s3_bucket(monkeypatch):
    """An S3-compatible server (moto) on 127.0.0.1 with one bucket; its endpoint and credentials
    in this process's environment only (the Ray nodes were started without them)."""
    import logging

    moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed")
    import boto3

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for name in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "yt8m-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "yt8m-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
    boto3.client("s3").create_bucket(Bucket="yt8m-test")
    try:
        yield "yt8m-test"
    finally:
        server.stop()


def _download(url: str, to: Path) -> dict[str, int]:
    """Copy every object under ``url`` into the folder ``to``; their names and sizes."""
    from pyarrow import fs

    filesystem, root = fs.FileSystem.from_uri(url)
    found = {}
    for info in filesystem.get_file_info(fs.FileSelector(root, recursive=True)):
        if info.type != fs.FileType.File:
            continue
        name = info.path[len(root) + 1:]
        (to / name).parent.mkdir(parents=True, exist_ok=True)
        with filesystem.open_input_stream(info.path) as handle:
            (to / name).write_bytes(handle.read())
        found[name] = info.size
    return found


@pytest.mark.ray
@needs_ray
def test_shards_on_an_s3_url_with_credentials_handed_to_the_workers(
        cluster, with_weights, batch_inputs, local_shards, s3_bucket, tmp_path, monkeypatch) -> None:
    from yt8m.extraction.ray_engine import SIDECAR_DIR, collect_ray_inputs, run_ray
    from yt8m.extraction.ray_output import OutputError

    url = f"s3://{s3_bucket}/runs/features"
    videos = collect_ray_inputs([batch_inputs["csv"]])
    report = run_ray(videos, ExtractOptions(), url, shard_size=SHARD_SIZE, actors=1, fetch=False,
                     progress=False)
    assert len(report.done) == 5 and len(report.failed) == 2 and report.shards_written == 3
    shards = [f"features-0000{k}-of-00003.tfrecord" for k in range(3)]
    assert report.outputs == [f"{url}/{name}" for name in shards[:2]]  # shard 2: all its videos failed
    found = _download(url, tmp_path / "s3")
    sidecars = [f"{SIDECAR_DIR}/{n}.json" for n in shards]
    assert sorted(found) == sorted([*shards[:2], "failures.csv", *sidecars])
    assert not [n for n in found if n.endswith(".part")]
    _assert_same_shards(tmp_path / "s3", local_shards)

    # A rerun reads the sidecars back from the bucket: nothing to do.
    again = run_ray(videos, ExtractOptions(), url, shard_size=SHARD_SIZE, actors=1, fetch=False,
                    progress=False)
    assert again.done == [] and again.shards_skipped == 3 and len(again.failed_earlier) == 2
    assert _download(url, tmp_path / "s3-again") == found
    assert (tmp_path / "s3-again/failures.csv").read_bytes() == (local_shards / "failures.csv").read_bytes()

    # A bucket that does not exist: one line naming the URL, before any actor starts.
    with pytest.raises(OutputError, match=r"^s3://no-such-bucket/x: cannot "):
        run_ray(videos, ExtractOptions(), "s3://no-such-bucket/x", shard_size=SHARD_SIZE, fetch=False,
                progress=False)

    # The same folder named with pyarrow's options in the URL instead of the environment.
    endpoint = os.environ["AWS_ENDPOINT_URL"].removeprefix("http://")
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    third = run_ray(videos, ExtractOptions(), f"{url}?endpoint_override={endpoint}&scheme=http",
                    shard_size=SHARD_SIZE, fetch=False, progress=False)
    assert third.shards_skipped == 3 and third.done == []


@pytest.mark.ray
@needs_ray
def test_a_lost_node_is_replaced_and_the_run_loses_and_duplicates_nothing(
        cluster, with_weights, batch_inputs, local_shards, tmp_path, monkeypatch) -> None:
    import threading
    import time

    from yt8m.extraction.ray_engine import HOLD_ENV, SIDECAR_DIR, collect_ray_inputs, run_ray

    c, _ = cluster

    @ray.remote(num_cpus=1)
    class Blocker:
        def ready(self) -> bool:
            return True

    # Take every CPU of the cluster, so that the run's one actor can only start on the node added next.
    blockers = [Blocker.remote() for _ in range(int(ray.cluster_resources()["CPU"]))]
    ray.get([b.ready.remote() for b in blockers], timeout=120)
    victim = c.add_node(num_cpus=1, object_store_memory=100 * _MB)
    fresh = None
    hold = tmp_path / "hold"
    hold.mkdir()
    monkeypatch.setenv(HOLD_ENV, str(hold))  # the actor stops after each video until hold/go exists
    out = tmp_path / "lost-node"
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["report"] = run_ray(collect_ray_inputs([batch_inputs["csv"]]), ExtractOptions(), out,
                                       shard_size=SHARD_SIZE, actors=1, fetch=False, progress=False)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 180
        while (not list(hold.glob(f"{victim.node_id}.*")) and thread.is_alive()
               and time.monotonic() < deadline):
            time.sleep(0.05)
        assert list(hold.glob(f"{victim.node_id}.*")), "the actor never started on the node to be lost"
        # One video of the first shard is extracted on the victim and nothing has been sent back.
        assert not list((out / SIDECAR_DIR).glob("*.json"))
        c.remove_node(victim)
        fresh = c.add_node(num_cpus=1, object_store_memory=100 * _MB)
        (hold / "go").write_text("go\n")
        thread.join(timeout=300)
        assert not thread.is_alive(), "the run did not finish after the node was lost"
    finally:
        (hold / "go").write_text("go\n")
        for blocker in blockers:
            ray.kill(blocker)
        if fresh is not None:
            thread.join(timeout=60)
            c.remove_node(fresh)
    assert "error" not in result, result.get("error")
    report = result["report"]
    assert fresh.node_id in report.nodes and victim.node_id not in report.nodes  # redone on the new node
    assert len(report.done) == 5 and len(report.failed) == 2 and report.shards_written == 3
    ids = [parse_record(r).video_id for p in sorted(out.glob("*.tfrecord")) for r in read_records(p)]
    assert len(ids) == len(set(ids)) == 5
    _assert_same_shards(out, local_shards)
    assert not list(out.rglob("*.part"))


@needs_ray
def test_a_ray_run_into_a_folder_another_run_writes_is_refused(media, tmp_path) -> None:
    """The local engine's lock holds for the Ray engine too: no two runs mix their shards."""
    from yt8m.extraction.output_lock import output_lock
    from yt8m.extraction.ray_engine import collect_ray_inputs, run_ray

    out = tmp_path / "out"
    out.mkdir()
    with output_lock(out), pytest.raises(InputError, match="another yt8m run is writing into this folder"):
        run_ray(collect_ray_inputs([media["h264_aac"]]), ExtractOptions(), out, fetch=False, progress=False)
    assert not list(out.glob("*.tfrecord"))
