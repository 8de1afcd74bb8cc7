"""The viewer's guards: strict identifiers, paths kept inside their roots, request limits.

* Job ids are 32 lowercase hex digits (a content hash prefix); anything else is refused
  before it comes near a path.
* :func:`resolve_inside` turns a user's relative path into a real path and refuses it
  unless it stays inside the configured root after every symlink is followed.
* :class:`BodyLimitMiddleware` bounds every request body while it arrives (a declared
  ``Content-Length`` over the limit is refused at once; a chunked body is cut off).
* :class:`HostCheckMiddleware` answers only to the expected ``Host`` names (loopback by
  default), so a web page cannot reach the server through DNS rebinding.
* :class:`SameOriginMiddleware` refuses state-changing requests sent by other sites
  (a page elsewhere posting a form to ``127.0.0.1``).
* :class:`SecurityHeadersMiddleware` adds ``nosniff``, a referrer policy and anti-framing
  headers, and the page's content security policy.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yt8m.web.errors import NotFound

JOB_ID = re.compile(r"[0-9a-f]{32}")
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: The page may embed the YouTube player (dataset mode) and nothing else from outside.
PAGE_CSP = ("default-src 'self'; script-src 'self' https://www.youtube.com https://s.ytimg.com; "
            "frame-src https://www.youtube-nocookie.com https://www.youtube.com; "
            "img-src 'self' data: https://i.ytimg.com; media-src 'self' blob:; style-src 'self'; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors "
            "'none'")


class NotInside(NotFound):
    """A path that leaves its root, or names nothing usable inside it."""


def is_job_id(value: str) -> bool:
    """True for a well-formed job id (32 lowercase hex digits)."""
    return JOB_ID.fullmatch(value) is not None


def is_inside(path: Path, root: Path) -> bool:
    """True when the real path of ``path`` is ``root``'s real path or below it."""
    real, base = os.path.realpath(path), os.path.realpath(root)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def resolve_inside(root: Path, relative: str) -> Path:
    """The real path of the regular file ``root/relative``; :class:`NotInside` if it escapes or is missing.

    ``relative`` must be a plain relative path (``/`` separators, no ``..``, no NUL,
    no drive or backslash); after symlinks are followed it must still lie in ``root``.
    """
    if (not relative or "\x00" in relative or "\\" in relative or relative.startswith("/")
            or any(part in ("", ".", "..") for part in relative.split("/")) or len(relative) > 1024):
        raise NotInside(f"{relative!r} is not a plain relative path inside the media folder")
    candidate = Path(root) / relative
    if not is_inside(candidate, root):
        raise NotInside(f"{relative!r} leads outside the media folder")
    real = Path(os.path.realpath(candidate))
    if not real.is_file():
        raise NotInside(f"{relative!r}: no such file in the media folder")
    return real


async def _send_json(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_mb`` MiB with 413, counting bytes as they arrive."""

    def __init__(self, app: ASGIApp, *, max_mb: float) -> None:
        self.app = app
        self.max_mb = max_mb
        self.max_bytes = int(max_mb * 1024 * 1024)

    def _too_large(self) -> str:
        return f"request body too large: the limit is {self.max_mb:g} MB (--max-upload-mb)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > self.max_bytes:
                    await _send_json(send, 413, self._too_large())
                    return
            except ValueError:
                await _send_json(send, 400, "malformed Content-Length header")
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _send_json(send, 413, self._too_large())


class SameOriginMiddleware:
    """Refuse POST/PUT/PATCH/DELETE whose ``Origin`` (or ``Sec-Fetch-Site``) says another site sent them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _UNSAFE_METHODS:
            headers = dict(scope.get("headers", []))
            origin = headers.get(b"origin", b"").decode("latin-1")
            host = headers.get(b"host", b"").decode("latin-1")
            site = headers.get(b"sec-fetch-site", b"").decode("latin-1")
            if site == "cross-site" or (origin and (origin == "null" or urlsplit(origin).netloc != host)):
                await _send_json(send, 403, "cross-origin requests may not change anything on this server")
                return
        await self.app(scope, receive, send)


class SecurityHeadersMiddleware:
    """Add ``X-Content-Type-Options``, ``Referrer-Policy`` and ``X-Frame-Options`` to every response,
    and the page's content security policy to HTML responses outside the API docs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"strict-origin-when-cross-origin"),
                            (b"x-frame-options", b"DENY")]
                content_type = dict(headers).get(b"content-type", b"")
                if content_type.startswith(b"text/html") and not path.startswith(("/docs", "/redoc")):
                    headers.append((b"content-security-policy", PAGE_CSP.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def host_name(header: str) -> str:
    """The host of a ``Host`` header value, without port (``[::1]:8008`` -> ``::1``), lowercased."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class HostCheckMiddleware:
    """Refuse requests whose ``Host`` is not one of ``allowed`` (a DNS-rebinding guard for 127.0.0.1)."""

    def __init__(self, app: ASGIApp, *, allowed: tuple[str, ...]) -> None:
        self.app = app
        self.allowed = frozenset(host_name(h) if not h.startswith("[") else h.strip("[]") for h in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = dict(scope.get("headers", [])).get(b"host", b"").decode("latin-1")
            if host_name(host) not in self.allowed:
                await _send_json(send, 400, "this server answers only to "
                                 + ", ".join(sorted(self.allowed)) + " (start it with --host to change that)")
                return
        await self.app(scope, receive, send)
