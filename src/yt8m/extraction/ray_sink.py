"""The Ray Datasink that writes the Ray engine's YouTube-8M shards (imported only with Ray).

Rows reaching the sink are whole shards: the extraction actors take one shard per task
(the videos at input positions ``[k*S, (k+1)*S)``) and return one row for it holding the
serialized records of its videos in input order, the reasons of those that failed, small
per-video figures, and the shard's sidecar to be. Grouping by shard thus happens where the
work is cut, before extraction, so no shuffle is needed and a shard is written as soon as
its task is done. For each row the sink writes

1. the shard ``<prefix>-NNNNN-of-NNNNN.tfrecord`` through yt8m's TFRecord writer, atomically
   (see :class:`~yt8m.extraction.ray_output.OutputDir`); no file when every video failed;
2. then its sidecar ``.yt8m-ray/<shard>.json``, atomically: a rerun trusts a shard only
   when its sidecar says so, so a shard without a sidecar is redone.

A write task that is retried (its node lost) writes the same bytes again under the same
names, so nothing appears twice. ``on_write_complete`` (on the driver) writes
``failures.csv``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ray.data import Datasink
from ray.data.block import BlockAccessor

from yt8m.errors import Yt8mError
from yt8m.extraction.ray_output import OutputDir, sidecar_name, write_failures

def write_shard(output: OutputDir, row: dict[str, Any]) -> dict[str, Any]:
    """Write one extracted shard (a row from the actors) and then its sidecar; what was written."""
    name = str(row["name"])
    records = [bytes(r) for r in row["records"]]
    failures = json.loads(row["failures"])
    if records:
        size = output.write_records(name, records)
    else:
        output.delete(name)  # every video failed: no empty shard, as locally
        size = 0
    sidecar = json.loads(row["sidecar"])
    sidecar.update(records=len(records), bytes=size, failures=failures)
    output.write_bytes(sidecar_name(name), json.dumps(sidecar, indent=1).encode())
    return {"shard": int(row["shard"]), "name": name, "records": len(records), "bytes": size,
            "failures": failures, "videos": json.loads(row["videos"]), "node": str(row["node"])}


class ShardDatasink(Datasink[list[dict[str, Any]]]):
    """Writes whole shards (one per row) and their sidecars into ``output``; then failures.csv.

    ``shards``: the shard numbers this write must see, each at least once.
    ``failures_earlier``: the failures of shards a rerun skipped, kept in ``failures.csv``.
    ``distributed``: whether write tasks may run on any node (a URL every node reaches) or
    only on the driver's (a local path, which need not be shared).
    After the write, :attr:`written` holds what each write task returned (driver side).
    """

    def __init__(self, output: OutputDir, *, shards: Iterable[int], failures_earlier: dict[str, str],
                 distributed: bool) -> None:
        self.output = output
        self.shards = sorted(shards)
        self.failures_earlier = dict(failures_earlier)
        self.distributed = distributed
        self.written: list[dict[str, Any]] = []

    def write(self, blocks: Iterable[Any], ctx: Any) -> list[dict[str, Any]]:
        done = []
        for block in blocks:
            for row in BlockAccessor.for_block(block).to_arrow().to_pylist():
                done.append(write_shard(self.output, row))
        return done

    def on_write_complete(self, write_result: Any) -> None:
        seen: dict[int, dict[str, Any]] = {}
        for returned in write_result.write_returns:
            for shard in returned or ():
                seen.setdefault(shard["shard"], shard)  # a retried write task: the same shard once
        missing = [k for k in self.shards if k not in seen]
        if missing:  # Ray said the run ended without these: never silently short
            raise Yt8mError(f"the Ray run ended without {len(missing)} of its {len(self.shards)} shards "
                            f"(first: shard {missing[0]}); rerun to finish")
        self.written = [seen[k] for k in sorted(seen)]
        failures = dict(self.failures_earlier)
        for shard in self.written:
            failures.update({p: r for p, r in shard["failures"]})
        write_failures(self.output, failures)

    def get_name(self) -> str:
        return "YouTube8MShards"

    @property
    def supports_distributed_writes(self) -> bool:
        return self.distributed
