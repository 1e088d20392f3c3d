"""Runway's API through its official `runwayml` SDK: image-to-video tasks (gen4_turbo and kin).

POST /v1/image_to_video (camelCase body; the SDK sends `X-Runway-Version`), GET /v1/tasks/{id},
DELETE /v1/tasks/{id} to cancel. A failed task reports `failureCode` (SAFETY.INPUT.*, ...).
"""

from __future__ import annotations

import httpx
import runwayml

from .base import MissingKeyError, PermanentProviderError, ProviderRequest, TaskStatus
from .http_errors import delete_unless_finished, sdk_error

_STATES = {"PENDING": "queued", "THROTTLED": "queued", "RUNNING": "running", "SUCCEEDED": "succeeded",
           "FAILED": "failed", "CANCELLED": "cancelled"}  # fmt: skip
# One request's own time limit; the clip's deadline (the step's) bounds the whole task.
REQUEST_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


def _out_of_credits(status: int, reason: str) -> bool:
    return status == 400 and "enough credits" in reason.lower()


class RunwayClient:
    """Runway image-to-video: the keyframe as `promptImage` (a data URI up to 5 MB, or an https URL)."""

    provider = "runway"
    key_variable = "RUNWAYML_API_SECRET"
    base_url_variable = "RUNWAYML_BASE_URL"
    max_inline_image_bytes: int | None = 5 * 1024 * 1024

    def __init__(self, api_key: str, base_url: str | None = None):
        if not api_key:
            raise MissingKeyError(self.key_variable)
        self._key = api_key
        # max_retries=0: the SDK would otherwise retry 429/5xx twice on its own, sleeping inside a call
        # whose caller holds a per-clip deadline and its own backoff; one layer of retries, ours, decides.
        self._sdk = runwayml.RunwayML(api_key=api_key, base_url=base_url, max_retries=0, timeout=REQUEST_TIMEOUT)

    def _call(self, method, *args, **kwargs):
        try:
            return method(*args, **kwargs)
        except runwayml.RunwayMLError as error:
            mapped = sdk_error("Runway", error, secret=self._key, key_variable=self.key_variable,
                               out_of_credits=_out_of_credits)
            if mapped is None:
                raise
            raise mapped from None  # the SDK's exception carries the request, headers and all

    def create(self, request: ProviderRequest) -> str:
        """Start an image-to-video task; returns the task id."""
        if not request.image:
            raise PermanentProviderError(f"Runway {request.model} needs a keyframe image", code="ASSET.INVALID")
        body = {"model": request.model, "prompt_image": request.image, "prompt_text": request.prompt or None,
                "ratio": request.ratio, "seed": request.seed,
                "duration": round(request.duration_s) if request.duration_s else None}  # fmt: skip
        task = self._call(self._sdk.image_to_video.create, **{k: v for k, v in body.items() if v is not None})
        return task.id

    def poll(self, task_id: str) -> TaskStatus:
        task = self._call(self._sdk.tasks.retrieve, task_id)
        created = getattr(task, "created_at", None)
        return TaskStatus(
            state=_STATES[task.status],
            output_url=(task.output or [None])[0] if task.status == "SUCCEEDED" else None,
            error_code=getattr(task, "failure_code", None),
            reason=getattr(task, "failure", None),
            created_at=created.timestamp() if created else None,
            # INTERNAL.* failures are Runway's own (refunded): worth a new task, unlike SAFETY.* or ASSET.INVALID.
            retryable=str(getattr(task, "failure_code", None) or "").startswith("INTERNAL"),
        )

    def cancel(self, task_id: str) -> None:
        """DELETE the task (Runway's cancel), unless it has finished."""
        delete_unless_finished(self.poll, lambda task: self._call(self._sdk.tasks.delete, task), task_id)
