"""Render a shard's hosted clips: many provider tasks in flight at once, each created once, polled,
downloaded, decoded and stored under the clip's content key like a local render.

`render_hosted_clip` is the per-clip call (a long take can call it per take); `render_hosted_items` runs
a shard's clips on daemon worker threads bounded by the provider's concurrency. No Dagster here: a
cancelled run reaches us as an exception in the waiting thread (KeyboardInterrupt or Dagster's
interrupt), and the workers cancel their open tasks before it propagates, within a bounded grace.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial

from ...bounded import SHOWN
from ...interrupts import deferred_interrupts
from ...storage import MediaStore
from ...workers import Workers
from ..plan import mark_cached
from ..presets import get_preset
from ..profile import StepProfile
from .base import MalformedKeyError, MissingKeyError, OutOfCreditsError, ProviderClient, ProviderRequest, UnauthorizedError
from .billing import CANCELLED_AFTER_START, FAILED, SUCCEEDED as BILLED_SUCCESS, billed_usd
from .claims import ClaimStore, ClipClaims, MemoryClaims
from .io import OutputUnavailableError, ProviderSetupError, fetch_output, media_reference
from .records import CANCELLED, SUCCEEDED, write_record
from .spending import BudgetRefused, ClipSpend, Spending, no_ledger
from .summary import is_refusal
from .takes import render_hosted_takes
from .tasks import DeadlineExceeded, Halt, Halted, HostedSettings, initial_record, run_task

# Errors that no other clip would escape either: the whole step stops (the defs layer says how).
STEP_STOPPING = (OutOfCreditsError, UnauthorizedError, MissingKeyError, MalformedKeyError, ProviderSetupError)


def provider_request(item: dict, store: MediaStore, client: ProviderClient, *, image: str | None = None,
                     previous_task_id: str | None = None) -> ProviderRequest:  # fmt: skip
    """The create request for a clip item: its media as the provider reads them (data URIs or URLs) and params.

    `image` is the start: `image` if given (e.g. a take's last frame), else the item's `keyframe_media_key`
    (a keyframe, or the previous shot's last frame), else none (text-to-video, video-to-video, an extend);
    `last_image` its `end_keyframe_media_key`; `video` its `source_media_key` (the clip it restyles).
    """
    hosted = get_preset(item["preset"], item["task"]).hosted
    params = {**{k: v for k, v in hosted.defaults.items() if k != "motion_bucket_ids"}, **item["params"]}

    def reference(key: str | None, max_inline_bytes: int | None) -> str | None:
        return media_reference(store, key, client.provider, max_inline_bytes) if key else None

    images = client.max_inline_image_bytes
    if image is None and previous_task_id is None:  # an extend needs no image
        image = reference(item.get("keyframe_media_key"), images)
    return ProviderRequest(
        model=hosted.model, prompt=item.get("prompt") or "", image=image, previous_task_id=previous_task_id,
        seed=params.get("seed"), duration_s=hosted.duration_s(params), ratio=hosted.ratio(params), options=params,
        last_image=reference(item.get("end_keyframe_media_key"), images),
        video=reference(item.get("source_media_key"), getattr(client, "max_inline_video_bytes", images)),
    )  # fmt: skip


def render_hosted_clip(
    item: dict, store: MediaStore, client: ProviderClient, *, settings: HostedSettings, halt: Halt,
    request: Callable[[], ProviderRequest] | None = None, claims: ClipClaims | None = None,
    spending: Spending = no_ledger,
) -> dict:  # fmt: skip
    """Create (or resume) the clip's task, wait for it, store its output; returns the item with results.

    A refused clip (moderation, invalid input, no room in a budget: code `budget`) comes back with `failure`
    {code, reason} and no file; so does one past its deadline or whose output could not be stored (those,
    and budget refusals, are tried again by the next run). `timings.cost_usd` is what the provider bills
    for it (`billing.py`), delivered or not: the price held in the spend ledger before its create is
    settled with it.
    """
    spend = spending(item)
    done = _render_hosted_clip(item, store, client, settings=settings, halt=halt, request=request, claims=claims,
                               spend=spend)  # fmt: skip
    spend.settle(done["timings"].get("cost_usd", 0.0), done.get("failure", {}).get("reason", ""))
    return done


def _render_hosted_clip(item, store, client, *, settings, halt, request, claims, spend: ClipSpend) -> dict:
    started = time.time()
    hosted = get_preset(item["preset"], item["task"]).hosted
    params = {**hosted.defaults, **item["params"]}
    record = initial_record(store, client.provider, hosted.model, item["key"], item["prompt_id"])
    build = request or (lambda: provider_request(item, store, client))
    if claims is None:  # a single clip called alone: claims inside this process (the heartbeat never starts)
        claims = ClipClaims(MemoryClaims(), client.provider, lease_s=settings.clip_deadline_s * 3)

    def bill(outcome: str) -> float:
        return billed_usd(hosted, params, outcome, started_at=record.started_at, finished_at=record.finished_at,
                          billed_s=record.billed_s)  # fmt: skip

    try:
        record, status = run_task(client, store, record, build, settings=settings, halt=halt,
                                  deadline=started + settings.clip_deadline_s, claims=claims, spend=spend)  # fmt: skip
        if status is not None:
            output = fetch_output(status.output_url, store, item["media_key"], attempts=settings.download_attempts,
                                  pause=halt.event)  # fmt: skip
            record.state = SUCCEEDED
            write_record(store, record)
    except BudgetRefused as error:
        return _failed(item, record, "budget", str(error))
    except DeadlineExceeded as error:  # its task (if any) was cancelled: billed if it had started
        return _failed(item, record, "vidgen.deadline", str(error), bill(CANCELLED_AFTER_START))
    except OutputUnavailableError as error:
        if error.gone:  # the output URL expired: only a new task can make the clip now
            record.state, record.reason = CANCELLED, str(error)
            write_record(store, record)
        return _failed(item, record, "vidgen.output_unavailable", str(error), bill(BILLED_SUCCESS))
    if status is None:
        return _failed(item, record, record.error_code, record.reason, bill(FAILED))
    queue_s = _span(status.created_at or record.submitted_at, status.started_at)
    processing_s = _span(status.started_at, status.finished_at)
    item.update(
        cache_hit=False, seconds=round(time.time() - started, 3), device=f"hosted:{client.provider}",
        frames=output["frames"], hosted_task=_task_fields(record),
        timings={"queue_s": queue_s, "processing_s": processing_s,
                 "cost_usd": bill(BILLED_SUCCESS)},
    )  # fmt: skip
    return item


def render_hosted_item(item: dict, store: MediaStore, client: ProviderClient, **run) -> dict:
    """A clip, or a long take's missing takes (each a task of its own) joined into one clip."""
    if item.get("takes"):
        return render_hosted_takes(item, store, client, render_take=render_hosted_clip, request_for=provider_request, **run)
    return render_hosted_clip(item, store, client, **run)


def _stop_on_interrupt(workers: Workers, halt: Halt, settings: HostedSettings, provider: str,
                       cancel_on_interrupt: Callable[[], bool], report: Callable[[str], None]) -> None:  # fmt: skip
    """Halt the workers (cancelling their tasks if the run was cancelled) and wait for them, within the grace."""
    with deferred_interrupts():
        try:
            cancel = cancel_on_interrupt()
        except Exception as error:  # e.g. the instance unreachable: the tasks stay in their records for the next run
            report(f"could not tell whether the run was cancelled ({type(error).__name__}): leaving open {provider} tasks running")
            cancel = False
        halt.stop(cancel=cancel)
        stuck = workers.stop(settings.stop_grace_s)
        if stuck:
            report(f"{len(stuck)} {provider} worker(s) still in a provider call after {settings.stop_grace_s:g}s; "
                   "stopping without them (their tasks stay in their records for the next run)")  # fmt: skip


def _span(start: float | None, end: float | None) -> float | None:
    return round(end - start, 3) if start is not None and end is not None else None


def _task_fields(record) -> dict:
    return {"provider": record.provider, "model": record.model, "task_id": record.task_id,
            "submitted_at": record.submitted_at, "finished_at": record.finished_at, "creates": record.creates,
            **({"previous_tasks": record.previous_tasks} if record.previous_tasks else {})}  # fmt: skip


def _failed(item: dict, record, code: str | None, reason: str | None, cost_usd: float = 0.0) -> dict:
    item.update(cache_hit=False, device=f"hosted:{record.provider}", hosted_task=_task_fields(record),
                failure={"code": code or "failed", "reason": reason or ""}, timings={"cost_usd": cost_usd})  # fmt: skip
    return item


def _share_outcomes(items: Sequence[dict], pending: Sequence[dict]) -> None:
    """Rows sharing a clip key with a rendered row that got no clip share its failure (a refusal of one
    clip is every such row's); its cost is counted once, on the row that rendered."""
    rendered = {item["key"]: item for item in pending}
    for item in items:
        twin = rendered.get(item["key"])
        if twin is not None and twin is not item and "failure" in twin:
            item.update(cache_hit=False, failure=dict(twin["failure"]), device=twin.get("device"),
                        hosted_task=twin.get("hosted_task", {}), timings={"cost_usd": 0.0})  # fmt: skip


def render_hosted_items(
    items: Sequence[dict],
    store: MediaStore,
    client: ProviderClient,
    profile: StepProfile,
    *,
    settings: HostedSettings = HostedSettings(),
    report: Callable[[str], None] = print,
    halt: Halt | None = None,
    cancel_on_interrupt: Callable[[], bool] = lambda: True,
    claims: ClaimStore | None = None,
    spending: Spending = no_ledger,
) -> list[dict]:
    """Render the items' missing clips with up to `settings.concurrency` tasks in flight; returns the items.

    An error that would stop every clip (out of credits, a refused or missing key, an input the provider
    can't be sent) stops the step: open tasks are left to a resumed run to poll. An interruption propagates
    within `settings.stop_grace_s` (10 s): the workers cancel their open tasks first when
    `cancel_on_interrupt()` says so (a cancelled run), else leave them to the step's retry (a preempted pod
    gets the same signal); a worker still stuck in a provider call then is left behind, its task in its record.
    A task is created only under the clip's claim in `claims` (the warehouse's `provider_claims`, so other
    steps, runs and pods wait for it instead of creating; in-process only when none is given), and
    `spending` holds each create's price in the spend ledger first (`lib/rules/budget.py`).
    """
    halt = halt or Halt()
    held = ClipClaims(claims or MemoryClaims(), client.provider)
    pending = mark_cached(store, items)
    profile.total = len(pending)  # progress and ETA count what this step renders
    render = partial(render_hosted_item, store=store, client=client, settings=settings, halt=halt, claims=held,
                     spending=spending)  # fmt: skip
    workers = Workers(render, pending, concurrency=settings.concurrency, name=f"hosted-{client.provider}")
    stopping: BaseException | None = None
    refused = 0
    try:
        workers.start()
        for finished in workers.outcomes():
            # Handled whole: an interrupt inside Dagster's logging or a halt would leave their locks held.
            with deferred_interrupts():
                if isinstance(finished.error, Halted):
                    continue
                if finished.error is not None:
                    stopping = stopping or finished.error
                    halt.stop(cancel=False)
                    continue
                item = finished.result
                # The first refusals are logged, then only counted (each is in lineage and the quality report);
                # progress only at each twentieth of the shard (`StepProfile.add`).
                refused += "failure" in item
                if "failure" in item:
                    said = "refused" if is_refusal(item["failure"]) else "not delivered"
                    outcome = f"{said} ({item['failure']['code']})" if refused <= SHOWN else None
                else:
                    outcome = profile.add(item["seconds"])
                if outcome:
                    report(f"clip {item['prompt_id']} bucket {item['motion_bucket_id']} on {client.provider}: {outcome}")
    except BaseException:
        _stop_on_interrupt(workers, halt, settings, client.provider, cancel_on_interrupt, report)
        raise
    finally:
        with deferred_interrupts():  # its Event is shared with the heartbeat thread
            held.close()  # a worker left behind keeps its claims a lease at most
    workers.stop(settings.stop_grace_s)  # all ended already: nothing to wait for
    if refused > SHOWN:
        report(f"…and {refused - SHOWN} more clips not made by {client.provider} (all in lineage and the quality report)")
    if stopping is not None:
        raise stopping
    _share_outcomes(items, pending)
    return list(items)
