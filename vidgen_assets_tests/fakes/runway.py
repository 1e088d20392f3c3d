"""A loopback Runway API: POST /v1/image_to_video, GET and DELETE /v1/tasks/{id}, Runway's bodies,
statuses and errors (see shared/PROVIDERS.md). Run: python -m vidgen_assets_tests.fakes.runway --port N"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from vidgen_assets_tests.fakes._provisional import FakeProvider, main

API_VERSION = "2024-11-06"
RATIOS = {"1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"}
CREDITS_PER_S = 5
STATUS = {"queued": "PENDING", "running": "RUNNING", "succeeded": "SUCCEEDED", "failed": "FAILED",
          "cancelled": "CANCELLED"}  # fmt: skip


def _error(status: int, message: str, headers: dict | None = None):
    return status, {"error": message}, headers or {}


def _invalid(body: dict) -> str | None:
    """Runway's 400 reasons for an image-to-video body it can't run."""
    if body.get("model") not in ("gen4_turbo", "gen4.5", "gen3a_turbo"):
        return f"Invalid model: {body.get('model')!r}"
    image = body.get("promptImage")
    if not isinstance(image, str) or not re.match(r"^(https://|data:image/)", image):
        return "promptImage must be an HTTPS URL or a data URI"
    if "ratio" in body and body["ratio"] not in RATIOS:
        return f"Invalid ratio: {body['ratio']!r}"
    if not isinstance(body.get("duration", 5), int) or not 2 <= body.get("duration", 5) <= 10:
        return "duration must be an integer from 2 to 10"
    if len(body.get("promptText", "").encode("utf-16-le")) > 2000:
        return "promptText must be at most 1000 characters"
    return None


class FakeRunway(FakeProvider):
    def route(self, request, throttled: bool):
        if not request.headers.get("Authorization", "").removeprefix("Bearer ").strip():
            return _error(401, "Invalid API key")
        if request.headers.get("X-Runway-Version") != API_VERSION:
            return _error(400, f"X-Runway-Version header must be {API_VERSION}")
        if throttled:
            return _error(429, "You have exceeded the rate limit for this API key.", {"Retry-After": "1"})
        if request.method == "POST" and request.path == "/v1/image_to_video":
            return self._create(request.json or {})
        match = re.fullmatch(r"/v1/tasks/([0-9a-f-]+)", request.path)
        task = self.tasks.get(match.group(1)) if match else None
        if task is None:
            return _error(404, "Not found")
        if request.method == "DELETE":
            with self.lock:
                self.stats["cancels"] += 1
                task.cancelled = task.cancelled or task.phase() in ("queued", "running")
            return 204, None, {}
        with self.lock:
            self.stats["polls"] += 1
        return 200, self._task(task, request.base), {}

    def _create(self, body: dict):
        reason = _invalid(body)
        if reason:
            return _error(400, reason)
        if self.config["out_of_credits"]:
            return _error(400, "You do not have enough credits to run this task.")
        task = self.new_task(body.get("promptText", ""), duration=body.get("duration", 5))
        return 200, {"id": task.id, "estimatedCost": {"credits": CREDITS_PER_S * task.extra["duration"]}}, {}

    def _task(self, task, base: str) -> dict:
        phase = task.phase()
        body = {"id": task.id, "status": STATUS[phase],
                "createdAt": datetime.fromtimestamp(task.created, timezone.utc).isoformat().replace("+00:00", "Z")}  # fmt: skip
        credits = CREDITS_PER_S * task.extra["duration"]
        if phase in ("queued", "running"):
            body["estimatedCost"] = {"credits": credits}
        if phase == "running":
            body["progress"] = 0.5
        if phase == "succeeded":
            body.update(output=[f"{base}/_fake/output/{task.id}.mp4"], cost={"credits": credits})
        if phase == "failed":
            body.update(failure="Your input text did not pass our content moderation.",
                        failureCode="SAFETY.INPUT.TEXT", cost={"credits": 0})  # fmt: skip
        return body


if __name__ == "__main__":
    main(FakeRunway)
