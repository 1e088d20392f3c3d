"""A loopback fal queue (queue.fal.run): POST /{owner}/{app}[/{sub}], then status, result and cancel
under /{owner}/{app}/requests/{id} (the subpath dropped), fal's statuses and {"detail"} errors with
X-Fal-Retryable (see shared/PROVIDERS.md). Run: python -m vidgen_assets_tests.fakes.fal --port N"""

from __future__ import annotations

import re

from vidgen_assets_tests.fakes._provisional import FakeProvider, main

STATUS = {"queued": "IN_QUEUE", "running": "IN_PROGRESS"}
MODERATION = [{"loc": ["body", "prompt"], "msg": "The prompt was flagged by the content checker.",
               "type": "content_policy_violation"}]  # fmt: skip
REQUEST = re.compile(r"/(?P<app>[\w.-]+/[\w.-]+)/requests/(?P<id>[0-9a-f-]+)(?P<action>/status|/cancel)?")


def _error(status: int, detail, headers: dict | None = None):
    return status, {"detail": detail}, headers or {}


class FakeFal(FakeProvider):
    def route(self, request, throttled: bool):
        if not request.headers.get("Authorization", "").removeprefix("Key ").strip():
            return _error(401, "No authentication key provided")
        if throttled:
            return _error(429, "Too many requests", {"Retry-After": "1", "X-Fal-Retryable": "true",
                                                      "X-Fal-Error-Type": "rate_limited"})  # fmt: skip
        match = REQUEST.fullmatch(request.path)
        if match is None:
            return self._submit(request) if request.method == "POST" else _error(404, "Not found")
        task = self.tasks.get(match["id"])
        if task is None or task.extra["app"] != match["app"]:
            return _error(404, f"Request {match['id']} not found")
        urls = self._urls(request.base, match["app"], task.id)
        if match["action"] == "/cancel" and request.method == "PUT":
            with self.lock:
                self.stats["cancels"] += 1
                if task.phase() not in ("queued", "running"):
                    return 400, {"status": "ALREADY_COMPLETED"}, {}
                task.cancelled = True
            return 202, {"status": "CANCELLATION_REQUESTED"}, {}
        phase = task.phase()
        if match["action"] == "/status":
            with self.lock:
                self.stats["polls"] += 1
            if phase in STATUS:
                return 200, {"status": STATUS[phase], "queue_position": 0, "logs": [], **urls}, {}
            error = {"failed": ("The prompt was flagged by the content checker.", "content_policy_violation"),
                     "cancelled": ("Request cancelled by the user.", "request_cancelled")}.get(phase)  # fmt: skip
            body = {"status": "COMPLETED", "logs": [], "metrics": {"inference_time": task.processing_s}, **urls}
            return 200, {**body, **({"error": error[0], "error_type": error[1]} if error else {})}, {}
        if phase in STATUS:
            return _error(400, "Request is still in progress")
        if phase == "failed":
            return _error(422, MODERATION)
        if phase == "cancelled":
            return _error(400, "Request was cancelled")
        url = f"{request.base}/_fake/output/{task.id}.mp4"
        return 200, {"video": {"url": url, "content_type": "video/mp4", "file_name": "output.mp4"}}, {}

    def _submit(self, request):
        body = request.json or {}
        parts = request.path.strip("/").split("/")
        if len(parts) < 2:
            return _error(404, "Application not found")
        if request.path.endswith("image-to-video") and not body.get("image_url"):
            return _error(422, [{"loc": ["body", "image_url"], "msg": "field required", "type": "missing"}])
        if str(body.get("duration", "5")) not in ("5", "10"):
            return _error(422, [{"loc": ["body", "duration"], "msg": "must be '5' or '10'", "type": "enum"}])
        if self.config["out_of_credits"]:
            return _error(403, "User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing.")
        app = "/".join(parts[:2])
        task = self.new_task(body.get("prompt", ""), app=app)
        return 200, {"request_id": task.id, "queue_position": 0, **self._urls(request.base, app, task.id)}, {}

    @staticmethod
    def _urls(base: str, app: str, request_id: str) -> dict:
        root = f"{base}/{app}/requests/{request_id}"
        return {"response_url": root, "status_url": f"{root}/status", "cancel_url": f"{root}/cancel"}


if __name__ == "__main__":
    main(FakeFal)
