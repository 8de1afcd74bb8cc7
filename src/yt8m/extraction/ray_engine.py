"""``yt8m extract --engine ray``: the yt8m-format batch run spread over a Ray cluster.

The driver (this process) expands the inputs, decides which shards are still to do, and
hands those shards to Ray Data as a dataset of small rows, one per shard (its videos'
positions, paths, ids and labels). ``map_batches`` runs them through a pool of actors, each
holding one :class:`~yt8m.extraction.scheduler.Extractor` (models loaded once per actor; one
GPU per actor when extracting on CUDA): one task extracts one shard's videos and returns one
row, the shard's serialized quantized records in input order (about 1.2 kB per video
second) and the reasons of the videos that failed. Frames and float features never leave
the actor. The rows go to :class:`~yt8m.extraction.ray_sink.ShardDatasink`, which writes
each shard atomically, then its sidecar, as soon as it arrives, so the output is the local
engine's, file for file:

* ``OUT/<prefix>-NNNNN-of-NNNNN.tfrecord``, shard ``k`` holding the videos at input
  positions ``[k*S, (k+1)*S)`` in input order, failed videos left out;
* ``OUT/failures.csv`` (``path,reason``), as the local engine writes it;
* ``OUT/.yt8m-ray/<shard>.json``, one sidecar per finished shard: the feature settings,
  the clip window, and the path, id and labels of every member. A rerun skips a shard
  whose sidecar matches the run (and whose file has the recorded size) and redoes the
  others, so a changed input list or changed settings is never mistaken for finished.

``OUT`` is a local folder or a file-system URL (``s3://bucket/prefix``, ...; see
:mod:`yt8m.extraction.ray_output`). Ray is imported only when this engine is used
(``pip install 'yt8m[ray]'``).
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yt8m.errors import InputError, Yt8mError
from yt8m.extraction.identity import file_identity
from yt8m.extraction.inputs import IdFrom, VideoInput, assign_ids, check_shard_prefix, collect_inputs
from yt8m.extraction.options import ExtractOptions
from yt8m.extraction.output_lock import output_lock
from yt8m.extraction.ray_output import (FAILURES_FILE, SIDECAR_DIR, OutputDir, credential_env, sidecar_name,
                                        write_failures)

if TYPE_CHECKING:
    import ray.data

log = logging.getLogger(__name__)

_SIDECAR_VERSION = 2  # 2: members carry the file identity
#: Environment variables handed to the actors when set on the driver.
_FORWARDED_ENV = ("YT8M_HOME", "YT8M_MIRROR")
#: Test hook: an actor that finds this variable set to a path that does not exist yet
#: creates that file and dies (os._exit) in the middle of its first batch, as a crashed
#: worker would. Ray restarts the actor and retries the batch.
CRASH_ONCE_ENV = "YT8M_RAY_CRASH_ONCE"
#: Test hook: an actor that finds this variable set to a folder writes a file
#: ``<node id>.<pid>`` there after each video until ``<folder>/go`` exists, and waits for it.
#: A test can so stop the run at a known point (one video of a shard done, not sent).
HOLD_ENV = "YT8M_RAY_HOLD"


def require_ray() -> Any:
    """``import ray`` (with Ray Data), or one clear error naming the extra."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise InputError("--engine ray needs Ray: pip install 'yt8m[ray]' "
                         "(or pip install 'ray[data]>=2.60')") from None
    return ray


# --- inputs -----------------------------------------------------------------------------------

def read_parquet_manifest(path: Path) -> list[VideoInput]:
    """Read a Parquet manifest: a ``path`` column, optional ``id`` and ``labels`` columns.

    Paths are relative to the manifest's folder; ``labels`` is a list of integers or a
    ``1;2;3`` string. Rows with an ``id`` keep it whatever ``--id-from`` says.
    """
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(f"{path}: reading Parquet manifests needs pyarrow "
                         "(pip install 'yt8m[ray]')") from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several kinds for unreadable files
        raise InputError(f"{path}: cannot read the Parquet manifest ({exc})") from None
    if "path" not in table.column_names:
        raise InputError(f"{path}: a Parquet manifest needs a 'path' column (has "
                         f"{', '.join(table.column_names)})")
    paths = table.column("path").to_pylist()
    ids = table.column("id").to_pylist() if "id" in table.column_names else [None] * len(paths)
    labels = table.column("labels").to_pylist() if "labels" in table.column_names else [None] * len(paths)
    out = []
    for row, (p, vid, lab) in enumerate(zip(paths, ids, labels, strict=True), 1):
        if p is None or not str(p).strip():
            continue
        if lab is None:
            parsed: tuple[int, ...] = ()
        elif isinstance(lab, str):
            try:
                parsed = tuple(int(x) for x in lab.replace(",", ";").split(";") if x.strip())
            except ValueError:
                raise InputError(f"{path}: row {row}: labels must be integers, got {lab!r}") from None
        else:
            parsed = tuple(int(x) for x in lab)
        video = Path(str(p).strip())
        out.append(VideoInput(video if video.is_absolute() else path.parent / video, parsed,
                              video_id="" if vid is None else str(vid)))
    if not out:
        raise InputError(f"{path}: manifest lists no videos")
    return out


