"""The Ray engine against the local engine, and on 1, 2, 3... simulated nodes, in one run.

All runs extract the same generated videos into yt8m shards, in this process, timed from
the call to its return, so each includes loading the models (once for the local engine,
once per actor for Ray) but not starting the cluster (on a real cluster it is already up);
the models are loaded once, untimed, before the first run, so that none reads them cold:

* ``local``: the local engine (``Extractor`` + ``run_batch``, as ``yt8m extract`` runs it).
* ``ray, one machine``: the Ray engine on a one-node ``ray.cluster_utils.Cluster`` with all
  of this machine's CPUs, one actor per CPU (what ``--engine ray`` does on one machine).
* ``ray, N nodes``: the Ray engine on ``N`` simulated nodes of ``--cpus-per-node`` CPUs each
  (one actor per CPU), for each N in ``--nodes``.

One Ray task extracts one shard; shards are of ``--shard-size`` videos (1 by default, so
that 6 videos spread evenly over 1, 2 or 3 actors; the CLI's default is 100). Simulated nodes are processes
on this machine: they share its cores, so they show the engine's overhead and that work is
spread over nodes, not how a real cluster scales.

    python benchmarks/ray_scaling.py [--work DIR] [--videos 6] [--duration 10] [--nodes 1,2,3]

Prints video-seconds per wall-second for each run, the ratio ray / local and each node count's
speed-up over one node, and checks that every run wrote the same shards and record ids.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

_MB = 1024 * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per video")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--nodes", default="1,2,3", help="simulated node counts, comma-separated")
    parser.add_argument("--cpus-per-node", type=int, default=1)
    parser.add_argument("--object-store-mb", type=int, default=100, help="object store per node")
    parser.add_argument("--shard-size", type=int, default=1, help="videos per shard (one Ray task each)")
    args = parser.parse_args()

    work = args.work or Path(tempfile.gettempdir()) / "yt8m-bench"
    work.mkdir(parents=True, exist_ok=True)
    _common.ensure_weights(work)
    src = work / f"ray_videos_{args.videos}x{args.duration:g}s_{args.width}x{args.height}"
    src.mkdir(exist_ok=True)
    for i in range(args.videos):
        _common.make_test_video(src / f"v{i:03d}.mp4", duration_s=args.duration, width=args.width,
                                height=args.height)
    video_seconds = int(args.videos * args.duration)
    cpus = os.cpu_count() or 1

    from ray.cluster_utils import Cluster

    from yt8m.extraction import Extractor
    from yt8m.extraction.batch import run_batch
    from yt8m.extraction.inputs import assign_ids, collect_inputs
    from yt8m.extraction.options import ExtractOptions
    from yt8m.extraction.ray_engine import run_ray
    from yt8m.formats.tfrecord import read_records
    from yt8m.formats.yt8m_records import parse_record

    videos = assign_ids(collect_inputs([src]), "stem")
    results: dict[str, tuple[float, int]] = {}  # name -> (wall seconds, actors)
    outputs: dict[str, Path] = {}

    def out_for(name: str) -> Path:
        out = work / ("out_" + name.replace(" ", "_").replace(",", ""))
        shutil.rmtree(out, ignore_errors=True)
        outputs[name] = out
        return out

    Extractor(ExtractOptions())  # untimed: the weights into the page cache, so no run pays for a cold read
    out = out_for("local")
    started = time.perf_counter()
    report = run_batch(Extractor(ExtractOptions()), videos, fmt="yt8m", out=out, shard_size=args.shard_size,
                       progress=False)
    results["local"] = (time.perf_counter() - started, 0)
    assert not report.failed, report.failed
    print(f"  local: {results['local'][0]:.1f} s", file=sys.stderr)

    def ray_run(name: str, nodes: int, cpus_per_node: int) -> None:
        store = args.object_store_mb * _MB
        cluster = Cluster(initialize_head=True, head_node_args={
            "num_cpus": cpus_per_node, "object_store_memory": store, "include_dashboard": False})
        try:
            for _ in range(nodes - 1):
                cluster.add_node(num_cpus=cpus_per_node, object_store_memory=store)
            cluster.wait_for_nodes()
            started = time.perf_counter()
            report = run_ray(videos, ExtractOptions(), out_for(name), shard_size=args.shard_size,
                             address=cluster.address, fetch=False, progress=False)
            results[name] = (time.perf_counter() - started, report.actors)
            assert not report.failed, report.failed
        finally:
            cluster.shutdown()
        print(f"  {name}: {results[name][0]:.1f} s, {report.actors} actors on {len(report.nodes)} nodes",
              file=sys.stderr)

    ray_run("ray, one machine", 1, cpus)
    node_counts = [int(n) for n in args.nodes.split(",")]
    for n in node_counts:
        ray_run(f"ray, {n} nodes", n, args.cpus_per_node)

    def ids(out: Path) -> dict[str, list[str]]:
        return {p.name: [parse_record(r).video_id for r in read_records(p)]
                for p in sorted(out.glob("*.tfrecord"))}

    reference = ids(outputs["local"])
    same = all(ids(out) == reference for out in outputs.values()) and bool(reference)
    rate = {name: video_seconds / wall for name, (wall, _) in results.items()}
    print(f"inputs: {args.videos} videos x {args.duration:g} s ({video_seconds} video-s), "
          f"{args.width}x{args.height} H.264 + AAC; machine: {cpus} CPUs; "
          f"{args.shard_size} video(s) per shard, one shard per Ray task")
    print(f"{'run':<22} {'wall s':>7} {'video-s/s':>10} {'actors':>7}")
    for name, (wall, actors) in results.items():
        print(f"{name:<22} {wall:>7.1f} {rate[name]:>10.2f} {actors or '-':>7}")
    ratio = rate["ray, one machine"] / rate["local"]
    print(f"ray (one machine, {cpus} CPUs) / local throughput: {ratio:.2f}")
    first = f"ray, {node_counts[0]} nodes"
    print("speed-up over " + first.split(", ")[1] + ": " + ", ".join(
        f"{n} nodes {rate[f'ray, {n} nodes'] / rate[first]:.2f}" for n in node_counts[1:]))
    print(f"same shards and record ids in every run: {same}")


if __name__ == "__main__":
    main()
