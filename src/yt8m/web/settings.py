"""What the viewer is configured with: one frozen, validated :class:`Settings`.

Everything the server touches on disk is named here: the data directory where
uploads, job results and the shard index live (``<cache>/web`` by default, see
:func:`yt8m.artifacts.cache.cache_dir`), the optional folder of videos users may pick
from (``media_root``) and the optional folder of YouTube-8M shards (``dataset_dir``).
Nothing else on disk is read or written, and no configuration file is ever rewritten.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from yt8m.errors import InputError
from yt8m.extraction.options import ExtractOptions

#: Hosts accepted in the ``Host`` header when serving on a loopback address (DNS rebinding guard).
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
#: data.yt8m.org's lookups (see docs/viewer.md, 'Dataset records'):
#: ``<base>/r/<2 chars>/<YouTube id>.js`` and ``<base>/i/<2>/<id>.js``.
DEFAULT_LOOKUP_URL = "http://data.yt8m.org/2/j"
#: Where the frame-level training shards named by the lookup are published.
DEFAULT_SHARD_URL = "http://us.data.yt8m.org/2/frame/train"
#: Segment sizes the page and API accept: 1-300 seconds (see docs/viewer.md, 'Reference viewer').
MIN_SEGMENT_SIZE = 1
MAX_SEGMENT_SIZE = 300
#: The largest video frame accepted by default: 4096x2304 (4K UHD 3840x2160 fits), 9,437,184 pixels.
DEFAULT_MAX_PIXELS = 4096 * 2304


def is_loopback(host: str) -> bool:
    """True when ``host`` only listens on this machine (127.0.0.0/8, ::1 or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Settings:
    """How ``yt8m serve`` runs.

    ``model`` is a ``--model`` value (native model directory, SavedModel, archive or
    ``baseline``); ``labels`` a label map or vocabulary (default: the cached label map).
    ``max_upload_mb`` bounds every request body; ``max_pixels`` the frame size (width x
    height) of the videos accepted, since decoding cost grows with it, not with the file
    size. ``online`` allows the data.yt8m.org
    lookups (at ``lookup_url``) and shard downloads (from ``shard_url``).
    ``extract`` says how uploads are extracted (default: the defaults on ``device``, which
    also runs native classifiers); missing weights are fetched from ``mirror`` when given.
    ``allowed_hosts`` defaults to the loopback names when ``host`` is a loopback
    address, and to any host otherwise.
    """

    host: str = "127.0.0.1"
    port: int = 8008
    model: str = "baseline"
    labels: Path | None = None
    dataset_dir: Path | None = None
    media_root: Path | None = None
    data_dir: Path | None = None
    max_upload_mb: float = 512.0
    max_pixels: int = DEFAULT_MAX_PIXELS
    device: str = "cpu"
    extract: ExtractOptions | None = None
    mirror: str | None = None
    online: bool = True
    lookup_url: str = DEFAULT_LOOKUP_URL
    shard_url: str = DEFAULT_SHARD_URL
    lookup_timeout_s: float = 20.0
    fetch_weights: bool = True
    default_segment_size: int = 5
    allowed_hosts: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise InputError(f"--port ({self.port}) must be between 1 and 65535")
        if not self.max_upload_mb > 0:
            raise InputError(f"--max-upload-mb ({self.max_upload_mb}) must be > 0")
        if not self.max_pixels > 0:
            raise InputError(f"--max-video-pixels ({self.max_pixels}) must be > 0")
        if not MIN_SEGMENT_SIZE <= self.default_segment_size <= MAX_SEGMENT_SIZE:
            raise InputError(f"segment size ({self.default_segment_size}) must be between "
                             f"{MIN_SEGMENT_SIZE} and {MAX_SEGMENT_SIZE}")
        for name in ("dataset_dir", "media_root"):
            value = getattr(self, name)
            if value is not None and not Path(value).is_dir():
                option = "--dataset" if name == "dataset_dir" else "--media-root"
                raise InputError(f"{option} {value}: no such directory")
        for name in ("lookup_url", "shard_url"):
            if not getattr(self, name).startswith(("http://", "https://")):
                raise InputError(f"{name} ({getattr(self, name)!r}) must be an http:// or https:// URL")

    @property
    def extract_options(self) -> ExtractOptions:
        """How uploads are extracted (``extract``, else the defaults on ``device``)."""
        return self.extract if self.extract is not None else ExtractOptions(device=self.device)

    @property
    def hosts(self) -> tuple[str, ...]:
        """Accepted ``Host`` header names (``("*",)``: any)."""
        if self.allowed_hosts is not None:
            return self.allowed_hosts
        return LOOPBACK_HOSTS if is_loopback(self.host) else ("*",)

    def resolved_data_dir(self) -> Path:
        """The data directory, created if needed, as an absolute real path."""
        from yt8m.artifacts.cache import cache_dir

        directory = Path(self.data_dir) if self.data_dir is not None else cache_dir() / "web"
        directory.mkdir(parents=True, exist_ok=True)
        return Path(directory).resolve()