def collect_ray_inputs(inputs: list[Path], id_from: IdFrom = "stem") -> list[VideoInput]:
    """:func:`~yt8m.extraction.inputs.collect_inputs` plus Parquet manifests, ids assigned.

    Ids given by a Parquet manifest are kept; the others follow ``id_from``.
    """
    videos: list[VideoInput] = []
    for item in inputs:
        videos += read_parquet_manifest(item) if item.suffix.lower() == ".parquet" else collect_inputs([item])
    if not videos:
        raise InputError("no input videos")
    given = [v.video_id for v in videos]
    videos = assign_ids([VideoInput(v.path, v.labels, i) for i, v in enumerate(videos)], id_from)
    videos = [VideoInput(v.path, v.labels, v.index, g or v.video_id)
              for v, g in zip(videos, given, strict=True)]
    seen: dict[str, Path] = {}
    for v in videos:
        if v.video_id in seen and seen[v.video_id] != v.path:
            raise InputError(f"two videos would get the id {v.video_id!r} ({seen[v.video_id]} and {v.path})")
        seen[v.video_id] = v.path
    return videos


# --- the actors -------------------------------------------------------------------------------

def _hold(folder: str, node: str) -> None:
    """The :data:`HOLD_ENV` test hook: say where this actor is, then wait for ``folder/go``."""
    go = Path(folder) / "go"
    if go.exists():
        return
    Path(folder, f"{node or 'node'}.{os.getpid()}").write_text("one video done\n")
    deadline = time.monotonic() + 300
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


class ProgressBoard:
    """Where the extraction actors post each finished video, for the driver's progress bar.

    Run as a Ray actor on the driver's node (no CPU). The shards' rows reach the driver only
    when the whole write ends, so this is how it learns, while the run goes on, how many
    videos are done or failed and how fast each node goes. Posts are fire-and-forget: a
    lost post only makes the bar lag; the shards and the report come from the rows.
    """

    def __init__(self) -> None:
        self._events: list[tuple[str, int, bool, int]] = []

    def video(self, node: str, index: int, ok: bool, video_seconds: int) -> None:
        """One video finished on ``node``: extracted (``ok``, ``video_seconds`` long) or failed."""
        self._events.append((node, index, ok, video_seconds))

    def take(self) -> list[tuple[str, int, bool, int]]:
        """The videos posted since the last call."""
        events, self._events = self._events, []
        return events


@dataclass
class _LiveCounts:
    """The driver's running tally of :class:`ProgressBoard` posts (a retried video counts once)."""

    seen: set[int] = field(default_factory=set)
    done: int = 0
    failed: int = 0
    video_seconds: int = 0
    node_seconds: dict[str, int] = field(default_factory=dict)

    def add(self, events: list[tuple[str, int, bool, int]]) -> None:
        for node, index, ok, video_seconds in events:
            if index in self.seen:
                continue
            self.seen.add(index)
            if ok:
                self.done += 1
                self.video_seconds += video_seconds
                self.node_seconds[node] = self.node_seconds.get(node, 0) + video_seconds
            else:
                self.failed += 1

    def postfix(self, wall_s: float) -> str:
        per_node = " ".join(f"{n[:6]}:{s / wall_s:.1f}" for n, s in sorted(self.node_seconds.items()))
        return (f"{self.video_seconds / wall_s:.1f} video-s/s, {self.failed} failed"
                + (f"; per node {per_node}" if per_node else ""))


