"""A loopback Runway API: POST /v1/image_to_video, GET and DELETE /v1/tasks/{id}, Runway's camelCase
bodies, statuses and {"error"} answers (see ../shared/PROVIDERS.md); every request must carry
`X-Runway-Version`. A task's output is an MP4 of `duration` × 24 frames at its `ratio`'s size.

Run: python -m vidgen_assets_tests.fakes.runway --port P
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from vidgen_assets_tests.fakes.harness import FakeHandler, FakeTask, main

API_VERSION = "2024-11-06"
MODELS = {"gen4_turbo", "gen4.5", "gen3a_turbo"}
RATIOS = {"1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"}
CREDITS_PER_S, FPS = 5, 24
STATUS = {"queued": "PENDING", "running": "RUNNING", "succeeded": "SUCCEEDED", "failed": "FAILED", "cancelled": "CANCELLED"}
MODERATED = ("Your input text did not pass our content moderation.", "SAFETY.INPUT.TEXT")


def _invalid(body: dict) -> str | None:
    """Runway's 400 reason for an image-to-video body it can't run."""
    if body.get("model") not in MODELS:
        return f"Invalid model: {body.get('model')!r}"
    if not re.match(r"^(https://|data:image/)", str(body.get("promptImage", ""))):
        return "promptImage must be an HTTPS URL or a data URI"
    if "ratio" in body and body["ratio"] not in RATIOS:
        return f"Invalid ratio: {body['ratio']!r}"
    duration = body.get("duration", 5)
    if not isinstance(duration, int) or not 2 <= duration <= 10:
        return "duration must be an integer from 2 to 10"
    if len(body.get("promptText", "").encode("utf-16-le")) > 2000:
        return "promptText must be at most 1000 characters"
    return None


class RunwayHandler(FakeHandler):
    routes = [
        ("POST", r"/v1/image_to_video", "create"),
        ("GET", r"/v1/tasks/([^/]+)", "get_task"),
        ("DELETE", r"/v1/tasks/([^/]+)", "delete_task"),
    ]

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self.send_json(status, {"error": message}, headers)

    def throttled(self) -> None:
        self.error(429, "You have exceeded the rate limit for this API key.", {"Retry-After": self.retry_after()})

    def out_of_credits(self) -> None:
        self.error(400, "You do not have enough credits to run this task.")

    def _dispatch(self, method: str) -> None:
        """Runway checks the key and the API version before anything else (control endpoints aside)."""
        if not self.path.startswith("/_fake/"):
            if not re.fullmatch(r"Bearer \S+", self.headers.get("Authorization") or ""):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                return self.error(401, "Invalid API key.")
            if self.headers.get("X-Runway-Version") != API_VERSION:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                return self.error(400, f"The X-Runway-Version header must be {API_VERSION}.")
        super()._dispatch(method)

    def create(self) -> None:
        body = self.read_json()
        problem = _invalid(body)
        if problem:
            return self.error(400, problem)
        if self.state.config.out_of_credits:
            return self.out_of_credits()
        task = self.state.create(body, body.get("promptText", ""))
        self.send_json(200, {"id": task.id, "estimatedCost": {"credits": CREDITS_PER_S * body.get("duration", 5)}})

    def get_task(self, task_id: str) -> None:
        self.state.count("polls")
        task = self.state.tasks.get(task_id)
        if task is None:
            return self.error(404, "Not found.")
        self.send_json(200, self._task(task))

    def delete_task(self, task_id: str) -> None:
        task = self.state.tasks.get(task_id)
        if task is None:
            return self.error(404, "Not found.")
        self.state.count("cancels")
        if task.state() in ("queued", "running"):
            task.cancelled_at = datetime.now(timezone.utc).timestamp()
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _task(self, task: FakeTask) -> dict:
        state, duration = task.state(), task.input.get("duration", 5)
        created = datetime.fromtimestamp(task.created_at, timezone.utc).isoformat().replace("+00:00", "Z")
        body = {"id": task.id, "status": STATUS[state], "createdAt": created}
        if state in ("queued", "running"):
            body["estimatedCost"] = {"credits": CREDITS_PER_S * duration}
        if state == "running":
            body["progress"] = 0.5
        if state == "succeeded":
            width, height = map(int, task.input.get("ratio", "1280:720").split(":"))  # Runway's ratios are pixel sizes
            body.update(output=[self.media_url(duration * FPS, FPS, width, height)], cost={"credits": CREDITS_PER_S * duration})
        if state == "failed":
            body.update(failure=MODERATED[0], failureCode=MODERATED[1], cost={"credits": 0})
        return body


if __name__ == "__main__":
    main(RunwayHandler)
