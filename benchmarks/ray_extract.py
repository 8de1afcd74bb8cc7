"""The Ray engine's throughput against the local engine's, on the same inputs, in one run.

Both run as a user runs them, ``yt8m extract DIR -o OUT --format yt8m`` in a fresh
process, timed from start to exit (so each includes loading the models: once for the
local engine, once per actor for Ray). The Ray engine joins a local cluster started
beforehand (``ray.cluster_utils.Cluster``, ``--nodes`` nodes of ``--cpus-per-node`` CPUs,
so its start is not counted: on a real cluster it is already up) and runs one actor per
CPU. Each engine runs ``--repeats`` times, interleaved, and the best wall time counts.

    python benchmarks/ray_extract.py [--work DIR] [--videos 8] [--duration 30] [--nodes 2] [--cpus-per-node 1]

Prints video-seconds per wall-second for each engine and the ratio ray / local, and checks
that both wrote the same shard files with the same record ids.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common


def _run(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per video")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--cpus-per-node", type=int, default=1)
    parser.add_argument("--shard-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    work = args.work or Path(tempfile.gettempdir()) / "yt8m-bench"
    work.mkdir(parents=True, exist_ok=True)
    home = _common.ensure_weights(work)
    videos = work / f"ray_videos_{args.videos}x{args.duration:g}s_{args.width}x{args.height}"
    videos.mkdir(exist_ok=True)
    for i in range(args.videos):
        _common.make_test_video(videos / f"v{i:03d}.mp4", duration_s=args.duration, width=args.width,
                                height=args.height)
    video_seconds = int(args.videos * args.duration)

    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": args.cpus_per_node, "object_store_memory": 200 * 1024 * 1024, "include_dashboard": False})
    for _ in range(args.nodes - 1):
        cluster.add_node(num_cpus=args.cpus_per_node, object_store_memory=200 * 1024 * 1024)
    cluster.wait_for_nodes()
    env = dict(os.environ, YT8M_HOME=str(home),
               PYTHONPATH=os.pathsep.join([str(_common.ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    base = [sys.executable, "-m", "yt8m", "extract", str(videos), "--format", "yt8m",
            "--shard-size", str(args.shard_size), "--overwrite"]
    times: dict[str, list[float]] = {"local": [], "ray": []}
    try:
        for _ in range(args.repeats):
            for engine in ("local", "ray"):
                out = work / f"out_{engine}"
                shutil.rmtree(out, ignore_errors=True)
                extra = (["--engine", "ray", "--ray-address", cluster.address] if engine == "ray" else [])
                times[engine].append(_run(base + ["-o", str(out)] + extra, env))
                print(f"  {engine}: {times[engine][-1]:.1f} s", file=sys.stderr)
    finally:
        cluster.shutdown()

    from yt8m.formats.tfrecord import read_records
    from yt8m.formats.yt8m_records import parse_record

    def ids(out: Path) -> dict[str, list[str]]:
        return {p.name: [parse_record(r).video_id for r in read_records(p)]
                for p in sorted(out.glob("*.tfrecord"))}

    same = ids(work / "out_local") == ids(work / "out_ray")
    local, ray_ = min(times["local"]), min(times["ray"])
    print(f"inputs: {args.videos} videos x {args.duration:g} s ({video_seconds} video-s), "
          f"{args.width}x{args.height} H.264 + AAC; machine: {os.cpu_count()} CPUs")
    print(f"local engine: {local:.1f} s wall, {video_seconds / local:.2f} video-s/s (models loaded once)")
    print(f"ray engine:   {ray_:.1f} s wall, {video_seconds / ray_:.2f} video-s/s "
          f"({args.nodes} nodes x {args.cpus_per_node} CPU, one actor per CPU, models loaded per actor)")
    print(f"ratio ray / local: {local / ray_:.2f}; same shards and record ids: {same}")


if __name__ == "__main__":
    main()
