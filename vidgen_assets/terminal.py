"""What `vidgen demo`/`run` show while a day renders: a progress line per stage and a short summary.

The run's own events in the Dagster instance drive it (read by a watcher thread), so the display
needs nothing from the steps beyond what they already log and record.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from contextlib import contextmanager
from typing import TextIO

import dagster as dg

from vidgen_assets.lib.interrupts import deferred_interrupts
from vidgen_assets.lib.quiet import QUIET_ENV, quiet_libraries  # noqa: F401  (the CLI quiets through here)

STAGES = ("theme_prompts", "prompts", "keyframes", "videos", "soundtrack", "reel", "render_stats")
# The render steps log "<kind> <id>: <done>/<total> in <s>s, ETA <s>s" per item (lib/generation/profile.py).
PROGRESS = re.compile(r"^(keyframe|clip) .*: (\d+)/(\d+) in [\d.]+s, ETA (\d+)s")
KIND_STAGE = {"keyframe": "keyframes", "clip": "videos"}
# Only errors from Dagster's console logger; the full event stream stays in the instance for the UI.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = int(width * done / total) if total else width
    return "#" * filled + "." * (width - filled)


class StageProgress:
    """Follows one run's events and writes progress lines: live on a terminal, one line per finished stage otherwise."""

    def __init__(self, out: TextIO = sys.stdout, poll_s: float = 0.5):
        self.out, self.poll_s = out, poll_s
        self.live = out.isatty()
        self.items: dict[str, dict[str, tuple[int, int, int]]] = {}  # stage → step → (done, total, eta)
        self.metadata: dict[str, dict] = {}
        self.started = time.monotonic()

    def handle(self, entry) -> None:
        event = entry.dagster_event
        if event is None:
            match = PROGRESS.match(entry.user_message or "")
            if match:
                kind, done, total, eta = match.groups()
                self.items.setdefault(KIND_STAGE[kind], {})[entry.step_key] = (int(done), int(total), int(eta))
                self._live_line(KIND_STAGE[kind])
        elif event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.step_materialization_data.materialization
            stage = materialization.asset_key.to_user_string()
            self.metadata[stage] = {k: v.value for k, v in materialization.metadata.items()}
            self._finished_line(stage)

    def _live_line(self, stage: str) -> None:
        if not self.live:
            return
        steps = self.items[stage].values()
        done, total, eta = sum(s[0] for s in steps), sum(s[1] for s in steps), max(s[2] for s in steps)
        self.out.write(f"\r{stage:<12} [{_bar(done, total)}] {done}/{total} rendering, ETA {eta}s ")
        self.out.flush()

    def _finished_line(self, stage: str) -> None:
        meta = self.metadata[stage]
        total = int(meta.get("dagster/row_count", 0))
        if stage in ("keyframes", "videos"):
            reused, refused = int(meta.get("cache_hits", 0)), int(meta.get("refused", 0))
            made = total - reused - refused - int(meta.get("not_delivered", 0))
            detail = f"{total}/{total} ({made} rendered, {reused} reused" + (
                f", {refused} refused)" if refused else ")")
        elif stage == "prompts":
            detail = f"{total} rows, {meta.get('rows_rejected', 0)} rejected"
        elif stage == "theme_prompts":
            themes = int(meta.get("themes", 0))
            rejected = int(meta.get("themes_rejected", 0))
            detail = (f"{themes} themes, {meta.get('prompt_rows', 0)} rows ({meta.get('rows_written', 0)} new or changed), "
                      f"{meta.get('model_calls', 0)} model calls" if themes else "no themes") + (
                f", {rejected} REJECTED (reasons: vidgen themes list --date D)" if rejected else "")  # fmt: skip
        elif stage == "soundtrack":
            seconds = meta.get("duration_s")
            detail = f"{seconds} s of music" + (" (reused)" if meta.get("cache_hit") else "") if seconds else "none"
        elif stage == "render_stats":
            detail = f"{total} model rows, day cost ${meta.get('day_cost_usd', 0.0):.4f}"
        else:
            detail = f"{meta.get('clips_included', 0)} clips, {meta.get('duration_s', 0)} s"
        line = f"{stage:<12} [{_bar(1, 1)}] {detail}  ({time.monotonic() - self.started:.1f}s)"
        self.out.write(("\r" if self.live else "") + line + "\n")
        self.out.flush()

    def summary(self) -> str:
        """One line: rows, rejected, keyframes and clips rendered vs reused, the day's cost."""
        prompts, stats = self.metadata.get("prompts", {}), self.metadata.get("render_stats", {})
        parts = [f"rows {prompts.get('rows_valid', 0)}", f"rejected {prompts.get('rows_rejected', 0)}"]
        for stage, name in (("keyframes", "keyframes"), ("videos", "clips")):
            meta = self.metadata.get(stage, {})
            total, reused = int(meta.get("dagster/row_count", 0)), int(meta.get("cache_hits", 0))
            refused = int(meta.get("refused", 0))  # clips a provider (or the budget) refused: not rendered
            parts.append(f"{name} {total - reused - refused - int(meta.get('not_delivered', 0))} rendered / {reused} reused")
            if stage == "videos":
                parts.append(f"refused {refused}")
        parts.append(f"cost ${stats.get('day_cost_usd', 0.0):.4f}")
        return "done: " + ", ".join(parts) + f" in {time.monotonic() - self.started:.1f}s"

    @contextmanager
    def watching(self, run_id: str):
        """Follow the run's events in a thread while the body executes it; catch up on the rest at the end."""
        stop = threading.Event()
        cursor: list = [None]

        def drain(instance) -> None:
            connection = instance.get_records_for_run(run_id, cursor=cursor[0])
            for record in connection.records:
                self.handle(record.event_log_entry)
            cursor[0] = connection.cursor

        def follow() -> None:
            with dg.DagsterInstance.get() as instance:
                while not stop.wait(self.poll_s):
                    drain(instance)
                drain(instance)

        thread = threading.Thread(target=follow, name="vidgen-progress", daemon=True)
        interrupted = True
        try:
            with deferred_interrupts():  # Thread.start and Event.set take locks the follower needs too
                thread.start()
            yield self
            interrupted = False
        finally:
            with deferred_interrupts():
                stop.set()
            # A finished run's last events are worth waiting for; an interrupted one's exit is not held up long.
            if thread.is_alive():
                thread.join(timeout=5 if interrupted else 30)
