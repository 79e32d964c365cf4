"""A loopback HTTP proxy in front of moto that throttles chosen operations a set number of times.

moto never throttles, so the backoff of a fetch (and its count in the acquisition record) is
tested through this proxy: boto3 talks to it by `endpoint_url`, it answers the next N calls of an
operation (named by the JSON protocol's X-Amz-Target, e.g. `Logs_20140328.FilterLogEvents`) with
the service's throttling error, and forwards everything else to moto unchanged.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class ThrottleProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.throttles: dict[str, tuple[int, str]] = {}  # target -> (times left, error code)
        self.throttled: list[str] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                target = self.headers.get("X-Amz-Target", "")
                with proxy.lock:
                    left, code = proxy.throttles.get(target, (0, ""))
                    if left:
                        proxy.throttles[target] = (left - 1, code)
                        proxy.throttled.append(target)
                if left:
                    payload = json.dumps({"__type": code, "message": "Rate exceeded"}).encode()
                    self.send_response(400)
                    self.send_header("Content-Type", "application/x-amz-json-1.1")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
                req = urllib.request.Request(
                    proxy.upstream + self.path, data=body, headers=headers, method="POST"
                )
                try:
                    with urllib.request.urlopen(req, timeout=30) as resp:
                        status, out, out_headers = resp.status, resp.read(), resp.headers.items()
                except urllib.error.HTTPError as err:
                    status, out, out_headers = err.code, err.read(), err.headers.items()
                self.send_response(status)
                for k, v in out_headers:
                    if k.lower() not in _HOP_HEADERS:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def throttle(self, target: str, times: int, code: str = "ThrottlingException") -> None:
        with self.lock:
            self.throttles[target] = (times, code)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
