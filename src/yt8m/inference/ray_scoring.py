"""``yt8m predict-dataset --engine ray``: dataset shards scored on a Ray cluster.

The driver (this process) expands the shards (paths, globs, or URLs that pyarrow or
fsspec can open), checks them, and hands Ray Data one small row per shard (position,
the shard as given, where to read it). ``map_batches`` sends each shard to an actor of a
fixed pool; each actor holds one classifier (a native model on the actor's device, a
SavedModel in its TensorFlow worker process, as locally), streams the shard's records
through :func:`~yt8m.inference.shard_scoring.iter_dataset_predictions` and yields, per
record, only what the outputs need: the windows JSON line (top-k labels per window), the
video-level submission line (top 20), and each 5 s segment's top whitelisted classes.
Frames never leave the actor.

The driver writes the rows in shard order, record order within a shard (rows of later
shards wait in its memory until the earlier ones are done), into the same files as the
local engine (:func:`yt8m.inference.prediction_files.predict_dataset`), atomically: on
an error none appears. A shard that cannot be read (missing, corrupt, truncated) stops
the run with the reading error, naming the shard as given.

Ray is imported only when this engine is used (``pip install 'yt8m[ray]'``).
"""

from __future__ import annotations

import functools
import glob
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from yt8m.errors import InputError, Yt8mError
from yt8m.inference import submissions
from yt8m.inference.labels import LabelMap
from yt8m.inference.prediction_files import DATASET_TOP_K, DatasetRun, _TextOut, record_windows_json

log = logging.getLogger(__name__)

#: Environment variables handed to the actors when set on the driver.
_FORWARDED_ENV = ("YT8M_HOME", "YT8M_MIRROR")
#: Records per block an actor sends back (default).
RECORDS_PER_BLOCK = 64
_GLOB_CHARS = "*?["


def _is_url(shard: str) -> bool:
    return "://" in shard


# --- shards -------------------------------------------------------------------------------------

