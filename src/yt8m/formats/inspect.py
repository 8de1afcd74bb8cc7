"""Describe any file yt8m deals with: what it holds, as a dict or a human table.

Recognised, in this order: TFRecord shards (plain or gzip), MediaPipe MatrixData,
SequenceExample files (``features.pb`` and ``metadata.pb``), and media files that
FFmpeg can open. Anything else is an :class:`InputError` naming the file.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from yt8m.errors import InputError
from yt8m.formats import mediasequence as ms
from yt8m.formats import protos
from yt8m.formats.example import describe_features, values_of
from yt8m.formats.matrix_data import decode_matrix, matrix_layout
from yt8m.formats.messages import has_unknown_fields
from yt8m.formats.tfrecord import detect_compression, iter_records, masked_crc32c
from yt8m.formats.yt8m_records import parse_record
from yt8m.media.probe import MEDIA_SUFFIXES, check_readable_file, probe

_MAX_MESSAGE_BYTES = 1 << 30


def _looks_like_tfrecord(head: bytes) -> bool:
    if head[:2] == b"\x1f\x8b":
        return True
    if len(head) < 12:
        return False
    (length_crc,) = struct.unpack("<I", head[8:12])
    return masked_crc32c(head[:8]) == length_crc


def describe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Return a JSON-ready description of the file at ``path``."""
    p = check_readable_file(path)
    with open(p, "rb") as handle:
        head = handle.read(12)
    if _looks_like_tfrecord(head):
        return describe_tfrecord(p)
    size = p.stat().st_size
    if size <= _MAX_MESSAGE_BYTES:
        data = p.read_bytes()
        described = _describe_message(p, data)
        if described is not None:
            return described
    try:
        info = probe(p)
    except InputError:
        if p.suffix.lower() in MEDIA_SUFFIXES:
            raise  # FFmpeg's reason is the useful one for a file named like a video
        raise InputError(
            f"{p}: not a features.pb, metadata.pb, TFRecord shard, MatrixData or media file"
        ) from None
    return {
        "path": str(p), "kind": "media", "format": info.format_name,
        "duration_s": round(info.duration_s, 6),
        "streams": [{k: round(v, 6) if isinstance(v, float) else v for k, v in s.__dict__.items()
                     if v is not None} for s in info.streams],
    }


def _parses_cleanly(cls: type, data: bytes) -> Any | None:
    try:
        msg = cls.FromString(data)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - any decode failure means "not this kind"
        return None
    return None if has_unknown_fields(msg) else msg


def _describe_message(path: Path, data: bytes) -> dict[str, Any] | None:
    matrix = _parses_cleanly(protos.MatrixData, data)
    if matrix is not None and matrix.rows > 0 and matrix.cols > 0:
        values = decode_matrix(data, where=str(path))
        return {
            "path": str(path), "kind": "matrix_data", "rows": int(values.shape[0]),
            "cols": int(values.shape[1]), "layout": matrix_layout(data),
            "min": float(values.min()), "max": float(values.max()), "mean": float(values.mean()),
        }
    sequence = _parses_cleanly(protos.SequenceExample, data)
    if sequence is None or not (sequence.context.feature or sequence.feature_lists.feature_list):
        return None
    return describe_sequence_example(path, sequence)


def describe_sequence_example(path: Path, sequence: Any) -> dict[str, Any]:
    """Describe a metadata.pb, a features.pb or any other SequenceExample."""
    where = str(path)
    out: dict[str, Any] = {"path": where, "kind": "sequence_example"}
    ctx = sequence.context
    if ms.CLIP_DATA_PATH in ctx.feature:
        clip = ms.get_clip_metadata(sequence, where=where)
        out["clip"] = {"data_path": clip.data_path, "start_s": clip.start_us / 1e6,
                       "end_s": clip.end_us / 1e6}
    out["context"] = describe_features(ctx)
    streams = {}
    for name in (ms.RGB, ms.AUDIO):
        track = ms.get_feature_track(sequence, name, where=where)
        if track is None:
            continue
        stamps = track.timestamps_us
        streams[name] = {
            "steps": int(track.values.shape[0]), "dimensions": int(track.values.shape[1]),
            "rate_hz": track.rate_hz,
            "first_s": float(stamps[0]) / 1e6 if len(stamps) else None,
            "last_s": float(stamps[-1]) / 1e6 if len(stamps) else None,
        }
    out["streams"] = streams
    out["feature_lists"] = {
        key: {"steps": len(fl.feature),
              "values_per_step": sorted({len(values_of(f)) for f in fl.feature})}
        for key, fl in sorted(sequence.feature_lists.feature_list.items())
    }
    if streams:
        out["kind"] = "features"
    elif "clip" in out and not sequence.feature_lists.feature_list:
        out["kind"] = "metadata"
    return out


