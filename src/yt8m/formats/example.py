"""Typed access to ``tf.train.Features`` maps (the context of Example messages).

Setters replace a key's value; getters raise :class:`InputError` naming the key and
what was found when a key is missing or has another type.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from yt8m.errors import InputError

Kind = Literal["bytes_list", "float_list", "int64_list"]


def set_bytes(features: Any, key: str, values: Iterable[bytes | str]) -> None:
    """Set ``key`` to a bytes list (str values are UTF-8 encoded)."""
    encoded = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in values]
    features.feature[key].bytes_list.value[:] = encoded


def set_int64(features: Any, key: str, values: Iterable[int] | npt.ArrayLike) -> None:
    """Set ``key`` to an int64 list."""
    features.feature[key].int64_list.value[:] = [int(v) for v in np.asarray(values).ravel()]


def set_float(features: Any, key: str, values: Iterable[float] | npt.ArrayLike) -> None:
    """Set ``key`` to a float list (stored as float32)."""
    features.feature[key].float_list.value[:] = np.asarray(values, dtype=np.float32).ravel().tolist()


def kind_of(feature: Any) -> Kind | None:
    """Return which list a ``Feature`` holds, or None for an empty one."""
    return feature.WhichOneof("kind")


def values_of(feature: Any) -> Sequence[Any]:
    """Return the values of a ``Feature`` whatever its kind (empty when unset)."""
    kind = kind_of(feature)
    return getattr(feature, kind).value if kind else []


def _get(features: Any, key: str, kind: Kind, where: str) -> Any:
    if key not in features.feature:
        raise InputError(f"{where}: key {key!r} is missing")
    feature = features.feature[key]
    found = kind_of(feature)
    if found != kind:
        raise InputError(f"{where}: key {key!r} holds a {found or 'empty feature'}, expected a {kind}")
    return getattr(feature, kind).value


def get_bytes(features: Any, key: str, *, where: str = "message") -> list[bytes]:
    """Return the bytes list at ``key``."""
    return list(_get(features, key, "bytes_list", where))


def get_int64(features: Any, key: str, *, where: str = "message") -> npt.NDArray[np.int64]:
    """Return the int64 list at ``key`` as an array."""
    return np.asarray(_get(features, key, "int64_list", where), dtype=np.int64)


def get_float(features: Any, key: str, *, where: str = "message") -> npt.NDArray[np.float32]:
    """Return the float list at ``key`` as a float32 array."""
    return np.asarray(_get(features, key, "float_list", where), dtype=np.float32)


def describe_features(features: Any) -> dict[str, dict[str, Any]]:
    """Return ``{key: {"type": kind, "count": n}}`` for every key, sorted by key."""
    out: dict[str, dict[str, Any]] = {}
    for key in sorted(features.feature):
        feature = features.feature[key]
        out[key] = {"type": kind_of(feature), "count": len(values_of(feature))}
    return out
