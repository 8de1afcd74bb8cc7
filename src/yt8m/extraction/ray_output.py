"""Where the Ray engine writes: a local folder, or a folder behind a file-system URL.

:class:`OutputDir` is the small set of file operations the Ray engine's driver and its
write tasks need (read a sidecar, the size of a shard, write a file atomically, delete,
list), over either

* a local path: written with yt8m's own atomic files (a temporary file beside the
  target, fsynced, then renamed onto it); or
* a URL that pyarrow opens (``s3://``, ``gs://``, ``hdfs://``, ``abfs://``, ``file://``)
  or, failing that, fsspec: a file is written to a temporary name in the same folder
  (``.<name>.<random>.part``) and then moved onto its name. On a file system that move is
  a rename; on an object store (S3, GCS) it is a server-side copy then a delete, and the
  copy makes the object appear whole, never partly written. A killed writer leaves only a
  ``.part`` name, which the next run removes.

An ``OutputDir`` pickles as its location only (file-system clients are made again where it
is unpickled), so it can travel to Ray tasks; credentials come from each process's
environment (``AWS_*`` and the like), see :data:`CREDENTIAL_ENV_PREFIXES`.
"""

from __future__ import annotations

import csv
import io
import os
import uuid
from pathlib import Path
from typing import Any

from yt8m._files import write_bytes_atomic
from yt8m.errors import InputError, Yt8mError

#: Environment variables that configure file-system clients (credentials, endpoints,
#: regions). The driver hands those it has to the write tasks of a URL output.
CREDENTIAL_ENV_PREFIXES = ("AWS_", "GOOGLE_", "GCS_", "AZURE_", "HADOOP_", "ARROW_")
FAILURES_FILE = "failures.csv"
#: Folder of the shard sidecars inside the output folder.
SIDECAR_DIR = ".yt8m-ray"
CREDENTIAL_ENV = ("CLOUDSDK_CONFIG", "CLASSPATH", "HADOOP_HOME", "JAVA_HOME", "LIBHDFS_OPTS")


def is_url(location: str | os.PathLike[str]) -> bool:
    """True for ``scheme://...`` (a file-system URL), False for a local path."""
    return "://" in os.fspath(location)


