"""The one door to weights: :func:`load` returns a model's tensors, fetching and converting once.

``load("inception")`` looks in the cache; on first use it fetches the model's official
artifacts (see :mod:`yt8m.weights.registry`), converts them (:mod:`yt8m.weights.convert`),
stores the result as safetensors plus a manifest entry, and returns it. Later calls read
the safetensors file only (well under a second).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from yt8m.errors import FetchError, WeightsError
from yt8m.weights import cache, convert
from yt8m.weights.download import MIRROR_ENV, fetch_artifact, how_to_provide
from yt8m.weights.registry import ARTIFACTS, MODELS, Artifact, ModelSpec

log = logging.getLogger(__name__)

#: Shapes every converted model must have (checked after conversion and by verify).
EXPECTED_SHAPES: dict[str, dict[str, tuple[int, ...]]] = {
    "inception-pca": {"mean": (2048,), "projection": (1024, 2048)},
    "vggish-pca": {"mean": (128,), "projection": (128, 128)},
}


@dataclass
class Weights:
    """A converted model: tensors by module name, and metadata from its source."""

    name: str
    tensors: dict[str, np.ndarray]
    meta: dict[str, Any]

    def __repr__(self) -> str:
        return f"Weights({self.name!r}, {len(self.tensors)} tensors, meta keys {sorted(self.meta)})"


def model_path(name: str) -> Path:
    return cache.models_dir() / f"{name}.safetensors"


def _spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise WeightsError(f"Unknown model ({name!r}). Supported values are {', '.join(MODELS)}.") from None


def load(name: str, *, fetch: bool = True, mirror: str | None = None, progress: bool | None = None) -> Weights:
    """Return the converted weights of model ``name``, fetching and converting on first use.

    With ``fetch=False`` (or when the network is unreachable) a missing model raises
    :class:`WeightsError` saying which command provides it and which URL it needs.
    """
    spec = _spec(name)
    path = model_path(name)
    entry = cache.read_manifest()["models"].get(name)
    if entry is None or not path.is_file():
        with cache.lock_for(path):
            entry = cache.read_manifest()["models"].get(name)
            if entry is None or not path.is_file():
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


def _cached_artifact(name: str) -> Path | None:
    entry = cache.read_manifest()["artifacts"].get(name)
    path = cache.downloads_dir() / ARTIFACTS[name].filename
    return path if entry and path.is_file() else None


def _ensure_sources(spec: ModelSpec, *, fetch: bool, mirror: str | None,
                    progress: bool | None) -> dict[str, Path]:
    for alternative in spec.alternatives:
        found = {a: _cached_artifact(a) for a in alternative}
        if all(found.values()):
            return found  # type: ignore[return-value]
    wanted = [a for a in spec.preferred]
    if not fetch:
        first = ARTIFACTS[wanted[0]]
        raise WeightsError(
            f"model {spec.name!r} is not in the cache ({cache.cache_dir()}). Run "
            f"`yt8m models download {spec.name}` (it fetches {', '.join(ARTIFACTS[a].url or a for a in wanted)}). "
            + how_to_provide(first, first.url)
        )
    return {a: fetch_artifact(ARTIFACTS[a], mirror=mirror, progress=progress) for a in wanted}


def _convert(spec: ModelSpec, sources: dict[str, Path]) -> convert.Converted:
    name = spec.name
    if name == "inception":
        path = sources.get("inception-2015-12-05") or sources["inception-graph"]
        return convert.inception_from_graph(convert.read_inception_graph(path), where=str(path))
    if name in ("inception-pca", "vggish-pca"):
        prefix = "inception3" if name == "inception-pca" else "vggish"
        if f"{prefix}-pca-mean" in sources:
            mean, proj = sources[f"{prefix}-pca-mean"], sources[f"{prefix}-pca-projection"]
            return convert.pca_from_matrix_data(mean.read_bytes(), proj.read_bytes(), where=str(mean.parent))
        if "yt8m-pca" in sources:
            return convert.pca_from_yt8m_tgz(sources["yt8m-pca"])
        return convert.pca_from_vggish_npz(sources["vggish-pca-params"])
    if name == "vggish":
        from yt8m.weights.checkpoint import read_checkpoint

        path = sources["vggish-model"]
        return convert.vggish_from_checkpoint(read_checkpoint(path), where=str(path))
    raise WeightsError(f"no converter for model {name!r}")  # pragma: no cover - registry and code agree


def expected_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """The tensor names and shapes model ``name`` must have."""
    if name in EXPECTED_SHAPES:
        return EXPECTED_SHAPES[name]
    if name == "inception":
        from yt8m.features.inception import InceptionV3

        module = InceptionV3()
    elif name == "vggish":
        from yt8m.features.vggish import VGGish

        module = VGGish()
    else:  # pragma: no cover
        raise WeightsError(f"no expected shapes for model {name!r}")
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def check_shapes(name: str, tensors: dict[str, np.ndarray], *, where: str) -> None:
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
    converted = _convert(spec, sources)
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
    manifest = cache.read_manifest()["artifacts"]
    cache.record_model(
        spec.name, path, sha256=cache.sha256_of(path),
        sources={a: manifest.get(a, {}).get("sha256", "") for a in sources},
        shapes={k: list(v.shape) for k, v in converted.tensors.items()}, meta=converted.meta,
    )
    log.info("converted %s from %s", spec.name, where)


def model_versions(models: list[str] | tuple[str, ...]) -> dict[str, str]:
    """The content hash (sha256) of each converted model in ``models``, as recorded when it
    was converted (models not converted yet are left out)."""
    entries = cache.read_manifest()["models"]
    return {name: entries[name]["sha256"] for name in models if name in entries}


def missing_artifacts(models: list[str] | tuple[str, ...]) -> list[Artifact]:
    """The preferred artifacts of those ``models`` that are neither converted nor cached."""
    manifest = cache.read_manifest()
    out = []
    for name in models:
        spec = _spec(name)
        if name in manifest["models"] and model_path(name).is_file():
            continue
        if any(all(_cached_artifact(a) for a in alt) for alt in spec.alternatives):
            continue
        out += [ARTIFACTS[a] for a in spec.preferred if _cached_artifact(a) is None]
    return out


def ensure_models(models: list[str] | tuple[str, ...], *, fetch: bool = True, mirror: str | None = None) -> None:
    """Make sure ``models`` are converted, fetching what is missing (from ``mirror`` when given).

    When fetching fails, the error lists every file still missing for all of ``models``
    with its URL, so a user without network can fetch them all in one go.
    """
    try:
        for name in models:
            load(name, fetch=fetch, mirror=mirror)
    except FetchError as exc:
        missing = missing_artifacts(models)
        if not missing:
            raise
        files = " ".join(a.filename for a in missing)
        urls = " ".join(a.url or a.filename for a in missing)
        raise WeightsError(
            f"{exc.summary}. The weights it needs are not in the cache ({cache.cache_dir()}): fetch {urls} on a "
            f"machine with network and run `yt8m models import {files}`, or serve those files under a mirror "
            f"and pass --mirror URL (or set {MIRROR_ENV})."
        ) from None


def download(names: list[str], *, mirror: str | None = None, progress: bool | None = None) -> list[str]:
    """Fetch and convert the named models or artifacts (default: the extraction models).

    Returns the models now ready.
    """
    from yt8m.weights.registry import resolve_names

    if names:
        models = [n for n in names if n not in ARTIFACTS]
        names = [n for n in names if n in ARTIFACTS] + (resolve_names(models) if models else [])
    else:
        names = resolve_names([])
    ready = []
    for name in names:
        if name in ARTIFACTS:
            fetch_artifact(ARTIFACTS[name], mirror=mirror, progress=progress)
            ready += convert_available()
        else:
            load(name, mirror=mirror, progress=progress)
            ready.append(name)
    return sorted(set(ready))


def import_files(paths: list[Path]) -> list[str]:
    """Copy artifacts a user already has into the cache, then convert what they complete.

    Files are recognised by their published file names (e.g. ``vggish_model.ckpt``,
    ``inception-2015-12-05.tgz`` or ``classify_image_graph_def.pb``). Returns the models
    converted.
    """
    by_filename = {a.filename: a for a in ARTIFACTS.values()}
    for path in paths:
        artifact = by_filename.get(path.name)
        if artifact is None:
            raise WeightsError(f"{path}: not a known artifact file name; expected one of "
                               f"{', '.join(sorted(by_filename))}")
        if not path.is_file():
            raise WeightsError(f"{path}: no such file")
        target = cache.downloads_dir() / artifact.filename
        with cache.lock_for(target):
            tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
            try:
                shutil.copyfile(path, tmp)
                digest = cache.sha256_of(tmp)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            cache.record_artifact(artifact.name, target, sha256=digest, source=f"import:{path.resolve()}")
        for model in MODELS.values():  # a new source invalidates what was converted from another
            if any(artifact.name in alt for alt in model.alternatives):
                cache.forget("models", model.name)
                model_path(model.name).unlink(missing_ok=True)
    return convert_available()


def convert_available() -> list[str]:
    """Convert every model whose sources are all cached and that is not converted yet."""
    done = []
    manifest = cache.read_manifest()
    for spec in MODELS.values():
        if spec.name in manifest["models"] and model_path(spec.name).is_file():
            done.append(spec.name)
            continue
        for alternative in spec.alternatives:
            found = {a: _cached_artifact(a) for a in alternative}
            if all(found.values()):
                with cache.lock_for(model_path(spec.name)):
                    _convert_and_store(spec, found)  # type: ignore[arg-type]
                done.append(spec.name)
                break
    return done


def status() -> list[dict[str, Any]]:
    """One row per model and artifact: name, kind, status, size in bytes, path."""
    manifest = cache.read_manifest()
    rows = []
    for spec in MODELS.values():
        entry = manifest["models"].get(spec.name)
        path = model_path(spec.name)
        ok = entry is not None and path.is_file()
        rows.append({"name": spec.name, "kind": "model", "status": "ready" if ok else "missing",
                     "size": path.stat().st_size if ok else None, "path": str(path) if ok else None,
                     "description": spec.description})
    for artifact in ARTIFACTS.values():
        entry = manifest["artifacts"].get(artifact.name)
        path = cache.downloads_dir() / artifact.filename
        ok = entry is not None and path.is_file()
        rows.append({"name": artifact.name, "kind": "artifact", "status": "cached" if ok else "missing",
                     "size": path.stat().st_size if ok else artifact.size, "path": str(path) if ok else None,
                     "description": artifact.description})
    return rows


def verify() -> list[str]:
    """Re-check every cached file against the manifest (size, sha256) and model shapes.

    Returns the problems found (empty when everything is intact).
    """
    manifest = cache.read_manifest()
    problems = []
    for name, entry in sorted(manifest["artifacts"].items()):
        path = cache.downloads_dir() / entry["file"]
        if not path.is_file():
            problems.append(f"artifact {name}: {path} is missing")
        elif path.stat().st_size != entry["size"] or cache.sha256_of(path) != entry["sha256"]:
            problems.append(f"artifact {name}: {path} does not match its recorded size and sha256")
    for name, entry in sorted(manifest["models"].items()):
        path = cache.models_dir() / entry["file"]
        if not path.is_file():
            problems.append(f"model {name}: {path} is missing")
            continue
        if cache.sha256_of(path) != entry["sha256"]:
            problems.append(f"model {name}: {path} does not match its recorded sha256")
            continue
        try:
            check_shapes(name, read_model_file(name, path).tensors, where=str(path))
        except WeightsError as exc:
            problems.append(f"model {name}: {exc}")
    return problems
