"""What the rerun bookkeeping costs a clean run, as shares measured in this one run.

A clean ``yt8m extract`` of N videos into shards (the batch runner) is timed whole, and
beside it, on the same files, what the rerun rules add to it: the key of every video
(file identity: stat and a SHA-256 of its first MiB, then the key hash; and on a rerun, from
the identity cache: stat only), and the manifest
lines (one fsync'd append per shard). Then a rerun with nothing to do is timed (every
video reused), against the clean run.

The whole comparison, in the same run: the batch runner against a bare writer that does
only the extraction and the shards (Extractor.run, each record made, the shards written in
input order, no keys, parts, manifest, lock or failures file), rounds interleaved, best of
each; the ratio is what all the rerun rules cost a clean run end to end.

    python benchmarks/rerun_overhead.py [--videos 12] [--seconds 10] [--rounds 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import _common


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="yt8m-bench-rerun-"))
    work.mkdir(parents=True, exist_ok=True)
    _common.ensure_weights(work)

    from yt8m.extraction import ExtractOptions, Extractor, Job
    from yt8m.formats.tfrecord import TFRecordWriter
    from yt8m.extraction.batch import _Manifest, _unique_works, BatchReport, run_batch
    from yt8m.extraction.inputs import assign_ids, collect_inputs

    videos_dir = work / "videos"
    videos_dir.mkdir(exist_ok=True)
    for i in range(args.videos):
        _common.make_test_video(videos_dir / f"v{i:03d}.mp4", duration_s=args.seconds, width=320, height=240)
    videos = assign_ids(collect_inputs([videos_dir]), "stem")
    extractor = Extractor(ExtractOptions(), fetch=False)
    settings = extractor.feature_settings()

    def bare(folder: Path) -> None:
        folder.mkdir(exist_ok=True)
        records: dict[int, bytes] = {}
        jobs = [Job(v.path, key=i) for i, v in enumerate(videos)]
        for result in extractor.run(jobs):
            record = result.features.to_frame_record(videos[result.job.key].video_id)
            records[result.job.key] = record.SerializeToString(deterministic=True)
        count = (len(videos) + 3) // 4
        for k in range(count):
            with TFRecordWriter(folder / f"features-{k:05d}-of-{count:05d}.tfrecord") as writer:
                for i in range(4 * k, min(len(videos), 4 * k + 4)):
                    writer.write(records[i])

    out = work / "out"
    batch_times, bare_times = [], []
    for _ in range(args.rounds):
        started = time.perf_counter()
        report = run_batch(extractor, videos, fmt="yt8m", out=out, shard_size=4, progress=False,
                           overwrite=True)
        batch_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        bare(work / "bare")
        bare_times.append(time.perf_counter() - started)
    for name in sorted(p.name for p in (work / "bare").glob("*.tfrecord")):  # the same work, the same bytes
        assert (work / "bare" / name).read_bytes() == (out / name).read_bytes(), name
    clean_s, bare_s = min(batch_times), min(bare_times)

    key_times = []
    for _ in range(5):
        started = time.perf_counter()
        _unique_works(videos, 0, None, settings, BatchReport())
        key_times.append(time.perf_counter() - started)
    keys_s = statistics.median(key_times)
    from yt8m.extraction.identity import IDENTITY_CACHE, IdentityCache

    cached_times = []
    for _ in range(5):
        identities = IdentityCache(out / IDENTITY_CACHE)
        started = time.perf_counter()
        _unique_works(videos, 0, None, settings, BatchReport(), identities)
        cached_times.append(time.perf_counter() - started)
    cached_s = statistics.median(cached_times)

    manifest = _Manifest(work / "scratch")
    (work / "scratch").mkdir(exist_ok=True)
    shards = (len(videos) + 3) // 4
    started = time.perf_counter()
    for k in range(shards):
        manifest.add({"output": f"s{k}", "members": [["0" * 32, None]] * 4})
    manifest.compact()
    manifest_s = time.perf_counter() - started

    started = time.perf_counter()
    rerun = run_batch(extractor, videos, fmt="yt8m", out=out, shard_size=4, progress=False)
    rerun_s = time.perf_counter() - started
    assert len(rerun.reused) == len(videos) and not rerun.done

    print(f"{len(videos)} videos of {args.seconds:g} s (320x240), {report.video_seconds} video-seconds, "
          f"clean run {clean_s:.1f} s")
    print(f"clean run through the batch runner / bare extraction and shards: {clean_s / bare_s:.3f} "
          f"(best of {args.rounds}: {clean_s:.2f} s / {bare_s:.2f} s)")
    print(f"keys of every video: {keys_s * 1e3:.1f} ms = {keys_s / clean_s:.4%} of the clean run")
    print(f"keys of every video from the identity cache (a rerun): {cached_s * 1e3:.1f} ms "
          f"({keys_s / cached_s:.1f}x fewer seconds than reading the heads)")
    print(f"manifest lines ({shards} shards, fsync'd): {manifest_s * 1e3:.1f} ms "
          f"= {manifest_s / clean_s:.4%}")
    print(f"rerun with everything reused: {rerun_s:.2f} s = {rerun_s / clean_s:.2%} of the clean run")


if __name__ == "__main__":
    main()
