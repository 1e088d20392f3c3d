"""A loopback Luma Dream Machine API: POST /generations[/video], GET and DELETE /generations/{id}, with
extends (keyframes.frame0 a completed generation), Luma's states and {"detail"} errors (see
shared/PROVIDERS.md). Run: python -m vidgen_assets_tests.fakes.luma --port N"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from vidgen_assets_tests.fakes._provisional import FakeProvider, main

PREFIX = "/dream-machine/v1"  # the real base URL's path; LUMAAI_BASE_URL points at it
MODELS = {"ray-1-6", "ray-2", "ray-flash-2"}
ASPECT_RATIOS = {"1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21"}
STATE = {"queued": "queued", "running": "dreaming", "succeeded": "completed", "failed": "failed"}


def _error(status: int, detail: str, headers: dict | None = None):
    return status, {"detail": detail}, headers or {}


class FakeLuma(FakeProvider):
    def route(self, request, throttled: bool):
        if not request.headers.get("Authorization", "").removeprefix("Bearer ").strip():
            return _error(401, "Invalid API key")
        if throttled:
            return _error(429, "Too many requests", {"Retry-After": "1"})
        path = request.path.removeprefix(PREFIX)
        if request.method == "POST" and path in ("/generations", "/generations/video"):
            return self._create(request.json or {}, request.base)
        match = re.fullmatch(r"/generations/([0-9a-f-]+)", path)
        task = self.tasks.get(match.group(1)) if match else None
        if task is None or task.cancelled:
            return _error(404, "Generation not found")
        if request.method == "DELETE":
            with self.lock:
                self.stats["cancels"] += 1
                task.cancelled = True
            return 204, None, {}
        with self.lock:
            self.stats["polls"] += 1
        return 200, self._generation(task, request.base), {}

    def _refusal(self, body: dict) -> str | None:
        """Luma's 400 reasons for a request it can't run; an extend needs a completed generation."""
        if body.get("model") not in MODELS:
            return f"Invalid model: {body.get('model')!r}"
        if "aspect_ratio" in body and body["aspect_ratio"] not in ASPECT_RATIOS:
            return f"Invalid aspect ratio: {body['aspect_ratio']!r}"
        if body.get("duration", "5s") not in ("5s", "9s"):
            return "duration must be 5s or 9s"
        for name, frame in (body.get("keyframes") or {}).items():
            if frame.get("type") == "image" and not str(frame.get("url", "")).startswith(("http://", "https://")):
                return f"keyframes.{name}.url must be an image URL"
            if frame.get("type") == "generation":
                source = self.tasks.get(frame.get("id", ""))
                if source is None or source.phase() != "succeeded":
                    return f"keyframes.{name}: generation {frame.get('id')} is not a completed generation"
        if not body.get("prompt") and not body.get("keyframes"):
            return "prompt is required"
        return None

    def _create(self, body: dict, base: str):
        reason = self._refusal(body)
        if reason:
            return _error(400, reason)
        if self.config["out_of_credits"]:
            return _error(400, "Insufficient credits")
        frame0 = (body.get("keyframes") or {}).get("frame0") or {}
        task = self.new_task(body.get("prompt", ""), request=body, extends=frame0.get("id"))
        return 201, self._generation(task, base), {}

    def _generation(self, task, base: str) -> dict:
        phase = task.phase()
        return {
            "id": task.id, "generation_type": "video", "state": STATE[phase], "model": task.extra["request"]["model"],
            "created_at": datetime.fromtimestamp(task.created, timezone.utc).isoformat().replace("+00:00", "Z"),
            "failure_reason": "400: prompt not allowed because advanced moderation failed" if phase == "failed" else None,
            "assets": {"video": f"{base}/_fake/output/{task.id}.mp4"} if phase == "succeeded" else None,
            "request": task.extra["request"],
        }  # fmt: skip


if __name__ == "__main__":
    main(FakeLuma)
