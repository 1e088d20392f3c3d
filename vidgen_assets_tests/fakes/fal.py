"""A loopback fal queue (queue.fal.run): POST /{owner}/{app}[/{sub}] queues a request; its status, result
and cancel live under /{owner}/{app}/requests/{id} (the subpath dropped). fal's statuses (IN_QUEUE,
IN_PROGRESS, COMPLETED with `error`/`error_type` when it failed), {"detail"} answers with X-Fal-Retryable
(see ../shared/PROVIDERS.md); …/image-to-video apps need `image_url`, …/text-to-video ones a `prompt` and
an `aspect_ratio` of 16:9, 9:16 or 1:1 (422 otherwise). A result's video is an MP4 of `duration` × 24 frames.

Run: python -m vidgen_assets_tests.fakes.fal --port P
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from vidgen_assets_tests.fakes.harness import FakeHandler, FakeTask, main

FPS = 24
STATUS = {"queued": "IN_QUEUE", "running": "IN_PROGRESS"}
POLICY = "The content was flagged by the content checker."
ERRORS = {"failed": (POLICY, "content_policy_violation"), "cancelled": ("Request was cancelled.", "request_cancelled")}
APP = r"/([\w.-]+/[\w.-]+)/requests/([\w-]+)"
ASPECT_RATIOS = {"16:9", "9:16", "1:1"}
SIZES_720P = {"16:9": (1280, 720), "9:16": (720, 1280), "1:1": (720, 720)}  # Kling standard renders 720p


class FalHandler(FakeHandler):
    routes = [
        ("GET", APP + r"/status", "status"),
        ("PUT", APP + r"/cancel", "cancel"),
        ("GET", APP, "result"),
        ("POST", r"/([\w.-]+/[\w.-]+)(/[\w./-]+)?", "submit"),
    ]

    def detail(self, status: int, detail, headers: dict[str, str] | None = None) -> None:
        self.send_json(status, {"detail": detail}, headers)

    def throttled(self) -> None:
        self.detail(429, "Too many requests", {"Retry-After": self.retry_after(), "X-Fal-Retryable": "true",
                                               "X-Fal-Error-Type": "rate_limited"})  # fmt: skip

    def out_of_credits(self) -> None:
        self.detail(403, "User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing.")

    def _authorized(self) -> bool:
        if re.fullmatch(r"Key \S+", self.headers.get("Authorization") or ""):
            return True
        self.detail(401, "No authentication key provided")
        return False

    def _urls(self, app: str, request_id: str) -> dict:
        root = f"{self.base_url}/{app}/requests/{request_id}"
        return {"response_url": root, "status_url": f"{root}/status", "cancel_url": f"{root}/cancel"}

    def _task(self, app: str, request_id: str) -> FakeTask | None:
        task = self.state.tasks.get(request_id)
        if task is None or task.input["app"] != app:
            self.detail(404, f"Request {request_id} not found")
            return None
        return task

    def submit(self, app: str, sub: str | None) -> None:
        if not self._authorized():
            return
        body = self.read_json()
        if (sub or "").endswith("image-to-video") and not body.get("image_url"):
            return self.detail(422, [{"loc": ["body", "image_url"], "msg": "field required", "type": "missing"}])
        if (sub or "").endswith("text-to-video"):  # Kling text-to-video: a prompt, one of three aspect ratios
            if not body.get("prompt"):
                return self.detail(422, [{"loc": ["body", "prompt"], "msg": "field required", "type": "missing"}])
            if body.get("aspect_ratio", "16:9") not in ASPECT_RATIOS:
                return self.detail(422, [{"loc": ["body", "aspect_ratio"], "msg": "must be one of '16:9', '9:16', '1:1'",
                                          "type": "enum"}])  # fmt: skip
        if str(body.get("duration", "5")) not in ("5", "10"):
            return self.detail(422, [{"loc": ["body", "duration"], "msg": "must be '5' or '10'", "type": "enum"}])
        if self.state.config.out_of_credits:
            return self.out_of_credits()
        task = self.state.create(body, body.get("prompt", ""), route=self.route)
        task.input = {**body, "app": app}
        self.send_json(200, {"request_id": task.id, "queue_position": 0, **self._urls(app, task.id)})

    def status(self, app: str, request_id: str) -> None:
        if not self._authorized() or (task := self._task(app, request_id)) is None:
            return
        self.state.count("polls")
        state, urls = task.state(), self._urls(app, request_id)
        if state in STATUS:
            return self.send_json(200, {"status": STATUS[state], "queue_position": 0, "logs": [], **urls})
        body = {"status": "COMPLETED", "logs": [], "metrics": {"inference_time": task.processing_s}, **urls}
        if state in ERRORS:
            body.update(error=ERRORS[state][0], error_type=ERRORS[state][1])
        self.send_json(200, body)

    def result(self, app: str, request_id: str) -> None:
        if not self._authorized() or (task := self._task(app, request_id)) is None:
            return
        state = task.state()
        if state in STATUS:
            return self.detail(400, "Request is still in progress")
        if state == "failed":
            return self.detail(422, [{"loc": ["body", "prompt"], "msg": POLICY, "type": "content_policy_violation"}])
        if state == "cancelled":
            return self.detail(400, "Request was cancelled")
        frames = int(task.input.get("duration", "5")) * FPS
        if "aspect_ratio" in task.input or "image_url" not in task.input:  # text-to-video: 720p at its ratio
            url = self.media_url(frames, FPS, *SIZES_720P[task.input.get("aspect_ratio", "16:9")])
        else:  # image-to-video: the keyframe's ratio; the fake keeps it small
            url = self.media_url(frames, FPS)
        self.send_json(200, {"video": {"url": url, "content_type": "video/mp4", "file_name": "output.mp4"}})

    def cancel(self, app: str, request_id: str) -> None:
        if not self._authorized() or (task := self._task(app, request_id)) is None:
            return
        self.state.count("cancels")
        if task.state() not in STATUS:
            return self.send_json(400, {"status": "ALREADY_COMPLETED"})
        task.cancelled_at = datetime.now(timezone.utc).timestamp()
        self.send_json(202, {"status": "CANCELLATION_REQUESTED"})


if __name__ == "__main__":
    main(FalHandler)
