"""One provider task per clip, created once: resume from its durable record, poll with backoff, honour
`Retry-After`, cancel when the run is cancelled or the clip's deadline passes."""

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
from .records import CANCELLED, FAILED, SUBMITTED, SUCCEEDED, TaskRecord, new_intent, read_record, write_record

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
) -> tuple[TaskRecord, TaskStatus | None]:
    """Drive the clip's task to an end: (record, final status). A `failed` record comes back with no status
    and is not re-submitted. `request` builds the create body (called only when a task must be created).
    Halted by a cancelled run, it cancels the clip's open task, whatever it was doing when the halt came."""
    try:
        return _run_task(client, store, record, request, settings=settings, halt=halt, deadline=deadline)
    except Halted:
        current = read_record(store, record.clip_key)  # durable at each step: says whether a task is open
        if halt.cancel and current is not None and current.task_id and current.state == SUBMITTED:
            _cancel(client, store, current, "the run was cancelled")
        raise


def _run_task(client, store, record: TaskRecord, request, *, settings, halt, deadline) -> tuple[TaskRecord, TaskStatus | None]:
    while True:
        if record.state == FAILED:
            return record, None
        if halt.event.is_set():
            raise Halted()
        if record.task_id and record.state in (SUBMITTED, SUCCEEDED):  # succeeded: its clip must be fetched again
            status = _poll_to_end(client, store, record, settings=settings, halt=halt, deadline=deadline)
        else:  # no task yet, an intent without id, or a cancelled one
            if time.time() >= deadline:
                raise DeadlineExceeded("no task created by the clip's deadline")
            record = _create(client, store, record, request(), settings=settings, halt=halt, deadline=deadline)
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


def _create(client, store, record, request: ProviderRequest, *, settings, halt, deadline) -> TaskRecord:
    intent = new_intent(record.provider, record.model, record.clip_key, record.prompt_id, creates=record.creates + 1)
    write_record(store, intent)  # before the create: a kill from here to the id below is the one gap
    try:
        intent.task_id = with_retries(
            lambda: client.create(request), deadline=deadline, halt=halt, settings=settings, what="create"
        )
    except PermanentProviderError as error:  # refused at create (invalid input, moderation): this clip only
        intent.state, intent.error_code, intent.reason = FAILED, error.code or "refused", str(error)
        write_record(store, intent)
        return intent
    intent.state, intent.submitted_at = SUBMITTED, time.time()
    write_record(store, intent)
    return intent


def _poll_to_end(client, store, record: TaskRecord, *, settings, halt, deadline) -> TaskStatus:
    interval = settings.first_poll_s
    while True:
        status = with_retries(
            lambda: client.poll(record.task_id), deadline=deadline, halt=halt, settings=settings, what="poll"
        )
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
