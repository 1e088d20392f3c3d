"""`provider_claims`: one live claim per clip key, the right to create that clip's paid provider task.

A claim is a lease: `acquire` inserts the row, or takes over one whose lease has expired (its holder died),
in one statement, so of any number of steps, runs or pods racing for a key exactly one wins. The holder
renews its leases (`renew`, a heartbeat) while it waits on `Retry-After` or on the create call, and
deletes the row once the task id is recorded (`release`). Same SQL on DuckDB and PostgreSQL; the warehouse
knows nothing of providers or models beyond the names it stores.

Times are epoch seconds from the callers' clocks: pods of one cluster agree to well within a lease.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection

from .store import Warehouse

_ACQUIRE = """
    INSERT INTO provider_claims AS c (clip_key, provider, holder, claimed_at, expires_at, takeovers)
    VALUES (?, ?, ?, ?, ?, 0)
    ON CONFLICT (clip_key) DO UPDATE SET
        holder = excluded.holder, claimed_at = excluded.claimed_at, expires_at = excluded.expires_at,
        takeovers = c.takeovers + CASE WHEN c.holder = excluded.holder THEN 0 ELSE 1 END
    WHERE c.expires_at < excluded.claimed_at OR c.holder = excluded.holder
    RETURNING holder
"""


class WarehouseClaims:
    """Claims in the warehouse's `provider_claims` table (see the module docstring)."""

    def __init__(self, warehouse: Warehouse, clock: Callable[[], float] = time.time):
        self.warehouse = warehouse
        self.clock = clock
        # DuckDB: one process holds the file at a time anyway; threads of one step take turns here rather
        # than conflict inside it. PostgreSQL needs no lock, but claims are rare and short.
        self._lock = threading.Lock()

    def acquire(self, clip_key: str, provider: str, holder: str, lease_s: float) -> bool:
        """True if `holder` now holds the clip's claim: it was free, expired, or already `holder`'s."""
        now = self.clock()
        with self._lock, self.warehouse.connect() as session:
            won = session.execute(_ACQUIRE, [clip_key, provider, holder, now, now + lease_s]).fetchall()
        return bool(won)

    def renew(self, clip_keys: Collection[str], holder: str, lease_s: float) -> None:
        """Push the expiry of `holder`'s claims on `clip_keys` a lease ahead (the heartbeat)."""
        if not clip_keys:
            return
        with self._lock, self.warehouse.connect() as session:
            session.execute(
                "UPDATE provider_claims SET expires_at = ? WHERE holder = ? AND clip_key IN "
                "(SELECT unnest(CAST(? AS VARCHAR[])))",
                [self.clock() + lease_s, holder, sorted(clip_keys)],
            )

    def release(self, clip_key: str, holder: str) -> None:
        """Drop `holder`'s claim (its task id is recorded, or it gave up); another holder's is left alone."""
        with self._lock, self.warehouse.connect() as session:
            session.execute("DELETE FROM provider_claims WHERE clip_key = ? AND holder = ?", [clip_key, holder])

    def holder(self, clip_key: str) -> dict | None:
        """The clip's claim row ({holder, expires_at, takeovers, ...}), or None."""
        with self._lock, self.warehouse.connect() as session:
            rows = session.rows("SELECT * FROM provider_claims WHERE clip_key = ?", [clip_key])
        return rows[0] if rows else None
