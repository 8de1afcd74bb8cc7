"""The one exception hierarchy of yt8m.

Every error a user can cause (a bad file, a bad option, missing weights) is a
``Yt8mError``; the CLI prints its message as one line and exits with its
``exit_code``. Anything else escaping is a bug.
"""

from __future__ import annotations


class Yt8mError(Exception):
    """Base class of all errors yt8m raises on purpose."""

    exit_code: int = 1


class InputError(Yt8mError):
    """An input file or argument is missing, unreadable or malformed."""

    exit_code = 2


class CorruptRecordError(InputError):
    """A TFRecord's length or data checksum does not match."""


class TruncatedRecordError(InputError):
    """A TFRecord file ends in the middle of a record."""

    def __init__(self, message: str, *, complete_records: int) -> None:
        super().__init__(message)
        self.complete_records = complete_records


class WeightsError(Yt8mError):
    """Model weights are missing, corrupt or cannot be fetched."""

    exit_code = 3


class FetchError(WeightsError):
    """An artifact could not be downloaded; ``summary`` says what happened in one clause."""

    def __init__(self, message: str, *, summary: str) -> None:
        super().__init__(message)
        self.summary = summary
