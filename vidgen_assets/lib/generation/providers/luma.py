"""Luma Dream Machine through its official `lumaai` SDK: text-, image- and video-to-video, and extends.

POST /generations/video: no keyframes is text-to-video; keyframes.frame0 the start image, frame1 the end
image (first-and-last-frame); an extend starts from a completed generation: keyframes.frame0 =
{"type": "generation", "id": ...}. POST /generations/video/modify (`generations.video.modify`): a source
clip restyled, {generation_type: "modify_video", media: {url}, mode, model, prompt, first_frame?}, the mode
from the row's `strength` (catalog_shots.luma_modify_mode). Every kind is a generation: GET
/generations/{id} (state queued | dreaming | completed | failed, the video at assets.video), DELETE
/generations/{id}. Media go by URL only. Luma's errors carry no code, only a `detail` message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import lumaai

from .base import MissingKeyError, PermanentProviderError, ProviderRequest, TaskStatus
from .catalog_shots import luma_modify_mode
from .hosted_model import LUMA_RESOLUTIONS
from .http_errors import delete_unless_finished, sdk_error

_STATES = {"queued": "queued", "dreaming": "running", "completed": "succeeded", "failed": "failed"}
REQUEST_TIMEOUT = httpx.Timeout(30.0, connect=5.0)  # per request; the clip's deadline bounds the task


def _resolution(options: Mapping[str, Any]) -> str | None:
    """Luma's name for the clip's size, by its short side (the catalog rejects rows asking for any other);
    None, Luma's default, for a request that names no size."""
    if not (options.get("width") and options.get("height")):
        return None
    return LUMA_RESOLUTIONS[min(options["width"], options["height"])]


def _out_of_credits(status: int, reason: str) -> bool:
    return status in (400, 402) and "credits" in reason.lower()


def _code(status: int, reason: str) -> str | None:
    """Luma has no error codes: name the refusal by what its message says."""
    return "moderation" if "moderation" in reason.lower() else None


class LumaClient:
    """Luma video generations; `previous_task_id` extends that generation (frame0) instead of an image."""

    provider = "luma"
    key_variable = "LUMAAI_API_KEY"
    base_url_variable = "LUMAAI_BASE_URL"
    max_inline_image_bytes: int | None = None  # image URLs only (presigned S3 URLs), no data URIs
    max_inline_video_bytes: int | None = None  # likewise the source clip of a modify
    extends_tasks = True  # a long take's next take extends the previous generation (providers/takes.py)

    def __init__(self, api_key: str, base_url: str | None = None):
        if not api_key:
            raise MissingKeyError(self.key_variable)
        self._key = api_key
        # max_retries=0: the SDK's own two retries would sleep inside our call, past the per-clip deadline
        # and under our backoff; the step's retry loop is the only one.
        self._sdk = lumaai.LumaAI(auth_token=api_key, base_url=base_url, max_retries=0, timeout=REQUEST_TIMEOUT)

    def _call(self, method, *args, **kwargs):
        try:
            return method(*args, **kwargs)
        except lumaai.LumaAIError as error:
            mapped = sdk_error("Luma", error, secret=self._key, key_variable=self.key_variable,
                               out_of_credits=_out_of_credits, code=_code)
            if mapped is None:
                raise
            raise mapped from None  # the SDK's exception carries the request, headers and all

    def create(self, request: ProviderRequest) -> str:
        """Start a generation (text-, image- or video-to-video, or an extend of `previous_task_id`); returns its id."""
        for name in ("image", "last_image", "video"):
            if (getattr(request, name) or "").startswith("data:"):
                raise PermanentProviderError(
                    "Luma takes media by URL only: keep media on S3 (VIDGEN_MEDIA_URI=s3://...) so keyframes and "
                    "source clips go as presigned URLs", code="image_url_required")  # fmt: skip
        if request.video:
            body = {"generation_type": "modify_video", "media": {"url": request.video}, "model": request.model,
                    "mode": luma_modify_mode(request.options.get("strength", 1.0)), "prompt": request.prompt or None,
                    "first_frame": {"url": request.image} if request.image else None}  # fmt: skip
            method = self._sdk.generations.video.modify
        else:
            keyframes = {}
            if request.previous_task_id:
                keyframes["frame0"] = {"type": "generation", "id": request.previous_task_id}
            elif request.image:
                keyframes["frame0"] = {"type": "image", "url": request.image}
            if request.last_image:
                keyframes["frame1"] = {"type": "image", "url": request.last_image}
            body = {"model": request.model, "prompt": request.prompt or None, "aspect_ratio": request.ratio,
                    "duration": f"{round(request.duration_s)}s" if request.duration_s else None,
                    "resolution": _resolution(request.options), "keyframes": keyframes or None}  # fmt: skip
            method = self._sdk.generations.create
        generation = self._call(method, **{k: v for k, v in body.items() if v is not None})
        return generation.id

    def poll(self, task_id: str) -> TaskStatus:
        generation = self._call(self._sdk.generations.get, task_id)
        state = _STATES[generation.state or "queued"]
        reason = generation.failure_reason if state == "failed" else None
        return TaskStatus(
            state=state,
            output_url=generation.assets.video if state == "succeeded" and generation.assets else None,
            error_code=_code(0, reason or "") if reason else None,
            reason=reason,
            created_at=generation.created_at.timestamp() if generation.created_at else None,
        )

    def cancel(self, task_id: str) -> None:
        """Luma can't cancel: DELETE the generation, unless it has finished."""
        delete_unless_finished(self.poll, lambda task: self._call(self._sdk.generations.delete, task), task_id)
