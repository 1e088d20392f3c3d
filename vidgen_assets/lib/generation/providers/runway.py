"""Runway's API through its official `runwayml` SDK: image-, text- and video-to-video tasks.

The request's content picks the route (camelCase bodies; the SDK sends `X-Runway-Version`): a source video
→ POST /v1/video_to_video (aleph2: videoUri, promptText, ratio, seed); an image → POST /v1/image_to_video
(promptImage a URI, or [{uri, position: "first"}, {uri, position: "last"}] with a last frame, on models
that take one, e.g. veo3.1); the prompt alone → POST /v1/text_to_video (gen4.5, veo3.1: promptText,
ratio, duration, seed). Every kind is one task: GET /v1/tasks/{id}, DELETE /v1/tasks/{id} to cancel. A
failed task reports `failureCode` (SAFETY.INPUT.*, ...).
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
# Models that make sound unless told not to (Veo): sent `audio: false`, the reel is silent and audio costs more.
AUDIO_MODELS = frozenset({"veo3.1", "veo3.1_fast"})


def _out_of_credits(status: int, reason: str) -> bool:
    return status == 400 and "enough credits" in reason.lower()


class RunwayClient:
    """Runway video tasks: images as `promptImage`, a source clip as `videoUri` (each a data URI up to 5 MB,
    or an https URL), or the prompt alone."""

    provider = "runway"
    key_variable = "RUNWAYML_API_SECRET"
    base_url_variable = "RUNWAYML_BASE_URL"
    max_inline_image_bytes: int | None = 5 * 1024 * 1024
    max_inline_video_bytes: int | None = 5 * 1024 * 1024  # `videoUri` data URIs "up to 5MB" (runwayml 5.24)

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
        """Start the task the request asks for (video-, image- or text-to-video); returns the task id."""
        method, body = self._route(request)
        if request.model in AUDIO_MODELS:
            body["audio"] = False
        task = self._call(method, **{k: v for k, v in body.items() if v is not None})
        return task.id

    def _route(self, request: ProviderRequest) -> tuple:
        """The SDK call and its body (snake_case: the SDK sends camelCase) for what the request carries."""
        common = {"model": request.model, "prompt_text": request.prompt or None, "ratio": request.ratio,
                  "seed": request.seed}  # fmt: skip
        duration = round(request.duration_s) if request.duration_s else None
        if request.video:
            return self._sdk.video_to_video.create, {**common, "video_uri": request.video}
        if request.image:
            prompt_image = request.image if not request.last_image else [
                {"uri": request.image, "position": "first"}, {"uri": request.last_image, "position": "last"}]
            return self._sdk.image_to_video.create, {**common, "prompt_image": prompt_image, "duration": duration}
        if request.last_image:
            raise PermanentProviderError(f"Runway {request.model} needs a first frame with a last frame",
                                         code="ASSET.INVALID")
        if not request.prompt:
            raise PermanentProviderError(f"Runway {request.model} text-to-video needs a prompt", code="INPUT.INVALID")
        return self._sdk.text_to_video.create, {**common, "duration": duration}

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
