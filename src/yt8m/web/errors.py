"""The viewer's errors, each a :class:`~yt8m.errors.Yt8mError` with the HTTP status it answers.

Handlers raise these; the app turns them into ``{"detail": message}`` with
:func:`http_status`. Anything that is not a ``Yt8mError`` is a bug: logged, and
answered 500 without internals.
"""

from __future__ import annotations

from yt8m.errors import InputError, Yt8mError


class NotFound(InputError):
    """Nothing by that name (404)."""


class Conflict(InputError):
    """Not possible in the resource's current state (409)."""


class TooLarge(InputError):
    """The input is larger than this server accepts (413)."""


class UnsupportedType(InputError):
    """The bytes are not of a kind the server takes (415)."""


class Unavailable(Yt8mError):
    """The server cannot do this at all right now (503)."""


class UpstreamFailed(Yt8mError):
    """A server we depend on failed or answered nonsense (502)."""


_STATUS: tuple[tuple[type[Yt8mError], int], ...] = (
    (NotFound, 404), (Conflict, 409), (TooLarge, 413), (UnsupportedType, 415), (Unavailable, 503),
    (UpstreamFailed, 502),
    (InputError, 422), (Yt8mError, 500),
)


def http_status(exc: Yt8mError) -> int:
    """The HTTP status for ``exc``: its most specific class in the table above."""
    return next(code for cls, code in _STATUS if isinstance(exc, cls))
