"""The videos of a run: files, folders and manifest CSVs expanded into :class:`VideoInput`.

Folders are searched recursively for media file names; manifests follow the starter-code
convention (``path,label;label;...``, a header row and labels optional, paths relative
to the CSV). Each video gets an id (file stem, path or content hash) that names its
outputs and records.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from yt8m._files import sha256_of
from yt8m.errors import InputError
from yt8m.media.probe import MEDIA_SUFFIXES

IdFrom = Literal["stem", "path", "hash"]
OutputFormat = Literal["mediapipe", "yt8m", "npz"]
#: Folder of a run's unfinished work inside its output folder (never searched for inputs).
PARTS_DIR = ".yt8m-parts"


@dataclass(frozen=True)
class VideoInput:
    """One video to process, with its labels (from a manifest) and its position in the run."""

    path: Path
    labels: tuple[int, ...] = ()
    index: int = 0
    video_id: str = ""


def collect_inputs(inputs: list[Path]) -> list[VideoInput]:
    """Expand files, directories and manifest CSVs into videos, in a stable order."""
    videos: list[VideoInput] = []
    for item in inputs:
        if item.is_dir():
            found = sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES
                           and PARTS_DIR not in p.parts)
            if not found:
                raise InputError(f"{item}: directory holds no video files "
                                 f"({', '.join(sorted(MEDIA_SUFFIXES))})")
            videos += [VideoInput(p) for p in found]
        elif item.suffix.lower() == ".csv":
            videos += read_manifest(item)
        else:
            videos.append(VideoInput(item))  # missing files fail individually, with a reason
    if not videos:
        raise InputError("no input videos")
    return [VideoInput(v.path, v.labels, i) for i, v in enumerate(videos)]


def read_manifest(path: Path) -> list[VideoInput]:
    """Read a ``path,label;label;...`` CSV (header row optional; labels optional)."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the manifest ({exc})") from exc
    out = []
    for line_no, row in enumerate(rows, 1):
        if not row or not row[0].strip() or row[0].startswith("#"):
            continue
        if line_no == 1 and row[0].strip().lower() in ("path", "video", "filename"):
            continue
        labels: tuple[int, ...] = ()
        if len(row) > 1 and row[1].strip():
            try:
                labels = tuple(int(x) for x in row[1].replace(",", ";").split(";") if x.strip())
            except ValueError:
                raise InputError(f"{path}:{line_no}: labels must be integers separated by ';', "
                                 f"got {row[1]!r}") from None
            if any(label < 0 for label in labels):
                raise InputError(f"{path}:{line_no}: labels are class indices >= 0, got {row[1]!r}")
        video = Path(row[0].strip())
        out.append(VideoInput(video if video.is_absolute() else path.parent / video, labels))
    if not out:
        raise InputError(f"{path}: manifest lists no videos")
    return out


def assign_ids(videos: list[VideoInput], id_from: IdFrom) -> list[VideoInput]:
    """Give every video its id; fail when two videos would get the same one."""
    if id_from not in ("stem", "path", "hash"):
        raise InputError(f"Invalid --id-from ({id_from!r}). Supported values are 'stem', 'path', 'hash'.")
    out = []
    for v in videos:
        if id_from == "stem":
            vid = v.path.stem
        elif id_from == "path":
            vid = v.path.as_posix()
        else:
            vid = _content_hash(v.path)
        out.append(VideoInput(v.path, v.labels, v.index, vid))
    seen: dict[str, VideoInput] = {}
    for v in out:
        first = seen.setdefault(v.video_id, v)
        if first.path != v.path:
            raise InputError(f"two videos would get the id {v.video_id!r} ({first.path} and {v.path}); "
                             f"use --id-from path or --id-from hash")
        if first.labels != v.labels:  # one id, one record: which labels would be right is unknown
            raise InputError(f"{v.path} is listed twice with other labels ({_labels(first.labels)} and "
                             f"{_labels(v.labels)}); give each video once")
    return out


def _labels(labels: tuple[int, ...]) -> str:
    return ";".join(map(str, labels)) or "none"


def _content_hash(path: Path) -> str:
    if not path.is_file():
        return f"missing-{hashlib.sha256(str(path).encode()).hexdigest()[:16]}"
    return sha256_of(path)[:16]



def default_output(videos: list[VideoInput], fmt: OutputFormat) -> Path:
    """Where outputs go without ``-o``: ``features.pb``/``.npz`` for one video, else ``features/``."""
    if fmt != "yt8m" and len(videos) == 1:
        return Path("features.pb" if fmt == "mediapipe" else "features.npz")
    return Path("features")


_PREFIX_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.=+-]*")


def check_shard_prefix(prefix: str) -> str:
    """``prefix`` when it is a plain file-name prefix (no folder, no leading dot); else InputError."""
    if not _PREFIX_RE.fullmatch(prefix):
        raise InputError(f"Invalid --shard-prefix ({prefix!r}): use letters, digits and '_-.=+', starting "
                         f"with a letter or digit (shards are always written inside -o)")
    return prefix