def credential_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The variables of ``environ`` (default: this process's) that configure file-system clients."""
    environ = dict(os.environ if environ is None else environ)
    return {k: v for k, v in environ.items() if k.startswith(CREDENTIAL_ENV_PREFIXES) or k in CREDENTIAL_ENV}


class OutputError(Yt8mError):
    """An output that cannot be read or written (the message names it and says why)."""

    exit_code = 2


class OutputDir:
    """A folder the Ray engine writes into: a local path or a file-system URL."""

    def __init__(self, location: str | os.PathLike[str]) -> None:
        text = os.fspath(location)
        self.url = is_url(text)
        # A URL may carry file-system options as a query (s3://b/p?endpoint_override=...): they
        # are kept for opening it, and left out of the names of its files.
        base, _, query = text.partition("?") if self.url else (text, "", "")
        self.location = base.rstrip("/") if self.url else str(Path(text))
        self.query = query
        self._fs: Any = None
        self._root = ""

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "location": self.location, "query": self.query}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.url, self.location, self.query = state["url"], state["location"], state["query"]
        self._fs, self._root = None, ""

    def __repr__(self) -> str:
        return f"OutputDir({self.location!r})"

    def __str__(self) -> str:
        return self.location

    # --- naming -----------------------------------------------------------------------------

    def name(self, relative: str) -> str:
        """``relative`` inside this folder, as messages should show it."""
        if not relative:
            return self.location
        return f"{self.location}/{relative}" if self.url else str(Path(self.location) / relative)

    def local_path(self, relative: str = "") -> Path:
        """The local path of ``relative`` (local folders only)."""
        assert not self.url
        return Path(self.location) / relative if relative else Path(self.location)

    def _filesystem(self) -> tuple[Any, str]:
        """The pyarrow file system and the folder's path on it (made on first use)."""
        if self._fs is None:
            self._fs, self._root = _resolve(f"{self.location}?{self.query}" if self.query else self.location)
        return self._fs, self._root

    def _key(self, relative: str) -> str:
        fs, root = self._filesystem()
        return f"{root}/{relative}" if relative else root

    # --- operations ---------------------------------------------------------------------------

    def prepare(self, subdirs: tuple[str, ...] = ()) -> None:
        """Check that this is (or can be) a folder and create it with ``subdirs``."""
        if not self.url:
            path = self.local_path()
            if path.exists() and not path.is_dir():
                raise InputError(f"{path}: exists and is not a directory (needed for yt8m shards)")
            try:
                for sub in ("",) + subdirs:
                    self.local_path(sub).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutputError(f"{self.location}: cannot create the output folder "
                                  f"({exc.strerror or exc})") from None
            return
        from pyarrow import fs as pafs

        filesystem, root = self._filesystem()
        info = self._call("inspect", "", filesystem.get_file_info, root)
        if info.type == pafs.FileType.File:
            raise InputError(f"{self.location}: exists and is not a directory (needed for yt8m shards)")
        for sub in ("",) + subdirs:
            self._call("create the folder", sub, filesystem.create_dir, self._key(sub), recursive=True)

    def read_text(self, relative: str) -> str | None:
        """The text of ``relative``, or None when it does not exist or cannot be read."""
        try:
            if not self.url:
                return self.local_path(relative).read_text(encoding="utf-8")
            filesystem, _ = self._filesystem()
            with filesystem.open_input_stream(self._key(relative)) as handle:
                return handle.read().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def size(self, relative: str) -> int | None:
        """The size in bytes of the file ``relative``; None when there is no such file."""
        if not self.url:
            path = self.local_path(relative)
            return path.stat().st_size if path.is_file() else None
        from pyarrow import fs as pafs

        filesystem, _ = self._filesystem()
        info = self._call("inspect", relative, filesystem.get_file_info, self._key(relative))
        return info.size if info.type == pafs.FileType.File else None

    def write_bytes(self, relative: str, data: bytes) -> None:
        """Write ``data`` to ``relative`` atomically: the whole file appears, or none."""
        if not self.url:
            try:
                write_bytes_atomic(self.local_path(relative), data)
            except OSError as exc:
                raise OutputError(f"{self.name(relative)}: cannot write ({exc.strerror or exc})") from None
            return
        filesystem, _ = self._filesystem()
        folder, _, base = relative.rpartition("/")
        temporary = f"{folder}/" * bool(folder) + f".{base}.{uuid.uuid4().hex}.part"

        def put() -> None:
            with filesystem.open_output_stream(self._key(temporary)) as handle:
                handle.write(data)

        self._call("write", relative, put)
        try:
            self._call("write", relative, filesystem.move, self._key(temporary), self._key(relative))
        except OutputError:
            self.delete(temporary)
            raise

    def write_records(self, relative: str, records: list[bytes]) -> int:
        """Write ``records`` as a TFRecord file ``relative``, atomically; its size in bytes."""
        if not self.url:
            from yt8m.formats.tfrecord import TFRecordWriter

            try:
                with TFRecordWriter(self.local_path(relative)) as writer:
                    for record in records:
                        writer.write(record)
            except OSError as exc:
                raise OutputError(f"{self.name(relative)}: cannot write ({exc.strerror or exc})") from None
            return writer.bytes_written
        from yt8m.formats.tfrecord import encode_record

        data = b"".join(encode_record(record) for record in records)
        self.write_bytes(relative, data)
        return len(data)

    def delete(self, relative: str) -> None:
        """Remove the file ``relative`` when it exists."""
        if not self.url:
            try:
                self.local_path(relative).unlink(missing_ok=True)
            except OSError as exc:
                raise OutputError(f"{self.name(relative)}: cannot remove ({exc.strerror or exc})") from None
            return
        filesystem, _ = self._filesystem()
        try:
            filesystem.delete_file(self._key(relative))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise OutputError(f"{self.name(relative)}: cannot remove ({exc})") from None

    def list(self, folder: str = "") -> list[str]:
        """The names of the files directly in ``folder`` (none when it does not exist)."""
        return sorted(self.sizes(folder))

    def sizes(self, folder: str = "") -> dict[str, int]:
        """The files directly in ``folder`` and their sizes in bytes, in one listing."""
        if not self.url:
            path = self.local_path(folder)
            if not path.is_dir():
                return {}
            return {p.name: p.stat().st_size for p in path.iterdir() if p.is_file()}
        from pyarrow import fs as pafs

        filesystem, _ = self._filesystem()
        selector = pafs.FileSelector(self._key(folder), allow_not_found=True, recursive=False)
        infos = self._call("list", folder, filesystem.get_file_info, selector)
        return {i.base_name: i.size for i in infos if i.type == pafs.FileType.File}

    def _call(self, what: str, relative: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - each file system raises its own kinds
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise OutputError(f"{self.name(relative)}: cannot {what} ({message})") from None


def _resolve(url: str) -> tuple[Any, str]:
    """A pyarrow file system for ``url`` and the path on it: pyarrow's own, else fsspec's."""
    from pyarrow import fs as pafs

    try:
        filesystem, path = pafs.FileSystem.from_uri(url)
        return filesystem, path.rstrip("/")
    except Exception as pyarrow_error:  # noqa: BLE001 - a scheme pyarrow does not know
        try:
            import fsspec
        except ImportError:
            raise OutputError(f"{url}: pyarrow cannot open this URL ({pyarrow_error}), and fsspec is not "
                              "installed") from None
        try:
            filesystem, path = fsspec.core.url_to_fs(url)
        except Exception as exc:  # noqa: BLE001 - fsspec's errors depend on the protocol
            raise OutputError(f"{url}: neither pyarrow nor fsspec can open this URL ({exc})") from None
        return pafs.PyFileSystem(pafs.FSSpecHandler(filesystem)), str(path).rstrip("/")


def sidecar_name(shard_name: str) -> str:
    return f"{SIDECAR_DIR}/{shard_name}.json"


def write_failures(output: OutputDir, failures: dict[str, str]) -> None:
    """``failures.csv`` (``path,reason``, sorted by path), or none when nothing failed."""
    if not failures:
        output.delete(FAILURES_FILE)
        return
    buffer = io.StringIO()
    buffer.write("path,reason\n")
    writer = csv.writer(buffer, lineterminator="\n")
    for p, r in sorted(failures.items()):
        writer.writerow([p, r])
    output.write_bytes(FAILURES_FILE, buffer.getvalue().encode("utf-8"))
