"""The one door to weights: :func:`load` returns a model's tensors, fetching and converting once.

``load("inception")`` looks in the cache; on first use it fetches the model's official
artifacts (:mod:`yt8m.artifacts`), converts them with the converter its spec names
(:mod:`yt8m.weights.specs`), checks the spec's tensor shapes, stores the result as
safetensors plus a manifest record, and returns it. Later calls read the safetensors
file only (well under a second).

Every function that may fetch takes ``mirror: str | None = None``: a base URL serving
the published file names; None means ``$YT8M_MIRROR``, else the official URLs.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from yt8m.artifacts import cache, manifest
from yt8m.artifacts.download import (
    MIRROR_ENV,
    cached_artifact,
    cached_path,
    check_import,
    fetch_artifact,
    how_to_provide,
    import_artifact,
)
from yt8m.artifacts.registry import ARTIFACTS, Artifact
from yt8m.errors import FetchError, WeightsError
from yt8m.weights.specs import EXTRACTION_MODELS, MODELS, ModelSpec, check_names, get_spec, models_using

log = logging.getLogger(__name__)


@dataclass
class Weights:
    """A converted model: tensors by module name, and metadata from its source."""

    name: str
    tensors: dict[str, np.ndarray]
    meta: dict[str, Any]

    def __repr__(self) -> str:
        return f"Weights({self.name!r}, {len(self.tensors)} tensors, meta keys {sorted(self.meta)})"


def model_path(name: str) -> Path:
    """Where converted model ``name`` is kept (whether or not it is there)."""
    return cache.models_dir() / f"{name}.safetensors"


def is_converted(name: str) -> bool:
    """Whether model ``name`` is converted and recorded (no network, no reading of tensors)."""
    return manifest.model_record(name) is not None and model_path(name).is_file()


def load(name: str, *, fetch: bool = True, mirror: str | None = None,
         progress: bool | None = None) -> Weights:
    """Return the converted weights of model ``name``, fetching and converting on first use.

    Missing artifacts are fetched from ``mirror`` (None: ``$YT8M_MIRROR``, else the
    official URLs). With ``fetch=False`` (or when the network is unreachable) a missing
    model raises :class:`WeightsError` saying which command provides it and which URL
    it needs.
    """
    spec = get_spec(name)
    path = model_path(name)
    if not is_converted(name):
        with cache.lock_for(path):
            if not is_converted(name):
                sources = _ensure_sources(spec, fetch=fetch, mirror=mirror, progress=progress)
                _convert_and_store(spec, sources)
    return read_model_file(name, path)


def read_model_file(name: str, path: Path) -> Weights:
    """Read a converted model file (safetensors with a JSON ``meta`` entry)."""
    try:
        with safe_open(str(path), framework="numpy") as handle:
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
            meta = json.loads((handle.metadata() or {}).get("meta", "{}"))
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types
        raise WeightsError(f"{path}: converted model {name!r} is unreadable ({exc}); "
                           f"run `yt8m models download {name}` to rebuild it") from exc
    return Weights(name, tensors, meta)


def _cached_sources(spec: ModelSpec) -> dict[str, Path] | None:
    """The source files of the first alternative of ``spec`` the cache holds completely."""
    for alternative in spec.alternatives:
        found = {a: cached_artifact(ARTIFACTS[a]) for a in alternative}
        if all(found.values()):
            return found  # type: ignore[return-value]
    return None


def _ensure_sources(spec: ModelSpec, *, fetch: bool, mirror: str | None,
                    progress: bool | None) -> dict[str, Path]:
    found = _cached_sources(spec)
    if found is not None:
        return found
    wanted = list(spec.preferred)
    if not fetch:
        first = ARTIFACTS[wanted[0]]
        raise WeightsError(
            f"model {spec.name!r} is not in the cache ({cache.cache_dir()}). Run "
            f"`yt8m models download {spec.name}` (it fetches "
            f"{', '.join(ARTIFACTS[a].url or a for a in wanted)}). "
            + how_to_provide(first, first.url)
        )
    return {a: fetch_artifact(ARTIFACTS[a], mirror=mirror, progress=progress) for a in wanted}


def expected_shapes(name: str) -> Mapping[str, tuple[int, ...]]:
    """The tensor names and shapes model ``name`` must have (from its spec)."""
    return get_spec(name).shapes


def check_shapes(name: str, tensors: Mapping[str, np.ndarray], *, where: str) -> None:
    """Raise :class:`WeightsError` unless ``tensors`` has exactly the expected names and shapes."""
    expected = expected_shapes(name)
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in set(expected) & set(tensors) if tuple(tensors[k].shape) != expected[k])
    if missing or extra or wrong:
        details = []
        if missing:
            details.append(f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if extra:
            details.append(f"unexpected {extra[:5]}{' ...' if len(extra) > 5 else ''}")
        if wrong:
            k = wrong[0]
            details.append(f"{len(wrong)} with wrong shapes (e.g. {k}: {tuple(tensors[k].shape)}, "
                           f"expected {expected[k]})")
        raise WeightsError(f"{where}: not the {name} weights yt8m expects: " + "; ".join(details))


def _convert_and_store(spec: ModelSpec, sources: dict[str, Path]) -> None:
    converted = spec.converter(sources)
    where = ", ".join(str(p) for p in sources.values())
    check_shapes(spec.name, converted.tensors, where=where)
    path = model_path(spec.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        save_file(converted.tensors, str(tmp), metadata={"meta": json.dumps(converted.meta)})
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    recorded = manifest.read_manifest().artifacts
    manifest.record_model(
        spec.name, path, sha256=cache.sha256_of(path),
        sources={a: recorded[a].sha256 if a in recorded else "" for a in sources},
        shapes={k: tuple(v.shape) for k, v in converted.tensors.items()}, meta=converted.meta,
    )
    log.info("converted %s from %s", spec.name, where)


def model_versions(models: list[str] | tuple[str, ...]) -> dict[str, str]:
    """The content hash (sha256) of each converted model in ``models``, as recorded when it
    was converted (models not converted yet are left out)."""
    records = {name: manifest.model_record(name) for name in models}
    return {name: record.sha256 for name, record in records.items() if record is not None}


def missing_artifacts(models: list[str] | tuple[str, ...]) -> list[Artifact]:
    """The preferred artifacts of those ``models`` that are neither converted nor cached."""
    out = []
    for name in models:
        spec = get_spec(name)
        if is_converted(name) or _cached_sources(spec) is not None:
            continue
        out += [ARTIFACTS[a] for a in spec.preferred if cached_artifact(ARTIFACTS[a]) is None]
    return out


def ensure_models(models: list[str] | tuple[str, ...], *, fetch: bool = True, mirror: str | None = None,
                  progress: bool | None = None) -> None:
    """Make sure ``models`` are converted, fetching what is missing (from ``mirror`` when given).

    When fetching fails, the error lists every file still missing for all of ``models``
    with its URL, so a user without network can fetch them all in one go.
    """
    try:
        for name in models:
            load(name, fetch=fetch, mirror=mirror, progress=progress)
    except FetchError as exc:
        missing = missing_artifacts(models)
        if not missing:
            raise
        files = " ".join(a.filename for a in missing)
        urls = " ".join(a.url or a.filename for a in missing)
        raise WeightsError(
            f"{exc.summary}. The weights it needs are not in the cache ({cache.cache_dir()}): fetch {urls} "
            f"on a machine with network and run `yt8m models import {files}`, or serve those files under a "
            f"mirror and pass --mirror URL (or set {MIRROR_ENV})."
        ) from None


def download(names: list[str] | tuple[str, ...], *, mirror: str | None = None,
             progress: bool | None = None) -> list[str]:
    """Fetch the named models or artifacts (default: the extraction models) and convert what they complete.

    Returns what is now ready of what was asked, sorted: a model name for each model
    asked; for an artifact, the models converted from it (the artifact's own name when
    it is the source of no model ready now, e.g. ``label-map``).
    """
    names = list(names) or list(EXTRACTION_MODELS)
    check_names(names)
    ready: list[str] = []
    for name in names:
        if name in MODELS:
            load(name, mirror=mirror, progress=progress)
            ready.append(name)
        else:
            fetch_artifact(ARTIFACTS[name], mirror=mirror, progress=progress)
            ready += _convert_from([name]) or [name]
    return sorted(set(ready))


def import_files(paths: list[Path] | tuple[Path, ...], *, allow_size_mismatch: bool = False) -> list[str]:
    """Copy artifacts a user already has into the cache, then convert what they complete.

    Files are recognised by their published file names (e.g. ``vggish_model.ckpt``,
    ``inception-2015-12-05.tgz`` or ``classify_image_graph_def.pb``). Every file is
    checked before any is copied: an unknown name, a missing file or (unless
    ``allow_size_mismatch``) a size other than the published one raises
    :class:`WeightsError`; an allowed mismatch is logged as a warning naming the file,
    its size and the published size (see :func:`yt8m.artifacts.download.check_import`).

    Returns what the files made ready, sorted: the models converted from them, and the
    name of each imported artifact that is the source of no model ready now.
    """
    for path in paths:
        check_import(path, allow_size_mismatch=allow_size_mismatch)
    imported = []
    for path in paths:
        artifact = import_artifact(path, allow_size_mismatch=allow_size_mismatch)
        imported.append(artifact.name)
        for model in models_using(artifact.name):  # a new source invalidates what was converted from another
            manifest.forget_model(model.name)
            model_path(model.name).unlink(missing_ok=True)
    ready: list[str] = []
    for name in imported:
        ready += _convert_from([name]) or [name]
    return sorted(set(ready))


def _convert_from(artifacts: list[str]) -> list[str]:
    """Convert the models fed by ``artifacts`` whose sources are all cached; return those ready."""
    done = []
    for spec in MODELS.values():
        if not any(spec.uses(a) for a in artifacts):
            continue
        if is_converted(spec.name):
            done.append(spec.name)
            continue
        found = _cached_sources(spec)
        if found is not None:
            with cache.lock_for(model_path(spec.name)):
                if not is_converted(spec.name):
                    _convert_and_store(spec, found)
            done.append(spec.name)
    return done


def convert_available() -> list[str]:
    """Convert every model whose sources are all cached and that is not converted yet.

    Returns every model now ready.
    """
    return _convert_from(list(ARTIFACTS))


def status() -> list[dict[str, Any]]:
    """One row per model and artifact: name, kind, status, size in bytes, path."""
    recorded = manifest.read_manifest()
    rows = []
    for spec in MODELS.values():
        path = model_path(spec.name)
        ok = spec.name in recorded.models and path.is_file()
        rows.append({"name": spec.name, "kind": "model", "status": "ready" if ok else "missing",
                     "size": path.stat().st_size if ok else None, "path": str(path) if ok else None,
                     "description": spec.description})
    for artifact in ARTIFACTS.values():
        path = cached_path(artifact)
        ok = artifact.name in recorded.artifacts and path.is_file()
        rows.append({"name": artifact.name, "kind": "artifact", "status": "cached" if ok else "missing",
                     "size": path.stat().st_size if ok else artifact.size, "path": str(path) if ok else None,
                     "description": artifact.description})
    return rows


def verify() -> list[str]:
    """Re-check every cached file against the manifest (size, sha256) and model shapes.

    Returns the problems found (empty when everything is intact).
    """
    recorded = manifest.read_manifest()
    problems = []
    for name, record in sorted(recorded.artifacts.items()):
        path = cache.downloads_dir() / record.file
        if not path.is_file():
            problems.append(f"artifact {name}: {path} is missing")
        elif path.stat().st_size != record.size or cache.sha256_of(path) != record.sha256:
            problems.append(f"artifact {name}: {path} does not match its recorded size and sha256")
    for name, model in sorted(recorded.models.items()):
        path = cache.models_dir() / model.file
        if not path.is_file():
            problems.append(f"model {name}: {path} is missing")
            continue
        if cache.sha256_of(path) != model.sha256:
            problems.append(f"model {name}: {path} does not match its recorded sha256")
            continue
        try:
            check_shapes(name, read_model_file(name, path).tensors, where=str(path))
        except WeightsError as exc:
            problems.append(f"model {name}: {exc}")
    return problems
