"""One provider task per clip, created once whoever launches: the create happens only under the clip's
claim (`claims.py`); others wait for its id. Resume from the durable record, poll with backoff, honour
`Retry-After`, cancel when the run is cancelled or the clip's deadline passes, replace a task the provider
no longer knows (404)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ...storage import MediaStore
from .base import (
    PermanentProviderError, ProviderClient, ProviderError, ProviderRequest, TaskStatus, TransientProviderError,
)
from .claims import ClipClaims
from .records import (
    CANCELLED, FAILED, SUBMITTED, SUBMITTING, SUCCEEDED, TaskRecord, new_intent, read_record, write_record,
)  # fmt: skip
from .spending import ClipSpend, FreeSpend

T = TypeVar("T")


@dataclass(frozen=True)
class HostedSettings:
    """How hard a step works a provider: tasks in flight, polling, backoff and the per-clip deadline."""

    concurrency: int = 8  # tasks in flight at once in one step
    clip_deadline_s: float = 1800.0  # per clip and run: then its task is cancelled and the clip left out
    first_poll_s: float = 0.25  # polls grow by half each time up to max_poll_s
    max_poll_s: float = 5.0
    max_backoff_s: float = 60.0  # transient errors without Retry-After back off exponentially up to this
    download_attempts: int = 5
    stop_grace_s: float = 10.0  # an interrupted step waits this long for its workers to cancel their tasks


class Halt:
    """Stops every worker of a step; `cancel` says whether open tasks are cancelled (a cancelled run) or
    left running for a resumed run to poll (the step stops for another reason, e.g. out of credits)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.cancel = False

    def stop(self, *, cancel: bool) -> None:
        self.cancel = self.cancel or cancel
        self.event.set()


class Halted(Exception):
    """A worker stopped because its step is stopping."""


class DeadlineExceeded(ProviderError):
    """The clip did not finish within its deadline in this run."""


class TaskGone(ProviderError):
    """The provider no longer knows a stored task (404: purged, or another account)."""


def _not_found(error: PermanentProviderError) -> bool:
    return (error.code or "").lower() == "http_404"


def with_retries(call: Callable[[], T], *, deadline: float, halt: Halt, settings: HostedSettings, what: str) -> T:
    """`call()`, retried on transient errors: after `Retry-After` when the provider gives one, else with
    jittered exponential backoff; never past `deadline`."""
    attempt = 0
    while True:
        try:
            return call()
        except TransientProviderError as error:
            attempt += 1
            backoff = min(settings.max_backoff_s, 0.5 * 2**attempt) * random.uniform(0.5, 1.0)
            pause = error.retry_after if error.retry_after is not None else backoff
            if time.time() + pause > deadline:
                raise DeadlineExceeded(f"{what}: still failing at the clip's deadline ({error})") from None
            if halt.event.wait(pause):
                raise Halted() from None


def _cancel(client: ProviderClient, store: MediaStore, record: TaskRecord, reason: str) -> None:
    try:
        client.cancel(record.task_id)
    except ProviderError:
        pass  # the record still says cancelled: the next run creates a fresh task rather than wait on this one
    record.state, record.reason = CANCELLED, reason
    write_record(store, record)


def run_task(
    client: ProviderClient,
    store: MediaStore,
    record: TaskRecord,
    request: Callable[[], ProviderRequest],
    *,
    settings: HostedSettings,
    halt: Halt,
    deadline: float,
    claims: ClipClaims,
    spend: ClipSpend = FreeSpend(),
) -> tuple[TaskRecord, TaskStatus | None]:
    """Drive the clip's task to an end: (record, final status). A `failed` record comes back with no status
    and is not re-submitted. `request` builds the create body (called only when a task must be created);
    `spend` holds its price first (BudgetRefused: nothing is created or recorded). Halted by a cancelled
    run, it cancels the open task it created, whatever it was doing when the halt came; a task another run
    created (or an earlier attempt) is left running for whoever waits on it: its output is reused."""
    made: list[str] = []
    try:
        return _run_task(client, store, record, request, settings=settings, halt=halt, deadline=deadline,
                         claims=claims, spend=spend, made=made)  # fmt: skip
    except Halted:
        current = read_record(store, record.clip_key)  # durable at each step: says whether a task is open
        if halt.cancel and current is not None and current.task_id in made and current.state == SUBMITTED:
            _cancel(client, store, current, "the run was cancelled")
        raise


def _run_task(client, store, record: TaskRecord, request, *, settings, halt, deadline, claims, spend,
              made: list[str]) -> tuple[TaskRecord, TaskStatus | None]:  # fmt: skip
    while True:
        if record.state == FAILED:
            return record, None
        if halt.event.is_set():
            raise Halted()
        if record.task_id and record.state in (SUBMITTED, SUCCEEDED):  # succeeded: its clip must be fetched again
            try:
                status = _poll_to_end(client, store, record, settings=settings, halt=halt, deadline=deadline)
            except TaskGone as gone:  # nothing to wait for: give the task up (kept in the record) and create anew
                record.previous_tasks = [*record.previous_tasks, {"task_id": record.task_id, "reason": str(gone)}]
                record.state, record.reason = CANCELLED, str(gone)
                write_record(store, record)
                continue
        else:  # no task yet, an intent without id, or a cancelled one
            if time.time() >= deadline:
                raise DeadlineExceeded("no task created by the clip's deadline")
            record, created = _create_under_claim(client, store, record, request, claims, settings=settings,
                                                  halt=halt, deadline=deadline, spend=spend)  # fmt: skip
            made += [record.task_id] if created and record.task_id else []
            continue
        record.started_at, record.finished_at = status.started_at, status.finished_at or time.time()
        if status.state == "succeeded":
            return record, status
        if status.state == "failed" and not status.retryable:
            record.state, record.error_code, record.reason = FAILED, status.error_code or "failed", status.reason
            write_record(store, record)
            return record, None
        # Cancelled by someone else, or the provider's own failure: not billed, so create it again.
        record.state, record.reason = CANCELLED, status.reason or status.state
        write_record(store, record)


