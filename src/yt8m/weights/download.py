"""Fetching artifacts over HTTP: resumable, retried, size-checked, atomic.

Written on ``requests`` rather than with pooch because the files are large (the VGGish
checkpoint is about 289 MB) and links to data.yt8m.org are often slow: an interrupted
transfer resumes with an HTTP ``Range`` request instead of starting over, which pooch
does not do. The rest follows pooch's pattern: download beside the target, verify,
then rename into place; never leave a partial or unverified file behind.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import requests
from tqdm import tqdm

from yt8m.errors import FetchError, WeightsError
from yt8m.weights import cache
from yt8m.weights.registry import Artifact

log = logging.getLogger(__name__)

MIRROR_ENV = "YT8M_MIRROR"
# Small enough that little is lost when a connection drops mid-chunk (the partial chunk
# is not handed over), large enough to keep Python overhead negligible.
_CHUNK = 1 << 16
#: Seconds to wait before the first retry; doubled for each further one.
RETRY_BACKOFF_S = 1.0


def mirror_from_env(mirror: str | None) -> str | None:
    """Return ``mirror``, else ``$YT8M_MIRROR``, else None (the official URLs)."""
    return mirror or os.environ.get(MIRROR_ENV) or None


def how_to_provide(artifact: Artifact, url: str | None) -> str:
    """The sentence telling a user how to get ``artifact`` into the cache by hand."""
    where = f"from {url} " if url else ""
    return (f"Download {artifact.filename} {where}on a machine with network and run "
            f"`yt8m models import {artifact.filename}`, or serve it under a mirror and run "
            f"`yt8m models download {artifact.name} --mirror URL` (or set {MIRROR_ENV}).")


def fetch_artifact(
    artifact: Artifact, *, mirror: str | None = None, progress: bool | None = None,
    retries: int = 4, timeout_s: float = 60.0, backoff_s: float | None = None,
) -> Path:
    """Return the path of ``artifact`` in the cache, downloading it if needed.

    Downloads to ``<file>.part`` beside the target, resuming after a dropped connection
    (up to ``retries`` more attempts, with back-off), checks the size against the
    server's and the registry's, records the sha256 in the manifest and only then
    renames into place. Concurrent callers (threads or processes) are serialised by a
    file lock and end with one good copy. On failure nothing is left in the cache.
    ``progress=None`` shows a bar only when stderr is a terminal.
    """
    target = cache.downloads_dir() / artifact.filename
    url = artifact.url_under(mirror_from_env(mirror))
    with cache.lock_for(target):
        entry = cache.read_manifest()["artifacts"].get(artifact.name)
        if entry and target.is_file() and target.stat().st_size == entry["size"]:
            return target
        if url is None:
            raise WeightsError(f"artifact {artifact.name!r} is not in the cache and has no URL of its own. "
                               + how_to_provide(artifact, None))
        part = target.with_name(target.name + ".part")
        try:
            digest = _download(artifact, url, part, progress=progress, retries=retries, timeout_s=timeout_s,
                               backoff_s=RETRY_BACKOFF_S if backoff_s is None else backoff_s)
            _check_size(artifact, part, url)
            os.replace(part, target)
            cache.record_artifact(artifact.name, target, sha256=digest, source=url)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
    log.info("fetched %s from %s", artifact.name, url)
    return target


def _check_size(artifact: Artifact, part: Path, url: str) -> None:
    size = part.stat().st_size
    if artifact.size is not None and size != artifact.size:
        raise WeightsError(
            f"artifact {artifact.name!r} from {url} has {size} bytes, expected {artifact.size}; "
            f"deleted the download for safety"
        )


def _download(artifact: Artifact, url: str, part: Path, *, progress: bool | None, retries: int,
              timeout_s: float, backoff_s: float) -> str:
    """Download ``url`` into ``part`` (resuming), returning the sha256 of the whole file."""
    part.unlink(missing_ok=True)
    part.parent.mkdir(parents=True, exist_ok=True)
    total: int | None = None
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(desc=artifact.filename, unit="B", unit_scale=True, unit_divisor=1024, disable=not show,
               leave=False)
    attempt = 0
    try:
        while True:
            have = part.stat().st_size if part.exists() else 0
            try:
                total = _transfer(url, part, have, bar, timeout_s, artifact)
                if total is not None and part.stat().st_size != total:
                    raise _Incomplete(f"connection closed after {part.stat().st_size} of {total} bytes")
                return cache.sha256_of(part)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                    _Incomplete) as exc:
                attempt += 1
                if attempt > retries or _unreachable(exc):
                    tries = f" (gave up after {attempt} attempts)" if attempt > 1 else ""
                    summary = f"cannot fetch artifact {artifact.name!r} from {url}: {_reason(exc)}{tries}"
                    raise FetchError(f"{summary}. " + how_to_provide(artifact, artifact.url),
                                     summary=summary) from None
                log.warning("download of %s interrupted (%s); retrying", artifact.name, _reason(exc))
                time.sleep(backoff_s * 2 ** (attempt - 1))
    finally:
        bar.close()


class _Incomplete(Exception):
    pass


_UNRESOLVABLE = ("NameResolutionError", "Name or service not known", "Temporary failure in name resolution",
                 "nodename nor servname", "getaddrinfo failed")


def _unreachable(exc: BaseException) -> bool:
    """True when the host name does not resolve: no network, so retrying is pointless."""
    return isinstance(exc, requests.ConnectionError) and any(s in repr(exc) for s in _UNRESOLVABLE)


def _reason(exc: BaseException) -> str:
    if _unreachable(exc):
        return "the host name does not resolve (no network?)"
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, _Incomplete)):
        return "the connection closed before the whole file arrived"
    text = str(exc)
    if isinstance(exc, requests.ConnectionError) and "Failed to establish" in text:
        return "cannot connect to the server"
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _transfer(url: str, part: Path, have: int, bar: tqdm, timeout_s: float,
              artifact: Artifact) -> int | None:
    """One HTTP request appending to ``part`` from byte ``have``; returns the full size if known."""
    headers = {"Range": f"bytes={have}-"} if have else {}
    with requests.get(url, headers=headers, stream=True, timeout=timeout_s) as response:
        if response.status_code == 416 and have:  # we already have everything
            return have
        if response.status_code not in (200, 206):
            summary = f"cannot fetch artifact {artifact.name!r}: HTTP {response.status_code} {response.reason} from {url}"
            raise FetchError(summary, summary=summary)
        resumed = response.status_code == 206
        if not resumed and have:  # the server ignored Range: start over
            part.unlink()
            have = 0
        total = _total_size(response, have, resumed)
        if total is not None:
            bar.total = total
        bar.n = have
        bar.refresh()
        with open(part, "ab") as handle:
            for chunk in response.iter_content(_CHUNK):
                handle.write(chunk)
                bar.update(len(chunk))
        return total


def _total_size(response: requests.Response, have: int, resumed: bool) -> int | None:
    if resumed:
        content_range = response.headers.get("Content-Range", "")
        if "/" in content_range and not content_range.endswith("/*"):
            return int(content_range.rsplit("/", 1)[1])
    length = response.headers.get("Content-Length")
    return (int(length) + (have if resumed else 0)) if length is not None else None
