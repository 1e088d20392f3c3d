"""A real S3 endpoint for tests: `moto_server` in a subprocess on a loopback port."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from vidgen_assets_tests.conftest import free_port

MOTO_SERVER = Path(sys.executable).parent / "moto_server"
# urllib would route even loopback through an HTTP(S)_PROXY from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _answers(endpoint: str) -> bool:
    try:
        _DIRECT.open(endpoint, timeout=1).close()
    except urllib.error.HTTPError:
        return True  # any HTTP status means the server is up
    except OSError:
        return False
    return True


def _start(log_path: Path) -> tuple[subprocess.Popen, str]:
    # free_port() can race with another process grabbing the port, so try a few ports.
    for _ in range(3):
        port = free_port()
        endpoint = f"http://127.0.0.1:{port}"
        with log_path.open("ab") as log:
            server = subprocess.Popen(
                [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 20
        while server.poll() is None and time.monotonic() < deadline:
            if _answers(endpoint):
                return server, endpoint
            time.sleep(0.1)
        server.kill()
        server.wait()
    raise RuntimeError(f"moto_server did not start; its log is in {log_path}:\n{log_path.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory) -> Iterator[str]:
    """The URL of a moto_server S3 endpoint shared by the whole session."""
    server, endpoint = _start(tmp_path_factory.mktemp("moto") / "moto_server.log")
    yield endpoint
    server.terminate()
    try:
        server.wait(timeout=5)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@pytest.fixture
def s3_bucket(s3_endpoint, monkeypatch) -> tuple[object, str]:
    """(boto3 S3 client, name of a new empty bucket), with dummy credentials pointing at moto."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # botocore honours proxy variables too
    client = boto3.client("s3")
    bucket = f"vidgen-test-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return client, bucket