class _ExtractActor:
    """One Extractor per actor; ``__call__`` extracts whole shards (one row each) into records."""

    def __init__(self, options: dict[str, Any], mirror: str | None, env: dict[str, str], start_us: int,
                 end_us: int | None, fetch: bool, board: Any = None) -> None:
        os.environ.update(env)
        from yt8m.extraction.scheduler import Extractor

        self.extractor = Extractor(ExtractOptions(**options), fetch=fetch, mirror=mirror)
        self.start_us, self.end_us = start_us, end_us
        self.board = board  # a ProgressBoard actor, or None
        try:
            import ray

            self.node = ray.get_runtime_context().get_node_id()
        except Exception:  # outside Ray (tests of the class itself)
            self.node = ""

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        rows = [self._shard(row) for row in batch.to_pylist()]
        return pa.table({
            "shard": pa.array([r["shard"] for r in rows], pa.int64()),
            "name": pa.array([r["name"] for r in rows], pa.string()),
            "records": pa.array([r["records"] for r in rows], pa.list_(pa.large_binary())),
            "failures": pa.array([json.dumps(r["failures"]) for r in rows], pa.string()),
            "videos": pa.array([json.dumps(r["videos"]) for r in rows], pa.string()),
            "node": pa.array([self.node] * len(rows), pa.string()),
            "sidecar": pa.array([r["sidecar"] for r in rows], pa.string()),
        })

    def _post(self, index: int, row: dict[str, Any]) -> None:
        if self.board is None:
            return
        try:
            self.board.video.remote(self.node, index, row["ok"], row["video_seconds"])
        except Exception:  # noqa: BLE001 - the board is only for the progress bar
            log.debug("progress post failed", exc_info=True)

    def _shard(self, shard: dict[str, Any]) -> dict[str, Any]:
        """Extract the videos of one shard: its records in input order, and what failed and why."""
        from yt8m.extraction.scheduler import Job

        crash = os.environ.get(CRASH_ONCE_ENV)
        hold = os.environ.get(HOLD_ENV)
        indices = [int(i) for i in shard["index"]]
        given = dict(zip(indices, shard["path"], strict=True))
        ids = dict(zip(indices, shard["video_id"], strict=True))
        labels = {i: [int(x) for x in lab] for i, lab in zip(indices, shard["labels"], strict=True)}
        jobs = [Job(Path(p), self.start_us, self.end_us, key=i)
                for i, p in zip(indices, shard["abs_path"], strict=True)]
        rows: dict[int, dict[str, Any]] = {}

        def failed(index: int, reason: str, seconds: float = 0.0) -> dict[str, Any]:
            absolute = str(jobs[indices.index(index)].path)
            return {"ok": False, "record": b"", "reason": reason.replace(absolute, given[index]),
                    "video_seconds": 0, "seconds": seconds, "notes": []}

        def row(index: int, result: Any) -> dict[str, Any]:
            if result.error is not None or result.features is None:
                return failed(index, str(result.error), result.seconds)
            try:
                features = result.features
                notes = list(features.notes) + list(features.aligned_audio()[1])
                record = features.to_frame_record(ids[index], labels[index]).SerializeToString(
                    deterministic=True)
            except Yt8mError as exc:
                return failed(index, str(exc), result.seconds)
            except Exception as exc:  # one bad video must not fail the shard
                return failed(index, f"{given[index]}: {type(exc).__name__}: {exc}", result.seconds)
            return {"ok": True, "record": record, "reason": "", "video_seconds": features.num_seconds,
                    "seconds": result.seconds, "notes": notes}

        try:
            for result in self.extractor.run(jobs):
                index = int(result.job.key)  # type: ignore[arg-type]
                if crash and not os.path.exists(crash):
                    Path(crash).write_text("crashed once\n")
                    os._exit(1)
                if hold:
                    _hold(hold, self.node)
                rows[index] = row(index, result)
                self._post(index, rows[index])
        except Exception as exc:  # the models themselves failed (out of memory, ...): say it per video
            log.warning("extraction failed on a shard: %s", exc, exc_info=True)
            for index in indices:
                rows.setdefault(index, failed(index, f"{given[index]}: {type(exc).__name__}: {exc}"))
        for index in indices:  # a job the extractor never answered (should not happen)
            rows.setdefault(index, failed(index, f"{given[index]}: no result from the extractor"))
        return {
            "shard": int(shard["shard"]), "name": shard["name"], "sidecar": shard["sidecar"],
            "records": [rows[i]["record"] for i in indices if rows[i]["ok"]],
            "failures": [[given[i], rows[i]["reason"]] for i in indices if not rows[i]["ok"]],
            "videos": [[i, rows[i]["ok"], rows[i]["video_seconds"], rows[i]["seconds"], rows[i]["notes"]]
                       for i in indices],
        }