def expand_shards(shards: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Shards as the outputs name them: paths (``str(Path(p))``), globs expanded (sorted), URLs as given."""
    out: list[str] = []
    for item in shards:
        text = os.fspath(item)
        if _is_url(text):
            out.append(text)
        elif any(c in text for c in _GLOB_CHARS) and not Path(text).exists():
            matches = sorted(glob.glob(text))
            if not matches:
                raise InputError(f"{text}: no shard matches this pattern")
            out += [str(Path(m)) for m in matches]
        else:
            out.append(str(Path(text)))
    if not out:
        raise InputError("no shard given")
    return out


def _open_url(url: str) -> Any:
    """A binary input stream for ``url``: pyarrow's file systems, else fsspec."""
    try:
        from pyarrow import fs

        filesystem, path = fs.FileSystem.from_uri(url)
    except Exception:  # noqa: BLE001 - a scheme pyarrow does not know (http, ...)
        try:
            import fsspec
        except ImportError:
            raise InputError(f"{url}: pyarrow cannot open this URL, and fsspec is not installed") from None
        try:
            return fsspec.open(url, "rb").open()
        except FileNotFoundError:
            raise InputError(f"{url}: no such shard") from None
        except Exception as exc:  # noqa: BLE001 - fsspec's errors depend on the protocol
            raise InputError(f"{url}: cannot open ({type(exc).__name__}: {exc})") from None
    try:
        return filesystem.open_input_stream(path)
    except FileNotFoundError:
        raise InputError(f"{url}: no such shard") from None
    except Exception as exc:  # noqa: BLE001 - pyarrow's errors depend on the file system
        raise InputError(f"{url}: cannot open ({type(exc).__name__}: {exc})") from None


def check_shards_ray(shards: Sequence[str]) -> None:
    """Raise :class:`InputError` unless every shard can be opened (local ones: and holds a record)."""
    from yt8m.inference.shard_scoring import check_shards

    local = [s for s in shards if not _is_url(s)]
    if local:
        check_shards(local)
    for url in (s for s in shards if _is_url(s)):
        _open_url(url).close()


@contextmanager
def _readable(location: str) -> Iterator[Path]:
    """A local path holding the shard: the path itself, or a temporary copy of a URL's bytes."""
    if not _is_url(location):
        yield Path(location)
        return
    with tempfile.TemporaryDirectory(prefix="yt8m-shard-") as tmp:
        local = Path(tmp) / "shard.tfrecord"
        with _open_url(location) as source, open(local, "wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)
        yield local


# --- the actors ---------------------------------------------------------------------------------

class _ScoreActor:
    """One classifier per actor; ``__call__`` scores one shard and yields its records' results."""

    def __init__(self, model_dir: str, device: str, env: dict[str, str], options: dict[str, Any], top_k: int,
                 labels: LabelMap | None, whitelist: list[int] | None, num_classes: int, segment_cap: int,
                 records_per_block: int = RECORDS_PER_BLOCK) -> None:
        os.environ.update(env)
        from yt8m.inference.classifiers import load_classifier
        from yt8m.inference.shard_scoring import DatasetOptions

        self.classifier = load_classifier(model_dir, device=device)
        self.options = DatasetOptions(**options)
        self.top_k, self.labels, self.records_per_block = top_k, labels, records_per_block
        self.ranking = (submissions.SegmentRanking(whitelist, num_classes, cap=segment_cap)
                        if whitelist is not None else None)
        try:
            import ray

            self.node = ray.get_runtime_context().get_node_id()
        except Exception:  # noqa: BLE001 - outside Ray
            self.node = ""

    def __call__(self, batch: dict[str, np.ndarray]) -> Iterator[dict[str, Any]]:
        for position, given, location in zip(batch["position"], batch["shard"], batch["location"],
                                             strict=True):
            yield from self._shard(int(position), str(given), str(location))

    def _shard(self, position: int, given: str, location: str) -> Iterator[dict[str, Any]]:
        from yt8m.extraction.ray_engine import CRASH_ONCE_ENV
        from yt8m.inference.shard_scoring import iter_dataset_predictions

        crash = os.environ.get(CRASH_ONCE_ENV)  # test hook: die once, after the first record of a shard
        rows: list[dict[str, Any]] = []
        count = 0
        read = Path(location)
        try:
            with _readable(location) as read:
                for prediction in iter_dataset_predictions([read], self.classifier, self.options):
                    if crash and count == 1 and not os.path.exists(crash):
                        Path(crash).write_text("crashed once\n")
                        os._exit(1)
                    prediction.record.shard = given
                    rows.append(self._row(position, prediction))
                    count += 1
                    if len(rows) >= self.records_per_block:
                        yield _block(rows)
                        rows = []
        except Yt8mError as exc:  # a damaged shard, a record the model cannot take: one clear error
            message = str(exc).replace(str(read), given).replace(location, given)
            rows.append(_result(position, -1, error=message))
        except Exception as exc:  # noqa: BLE001 - said as one error row, not a Ray traceback
            rows.append(_result(position, -1, error=f"{given}: {type(exc).__name__}: {exc}"))
        else:
            rows.append(_result(position, -1, count=count))  # the shard's end
        for row in rows:
            row["node"] = self.node
        yield _block(rows)

    def _row(self, position: int, prediction: Any) -> dict[str, Any]:
        windows = video = ""
        starts = classes = scores = b""
        count = 0
        if self.options.windows:
            entry = record_windows_json(prediction, top_k=self.top_k, labels=self.labels)
            windows, count = json.dumps(entry, ensure_ascii=False) + "\n", len(entry["windows"])
        if prediction.video_scores is not None:
            video = submissions.video_line(prediction.record.video_id, prediction.video_scores)
        width = 0
        if self.ranking is not None and prediction.chunks is not None and prediction.chunk_scores is not None:
            top_classes, top_scores = self.ranking.top_segments(prediction.chunk_scores)
            width = top_classes.shape[1]
            starts = np.asarray(prediction.chunks.starts, np.int64).tobytes()
            classes, scores = top_classes.astype(np.int64).tobytes(), top_scores.astype(np.float32).tobytes()
        row = _result(position, prediction.record.index, windows=windows, video=video,
                      video_id=prediction.record.video_id,
                      seconds=prediction.record.num_seconds, starts=starts, classes=classes, scores=scores,
                      width=width, chunks=prediction.chunks is not None, count=count)
        row["node"] = self.node
        return row


def _result(position: int, record: int, **values: Any) -> dict[str, Any]:
    # count: windows of a record; records of a shard on its end row (record -1)
    row = {"position": position, "record": record, "error": "", "count": 0, "windows": "", "video": "",
           "video_id": "", "seconds": 0, "starts": b"", "classes": b"", "scores": b"", "width": 0,
           "chunks": False, "node": ""}
    row.update(values)
    return row


def _block(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in rows[0]:
        values = [r[name] for r in rows]
        out[name] = np.asarray(values, dtype=object) if name in ("starts", "classes",
                                                                 "scores") else np.asarray(values)
    return out


# --- the run --------------------------------------------------------------------------------------

@dataclass
class RayDatasetRun(DatasetRun):
    """:class:`DatasetRun` plus what Ray did."""

    shards: int = 0
    actors: int = 0
    duplicates: int = 0  # rows sent again by a retried task, dropped
    nodes: set[str] = field(default_factory=set)


@dataclass
class _Pending:
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    next: int = 0
    count: int | None = None


@functools.lru_cache(maxsize=4)
def model_classes(model: str | os.PathLike[str], *, mirror: str | None = None) -> tuple[str, int]:
    """(the model's directory, its number of classes), unpacking or fetching it here once."""
    from yt8m.inference.classifiers.loader import read_native_config, resolve_model

    kind, directory = resolve_model(model, mirror=mirror)
    if kind == "native":
        return str(directory.absolute()), int(read_native_config(directory)["num_classes"])
    from yt8m.inference.classifiers import load_classifier

    with load_classifier(directory) as classifier:  # a SavedModel says its classes only when loaded
        return str(directory.absolute()), classifier.num_classes


def predict_dataset_ray(
    shards: Sequence[str | os.PathLike[str]], model: str | os.PathLike[str], *, device: str = "cpu",
    segment_size: int = 5, top_k: int = DATASET_TOP_K, labels: LabelMap | None = None,
    windows_out: str | os.PathLike[str] | TextIO | None = None,
    submission: str | os.PathLike[str] | None = None,
    segment_submission: str | os.PathLike[str] | None = None, whitelist: Sequence[int] | None = None,
    segment_cap: int = submissions.SEGMENT_CAP, batch_frames: int = 8192, address: str | None = None,
    actors: int | None = None, cpus_per_actor: float = 1.0, gpus_per_actor: float | None = None,
    mirror: str | None = None, progress: bool | None = None, records_per_block: int = RECORDS_PER_BLOCK,
) -> RayDatasetRun:
    """:func:`~yt8m.inference.prediction_files.predict_dataset` with the shards scored on Ray actors.

    Same outputs, byte for byte where the classifier gives the same scores for a record
    whatever records share its batch (see docs/cluster.md). ``model`` is a ``--model``
    value, resolved here and loaded once per actor (its directory must be readable at the
    same path on every node, as must the shards that are paths). ``address``: the cluster
    (None: ``$RAY_ADDRESS``, else a local Ray for this call; a Ray already initialized in
    this process is used as is). ``actors``: the pool size (default: one per GPU on CUDA,
    else one per ``cpus_per_actor`` CPUs, at most one per shard). ``records_per_block``
    records' results travel back together.
    """
    from yt8m.extraction.options import check_device
    from yt8m.extraction.ray_engine import _connect, _yt8m_cause, pool_size, require_ray
    from yt8m.inference.prediction_files import check_outputs

    check_outputs(top_k=top_k, windows_out=windows_out, submission=submission,
                  segment_submission=segment_submission, whitelist=whitelist)
    from yt8m.inference.shard_scoring import DatasetOptions

    options = DatasetOptions(segment_size=segment_size, windows=windows_out is not None,
                             video=submission is not None, chunks=segment_submission is not None,
                             batch_frames=batch_frames)
    ray = require_ray()
    names = expand_shards(shards)
    check_shards_ray(names)
    model_dir, classes = model_classes(model, mirror=mirror)
    ranking = (submissions.SegmentRanking(list(whitelist or []), classes, cap=segment_cap)
               if segment_submission is not None else None)
    if gpus_per_actor is None:
        gpus_per_actor = 1.0 if check_device(device).type == "cuda" else 0.0
    run = RayDatasetRun(shards=len(names))
    started = time.perf_counter()
    started_ray = _connect(ray, address)
    try:
        run.actors = actors = pool_size(ray, actors, device=device, cpus_per_actor=cpus_per_actor,
                                        gpus_per_actor=gpus_per_actor, tasks=len(names))
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        import pyarrow as pa

        rows = pa.table({
            "position": pa.array(range(len(names)), pa.int64()),
            "shard": pa.array(names, pa.string()),
            "location": pa.array([s if _is_url(s) else str(Path(s).absolute()) for s in names], pa.string()),
        })
        from yt8m.extraction.ray_engine import CRASH_ONCE_ENV

        env = {k: os.environ[k] for k in (*_FORWARDED_ENV, CRASH_ONCE_ENV) if k in os.environ}
        ds = ray.data.from_arrow([rows.slice(i, 1) for i in range(len(names))]).map_batches(
            _ScoreActor, batch_size=1, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=actors),
            fn_constructor_kwargs={"model_dir": model_dir, "device": device, "env": env,
                                   "options": options.__dict__.copy(), "top_k": top_k, "labels": labels,
                                   "whitelist": list(whitelist) if ranking is not None else None,
                                   "num_classes": classes, "segment_cap": segment_cap,
                                   "records_per_block": records_per_block},
            num_cpus=cpus_per_actor, num_gpus=gpus_per_actor or None)
        try:
            _write(ds, names, run, windows_out=windows_out, submission=submission,
                   segment_submission=segment_submission, ranking=ranking, progress=progress)
        except Yt8mError:
            raise
        except Exception as exc:
            cause = _yt8m_cause(exc)
            if cause is not None:
                raise cause from None
            first = str(exc).strip().splitlines()[0] if str(exc) else repr(exc)
            raise Yt8mError(f"the Ray run failed: {first}") from exc
    finally:
        if started_ray:
            ray.shutdown()
    run.elapsed_s = time.perf_counter() - started
    log.info("predicted %d records (%d windows) of %d shards on %d actors in %.1f s", run.records,
             run.windows,
             len(names), run.actors, run.elapsed_s)
    return run


def _write(ds: Any, names: list[str], run: RayDatasetRun, *, windows_out: Any, submission: Any,
           segment_submission: Any, ranking: submissions.SegmentRanking | None,
           progress: bool | None) -> None:
    from tqdm import tqdm

    pending = {k: _Pending() for k in range(len(names))}
    current = 0  # the shard whose rows are written now
    show = sys.stderr.isatty() if progress is None else progress
    with ExitStack() as stack:
        windows = _TextOut(stack, windows_out) if windows_out is not None else None
        video = _TextOut(stack, submission) if submission is not None else None
        if video is not None:
            video.write(submissions.VIDEO_HEADER + "\n")

        def emit(row: dict[str, Any]) -> None:
            run.records += 1
            run.seconds += int(row["seconds"])
            if windows is not None:
                run.windows += int(row["count"])
                windows.write(row["windows"])
            if video is not None and row["video"]:
                video.write(row["video"])
            if ranking is not None and row["chunks"]:
                width = int(row["width"])
                starts = np.frombuffer(row["starts"], np.int64)
                ranking.add_top(row["video_id"], starts.tolist(),
                                np.frombuffer(row["classes"], np.int64).reshape(starts.size, width),
                                np.frombuffer(row["scores"], np.float32).reshape(starts.size, width))

        bar = stack.enter_context(tqdm(total=len(names), unit="shard", disable=not show,
                                       desc="predict-dataset (ray)", dynamic_ncols=True))
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=0):
            for i in range(len(batch["position"])):
                row = {name: batch[name][i] for name in batch}
                position, record = int(row["position"]), int(row["record"])
                if row["error"]:
                    raise InputError(str(row["error"]))
                if row["node"]:
                    run.nodes.add(str(row["node"]))
                shard = pending[position]
                if record < 0:
                    shard.count = int(row["count"])
                elif record < shard.next or record in shard.rows:  # a retried task's duplicate
                    run.duplicates += 1
                else:
                    shard.rows[record] = row
            while current < len(names):  # write what is ready, in order
                shard = pending[current]
                while shard.next in shard.rows:
                    emit(shard.rows.pop(shard.next))
                    shard.next += 1
                if shard.count is None or shard.next < shard.count:
                    break
                del pending[current]
                current += 1
                bar.update(1)
            bar.set_postfix_str(f"{run.records} records", refresh=False)
        if current < len(names):  # Ray said the run ended without these: never silently short
            raise Yt8mError(f"the Ray run ended without finishing shard {names[current]}; rerun it")
        if ranking is not None and segment_submission is not None:
            segments = _TextOut(stack, segment_submission)
            ranking.write(segments)  # type: ignore[arg-type]
            segments.commit()
        for out in (windows, video):
            if out is not None:
                out.commit()


def predict_dataset_ray_cli(shards: Sequence[str | os.PathLike[str]], model: str, *, labels_path: Path | None,
                            output: Path | None, **kwargs: Any) -> RayDatasetRun:
    """``yt8m predict-dataset --engine ray``: the label map resolved here, then
    :func:`predict_dataset_ray`."""
    import click

    from yt8m.extraction.ray_engine import require_ray
    from yt8m.inference.labels import resolve_label_map

    require_ray()
    asked_files = kwargs.get("submission") is not None or kwargs.get("segment_submission") is not None
    windows_out = output if output is not None else (None if asked_files else sys.stdout)
    labels = None
    if windows_out is not None:
        _, num_classes = model_classes(model)
        notes: list[str] = []
        labels = resolve_label_map(labels_path, num_classes=num_classes, model=model, notes=notes)
        for note in notes:
            click.echo(f"yt8m: note: {note}", err=True)
    return predict_dataset_ray(shards, model, labels=labels, windows_out=windows_out, **kwargs)
