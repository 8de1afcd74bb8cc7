"""Parsing serialized protobuf messages strictly, with errors that name the file.

Protobuf parsing is lenient: arbitrary bytes often parse into a message made of
unknown fields. yt8m treats a message as valid only when it parses and carries no
unknown top-level fields, so a text file or random bytes are reported as such.
"""

from __future__ import annotations

from typing import Any, TypeVar

from google.protobuf import message as _message

from yt8m.errors import InputError

try:  # protobuf >= 4.24
    from google.protobuf.unknown_fields import UnknownFieldSet as _UnknownFieldSet
except ImportError:  # pragma: no cover - older runtimes
    _UnknownFieldSet = None

M = TypeVar("M")


def has_unknown_fields(message: Any) -> bool:
    """Return True when ``message`` (top level) holds fields its schema does not know."""
    if _UnknownFieldSet is not None:
        return len(_UnknownFieldSet(message)) > 0
    return len(message.UnknownFields()) > 0  # pragma: no cover


def parse_strict(cls: type[M], data: bytes, *, where: str, what: str) -> M:
    """Parse ``data`` as ``cls``; raise :class:`InputError` naming ``where`` if it is not one.

    ``what`` is the human name of the expected content, e.g. "a SequenceExample".
    """
    if not data:
        raise InputError(f"{where}: empty, expected {what}")
    try:
        msg = cls.FromString(data)  # type: ignore[attr-defined]
    except (_message.DecodeError, RuntimeError, ValueError) as exc:
        raise InputError(f"{where}: not {what} (protobuf decode failed: {exc})") from exc
    if has_unknown_fields(msg):
        raise InputError(f"{where}: not {what} (it holds fields that {what} does not have)")
    return msg
