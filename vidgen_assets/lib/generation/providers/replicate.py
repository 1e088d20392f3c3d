"""Replicate through its official SDK (`replicate.Client(api_token=..., base_url=...)`).

Models: stable-video-diffusion (image-to-video) and zeroscope-v2-xl (text-to-video), each pinned to a
version; `model_input` builds each one's prediction input.

The SDK retries GETs on 429/503/504 honouring `Retry-After`, but never a POST; its `ReplicateError`
carries the status and RFC 7807 details, not the headers, so a response hook keeps the last
`Retry-After` seen on this thread for the step's own backoff.
"""

from __future__ import annotations

import threading
from datetime import datetime

import httpx

from .base import (
    OutOfCreditsError, PermanentProviderError, ProviderRequest, TaskStatus, TransientProviderError, UnauthorizedError,
)  # fmt: skip

STATES = {"starting": "queued", "processing": "running", "succeeded": "succeeded", "failed": "failed",
          "canceled": "cancelled", "aborted": "cancelled"}  # fmt: skip
VIDEO_LENGTHS = {14: "14_frames_with_svd", 25: "25_frames_with_svd_xt"}


def _epoch(value: str | None) -> float | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else None


def zeroscope_input(request: ProviderRequest) -> dict:
    """zeroscope-v2-xl's input (text-to-video): the prompt and the clip's size, length and rate."""
    if not request.prompt:
        raise PermanentProviderError("replicate zeroscope-v2-xl renders from the prompt: it has none", code="no_prompt")
    options = request.options
    return {
        "prompt": request.prompt, "model": "xl", "width": options["width"], "height": options["height"],
        "num_frames": options["num_frames"], "fps": options["fps"], "seed": request.seed,
    }  # fmt: skip


def model_input(request: ProviderRequest) -> dict:
    """The prediction's `input` for the request's model ("owner/name[:version]"); SVD unless named otherwise."""
    name = request.model.partition(":")[0]
    if request.last_image or request.video:
        what = "an end frame" if request.last_image else "a source video"
        raise PermanentProviderError(f"replicate {name} is not given {what} by this client", code="unsupported_input")
    return MODEL_INPUTS.get(name, svd_input)(request)


def svd_input(request: ProviderRequest) -> dict:
    """stable-video-diffusion's input from a request (options carry the clip's params)."""
    options = request.options
    return {
        "input_image": request.image, "video_length": VIDEO_LENGTHS[options["num_frames"]],
        "sizing_strategy": "maintain_aspect_ratio", "frames_per_second": options["fps"],
        "motion_bucket_id": options.get("motion_bucket_id", 127), "cond_aug": options.get("noise_aug_strength", 0.02),
        "seed": request.seed,
    }  # fmt: skip


def musicgen_input(request: ProviderRequest) -> dict:
    """MusicGen's input (a soundtrack, `lib/audio/hosted.py`): the preset's options, the request's prompt and seed."""
    return {**request.options, "prompt": request.prompt, "seed": request.seed}


MODEL_INPUTS = {
    "stability-ai/stable-video-diffusion": svd_input, "anotherjesse/zeroscope-v2-xl": zeroscope_input,
    "meta/musicgen": musicgen_input,
}  # fmt: skip


class ReplicateClient:
    """Predictions on Replicate: create (by version or by model), poll, cancel."""

    provider = "replicate"
    key_variable = "REPLICATE_API_TOKEN"
    base_url_variable = "REPLICATE_BASE_URL"
    max_inline_image_bytes = 1_000_000  # larger inputs must be URLs
    max_inline_video_bytes = 1_000_000

    def __init__(self, api_key: str, base_url: str | None = None):
        import replicate

        self._seen = threading.local()
        self._errors = replicate.exceptions.ReplicateError
        self._client = replicate.Client(
            api_token=api_key, base_url=base_url or None,
            event_hooks={"response": [self._remember_retry_after]},
        )  # fmt: skip
        # The SDK builds its HTTP client on first use, unguarded: built here, threads share one (and its pool).
        self._client._client  # noqa: B018

    def _remember_retry_after(self, response: httpx.Response) -> None:
        self._seen.retry_after = response.headers.get("Retry-After")

    def _mapped(self, error: Exception) -> Exception:
        """The base error for an SDK or transport error; messages carry the provider's words, never the key."""
        if isinstance(error, httpx.TransportError):
            return TransientProviderError(f"replicate: {type(error).__name__}")
        if not isinstance(error, self._errors):
            return error
        status, detail = error.status or 0, f"replicate {error.status}: {error.title or ''} {error.detail or ''}".strip()
        if status == 429 or status >= 500:
            retry_after = getattr(self._seen, "retry_after", None)
            return TransientProviderError(detail, float(retry_after) if retry_after and retry_after.isdigit() else None)
        if status == 402:
            return OutOfCreditsError(detail)
        if status in (401, 403):
            return UnauthorizedError(f"replicate {status}: {error.title} (check REPLICATE_API_TOKEN)")
        return PermanentProviderError(detail, code=f"http_{status}")

    def create(self, request: ProviderRequest) -> str:
        # "owner/name:version" pins a version (POST /v1/predictions {version, input}); "owner/name" runs the
        # model's latest (POST /v1/models/{owner}/{name}/predictions {input}). Either is one prediction.
        model, _, version = request.model.rpartition(":")
        target = {"version": version} if model else {"model": version}
        wanted = model_input(request)  # an input this client can't send is refused before any request
        try:
            prediction = self._client.predictions.create(**target, input=wanted)
        except Exception as error:
            raise self._mapped(error) from None
        return prediction.id

    def poll(self, task_id: str) -> TaskStatus:
        try:
            prediction = self._client.predictions.get(task_id)
        except Exception as error:
            raise self._mapped(error) from None
        output = prediction.output[0] if isinstance(prediction.output, list) and prediction.output else prediction.output
        return TaskStatus(
            state=STATES[prediction.status], output_url=output if isinstance(output, str) else None,
            error_code="prediction_failed" if prediction.status == "failed" else None, reason=prediction.error,
            created_at=_epoch(prediction.created_at), started_at=_epoch(prediction.started_at),
            finished_at=_epoch(prediction.completed_at), billed_s=(prediction.metrics or {}).get("predict_time"),
        )  # fmt: skip

    def find_task(self, request: ProviderRequest, since: float) -> str | None:
        """A prediction created since `since` (epoch seconds) from exactly this request's input: what a run
        killed inside its create left behind. Looks at the newest page of `GET /v1/predictions` only."""
        wanted = model_input(request)
        try:
            page = self._client.predictions.list()
        except Exception as error:
            raise self._mapped(error) from None
        for prediction in page.results:
            created = _epoch(prediction.created_at) or 0.0
            if created >= since - 5.0 and prediction.input == wanted:  # 5 s: clocks of two machines
                return prediction.id
        return None

    def cancel(self, task_id: str) -> None:
        try:
            self._client.predictions.cancel(task_id)
        except Exception as error:
            raise self._mapped(error) from None