# --- the run ------------------------------------------------------------------------------------

@dataclass
class RayReport:
    """What a Ray run did (the fields the CLI summary reads are those of the local report)."""

    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    failed_earlier: list[tuple[Path, str]] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)  # the shard files written (paths or URLs)
    video_seconds: int = 0
    notes: list[str] = field(default_factory=list)
    shards_skipped: int = 0
    shards_written: int = 0
    actors: int = 0
    nodes: set[str] = field(default_factory=set)  # the Ray node ids whose actors extracted videos
    node_seconds: dict[str, int] = field(default_factory=dict)  # video-seconds extracted per node id
    run_s: float = 0.0  # wall time of the extraction itself (after connecting and starting actors)
    elapsed_s: float = 0.0


@dataclass
class _Shard:
    number: int
    name: str
    members: list[VideoInput]
    identity: list[list[Any]] = field(default_factory=list)  # _members(members), computed once


def _settings(options: ExtractOptions, start_us: int, end_us: int | None) -> dict[str, Any]:
    return {"features": options.feature_settings(), "start_us": start_us, "end_us": end_us}


def _members(videos: list[VideoInput]) -> list[list[Any]]:
    """What a shard's videos are: path, id, labels, and the file's identity (size, modification
    time, a hash of its head: see :mod:`yt8m.extraction.identity`), so a replaced video is redone."""
    return [[str(v.path.absolute()), v.video_id, list(v.labels), file_identity(v.path)] for v in videos]


def _finished_shard(output: OutputDir, shard: _Shard, settings: dict[str, Any],
                    sizes: dict[str, int]) -> dict[str, Any] | None:
    """The sidecar of ``shard`` when it says the shard is done with these videos and settings
    (``sizes``: the files of the output folder and their sizes)."""
    text = output.read_text(sidecar_name(shard.name))
    try:
        data = json.loads(text) if text is not None else None
    except ValueError:
        return None
    if (not isinstance(data, dict) or data.get("version") != _SIDECAR_VERSION
            or data.get("settings") != settings or data.get("videos") != shard.identity):
        return None
    if data.get("records", 0) and sizes.get(shard.name) != data.get("bytes"):
        return None
    return data


