"""Durable task records: what was asked of a provider for one clip, so it is never paid for twice.

A record lives in the media store at `tasks/<clip key>.json`, keyed by the clip's content key (a changed
row has a new key, hence a new record). It sits outside `clips/` on purpose: clip objects are immutable
and cached for ever on S3, while a record moves from state to state:

    submitting (intent written, create in flight) → submitted (task id known) → succeeded | failed | cancelled

Only the holder of the clip's claim (`claims.py`, the warehouse's `provider_claims`) writes an intent and
creates; everyone else waits for the id. The intent is written *before* the create call and the id right
after it. A kill inside that window (the create's round trip) leaves an intent without id; its claim
expires and the run taking over asks the provider for a task made from the same request since the intent
(`find_task`, where the provider can list its tasks) before creating again (README: what remains per
provider). A record with an id is always polled, never re-created; `failed` (moderation, invalid input)
is final until the row changes; `cancelled` (a cancelled run, a missed deadline, the provider's own
retryable failure, a task the provider no longer knows) is created afresh by the next claim holder.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields

from ...storage import MediaStore

SUBMITTING, SUBMITTED, SUCCEEDED, FAILED, CANCELLED = "submitting", "submitted", "succeeded", "failed", "cancelled"


@dataclass
class TaskRecord:
    provider: str
    model: str
    clip_key: str
    prompt_id: str
    state: str = SUBMITTING
    task_id: str | None = None
    intent_at: float = 0.0  # epoch seconds: when the create was about to be sent
    submitted_at: float | None = None
    started_at: float | None = None  # the provider's own times, when it says
    finished_at: float | None = None
    error_code: str | None = None
    reason: str | None = None
    creates: int = 0  # create calls made for this clip, across runs
    billed_s: float | None = None  # seconds the provider bills, where it reports them (Replicate's predict_time)
    previous_tasks: list = field(default_factory=list)  # [{task_id, reason}] tasks given up on (e.g. 404: gone)


def record_key(clip_key: str) -> str:
    return f"tasks/{clip_key}.json"


def read_record(store: MediaStore, clip_key: str) -> TaskRecord | None:
    key = record_key(clip_key)
    if not store.exists(key):
        return None
    stored = store.get_json(key)
    return TaskRecord(**{f.name: stored[f.name] for f in fields(TaskRecord) if f.name in stored})


def write_record(store: MediaStore, record: TaskRecord) -> None:
    """Atomic: a reader sees the old record or the new one."""
    store.put_json(record_key(record.clip_key), asdict(record))


def new_intent(
    provider: str, model: str, clip_key: str, prompt_id: str, creates: int = 0, previous_tasks: list | None = None
) -> TaskRecord:
    return TaskRecord(provider, model, clip_key, prompt_id, intent_at=time.time(), creates=creates,
                      previous_tasks=list(previous_tasks or []))  # fmt: skip
