"""A step's claims on clip keys: only the holder of a clip's live claim may create its provider task.

`ClipClaims` wraps a claim store (`acquire`/`renew`/`release`, e.g. `warehouse.claims.WarehouseClaims`) with
this step's holder id and lease, and a heartbeat thread renewing the claims it holds: a claim outlives a
long `Retry-After` wait of its holder, and expires a lease after the holder dies (killed, preempted), when
another run may take over. `MemoryClaims` is an in-process store for callers without a warehouse.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Collection
from typing import Protocol

DEFAULT_LEASE_S = 60.0  # VIDGEN_CLAIM_LEASE_S; renewed every third of it


class ClaimStore(Protocol):
    def acquire(self, clip_key: str, provider: str, holder: str, lease_s: float) -> bool: ...

    def renew(self, clip_keys: Collection[str], holder: str, lease_s: float) -> None: ...

    def release(self, clip_key: str, holder: str) -> None: ...


class MemoryClaims:
    """Claims inside one process (a library caller, a test): the same rules as the warehouse table."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rows: dict[str, tuple[str, float]] = {}  # clip key → (holder, expires_at)

    def acquire(self, clip_key: str, provider: str, holder: str, lease_s: float) -> bool:
        with self._lock:
            current = self.rows.get(clip_key)
            if current and current[0] != holder and current[1] >= time.time():
                return False
            self.rows[clip_key] = (holder, time.time() + lease_s)
            return True

    def renew(self, clip_keys: Collection[str], holder: str, lease_s: float) -> None:
        with self._lock:
            for key in clip_keys:
                if self.rows.get(key, ("",))[0] == holder:
                    self.rows[key] = (holder, time.time() + lease_s)

    def release(self, clip_key: str, holder: str) -> None:
        with self._lock:
            if self.rows.get(clip_key, ("",))[0] == holder:
                del self.rows[clip_key]


def lease_s_from_env() -> float:
    return float(os.getenv("VIDGEN_CLAIM_LEASE_S") or DEFAULT_LEASE_S)


class ClipClaims:
    """This step's side of the claims: who it is, which keys it holds, and the heartbeat renewing them."""

    def __init__(self, store: ClaimStore, provider: str, lease_s: float | None = None):
        self.store = store
        self.provider = provider
        self.lease_s = lease_s or lease_s_from_env()
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self, clip_key: str) -> bool:
        """True if this step now holds the clip's claim (free, expired, or already ours)."""
        won = self.store.acquire(clip_key, self.provider, self.holder, self.lease_s)
        if won:
            with self._lock:
                self._held.add(clip_key)
            self._start()
        return won

    def release(self, clip_key: str) -> None:
        with self._lock:
            self._held.discard(clip_key)
        self.store.release(clip_key, self.holder)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._beat, name="vidgen-claims", daemon=True)
                self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            with self._lock:
                held = set(self._held)
            try:
                self.store.renew(held, self.holder, self.lease_s)
            except Exception:  # noqa: BLE001 - a missed beat is retried; the lease has two more thirds
                pass

    def close(self) -> None:
        """Stop the heartbeat; claims still held (a stopped step) expire a lease later for another run."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
