"""S3 throttling and 5xx answers are retried: a proxy on loopback answers like S3 under load."""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import dagster as dg
import pytest

from vidgen_assets.defs.resources import s3_resource
from vidgen_assets.lib.storage import open_media_store
from vidgen_assets_tests.s3_server import s3_bucket, s3_endpoint  # noqa: F401

SLOW_DOWN = b"<?xml version='1.0'?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"


class FlakyS3:
    """Answers the first `failures` requests with 503 SlowDown, then forwards to the real server."""

    def __init__(self, upstream: str, failures: int):
        target = urlsplit(upstream)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy.lock:
                    proxy.seen += 1
                    fail = proxy.seen <= failures
                if fail:
                    self.send_response(503)
                    self.send_header("Content-Length", str(len(SLOW_DOWN)))
                    self.end_headers()
                    self.wfile.write(SLOW_DOWN)
                    return
                upstream_connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                upstream_connection.request(self.command, self.path, body=body, headers=dict(self.headers))
                response = upstream_connection.getresponse()
                payload = response.read()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _answer

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        self.lock, self.seen = threading.Lock(), 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def flaky_s3(s3_bucket, s3_endpoint, monkeypatch):  # noqa: F811
    _, bucket = s3_bucket
    # More failures in a row than a default boto3 client survives (it retries twice).
    proxy = FlakyS3(s3_endpoint, failures=4)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    yield proxy, bucket
    proxy.server.shutdown()


def test_throttled_writes_and_reads_are_retried(flaky_s3, tmp_path):
    proxy, bucket = flaky_s3
    with dg.build_resources({"s3": s3_resource()}) as resources:  # the pipeline's own S3 settings
        client = resources.s3  # S3Resource provides the boto3 client itself
    store = open_media_store(f"s3://{bucket}/media", s3_client=client, cache_dir=tmp_path)
    store.put_json("manifests/videos/2026-11-01.json", {"items": [1, 2, 3]})
    assert store.get_json("manifests/videos/2026-11-01.json") == {"items": [1, 2, 3]}
    assert proxy.seen > 4  # the SlowDown answers were retried, not raised
