"""Where classifiers live on disk, and recognising which kind a ``--model`` is.

A *native* model is a directory with ``classifier.json`` (format ``yt8m-classifier``,
the family and its hyper-parameters) and ``model.safetensors`` (the tensors, named as in
:mod:`yt8m.inference.classifiers.native`). A *SavedModel* is a directory with
``saved_model.pb``. ``--model`` also takes a ``.tar.gz``/``.tgz``/``.tar`` of either
(unpacked once into the cache, keyed by its sha256; the model may sit one or two folders
down, as in the official ``saved_model.tar.gz``), or the name of a registry artifact
(``baseline`` is the official baseline SavedModel, fetched on first use).
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file
from safetensors.numpy import save as save_safetensors

from yt8m._files import atomic_write
from yt8m.errors import InputError, WeightsError
from yt8m.inference.classifiers.base import Classifier
from yt8m.inference.classifiers.native import FAMILIES, NativeClassifier, NativeModel, build_model

CONFIG_FILE = "classifier.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT = "yt8m-classifier"
FORMAT_VERSION = 1
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
#: ``--model`` names that mean a registry artifact.
MODEL_ALIASES = {"baseline": "baseline-savedmodel", "baseline-savedmodel": "baseline-savedmodel"}

ModelKind = Literal["native", "savedmodel"]


def save_native(model: NativeModel, directory: str | os.PathLike[str]) -> Path:
    """Write ``model`` as ``classifier.json`` + ``model.safetensors`` under ``directory``; return it."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    tensors = {k: np.ascontiguousarray(v.detach().cpu().numpy()) for k, v in model.state_dict().items()}
    with atomic_write(d / WEIGHTS_FILE) as handle:
        handle.write(save_safetensors(tensors, metadata={"format": FORMAT}))
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, **model.config()}
    with atomic_write(d / CONFIG_FILE) as handle:
        handle.write((json.dumps(config, indent=2) + "\n").encode())
    return d


def read_native_config(directory: Path) -> dict[str, Any]:
    """Read and check ``classifier.json``; raise :class:`WeightsError` naming what is wrong."""
    path = directory / CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise WeightsError(f"{path}: unreadable classifier config ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise WeightsError(f"{path}: not a yt8m classifier config (expected \"format\": \"{FORMAT}\")")
    if config.get("format_version") != FORMAT_VERSION:
        raise WeightsError(f"{path}: format_version {config.get('format_version')!r} is not supported "
                           f"(this yt8m reads version {FORMAT_VERSION})")
    if config.get("family") not in FAMILIES:
        raise WeightsError(f"{path}: Invalid model family ({config.get('family')!r}). Supported values are "
                           f"{', '.join(FAMILIES)}.")
    return config


def load_native(directory: str | os.PathLike[str], *, device: str = "cpu") -> NativeClassifier:
    """Load a native model directory; tensors must match its config exactly."""
    d = Path(directory)
    config = read_native_config(d)
    options = {k: v for k, v in config.items() if k not in ("format", "format_version", "family")}
    try:
        model = build_model(config["family"], **options)
    except (ValueError, TypeError) as exc:
        raise WeightsError(f"{d / CONFIG_FILE}: {exc}") from None
    weights = d / WEIGHTS_FILE
    try:
        tensors = load_file(str(weights))
    except (OSError, SafetensorError) as exc:
        raise WeightsError(f"{weights}: unreadable ({exc})") from None
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in set(expected) & set(tensors) if tuple(tensors[k].shape) != expected[k])
    if missing or extra or wrong:
        parts = [f"missing {missing[:4]}" if missing else "", f"unexpected {extra[:4]}" if extra else "",
                 f"{wrong[0]} has shape {tuple(tensors[wrong[0]].shape)}, expected {expected[wrong[0]]}"
                 if wrong else ""]
        raise WeightsError(f"{weights}: tensors do not match the {config['family']} config in {CONFIG_FILE}: "
                           + "; ".join(p for p in parts if p))
    model.load_state_dict({k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in tensors.items()})
    return NativeClassifier(model, device=device, path=str(d))


