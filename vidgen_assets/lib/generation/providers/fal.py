"""fal.ai's queue API over plain `httpx` (its `fal-client` can't be pointed at another host).

Apps: Kling 2.1 standard image-to-video and text-to-video (fal-ai/kling-video/v2.1/standard/…), the same
queue protocol for both.

POST /{owner}/{app}[/{sub}] with the model input → {request_id, ...}; the request's status, result and
cancel URLs drop the subpath: GET /{owner}/{app}/requests/{id}/status (IN_QUEUE | IN_PROGRESS |
COMPLETED, with `error` and `error_type` when it failed), GET /{owner}/{app}/requests/{id} (the output),
PUT /{owner}/{app}/requests/{id}/cancel. Errors are {"detail": ...} with X-Fal-Retryable.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from .base import MissingKeyError, PermanentProviderError, ProviderRequest, TaskStatus
from .http_errors import error_reason, status_error, transport_error

DEFAULT_BASE_URL = "https://queue.fal.run"
REQUEST_TIMEOUT = httpx.Timeout(30.0, connect=5.0)  # per request; the clip's deadline bounds the task
_STATES = {"IN_QUEUE": "queued", "IN_PROGRESS": "running"}


def _out_of_credits(status: int, reason: str) -> bool:
    return status == 403 and "user is locked" in reason.lower()


def _error_type(body: object) -> str | None:
    """fal's machine-readable kind of a refusal, e.g. `content_policy_violation` in a 422's detail list."""
    detail = body.get("detail") if isinstance(body, Mapping) else None
    if isinstance(detail, list) and detail and isinstance(detail[0], Mapping):
        return detail[0].get("type")
    return None


class FalClient:
    """fal queue requests; a task id is `{owner}/{app}/requests/{request_id}`, the path its URLs share."""

    provider = "fal"
    key_variable = "FAL_KEY"
    base_url_variable = "VIDGEN_FAL_BASE_URL"
    max_inline_image_bytes: int | None = 10 * 1024 * 1024  # fal takes data URIs for `image_url`
    max_inline_video_bytes: int | None = 10 * 1024 * 1024  # no fal app here takes a video yet

    def __init__(self, api_key: str, base_url: str | None = None):
        if not api_key:
            raise MissingKeyError(self.key_variable)
        self._key = api_key
        self._http = httpx.Client(base_url=(base_url or DEFAULT_BASE_URL).rstrip("/"), timeout=REQUEST_TIMEOUT,
                                  headers={"Authorization": f"Key {api_key}"})  # fmt: skip

    def _send(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise transport_error("fal", error, secret=self._key) from None
        if response.is_error:
            try:
                body = response.json()
            except ValueError:
                body = response.text
            raise status_error(
                "fal", response.status_code, error_reason(body) or response.reason_phrase, response.headers,
                secret=self._key, key_variable=self.key_variable, out_of_credits=_out_of_credits, code=_error_type(body),
                retryable=response.headers.get("x-fal-retryable") == "true",
            )  # fmt: skip
        return response

    def create(self, request: ProviderRequest) -> str:
        """Queue a request on the app `request.model`: Kling's image-to-video takes the keyframe as `image_url`
        (its ratio, no seed); its text-to-video (…/text-to-video) the prompt and `aspect_ratio`."""
        owner, app, *_ = request.model.split("/")
        if request.last_image or request.video:
            what = "an end frame" if request.last_image else "a source video"
            raise PermanentProviderError(f"fal app {request.model} is not given {what} by this client",
                                         code="unsupported_input")
        body = {"prompt": request.prompt or None, "image_url": request.image,
                "duration": str(round(request.duration_s)) if request.duration_s else None}  # fmt: skip
        if request.model.endswith("/text-to-video"):
            body["aspect_ratio"] = request.ratio
        queued = self._send("POST", f"/{request.model}", json={k: v for k, v in body.items() if v is not None}).json()
        return f"{owner}/{app}/requests/{queued['request_id']}"

    def poll(self, task_id: str) -> TaskStatus:
        status = self._send("GET", f"/{task_id}/status", params={"logs": 1}).json()
        if status["status"] != "COMPLETED":
            return TaskStatus(state=_STATES[status["status"]])
        if status.get("error"):
            return TaskStatus(state="failed", error_code=status.get("error_type"), reason=str(status["error"]))
        try:
            output = self._send("GET", f"/{task_id}").json()
        except PermanentProviderError as error:  # a request that failed answers its result with the error
            return TaskStatus(state="failed", error_code=error.code, reason=str(error))
        return TaskStatus(state="succeeded", output_url=output["video"]["url"])

    def cancel(self, task_id: str) -> None:
        """PUT .../cancel; fal answers 400 ALREADY_COMPLETED for a finished request, which is left alone."""
        try:
            self._send("PUT", f"/{task_id}/cancel")
        except PermanentProviderError as error:
            if error.code not in ("HTTP_400", "HTTP_404"):
                raise