def _has_outcome(record: TaskRecord) -> bool:
    """A task to poll, or a final refusal: nothing to create."""
    return record.state == FAILED or bool(record.task_id and record.state in (SUBMITTED, SUCCEEDED))


def _create_under_claim(client, store, record, request, claims: ClipClaims, *, settings, halt, deadline,
                        spend) -> tuple[TaskRecord, bool]:  # fmt: skip
    """(the clip's task record, whether this step created it): created only while this step holds the clip's
    claim; while another step, run or pod holds a live claim, wait for that holder's task id (or refusal)."""
    interval = settings.first_poll_s
    while True:
        if claims.acquire(record.clip_key):
            try:
                stored = read_record(store, record.clip_key)
                latest = stored or record
                if _has_outcome(latest):  # the previous holder finished creating just before
                    return latest, False
                if stored is not None and stored.state == SUBMITTING and (found := _find_again(client, stored, request)):
                    latest.task_id, latest.state, latest.submitted_at = found, SUBMITTED, time.time()
                    write_record(store, latest)  # a holder killed inside its create: its task, found again
                    return latest, False
                return _create(client, store, latest, request(), settings=settings, halt=halt, deadline=deadline,
                               spend=spend), True  # fmt: skip
            finally:
                claims.release(record.clip_key)
        latest = read_record(store, record.clip_key)
        if latest is not None and _has_outcome(latest):
            return latest, False
        if time.time() >= deadline:
            raise DeadlineExceeded("another run held the clip's claim until its deadline; it creates the task")
        if halt.event.wait(min(interval, max(0.0, deadline - time.time()))):
            raise Halted()
        interval = min(interval * 1.5, settings.max_poll_s)


def _find_again(client, intent: TaskRecord, request: Callable[[], ProviderRequest]) -> str | None:
    """The task a killed holder created from this request since its intent, where the provider can list
    tasks (`find_task`); None when it can't, or has none."""
    find = getattr(client, "find_task", None)
    if find is None:
        return None
    try:
        return find(request(), intent.intent_at)
    except ProviderError:
        return None  # can't tell: create, as without a lookup


def _create(client, store, record, request: ProviderRequest, *, settings, halt, deadline, spend) -> TaskRecord:
    intent = new_intent(record.provider, record.model, record.clip_key, record.prompt_id, creates=record.creates + 1,
                        previous_tasks=record.previous_tasks)  # fmt: skip
    spend.reserve()  # raises BudgetRefused before anything is written: a later run asks again
    write_record(store, intent)  # before the create: a kill from here to the id below is the one gap
    try:
        intent.task_id = with_retries(
            lambda: client.create(request), deadline=deadline, halt=halt, settings=settings, what="create"
        )
    except PermanentProviderError as error:  # refused at create (invalid input, moderation): this clip only
        spend.settle(0.0, "refused at create")
        intent.state, intent.error_code, intent.reason = FAILED, error.code or "refused", str(error)
        write_record(store, intent)
        return intent
    except (ProviderError, Halted) as error:  # no task was made: nothing to pay for
        spend.settle(0.0, f"not created: {type(error).__name__}")
        raise
    intent.state, intent.submitted_at = SUBMITTED, time.time()
    write_record(store, intent)
    return intent


def _poll_to_end(client, store, record: TaskRecord, *, settings, halt, deadline) -> TaskStatus:
    interval = settings.first_poll_s
    while True:
        try:
            status = with_retries(
                lambda: client.poll(record.task_id), deadline=deadline, halt=halt, settings=settings, what="poll"
            )
        except PermanentProviderError as error:
            if _not_found(error):
                raise TaskGone(f"{record.provider} no longer knows task {record.task_id} (404)") from None
            raise
        record.started_at = status.started_at or record.started_at  # what a cancelled task may still be billed from
        record.billed_s = status.billed_s if status.billed_s is not None else record.billed_s
        if status.finished:
            return status
        if time.time() >= deadline:
            _cancel(client, store, record, "no result by the clip's deadline")
            raise DeadlineExceeded(f"task {record.task_id} not finished by the clip's deadline; cancelled")
        if halt.event.wait(min(interval, max(0.0, deadline - time.time()))):
            raise Halted()
        interval = min(interval * 1.5, settings.max_poll_s)


def initial_record(store: MediaStore, provider: str, model: str, clip_key: str, prompt_id: str) -> TaskRecord:
    """The clip's stored record, or an empty one (state submitting, no id) to create from."""
    return read_record(store, clip_key) or new_intent(provider, model, clip_key, prompt_id)
