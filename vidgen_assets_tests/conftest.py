"""Shared fixtures: tiny models built once per session, a fresh data home per test."""

from __future__ import annotations

import socket
from datetime import date
from pathlib import Path

import pytest

# A fixed past day inside the partitions; tests never depend on today's date.
TEST_DAY = date(2026, 11, 1)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    """One model cache for the whole session: the tiny models are built once, then loaded."""
    path = tmp_path_factory.mktemp("models")
    return path


@pytest.fixture
def vidgen_home(tmp_path, monkeypatch, models_dir) -> Path:
    """An empty VIDGEN_HOME (warehouse, media, Dagster instance) for one test."""
    home = tmp_path / "home"
    (home / "dagster").mkdir(parents=True)
    monkeypatch.setenv("VIDGEN_HOME", str(home))
    monkeypatch.setenv("VIDGEN_MODELS_DIR", str(models_dir))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    monkeypatch.delenv("VIDGEN_MEDIA_URI", raising=False)
    monkeypatch.delenv("VIDGEN_WAREHOUSE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