def pool_size(ray: Any, actors: int | None, *, device: str, cpus_per_actor: float, gpus_per_actor: float,
              tasks: int) -> int:
    """How many actors to start: ``actors`` when given, else one per GPU (``gpus_per_actor`` > 0)
    or one per ``cpus_per_actor`` CPUs of the cluster; never more than ``tasks``, at least one."""
    if actors is None:
        resources = ray.cluster_resources()
        if gpus_per_actor > 0:
            actors = int(resources.get("GPU", 0) // gpus_per_actor)
            if actors < 1:
                raise InputError(f"the Ray cluster has no GPU for --device {device} (resources: {resources})")
        else:
            actors = max(1, int(resources.get("CPU", 1) // cpus_per_actor))
    return max(1, min(actors, tasks))


def _connect(ray: Any, address: str | None) -> bool:
    """Join the cluster at ``address`` (or start a local Ray); True when this call started it."""
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address is None and not os.environ.get("RAY_ADDRESS"):
        kwargs["include_dashboard"] = False
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise InputError(f"cannot reach the Ray cluster at {address or os.environ.get('RAY_ADDRESS')}: "
                         f"{exc}") from None
    return True


def _yt8m_cause(exc: BaseException) -> Yt8mError | None:
    """The yt8m error behind a Ray error (actor construction failing on missing weights...)."""
    seen = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, Yt8mError):
            return e
        stack += [getattr(e, "cause", None), e.__cause__, e.__context__]
    # An actor whose construction failed comes back as an ActorDiedError holding only the
    # text of the traceback: take the yt8m error from its last line that names one.
    import re

    from yt8m import errors

    found = re.findall(r"yt8m\.errors\.(\w+): (.*)", str(exc))
    if found:
        name, message = found[-1]
        kind = getattr(errors, name, None)
        if isinstance(kind, type) and issubclass(kind, Yt8mError):
            try:
                return kind(message)
            except TypeError:  # an error class with other arguments
                return Yt8mError(message)
    return None


def run_ray(
    videos: list[VideoInput], options: ExtractOptions, out: Path | str, *, shard_size: int = 100,
    shard_prefix: str = "features", start_s: float = 0.0, end_s: float | None = None,
    address: str | None = None, mirror: str | None = None, fetch: bool = True, actors: int | None = None,
    cpus_per_actor: float | None = None, gpus_per_actor: float | None = None,
    overwrite: bool = False, progress: bool | None = None,
    on_failure: Callable[[Path, str], None] | None = None,
) -> RayReport:
    """Extract ``videos`` (ids assigned) into yt8m shards in ``out`` on a Ray cluster.

    ``out``: a local folder (written by tasks on this process's node) or a file-system URL
    (``s3://bucket/prefix``, ``gs://...``, ``file://...``, any fsspec URL; written by tasks on
    any node, with this process's ``AWS_*``/``GOOGLE_*``/``AZURE_*``... variables).
    ``address``: the cluster to join (None: ``$RAY_ADDRESS``, else a local Ray started for
    this call and stopped after it; a Ray already initialized in this process is used as
    is). ``actors``: the size of the actor pool (default: one per GPU when extracting on
    CUDA, else one per ``cpus_per_actor`` CPUs of the cluster; never more than the shards to
    do). ``cpus_per_actor`` (default: ``options.workers``, the decoding threads of each
    actor) and ``gpus_per_actor`` (default: 1 on CUDA, else 0) are what each actor asks Ray
    for. One Ray task extracts one shard. ``overwrite`` redoes finished shards.
    """
    if shard_size < 1:
        raise InputError(f"--shard-size must be >= 1, got {shard_size}")
    if not videos:
        raise InputError("no input videos")
    check_shard_prefix(shard_prefix)
    ray = require_ray()
    started = time.perf_counter()
    if cpus_per_actor is None:
        cpus_per_actor = options.workers
    output = OutputDir(out)
    output.prepare((SIDECAR_DIR,))
    # A local folder is locked as the local engine locks it (and against it); an object store
    # has no such lock: one run at a time there is the user's to keep.
    with contextlib.nullcontext() if output.url else output_lock(output.local_path()):
        sizes = output.sizes()  # one listing, not a request per shard (an object store's folder)
        for stale in fnmatch.filter(sizes, f".{shard_prefix}-*.tfrecord.*.part"):
            output.delete(stale)  # unfinished writes of a killed run
        for stale in fnmatch.filter(output.list(SIDECAR_DIR), ".*.part"):
            output.delete(f"{SIDECAR_DIR}/{stale}")
        start_us = round(start_s * 1e6)
        end_us = None if end_s is None else round(end_s * 1e6)
        settings = _settings(options, start_us, end_us)
        count = (len(videos) + shard_size - 1) // shard_size
        shards = [_Shard(k, f"{shard_prefix}-{k:05d}-of-{count:05d}.tfrecord",
                         videos[k * shard_size:(k + 1) * shard_size]) for k in range(count)]
        report = RayReport()
        failures: dict[str, str] = {}
        todo: list[_Shard] = []
        for shard in shards:
            shard.identity = _members(shard.members)
            done = None if overwrite else _finished_shard(output, shard, settings, sizes)
            if done is None:
                todo.append(shard)
                continue
            report.shards_skipped += 1
            report.skipped += [v.path for v in shard.members]
            for p, r in done.get("failures", []):
                failures[p] = r
                report.failed_earlier.append((Path(p), r))
        if todo:
            _run_shards(ray, todo, options, output, settings, report, failures, address=address,
                        mirror=mirror, fetch=fetch, actors=actors, cpus_per_actor=cpus_per_actor,
                        gpus_per_actor=gpus_per_actor, progress=progress, start_us=start_us, end_us=end_us,
                        on_failure=on_failure)
        else:
            write_failures(output, failures)
        report.elapsed_s = time.perf_counter() - started
        return report


def _shard_rows(todo: list[_Shard], settings: dict[str, Any]) -> list[Any]:
    """The Ray Dataset's input: one block of one row per shard (its videos as lists)."""
    import pyarrow as pa

    blocks = []
    for shard in todo:
        sidecar = {"version": _SIDECAR_VERSION, "shard": shard.name, "settings": settings,
                   "videos": shard.identity}
        blocks.append(pa.table({
            "shard": pa.array([shard.number], pa.int64()),
            "name": pa.array([shard.name], pa.string()),
            "index": pa.array([[v.index for v in shard.members]], pa.list_(pa.int64())),
            "path": pa.array([[str(v.path) for v in shard.members]], pa.list_(pa.string())),
            "abs_path": pa.array([[str(v.path.absolute()) for v in shard.members]], pa.list_(pa.string())),
            "video_id": pa.array([[v.video_id for v in shard.members]], pa.list_(pa.string())),
            "labels": pa.array([[list(v.labels) for v in shard.members]], pa.list_(pa.list_(pa.int64()))),
            "sidecar": pa.array([json.dumps(sidecar)], pa.string()),
        }))
    return blocks


def _run_shards(ray: Any, todo: list[_Shard], options: ExtractOptions, output: OutputDir,
                settings: dict[str, Any], report: RayReport, failures: dict[str, str], *, address: str | None,
                mirror: str | None, fetch: bool, actors: int | None, cpus_per_actor: float,
                gpus_per_actor: float | None, progress: bool | None, start_us: int, end_us: int | None,
                on_failure: Callable[[Path, str], None] | None) -> None:
    from yt8m.extraction.options import check_device
    from yt8m.extraction.ray_sink import ShardDatasink

    if gpus_per_actor is None:
        gpus_per_actor = 1.0 if check_device(options.device).type == "cuda" else 0.0
    video_of = {v.index: v for shard in todo for v in shard.members}
    started_ray = _connect(ray, address)
    if started_ray and fetch:  # a local Ray shares this machine's cache: fetch once, not once per actor
        from yt8m.weights.store import ensure_models

        ensure_models(("inception", "inception-pca") + (("vggish", "vggish-pca") if options.audio else ()),
                      fetch=True, mirror=mirror)
    try:
        actors = pool_size(ray, actors, device=options.device, cpus_per_actor=cpus_per_actor,
                           gpus_per_actor=gpus_per_actor, tasks=len(todo))
        report.actors = actors
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # yt8m's own bar, below: videos, not blocks
        ctx.print_on_execution_start = False
        show = sys.stderr.isatty() if progress is None else progress
        board = ray.remote(num_cpus=0)(ProgressBoard).remote() if show else None
        env = {k: os.environ[k] for k in _FORWARDED_ENV + (CRASH_ONCE_ENV, HOLD_ENV) if k in os.environ}
        ds: ray.data.Dataset = ray.data.from_arrow(_shard_rows(todo, settings)).map_batches(
            _ExtractActor, batch_size=1, batch_format="pyarrow",
            # One shard in flight per actor: a shard is long, and one queued behind another on a
            # busy actor while others are idle would lengthen the run's tail.
            compute=ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=1),
            fn_constructor_kwargs={"options": options.__dict__.copy(), "mirror": mirror, "env": env,
                                   "start_us": start_us, "end_us": end_us, "fetch": fetch, "board": board},
            num_cpus=cpus_per_actor, num_gpus=gpus_per_actor or None)
        # A local folder is written on the driver's node, so it need not be shared; under Ray Client
        # (ray://) the driver is not on a node, and the folder must be at the same path on every node.
        sink = ShardDatasink(output, shards=[s.number for s in todo], failures_earlier=failures,
                             distributed=output.url or ray.util.client.ray.is_connected())
        # Writing is I/O: the write tasks take no CPU, so they run beside the actors that hold them all.
        write_args: dict[str, Any] = {"num_cpus": 0}
        credentials = credential_env() if output.url else {}
        if credentials:
            write_args["runtime_env"] = {"env_vars": credentials}
        t0 = time.perf_counter()
        try:
            _write_with_progress(ray, ds, sink, write_args, board, total=len(video_of), started=t0)
        except Exception as exc:
            cause = _yt8m_cause(exc)
            if cause is not None:
                raise cause from None
            raise Yt8mError("the Ray run failed: "
                            f"{str(exc).strip().splitlines()[0] if str(exc) else exc!r}") from exc
        report.run_s = max(time.perf_counter() - t0, 1e-9)
        for shard in sink.written:
            report.shards_written += 1
            if shard["records"]:
                report.outputs.append(output.name(shard["name"]))
            node = shard["node"]
            if node:
                report.nodes.add(node)
            reasons = {p: r for p, r in shard["failures"]}
            for index, ok, video_seconds, _seconds, notes in shard["videos"]:
                video = video_of[index]
                if ok:
                    report.done.append(video.path)
                    report.video_seconds += video_seconds
                    report.node_seconds[node] = report.node_seconds.get(node, 0) + video_seconds
                    report.notes += [f"{video.path}: {n}" for n in notes]
                else:
                    reason = reasons[str(video.path)]
                    failures[str(video.path)] = reason
                    report.failed.append((video.path, reason))
                    if on_failure is not None:
                        on_failure(video.path, reason)
    finally:
        if started_ray:
            ray.shutdown()


def _write_with_progress(ray: Any, ds: Any, sink: Any, write_args: dict[str, Any], board: Any, *, total: int,
                         started: float) -> None:
    """Run the write; with a ``board``, show a bar of the videos it reports meanwhile (stderr)."""
    if board is None:
        ds.write_datasink(sink, ray_remote_args=write_args)
        return
    import threading

    from tqdm import tqdm

    raised: list[BaseException] = []

    def write() -> None:
        try:
            ds.write_datasink(sink, ray_remote_args=write_args)
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            raised.append(exc)

    writer = threading.Thread(target=write, name="yt8m-ray-write", daemon=True)
    writer.start()
    live = _LiveCounts()
    with tqdm(total=total, unit="video", desc="extract (ray)", dynamic_ncols=True, file=sys.stderr) as bar:
        running = True
        while running:
            writer.join(0.5)
            running = writer.is_alive()  # once more after the end: the last posts
            try:
                live.add(ray.get(board.take.remote(), timeout=10))
            except Exception:  # noqa: BLE001 - the bar lags; the run goes on
                log.debug("progress board unreachable", exc_info=True)
            bar.n = live.done + live.failed
            bar.set_postfix_str(live.postfix(max(time.perf_counter() - started, 1e-9)), refresh=False)
            bar.refresh()
    if raised:
        raise raised[0]


def run_ray_cli(inputs: Iterable[Path], *, output: str | Path | None, options: ExtractOptions,
                mirror: str | None, id_from: str, shard_size: int, shard_prefix: str, start_s: float | None,
                end_s: float | None, overwrite: bool, address: str | None, actors: int | None = None) -> None:
    """``yt8m extract --engine ray``: run, print the summary line, raise when videos failed."""
    import click

    check_shard_prefix(shard_prefix)  # before anything slow (run_ray checks it for API callers)
    require_ray()
    videos = collect_ray_inputs(list(inputs), id_from)  # type: ignore[arg-type]
    out = output or "features"
    report = run_ray(videos, options, out, shard_size=shard_size, shard_prefix=shard_prefix,
                     start_s=start_s or 0.0, end_s=end_s, address=address, mirror=mirror, actors=actors,
                     overwrite=overwrite,
                     on_failure=lambda path, reason: click.echo(f"yt8m: failed: {reason}", err=True))
    if report.node_seconds and report.run_s:
        per_node = ", ".join(f"{node[:12]} {seconds / report.run_s:.1f} video-s/s"
                             for node, seconds in sorted(report.node_seconds.items()))
        click.echo(f"per node: {per_node}", err=True)
    rate = f", {report.video_seconds / report.elapsed_s:.1f} video-s/s" if report.video_seconds else ""
    earlier = f" (and {len(report.failed_earlier)} in an earlier run)" if report.failed_earlier else ""
    click.echo(f"{len(report.done)} extracted ({report.video_seconds} video-seconds in "
               f"{report.elapsed_s:.1f} s{rate}), {len(report.skipped)} skipped (already done), "
               f"{len(report.failed)} failed{earlier} -> {out} [ray: {report.actors} actors, "
               f"{report.shards_written} shards written, {report.shards_skipped} skipped]", err=True)
    failed = len(report.failed) + len(report.failed_earlier)
    if failed:
        where = OutputDir(out).name(FAILURES_FILE)
        raise _SomeFailed(f"{failed} of {len(videos)} videos failed; see {where}")


class _SomeFailed(InputError):
    exit_code = 1
