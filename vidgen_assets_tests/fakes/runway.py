"""A loopback Runway API: POST /v1/image_to_video (promptImage a URI or [{uri, position: first|last}], a last
frame only on models that take one), /v1/text_to_video (promptText required), /v1/video_to_video (aleph2,
videoUri required), GET and DELETE /v1/tasks/{id}; Runway's camelCase bodies, per-model ratios and
durations (runwayml 5.24), statuses and {"error"} answers (see ../shared/PROVIDERS.md); every request must
carry `X-Runway-Version`. A task's output is an MP4 of its duration × 24 frames at its `ratio`'s size.

Run: python -m vidgen_assets_tests.fakes.runway --port P
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from vidgen_assets_tests.fakes.harness import FakeHandler, FakeTask, main

API_VERSION = "2024-11-06"
GEN4_RATIOS = {"1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"}
VEO_RATIOS = {"1280:720", "720:1280", "1080:1920", "1920:1080"}
ANY_SECONDS = range(2, 11)  # "an integer from 2 to 10"
# Per route, model → (ratios, durations in s); runwayml 5.24's request types.
IMAGE_TO_VIDEO = {"gen4_turbo": (GEN4_RATIOS, ANY_SECONDS), "gen4.5": (GEN4_RATIOS, ANY_SECONDS),
                  "gen3a_turbo": ({"1280:768", "768:1280"}, (5, 10)), "veo3.1": (VEO_RATIOS, (4, 6, 8)),
                  "veo3.1_fast": (VEO_RATIOS, (4, 6, 8))}  # fmt: skip
TEXT_TO_VIDEO = {"gen4.5": ({"1280:720", "720:1280"}, ANY_SECONDS), "veo3.1": (VEO_RATIOS, (4, 6, 8)),
                 "veo3.1_fast": (VEO_RATIOS, (4, 6, 8))}  # fmt: skip
VIDEO_TO_VIDEO = {"aleph2"}
LAST_FRAME_MODELS = {"veo3.1", "veo3.1_fast"}  # promptImage may have position "last"
DEFAULT_SECONDS = {"veo3.1": 8, "veo3.1_fast": 8}  # else 5; a video-to-video output is 5 s here
CREDITS_PER_S = {"gen4_turbo": 5, "gen3a_turbo": 5, "gen4.5": 12, "veo3.1": 20, "veo3.1_fast": 10, "aleph2": 15}
FPS = 24
STATUS = {"queued": "PENDING", "running": "RUNNING", "succeeded": "SUCCEEDED", "failed": "FAILED", "cancelled": "CANCELLED"}
MODERATED = ("Your input text did not pass our content moderation.", "SAFETY.INPUT.TEXT")


def _seconds(body: dict) -> int:
    return body.get("duration", DEFAULT_SECONDS.get(body.get("model"), 5))


def _credits(body: dict) -> int:
    audio = 2 if body.get("audio", True) and body.get("model") in ("veo3.1", "veo3.1_fast") else 1  # audio doubles Veo
    return CREDITS_PER_S.get(body.get("model"), 5) * audio * _seconds(body)


def _invalid_common(body: dict, models: dict) -> str | None:
    """Runway's 400 reason for a model, ratio, duration or prompt it won't take on this route."""
    if body.get("model") not in models:
        return f"Invalid model: {body.get('model')!r}"
    ratios, seconds = models[body["model"]]
    if "ratio" in body and body["ratio"] not in ratios:
        return f"Invalid ratio: {body['ratio']!r}"
    if body["model"] == "gen4.5" and "duration" not in body:
        return "duration is required"
    duration = _seconds(body)
    if not isinstance(duration, int) or duration not in seconds:
        return f"duration must be one of {sorted(seconds)}" if len(seconds) < 9 else "duration must be an integer from 2 to 10"
    if len(body.get("promptText", "").encode("utf-16-le")) > 2000:
        return "promptText must be at most 1000 characters"
    if "audio" in body and not isinstance(body["audio"], bool):
        return "audio must be a boolean"
    return None


def _image_uri(uri) -> bool:
    return bool(re.match(r"^(https://|data:image/)", str(uri or "")))


def _invalid_image_to_video(body: dict) -> str | None:
    """promptImage: a URI, or [{uri, position}] with a first frame and, on models that take one, a last."""
    images = body.get("promptImage")
    if isinstance(images, list):
        positions = [image.get("position") for image in images if isinstance(image, dict)]
        if len(positions) != len(images) or not all(_image_uri(image.get("uri")) for image in images):
            return "promptImage[].uri must be an HTTPS URL or a data URI"
        if not set(positions) <= {"first", "last"} or len(set(positions)) != len(positions):
            return 'promptImage[].position must be "first" or "last", each at most once'
        if "first" not in positions:
            return "This model does not support generating with only a last frame"
        if "last" in positions and body.get("model") not in LAST_FRAME_MODELS:
            return f'{body.get("model")} does not support a last frame (promptImage position "last")'
    elif not _image_uri(images):
        return "promptImage must be an HTTPS URL or a data URI"
    return _invalid_common(body, IMAGE_TO_VIDEO)


def _invalid_text_to_video(body: dict) -> str | None:
    if not str(body.get("promptText") or "").strip():
        return "promptText is required"
    if "ratio" not in body:
        return "ratio is required"
    return _invalid_common(body, TEXT_TO_VIDEO)


def _invalid_video_to_video(body: dict) -> str | None:
    if body.get("model") not in VIDEO_TO_VIDEO:
        return f"Invalid model: {body.get('model')!r}"
    if not re.match(r"^(https://|data:video/)", str(body.get("videoUri", ""))):
        return "videoUri must be an HTTPS URL or a data URI of a video"
    if "ratio" in body and not re.fullmatch(r"\d+:\d+", str(body["ratio"])):
        return f"Invalid ratio: {body['ratio']!r}"
    if "promptText" in body and not str(body["promptText"]).strip():
        return "promptText must be a non-empty string"
    return None


class RunwayHandler(FakeHandler):
    routes = [
        ("POST", r"/v1/image_to_video", "create_image_to_video"),
        ("POST", r"/v1/text_to_video", "create_text_to_video"),
        ("POST", r"/v1/video_to_video", "create_video_to_video"),
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

    def create_image_to_video(self) -> None:
        self._create(_invalid_image_to_video)

    def create_text_to_video(self) -> None:
        self._create(_invalid_text_to_video)

    def create_video_to_video(self) -> None:
        self._create(_invalid_video_to_video)

    def _create(self, invalid) -> None:
        body = self.read_json()
        problem = invalid(body)
        if problem:
            return self.error(400, problem)
        if self.state.config.out_of_credits:
            return self.out_of_credits()
        task = self.state.create(body, body.get("promptText", ""), route=self.route)
        self.send_json(200, {"id": task.id, "estimatedCost": {"credits": _credits(body)}})

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
        state, duration = task.state(), _seconds(task.input)
        created = datetime.fromtimestamp(task.created_at, timezone.utc).isoformat().replace("+00:00", "Z")
        body = {"id": task.id, "status": STATUS[state], "createdAt": created}
        if state in ("queued", "running"):
            body["estimatedCost"] = {"credits": _credits(task.input)}
        if state == "running":
            body["progress"] = 0.5
        if state == "succeeded":
            width, height = map(int, task.input.get("ratio", "1280:720").split(":"))  # Runway's ratios are pixel sizes
            body.update(output=[self.media_url(duration * FPS, FPS, width, height)], cost={"credits": _credits(task.input)})
        if state == "failed":
            body.update(failure=MODERATED[0], failureCode=MODERATED[1], cost={"credits": 0})
        return body


if __name__ == "__main__":
    main(RunwayHandler)
