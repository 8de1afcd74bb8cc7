"""Getting artifacts into the cache: fetched over HTTP (resumable, retried, verified,
atomic) or imported from a file the user already has.

Written on ``requests`` rather than with pooch because the files are large (the VGGish
checkpoint is about 289 MB) and links to data.yt8m.org are often slow: an interrupted
transfer resumes with an HTTP ``Range`` request instead of starting over, which pooch
does not do. The rest follows pooch's pattern: download beside the target, verify,
then rename into place; never leave a partial or unverified file behind.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from pathlib import Path

import requests
from tqdm import tqdm

from yt8m.artifacts import cache, manifest
from yt8m.artifacts.registry import ARTIFACTS, Artifact, artifact_for_filename
from yt8m.errors import FetchError, WeightsError

log = logging.getLogger(__name__)

MIRROR_ENV = "YT8M_MIRROR"
# Small enough that little is lost when a connection drops mid-chunk (the partial chunk
# is not handed over), large enough to keep Python overhead negligible.
_CHUNK = 1 << 16
#: Seconds to wait before the first retry; doubled for each further one.
RETRY_BACKOFF_S = 1.0


def mirror_from_env(mirror: str | None) -> str | None:
    """Return ``mirror``, else ``$YT8M_MIRROR``, else None (the official URLs).

    Every function that may fetch takes ``mirror: str | None = None`` and resolves it
    here, so the environment variable is only the default of that parameter.
    """
    return mirror or os.environ.get(MIRROR_ENV) or None


def cached_path(artifact: Artifact) -> Path:
    """Where ``artifact`` is kept in the cache (whether or not it is there)."""
    return cache.downloads_dir() / artifact.filename


def cached_artifact(artifact: Artifact) -> Path | None:
    """Return the path of ``artifact`` if the cache holds it (recorded, file present), else None.

    Never touches the network.
    """
    path = cached_path(artifact)
    record = manifest.artifact_record(artifact.name)
    return path if record is not None and path.is_file() else None


def how_to_provide(artifact: Artifact, url: str | None) -> str:
    """The sentence telling a user how to get ``artifact`` into the cache by hand."""
    where = f"from {url} " if url else ""
    if not artifact.mirrored:  # not a registry file: neither `models import` nor a mirror knows it
        return f"Download {artifact.filename} {where}on a machine with network."
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
    target = cached_path(artifact)
    url = artifact.url_under(mirror_from_env(mirror))
    with cache.lock_for(target):
        record = manifest.artifact_record(artifact.name)
        if record is not None and target.is_file() and target.stat().st_size == record.size:
            return target
        if url is None:
            raise WeightsError(f"artifact {artifact.name!r} is not in the cache and has no URL of its own. "
                               + how_to_provide(artifact, None))
        part = target.with_name(target.name + ".part")
        try:
            digest = _download(artifact, url, part, progress=progress, retries=retries, timeout_s=timeout_s,
                               backoff_s=RETRY_BACKOFF_S if backoff_s is None else backoff_s)
            _check_size(artifact, part, url)
            _check_sha256(artifact, digest, url)
            os.replace(part, target)
            manifest.record_artifact(artifact.name, target, sha256=digest, source=url)
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


def _check_sha256(artifact: Artifact, digest: str, url: str) -> None:
    if artifact.sha256 is not None and digest != artifact.sha256:
        raise WeightsError(
            f"artifact {artifact.name!r} from {url} has sha256 {digest}, expected {artifact.sha256}; "
            f"deleted the download for safety"
        )


def check_import(path: Path, *, allow_size_mismatch: bool = False) -> tuple[Artifact, str | None]:
    """Say which artifact the file at ``path`` is, or refuse it (:class:`WeightsError`).

    The file is recognised by its published name (e.g. ``vggish_model.ckpt``). As
    :func:`fetch_artifact` does for downloads, a size that differs from the published
    one is refused, with a message naming the file, its size and the published size,
    unless ``allow_size_mismatch``: then that message is returned as the second value
    (None when the size is right or unknown). A published sha256, where known, is
    checked by :func:`import_artifact` while copying (no override).
    """
    artifact = artifact_for_filename(path.name)
    if artifact is None:
        raise WeightsError(f"{path}: not a known artifact file name; expected one of "
                           f"{', '.join(sorted(a.filename for a in ARTIFACTS.values()))}")
    if not path.is_file():
        raise WeightsError(f"{path}: no such file")
    size = path.stat().st_size
    if artifact.size is None or size == artifact.size:
        return artifact, None
    said = (f"{path}: {size} bytes, but the published {artifact.filename} ({artifact.name}) "
            f"has {artifact.size} bytes")
    if not allow_size_mismatch:
        raise WeightsError(f"{said}; refused, as a download of that size would be (a truncated or different "
                           f"file). Import it anyway with `yt8m models import --allow-size-mismatch`")
    return artifact, said


def import_artifact(path: Path, *, allow_size_mismatch: bool = False) -> Artifact:
    """Copy a file the user already has into the cache (atomically) and record it.

    See :func:`check_import` for what is refused; an allowed size mismatch is logged as a
    warning naming the file, its size and the published size.
    """
    artifact, mismatch = check_import(path, allow_size_mismatch=allow_size_mismatch)
    if mismatch:
        log.warning("%s; importing it anyway", mismatch)
    target = cached_path(artifact)
    with cache.lock_for(target):
        tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
        try:
            shutil.copyfile(path, tmp)
            digest = cache.sha256_of(tmp)
            if artifact.sha256 is not None and digest != artifact.sha256:
                raise WeightsError(f"{path}: sha256 {digest}, but the published {artifact.filename} has "
                                   f"{artifact.sha256}; refused")
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        manifest.record_artifact(artifact.name, target, sha256=digest, source=f"import:{path.resolve()}")
    return artifact


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
            summary = (f"cannot fetch artifact {artifact.name!r}: "
                       f"HTTP {response.status_code} {response.reason} from {url}")
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
