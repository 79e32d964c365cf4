"""A loopback HTTP proxy in front of moto that damages chosen S3 object downloads.

moto serves every object whole, so the faults an analyst meets mid-fetch are made here, on the
wire: for a GetObject whose key ends with a chosen suffix the proxy can drop the connection half
way through the body (`drop`), serve a shorter body with a matching Content-Length, as a
truncated object would arrive (`short`), or answer 403 AccessDenied (`deny`). Every other request
(listing, STS) is forwarded to moto unchanged. A `short` body comes without moto's checksum
headers (as from a server that sends none), so only its size can tell.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}
_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
    b"<Message>Access Denied</Message></Error>"
)


class S3FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults: dict[str, str] = {}  # key suffix -> drop | short | deny
        self.hits: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _forward(self) -> tuple[int, bytes, list[tuple[str, str]]]:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
                req = urllib.request.Request(
                    proxy.upstream + self.path, data=body or None, headers=headers, method=self.command
                )
                try:
                    with urllib.request.urlopen(req, timeout=30) as resp:
                        return resp.status, resp.read(), list(resp.headers.items())
                except urllib.error.HTTPError as err:
                    return err.code, err.read(), list(err.headers.items())

            def _fault(self) -> str | None:
                if self.command != "GET" or "?" in self.path:
                    return None
                path = unquote(urlsplit(self.path).path)
                with proxy.lock:
                    for suffix, kind in proxy.faults.items():
                        if path.endswith(suffix):
                            proxy.hits.append((suffix, kind))
                            return kind
                return None

            def _send(self, status: int, out: bytes, headers: list[tuple[str, str]], length: int) -> None:
                self.send_response(status)
                for k, v in headers:
                    if k.lower() not in _HOP_HEADERS:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(out)

            def _handle(self) -> None:
                kind = self._fault()
                if kind == "deny":
                    self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                    self._send(403, _DENIED, [("Content-Type", "application/xml")], len(_DENIED))
                    return
                status, out, headers = self._forward()
                if kind == "drop":  # promise the whole body, send half, hang up
                    self._send(status, out[: len(out) // 2], headers, len(out))
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if kind == "short":
                    out = out[: len(out) // 2]
                    headers = [(k, v) for k, v in headers if not k.lower().startswith("x-amz-checksum")]
                self._send(status, out, headers, len(out))

            do_GET = do_POST = do_PUT = do_HEAD = _handle  # noqa: N815 (http.server's names)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
