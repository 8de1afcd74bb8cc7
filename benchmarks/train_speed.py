"""Training throughput of ``yt8m train``: examples/s of each family on this machine.

Writes shards of random YouTube-8M frame-level records (--seconds each, with the video
means, so the same shards serve the video-level families), then runs the real training
loop (``yt8m.train.train``: reading, shuffling, batching, forward, loss, backward, clipping,
Adam) for --steps steps per family after one warm-up step, and prints examples/s (the
loop's own count, without the warm-up) and seconds per step.

    python benchmarks/train_speed.py                          # published sizes and batches
    python benchmarks/train_speed.py --small --steps 20       # the test suite's sizes
    python benchmarks/train_speed.py --families logistic,dbof --device cuda --precision bfloat16

Published sizes are large on a CPU (gated NetVLAD's hidden layer alone has 285M weights):
--batch-size and --seconds shrink a run without changing the model.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from yt8m.formats.quantize import quantize
from yt8m.formats.tfrecord import write_records
from yt8m.formats.yt8m_records import make_frame_record
from yt8m.train import RECIPES, TrainOptions, train

SMALL = {
    "logistic": {}, "moe": {}, "frame_logistic": {},
    "dbof": {"cluster_size": 64, "hidden_size": 32, "iterations": 8},
    "lstm": {"lstm_cells": 32, "lstm_layers": 1},
    "gated_netvlad": {"cluster_size": 16, "hidden_size": 64, "iterations": 8},
    "nextvlad": {"cluster_size": 16, "hidden_size": 64, "groups": 4, "expansion": 1},
}


def write_shards(directory: Path, videos: int, seconds: int, classes: int, shards: int) -> list[str]:
    rng = np.random.default_rng(0)
    paths = []
    for s in range(shards):
        records = []
        for v in range(s, videos, shards):
            x = rng.normal(scale=0.5, size=(seconds, 1152)).astype(np.float32)
            labels = rng.choice(classes, size=3, replace=False)
            q = quantize(np.clip(x, -2, 2))
            records.append(make_frame_record(f"v{v}", labels, q[:, :1024], q[:, 1024:],
                                             mean_rgb=x[:, :1024].mean(0),
                                             mean_audio=x[:, 1024:].mean(0)).SerializeToString())
        path = directory / f"train{s:03d}.tfrecord"
        write_records(path, records)
        paths.append(str(path))
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", default=",".join(RECIPES), help="comma-separated families")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per family (after one warm-up)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: each family's recipe")
    parser.add_argument("--seconds", type=int, default=300, help="seconds per video (frame-level families)")
    parser.add_argument("--classes", type=int, default=3862)
    parser.add_argument("--small", action="store_true", help="the test suite's model sizes")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    families = args.families.split(",")
    largest = max(args.batch_size or RECIPES[f].batch_size for f in families)
    videos = largest * (args.steps + 1)
    work = Path(tempfile.mkdtemp(prefix="yt8m-train-speed-"))
    try:
        t = time.perf_counter()
        shards = write_shards(work, videos, args.seconds, args.classes, shards=max(1, args.workers))
        print(f"# {videos} videos of {args.seconds} s in {len(shards)} shard(s), written in "
              f"{time.perf_counter() - t:.1f} s; device {args.device}, precision {args.precision}, "
              f"torch threads {torch.get_num_threads()}, workers {args.workers}", flush=True)
        print(f"{'family':<15} {'batch':>6} {'steps':>6} {'examples/s':>11} {'s/step':>8}")
        for family in families:
            batch = args.batch_size or RECIPES[family].batch_size
            options = TrainOptions(train_shards=shards, family=family, output=str(work / family),
                                   model_options=SMALL[family] if args.small else {},
                                   num_classes=args.classes,
                                   batch_size=batch, max_steps=args.steps + 1, epochs=1, shuffle_buffer=0,
                                   workers=args.workers, device=args.device, precision=args.precision,
                                   checkpoint_every=10**9, log_every=1, progress=False)
            result = train(options)
            lines = (work / family / "metrics.jsonl").read_text().splitlines()[1:]  # line 1: the warm-up
            rates = [json.loads(line)["examples_per_s"] for line in lines]
            per_step = batch / np.mean(rates) if rates else float("nan")
            print(f"{family:<15} {batch:>6} {result.steps - 1:>6} {batch / per_step:>11.1f} {per_step:>8.3f}",
                  flush=True)
            shutil.rmtree(work / family)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
