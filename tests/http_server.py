"""A real HTTP server on 127.0.0.1 serving a directory, with Range support and faults.

Faults are set per file name: ``drop_after`` (close the connection after that many
body bytes, for the next ``times`` requests), ``status`` (answer with that HTTP status),
``ignore_range`` (always answer 200 with the whole file).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Fault:
    drop_after: int | None = None
    times: int = 1
    status: int | None = None
    ignore_range: bool = False


@dataclass
class FileServer:
    root: Path
    faults: dict[str, Fault] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    url: str = ""

    def start(self) -> FileServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                name = self.path.lstrip("/")
                server.requests.append((name, self.headers.get("Range")))
                fault = server.faults.get(name, Fault())
                path = server.root / name
                if fault.status is not None:
                    self.send_error(fault.status)
                    return
                if "/" in name or ".." in name or not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                start = 0
                range_header = self.headers.get("Range")
                if range_header and not fault.ignore_range:
                    start = int(range_header.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if fault.drop_after is not None and fault.times > 0:
                    fault.times -= 1
                    self.wfile.write(body[: fault.drop_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
