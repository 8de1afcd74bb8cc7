"""Reading throughput of a large TFRecord shard against the disk's own speed.

Writes a shard of YouTube-8M frame-level records (300 s each, random features) of
about --size-mb megabytes, then, in one run, times:

* ``cat FILE > /dev/null`` (what the disk and page cache deliver),
* yt8m's framing and checksum reader (``read_records``),
* the same plus parsing every record into arrays (``parse_record``),

and prints records/s, MB/s and each as a share of ``cat``, plus the peak resident
memory growth while reading (it stays flat: one record at a time).

    python benchmarks/tfrecord_read.py --size-mb 1024
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from yt8m.formats.tfrecord import TFRecordWriter, read_records
from yt8m.formats.yt8m_records import make_frame_record, parse_record


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=float, default=1024)
    parser.add_argument("--dir", type=Path, default=None,
                        help="where to write the shard (default: a temp dir)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "shard.tfrecord"
        rng = np.random.default_rng(0)
        rgb = rng.integers(0, 256, (300, 1024), dtype=np.uint8)
        audio = rng.integers(0, 256, (300, 128), dtype=np.uint8)
        with TFRecordWriter(path) as writer:
            i = 0
            while writer.bytes_written < args.size_mb * 1e6:
                writer.write(make_frame_record(f"v{i:05d}", [i % 3862], rgb, audio).SerializeToString())
                i += 1
        size_mb = path.stat().st_size / 1e6
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache

        t = time.perf_counter()
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)
        cat_s = time.perf_counter() - t

        rss0 = _rss_mb()
        t = time.perf_counter()
        n = sum(1 for _ in read_records(path))
        read_s = time.perf_counter() - t
        t = time.perf_counter()
        seconds = sum(parse_record(r).num_seconds for r in read_records(path))
        parse_s = time.perf_counter() - t
        rss_growth = _rss_mb() - rss0

    print(f"shard: {n} records x 300 s, {size_mb:.0f} MB")
    print(f"cat > /dev/null        {size_mb / cat_s:8.0f} MB/s")
    print(f"read_records (CRC)     {size_mb / read_s:8.0f} MB/s  {n / read_s:8.0f} records/s  "
          f"{cat_s / read_s:6.1%} of cat")
    print(f"read + parse_record    {size_mb / parse_s:8.0f} MB/s  {n / parse_s:8.0f} records/s  "
          f"{cat_s / parse_s:6.1%} of cat  ({seconds} video-seconds)")
    print(f"peak RSS growth while reading: {rss_growth:.1f} MB")


if __name__ == "__main__":
    main()