def _kind_here(directory: Path) -> ModelKind | None:
    if (directory / CONFIG_FILE).is_file():
        return "native"
    if any((directory / name).is_file() for name in SAVED_MODEL_FILES):
        return "savedmodel"
    return None


def _hint(directory: Path) -> str:
    names = sorted(p.name for p in directory.iterdir())
    if any(n == "checkpoint" or n.endswith((".meta", ".index")) for n in names):
        return (" It looks like a TensorFlow checkpoint (the starter code's train_dir): import it with "
                "`yt8m models import-classifier CHECKPOINT --family F -o MODEL_DIR`, or export it as a "
                "SavedModel first (the starter code's export_model_mediapipe.py).")
    shown = ", ".join(names[:6]) + (" ..." if len(names) > 6 else "") if names else "nothing"
    return f" It holds: {shown}."


def recognise_model_dir(directory: Path) -> tuple[ModelKind, Path]:
    """Return the kind of model in ``directory`` (or in one folder up to two levels down) and where."""
    kind = _kind_here(directory)
    if kind is not None:
        return kind, directory
    found = [(k, d) for d in sorted(directory.glob("*/")) + sorted(directory.glob("*/*/"))
             if d.is_dir() and (k := _kind_here(d)) is not None]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise InputError(f"{directory}: holds several models ({', '.join(str(d) for _, d in found[:4])}); "
                         f"pass one of them to --model")
    raise InputError(
        f"{directory}: not a classifier. Expected a yt8m native model ({CONFIG_FILE} + {WEIGHTS_FILE}) or a "
        f"TensorFlow SavedModel (saved_model.pb + variables/), or a .tar.gz of one.{_hint(directory)}")


def _is_archive(path: Path) -> bool:
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def unpack_archive(path: Path) -> Path:
    """Unpack a model archive into the cache once (keyed by content); return the folder."""
    from yt8m.artifacts import cache

    target = cache.classifiers_dir() / cache.sha256_of(path)[:20]
    with cache.lock_for(target):
        if (target / ".complete").is_file():
            return target
        if target.exists():
            shutil.rmtree(target)
        tmp = Path(tempfile.mkdtemp(prefix=".unpack.", dir=target.parent))
        try:
            try:
                with tarfile.open(path) as archive:
                    archive.extractall(tmp, filter="data")
            except (tarfile.TarError, EOFError, OSError) as exc:
                raise InputError(f"{path}: not a readable model archive ({exc})") from None
            (tmp / ".complete").write_text(str(path.resolve()))
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_model(spec: str | os.PathLike[str], *, mirror: str | None = None) -> tuple[ModelKind, Path]:
    """Turn a ``--model`` value into (kind, model directory), unpacking or fetching (from
    ``mirror`` when given; None: ``$YT8M_MIRROR``, else the official URL) as needed."""
    path = Path(spec)
    if not path.exists():
        name = MODEL_ALIASES.get(str(spec))
        if name is None:
            raise InputError(f"{path}: no such model file or directory (or registry name: "
                             f"{', '.join(sorted(MODEL_ALIASES))})")
        from yt8m.artifacts import fetch_artifact, get_artifact

        path = fetch_artifact(get_artifact(name), mirror=mirror)
    if path.is_file():
        if not _is_archive(path):
            raise InputError(f"{path}: not a classifier. --model takes a directory (a yt8m native model or a "
                             f"TensorFlow SavedModel) or a {'/'.join(ARCHIVE_SUFFIXES)} archive of one")
        path = unpack_archive(path)
    return recognise_model_dir(path)


def load_classifier(spec: str | os.PathLike[str], *, device: str = "cpu",
                    mirror: str | None = None) -> Classifier:
    """Load the classifier ``spec`` names (a directory, an archive or a registry name).

    A registry name is fetched on first use, from ``mirror`` when given (None:
    ``$YT8M_MIRROR``, else the official URL). Native models run in this process on
    ``device``; SavedModels run in a TensorFlow worker process (see
    :mod:`yt8m.inference.classifiers.savedmodel`).
    """
    kind, directory = resolve_model(spec, mirror=mirror)
    if kind == "native":
        return load_native(directory, device=device)
    from yt8m.inference.classifiers.savedmodel import SavedModelClassifier

    return SavedModelClassifier(directory)