def describe_tfrecord(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Describe every record of a TFRecord shard (streamed, one record in memory)."""
    p = Path(path)
    records = []
    for index, (offset, data) in enumerate(iter_records(p)):
        where = f"{p}: record {index} at byte offset {offset}"
        entry: dict[str, Any] = {"index": index, "offset": offset, "bytes": len(data)}
        try:
            record = parse_record(data, where=where)
        except InputError:
            sequence = _parses_cleanly(protos.SequenceExample, data)
            if sequence is None:
                raise InputError(f"{where}: not a tf.train.Example or SequenceExample") from None
            entry.update(kind="other", keys=sorted(sequence.context.feature),
                         feature_lists=sorted(sequence.feature_lists.feature_list))
        else:
            entry.update(
                kind=f"{record.level}_level", id=record.video_id, labels=record.labels.tolist(),
                seconds=record.num_seconds,
            )
            if record.level == "frame":
                entry["rgb_seconds"] = 0 if record.rgb is None else len(record.rgb)
                entry["audio_seconds"] = 0 if record.audio is None else len(record.audio)
            if record.segments is not None:
                entry["rated_segments"] = len(record.segments.labels)
        records.append(entry)
    seconds = [r.get("seconds", 0) for r in records]
    return {
        "path": str(p), "kind": "tfrecord",
        "compression": detect_compression(p),
        "count": len(records),
        "total_seconds": int(np.sum(seconds)) if seconds else 0,
        "records": records,
    }


def format_description(info: dict[str, Any]) -> str:
    """Render :func:`describe`'s output as aligned text for a terminal."""
    lines = [f"{info['path']}: {info['kind'].replace('_', ' ')}"]
    kind = info["kind"]
    if kind == "tfrecord":
        lines.append(f"  {info['count']} records, {info['total_seconds']} seconds in all, "
                     f"compression {info['compression']}")
        rows = [["#", "offset", "kind", "id", "seconds", "labels"]]
        for r in info["records"]:
            labels = r.get("labels", [])
            shown = " ".join(map(str, labels[:8])) + (" ..." if len(labels) > 8 else "")
            rows.append([str(r["index"]), str(r["offset"]), r["kind"], r.get("id", "-"),
                         str(r.get("seconds", "-")), shown])
        lines += _table(rows)
    elif kind == "matrix_data":
        lines.append(f"  {info['rows']} x {info['cols']}, {info['layout'].replace('_', '-')}, "
                     f"min {info['min']:.6g}, max {info['max']:.6g}, mean {info['mean']:.6g}")
    elif kind == "media":
        lines.append(f"  format {info['format']}, duration {info['duration_s']:.3f} s")
        for s in info["streams"]:
            extra = ", ".join(f"{k} {v}" for k, v in s.items() if k not in ("index", "kind", "codec"))
            lines.append(f"  stream {s['index']}: {s['kind']} {s['codec']}" + (f", {extra}" if extra else ""))
    else:
        if "clip" in info:
            c = info["clip"]
            lines.append(f"  clip {c['data_path']} from {c['start_s']:g} s to {c['end_s']:g} s")
        if info.get("streams"):
            rows = [["stream", "steps", "dims", "rate", "first (s)", "last (s)"]]
            for name, s in info["streams"].items():
                rows.append([name, str(s["steps"]), str(s["dimensions"]), f"{s['rate_hz']:g}",
                             _opt(s["first_s"]), _opt(s["last_s"])])
            lines += _table(rows)
        rows = [["context key", "type", "values"]]
        rows += [[k, v["type"] or "empty", str(v["count"])] for k, v in info["context"].items()]
        lines += _table(rows)
        if info["feature_lists"]:
            rows = [["feature list", "steps", "values per step"]]
            rows += [[k, str(v["steps"]), ",".join(map(str, v["values_per_step"]))]
                     for k, v in info["feature_lists"].items()]
            lines += _table(rows)
    return "\n".join(lines)


def _opt(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
