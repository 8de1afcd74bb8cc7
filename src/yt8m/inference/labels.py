"""Class names and class-id lists: ``label_map.txt``, ``vocabulary.csv``, whitelists.

* ``label_map.txt`` (MediaPipe): one name per line, line i is class i, UTF-8. Names are
  taken verbatim (commas, colons and quotes are part of the name); ``???`` marks a class
  without a name. A final newline does not add a class.
* ``vocabulary.csv`` (YouTube-8M): RFC 4180 CSV with a header naming at least ``Index``
  and ``Name`` (the published file has ``Index,TrainVideoCount,KnowledgeGraphId,Name,
  WikiUrl,Vertical1,Vertical2,Vertical3,WikiDescription``); quoted fields may hold commas
  and newlines.
* Whitelists (``segment_label_ids.csv``): one class id per line; lines that are not an
  integer (the ``Index`` header) are skipped, as the starter code's ``inference.py`` does.

Unnamed classes (``???``, an empty name, an index missing from a vocabulary) have the
name ``None``.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from yt8m._files import read_input_bytes
from yt8m.errors import InputError

log = logging.getLogger(__name__)

UNKNOWN_NAME = "???"
#: The registry artifact holding the default label map (see :mod:`yt8m.artifacts.registry`).
LABEL_MAP_ARTIFACT = "label-map"


@dataclass(frozen=True)
class LabelMap:
    """Names of the classes 0 .. n-1 (``None`` where a class has no name)."""

    names: tuple[str | None, ...]
    source: str

    def __len__(self) -> int:
        return len(self.names)

    def name(self, index: int) -> str | None:
        """Return the name of class ``index`` (``None`` if unnamed or beyond the map)."""
        return self.names[index] if 0 <= index < len(self.names) else None

    def check_classes(self, num_classes: int, *, model: str) -> None:
        """Raise :class:`InputError` unless the map names exactly ``num_classes`` classes."""
        if len(self.names) != num_classes:
            raise InputError(
                f"{self.source}: the label map names {len(self.names)} classes but the model "
                f"{model} predicts {num_classes}; pass the label file that belongs to this model "
                f"with --labels"
            )

    def __repr__(self) -> str:
        return f"LabelMap({len(self.names)} classes from {self.source!r})"


def _read_text(path: Path) -> str:
    data = read_input_bytes(path, expected="a label file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (invalid byte at offset {exc.start})") from None
    return text.removeprefix("\ufeff")


def _looks_like_vocabulary(text: str) -> bool:
    header = next(csv.reader(io.StringIO(text.split("\n", 1)[0])), [])
    fields = {f.strip() for f in header}
    return "Index" in fields and "Name" in fields


def read_label_map(path: str | os.PathLike[str]) -> LabelMap:
    """Read ``label_map.txt`` or ``vocabulary.csv`` (recognised by its header)."""
    p = Path(path)
    text = _read_text(p)
    if _looks_like_vocabulary(text):
        return _parse_vocabulary(text, where=str(p))
    return _parse_label_map(text, where=str(p))


def _clean_name(name: str) -> str | None:
    return None if name in ("", UNKNOWN_NAME) else name


def _parse_label_map(text: str, *, where: str) -> LabelMap:
    if not text:
        raise InputError(f"{where}: empty label map")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it is not a class
    names = tuple(_clean_name(line.removesuffix("\r")) for line in lines)
    return LabelMap(names, where)


def _parse_vocabulary(text: str, *, where: str) -> LabelMap:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    by_index: dict[int, str | None] = {}
    for row in reader:
        line = reader.line_num
        raw_index = (row.get("Index") or "").strip()
        try:
            index = int(raw_index)
        except ValueError:
            raise InputError(f"{where}: line {line}: Index {raw_index!r} is not an integer") from None
        if index < 0:
            raise InputError(f"{where}: line {line}: Index {index} is negative")
        if index in by_index:
            raise InputError(f"{where}: line {line}: Index {index} appears twice")
        by_index[index] = _clean_name(row.get("Name") or "")
    if not by_index:
        raise InputError(f"{where}: the vocabulary has a header but no rows")
    size = max(by_index) + 1
    missing = size - len(by_index)
    if missing:
        log.warning("%s: %d class indices below %d have no row; they get no name", where, missing, size)
    return LabelMap(tuple(by_index.get(i) for i in range(size)), where)


def read_class_ids(path: str | os.PathLike[str]) -> list[int]:
    """Read a whitelist of class ids, one per line (non-integer lines are skipped).

    Returns the ids in file order without duplicates; raises :class:`InputError` when
    the file holds none or a negative one.
    """
    p = Path(path)
    ids: list[int] = []
    seen: set[int] = set()
    for number, line in enumerate(_read_text(p).splitlines(), 1):
        field = line.split(",", 1)[0].strip()
        try:
            value = int(field)
        except ValueError:
            continue
        if value < 0:
            raise InputError(f"{p}: line {number}: class id {value} is negative")
        if value not in seen:
            seen.add(value)
            ids.append(value)
    if not ids:
        raise InputError(f"{p}: holds no class ids (expected one integer per line)")
    return ids


def cached_label_map() -> LabelMap | None:
    """Return the label map artifact if it is in the cache, else None (no network)."""
    from yt8m.artifacts import cached_artifact, get_artifact

    path = cached_artifact(get_artifact(LABEL_MAP_ARTIFACT))
    return None if path is None else read_label_map(path)


def resolve_label_map(path: str | os.PathLike[str] | None, *, num_classes: int, model: str,
                      notes: list[str]) -> LabelMap | None:
    """The label map to name ``num_classes`` classes with.

    An explicit ``path`` must match the class count (else :class:`InputError`). Without
    one, the cached ``label-map`` artifact is used when it matches; otherwise classes are
    reported without names and a line saying why is appended to ``notes``.
    """
    if path is not None:
        labels = read_label_map(path)
        labels.check_classes(num_classes, model=model)
        return labels
    labels = cached_label_map()
    if labels is None:
        notes.append("no label names: pass --labels FILE or run `yt8m models download label-map`")
        return None
    if len(labels) != num_classes:
        notes.append(f"no label names: the cached label map names {len(labels)} classes, the model "
                     f"predicts {num_classes}; pass --labels FILE")
        return None
    return labels
