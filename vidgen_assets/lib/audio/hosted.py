"""Hosted music presets: a soundtrack rendered by a paid provider, paid for once per key.

The video path's rules hold here too: a prediction is created only under the key's claim in the warehouse
(`provider_claims`), so any number of steps, runs or pods launching the same soundtrack make one; its
list price is held first in the spend ledger against the same `VIDGEN_BUDGET_*` budgets as video; a task
record (`tasks/<key>.json` in the media store) lets a resumed run poll the prediction an earlier one
created instead of paying again; throttling honours `Retry-After`; the API key travels only in the
Authorization header. A stored track is never asked for again.

A track longer than the model's longest output is made of equal segments, each its own paid prediction
(key `<key>-partNN`, seed + N), joined end to end: MusicGen writes each from the same prompt, so a long
reel's music changes phrase at the joins rather than being refused.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ..generation.providers.base import ProviderError, ProviderRequest
from ..generation.providers.billing import CANCELLED_AFTER_START, FAILED, SUCCEEDED, billed_usd
from ..generation.providers.claims import ClipClaims, MemoryClaims
from ..generation.providers.hosted_model import HostedModel
from ..generation.providers.io import OutputUnavailableError
from ..generation.providers.records import CANCELLED, SUCCEEDED as RECORD_SUCCEEDED, read_record, write_record
from ..generation.providers.registry import BASE_URL_VARIABLES, KEY_VARIABLES, client_for
from ..generation.providers.spending import BudgetRefused, ClipSpend, FreeSpend
from ..generation.providers.tasks import DeadlineExceeded, Halt, HostedSettings, initial_record, run_task
from ..storage import MediaStore
from .hosted_audio import download_audio, scratch, stored_seconds, write_track

__all__ = ["HOSTED_MUSIC_PRESETS", "BudgetRefused", "HostedMusicPreset", "HostedSoundtrackError", "render_hosted_soundtrack"]


class HostedSoundtrackError(ProviderError):
    """The provider made no usable track (refused the prompt, failed, missed the deadline, its output expired)."""


@dataclass(frozen=True)
class HostedMusicPreset:
    """A pinned hosted music model, what it is asked for, and its list price."""

    name: str
    provider: str
    model: str  # "owner/name:version" on Replicate: the version pins the model's behaviour
    model_version: str  # MusicGen's own checkpoint input
    max_seconds: int  # the longest track one prediction makes
    usd_per_processing_second: float  # Replicate bills the seconds its hardware ran
    reserve_realtime_factor: float  # hardware seconds held per second of music, before a task runs...
    reserve_overhead_s: float  # ...plus a start-up allowance
    output_format: str = "wav"

    @property
    def version(self) -> str:
        """The Replicate version hash: what a soundtrack's content key names as the model's revision."""
        return self.model.rpartition(":")[2]

    def model_input(self, prompt: str, seconds: int, seed: int | None) -> dict:
        return {"prompt": prompt, "duration": seconds, "model_version": self.model_version,
                "output_format": self.output_format, "normalization_strategy": "peak", "seed": seed}  # fmt: skip

    def list_price_usd(self, seconds: int) -> float:
        """What a budget holds for one prediction of `seconds` before it runs."""
        held_s = self.reserve_overhead_s + self.reserve_realtime_factor * seconds
        return round(self.usd_per_processing_second * held_s, 6)

    def billing(self) -> HostedModel:
        """The provider's billing rules (`billing.py`) read a HostedModel: this preset as one."""
        return HostedModel(self.provider, self.model, knobs=(), defaults={"num_frames": 1, "fps": 1},
                           usd_per_processing_second=self.usd_per_processing_second)  # fmt: skip

    def segments(self, seconds: float) -> list[int]:
        """Whole seconds per prediction (MusicGen takes an int): equal parts, none over `max_seconds`."""
        whole = max(1, math.ceil(seconds))
        count = math.ceil(whole / self.max_seconds)
        return [whole // count + (1 if n < whole % count else 0) for n in range(count)]


HOSTED_MUSIC_PRESETS: dict[str, HostedMusicPreset] = {
    # meta/musicgen, the stereo-large checkpoint, 32 kHz stereo. Version 671ac645… is the one many public
    # clients pin (not confirmed against Replicate's API here). Replicate bills hardware time: $0.0014/s is
    # its A100 (80 GB) price, unconfirmed for this model; MusicGen large runs slower than real time, so
    # 4 s per second of music plus 20 s is held. 300 s per prediction is the input's documented-by-clients
    # bound (unconfirmed): longer tracks are segments.
    "replicate-musicgen": HostedMusicPreset(
        "replicate-musicgen", "replicate",
        "meta/musicgen:671ac645ce5e552cc63a54a2bbff63fcf798043055d2dac5fc9e36a837eedcfb",
        model_version="stereo-large", max_seconds=300, usd_per_processing_second=0.0014,
        reserve_realtime_factor=4.0, reserve_overhead_s=20.0,
    ),
}


class SoundtrackSpend:
    """A segment's money in the warehouse's spend ledger (the runner's `ClipSpend`), like a hosted clip's."""

    def __init__(self, warehouse, task):
        self.warehouse, self.task, self.spend_id = warehouse, task, None
        self.settled = 0  # ledger rows this call settled: none when a concurrent launch settled the bill first

    def reserve(self) -> None:
        from ..rules.budget import Budgets
        from ..warehouse.spend import reserve

        task = self.task
        self.spend_id, short, remaining = reserve(self.warehouse, task, Budgets.from_env().limits(task.provider))
        if short is not None:
            raise BudgetRefused(
                f"{short.name} is {short.usd:.2f} USD and {remaining:.2f} USD of it remains: this soundtrack's list "
                f"price is {task.usd:.2f} USD; a later run creates it when the budget allows"
            )

    def settle(self, billed: float, reason: str = "") -> None:
        from ..warehouse.spend import settle

        # Without a reservation of its own, an earlier run created the task: settle what that run held.
        self.settled = settle(self.warehouse, self.task.clip_key, billed, spend_id=self.spend_id, reason=reason[:500])


def render_hosted_soundtrack(preset_name: str, *, prompt: str, seconds: float, seed: int | None, key: str,
                             media_key: str, day: date | str, warehouse, store: MediaStore, run_id: str | None,
                             log: Callable[[str], None] = print) -> dict:  # fmt: skip
    """Render `seconds` of music for `prompt` on a hosted preset and store it at `media_key`.

    Returns {"seconds", "cost_usd", "provider_task_id", "cache_hit"}: a stored track costs nothing and
    asks nothing. `warehouse` (a `Warehouse`, or None for library use: claims in this process, no
    ledger) holds the claims and the spend ledger. Raises BudgetRefused when a budget has no room
    (nothing created), HostedSoundtrackError when the provider made no usable track, MissingKeyError or
    MalformedKeyError for REPLICATE_API_TOKEN, ValueError for an unknown preset or an empty prompt.
    """
    if preset_name not in HOSTED_MUSIC_PRESETS:
        raise ValueError(f"unknown hosted music preset {preset_name!r}; known: {', '.join(HOSTED_MUSIC_PRESETS)}")
    if not (prompt or "").strip():
        raise ValueError("a hosted soundtrack needs a music prompt")
    preset = HOSTED_MUSIC_PRESETS[preset_name]
    parts = preset.segments(seconds)
    part_keys = [key] if len(parts) == 1 else [f"{key}-part{n:02d}" for n in range(len(parts))]
    if store.exists(media_key):
        records = [read_record(store, part_key) for part_key in part_keys]
        task_ids = ",".join(r.task_id for r in records if r and r.task_id) or None
        return {"seconds": stored_seconds(store, media_key), "cost_usd": 0.0, "provider_task_id": task_ids, "cache_hit": True}
    client = client_for(preset.provider, os.getenv(KEY_VARIABLES[preset.provider], ""),
                        os.getenv(BASE_URL_VARIABLES[preset.provider]) or None)  # fmt: skip
    claims = ClipClaims(_claim_store(warehouse), preset.provider)
    day = date.fromisoformat(day) if isinstance(day, str) else day
    cost, task_ids = 0.0, []
    try:
        with scratch() as folder:
            files = []
            for n, (part_key, part_s) in enumerate(zip(part_keys, parts)):
                part_seed = None if seed is None else seed + n
                request = ProviderRequest(model=preset.model, prompt=prompt, seed=part_seed, duration_s=float(part_s),
                                          options=preset.model_input(prompt, part_s, part_seed))  # fmt: skip
                spend = _spend(warehouse, preset, day, part_key, run_id, part_s)
                path, task_id, billed = _render_part(client, store, preset, part_key, request, claims, spend, Path(folder))
                files.append(path)
                task_ids.append(task_id)
                cost += billed
                log(f"soundtrack {key}: {preset.provider} prediction {task_id} ({part_s} s) done, {billed:.4f} USD")
            made_s = write_track(store, media_key, files, seconds)
    finally:
        claims.close()
    return {"seconds": made_s, "cost_usd": round(cost, 6), "provider_task_id": ",".join(task_ids), "cache_hit": False}


def _claim_store(warehouse):
    if warehouse is None:
        return MemoryClaims()
    from ..warehouse.claims import WarehouseClaims

    return WarehouseClaims(warehouse)


def _spend(warehouse, preset: HostedMusicPreset, day: date, part_key: str, run_id, part_s: int) -> ClipSpend:
    if warehouse is None:
        return FreeSpend()
    from ..warehouse.spend import Task

    return SoundtrackSpend(warehouse, Task(day, preset.provider, preset.name, part_key, None, run_id,
                                           preset.list_price_usd(part_s)))  # fmt: skip


def _render_part(client, store, preset, part_key, request, claims, spend, folder: Path) -> tuple[Path, str, float]:
    """One prediction, created once whoever launches (or resumed from its record), downloaded: (file, id, USD)."""
    settings, halt = HostedSettings(), Halt()
    record = initial_record(store, preset.provider, preset.model, part_key, "soundtrack")
    hosted = preset.billing()
    params = {"num_frames": 1, "fps": 1}

    def bill(outcome: str) -> float:
        return billed_usd(hosted, params, outcome, started_at=record.started_at, finished_at=record.finished_at,
                          billed_s=record.billed_s)  # fmt: skip

    deadline = time.time() + settings.clip_deadline_s
    try:
        record, status = run_task(client, store, record, lambda: request, settings=settings, halt=halt,
                                  deadline=deadline, claims=claims, spend=spend)  # fmt: skip
    except DeadlineExceeded as error:
        spend.settle(bill(CANCELLED_AFTER_START), str(error))
        raise HostedSoundtrackError(f"soundtrack {part_key}: {error}") from None
    if status is None:
        spend.settle(bill(FAILED), record.reason or "failed")
        raise HostedSoundtrackError(f"{preset.provider} made no soundtrack for {part_key}: "
                                    f"{record.error_code or 'failed'}: {record.reason or ''}".rstrip(": "))  # fmt: skip
    if not status.output_url:
        spend.settle(bill(SUCCEEDED), "no output")
        raise HostedSoundtrackError(f"{preset.provider} prediction {record.task_id} succeeded without an output URL")
    try:
        path = download_audio(status.output_url, folder, f"{part_key}.{preset.output_format}",
                              attempts=settings.download_attempts, pause=halt.event)  # fmt: skip
    except OutputUnavailableError as error:
        if error.gone:  # only a new prediction can make it now: the next run creates one
            record.state, record.reason = CANCELLED, str(error)
            write_record(store, record)
        spend.settle(bill(SUCCEEDED), str(error))
        raise HostedSoundtrackError(f"soundtrack {part_key}: {error}") from None
    record.state = RECORD_SUCCEEDED
    write_record(store, record)
    billed = bill(SUCCEEDED)
    spend.settle(billed)
    # Two launches waiting on one prediction both store it; the bill is reported by the one that settled it.
    return path, record.task_id, billed if getattr(spend, "settled", 1) else 0.0
