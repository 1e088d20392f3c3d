"""What every hosted video provider's client offers, and the errors it raises.

A client turns one `ProviderRequest` into a task on the provider (`create`), reports the task's
state (`poll`) and cancels it (`cancel`). It maps its SDK's or HTTP errors onto the four error
kinds below, which decide what the step does: retry, record against the row, or stop.
No Dagster here; keys never appear in messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

TaskState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
FINISHED: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


@dataclass(frozen=True)
class ProviderRequest:
    """One clip (or take) to create: everything the provider's request body is built from.

    What it carries picks the provider's route: a `video` is restyled (video-to-video); else an `image` (and
    maybe a `last_image`) starts the clip (image-to-video); else it renders from the prompt alone.
    """

    model: str  # the provider's model id: a Replicate version, "gen4_turbo", "ray-2", a fal app path
    prompt: str = ""
    image: str | None = None  # the start image (a keyframe, a previous shot's last frame): a data URI or a URL
    previous_task_id: str | None = None  # extend a finished task (Luma: keyframes.frame0 is that generation)
    seed: int | None = None
    duration_s: float | None = None
    ratio: str | None = None  # as the provider spells it: "1280:720", "16:9"
    options: Mapping[str, Any] = field(default_factory=dict)  # provider-specific knobs, e.g. motion_bucket_id
    last_image: str | None = None  # the end keyframe of a first-and-last-frame shot: a data URI or a URL
    video: str | None = None  # the source clip a video-to-video shot restyles (an H.264 MP4): a data URI or a URL


@dataclass(frozen=True)
class TaskStatus:
    """A task's state as the provider reports it; times are the provider's, in epoch seconds, if it says."""

    state: TaskState
    output_url: str | None = None
    error_code: str | None = None  # the provider's own code, e.g. "SAFETY.INPUT.TEXT"
    reason: str | None = None  # the provider's message for a failed task
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    retryable: bool = False  # a failed task worth creating again (the provider's own fault, not billed)
    billed_s: float | None = None  # the seconds the provider bills, where it reports them (Replicate: predict_time)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


class ProviderError(Exception):
    """Base of every error a provider client raises."""


class TransientProviderError(ProviderError):
    """Worth retrying after a pause: 429 (with its `Retry-After`), 5xx, a dropped connection."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentProviderError(ProviderError):
    """The provider refuses this input (moderation, invalid input): recorded against the row, not retried
    until the row changes."""

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code


class OutOfCreditsError(ProviderError):
    """The account can't pay: every further task would fail too, so the whole step stops."""


class UnauthorizedError(ProviderError):
    """The provider refused the key (401/403): every task would fail, so the whole step stops."""


class MalformedKeyError(ProviderError):
    """The key in the provider's variable can't be right (whitespace, a newline, a wrong prefix): fails at
    once, naming the variable and what is wrong, never the value."""

    def __init__(self, variable: str, problem: str):
        super().__init__(f"{variable} is malformed: {problem}; set it to the key alone")
        self.variable = variable


class MissingKeyError(ProviderError):
    """The provider's key variable is unset: fails at once, naming the variable (never its value)."""

    def __init__(self, variable: str):
        super().__init__(f"{variable} is not set: the hosted provider needs its API key in that variable")
        self.variable = variable


class ProviderClient(Protocol):
    """One provider's API, through its official SDK (or its documented HTTP protocol)."""

    provider: str  # "replicate", "runway", "luma", "fal": also names the pool `api_<provider>`
    max_inline_image_bytes: int | None  # largest data URI it accepts; None: image URLs only
    max_inline_video_bytes: int | None  # the same for a source video (video-to-video); None: URLs only

    def create(self, request: ProviderRequest) -> str:
        """Start a task; returns its id. Raises the errors above."""
        ...

    def poll(self, task_id: str) -> TaskStatus: ...

    def cancel(self, task_id: str) -> None:
        """Cancel (or delete, where the provider can't cancel) a task; a finished task is left alone."""
        ...
