"""A loopback Luma Dream Machine API under /dream-machine/v1: POST /generations[/video] (no keyframes:
text-to-video, which needs a prompt; keyframes.frame0 and/or frame1 an image URL or a completed generation,
else 400), POST /generations/video/modify (generation_type modify_video, media.url, mode adhere_1..3 |
flex_1..3 | reimagine_1..3, model ray-2 | ray-flash-2), GET and DELETE /generations/{id}; Luma's states
(queued, dreaming, completed, failed) and {"detail"} answers (see ../shared/PROVIDERS.md). Media go by URL
only. A generation's video is an MP4 of its duration × 24 frames at its aspect ratio and resolution (a
modify's: 5 s at 720p 16:9, whatever its source).

Run: python -m vidgen_assets_tests.fakes.luma --port P
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from vidgen_assets_tests.fakes.harness import FakeHandler, FakeTask, main

PREFIX = "/dream-machine/v1"  # the real base URL's path: LUMAAI_BASE_URL is http://127.0.0.1:P/dream-machine/v1
MODELS = {"ray-1-6", "ray-2", "ray-flash-2"}
ASPECT_RATIOS = {"1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21"}
DURATIONS = {"5s": 5, "9s": 9}
RESOLUTIONS = {"540p", "720p", "1080p", "4k"}
FPS = 24
STATE = {"queued": "queued", "running": "dreaming", "succeeded": "completed", "failed": "failed"}
MODERATED = "400: prompt not allowed because advanced moderation failed"
MODIFY_MODELS = {"ray-2", "ray-flash-2"}
MODIFY_MODES = {f"{kind}_{n}" for kind in ("adhere", "flex", "reimagine") for n in (1, 2, 3)}


def _url(value) -> bool:
    return str(value or "").startswith(("http://", "https://"))


def _modify_refusal(body: dict) -> str | None:
    """Luma's 400 reason for a modify request it can't run (lumaai 1.21's VideoModifyParams)."""
    if body.get("generation_type") != "modify_video":
        return "generation_type must be 'modify_video'"
    if body.get("model") not in MODIFY_MODELS:
        return f"Invalid model: {body.get('model')!r}"
    if body.get("mode") not in MODIFY_MODES:
        return f"Invalid mode: {body.get('mode')!r}; one of adhere_1-3, flex_1-3, reimagine_1-3"
    if not _url((body.get("media") or {}).get("url")):
        return "media.url must be a video URL"
    if "first_frame" in body and not _url((body["first_frame"] or {}).get("url")):
        return "first_frame.url must be an image URL"
    return None


def _size(body: dict) -> tuple[int, int]:
    """The video's width and height: the resolution is the short side (16:9 at 720p: 1280x720)."""
    resolution = body.get("resolution", "720p")
    short = 2160 if resolution == "4k" else int(resolution.removesuffix("p"))
    across, down = map(int, body.get("aspect_ratio", "16:9").split(":"))
    long = round(short * max(across, down) / min(across, down) / 2) * 2
    return (long, short) if across >= down else (short, long)


class LumaHandler(FakeHandler):
    routes = [
        ("POST", PREFIX + r"/generations(?:/video)?", "create"),
        ("POST", PREFIX + r"/generations/video/modify", "modify"),
        ("GET", PREFIX + r"/generations/([^/]+)", "get_generation"),
        ("DELETE", PREFIX + r"/generations/([^/]+)", "delete_generation"),
    ]

    def detail(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self.send_json(status, {"detail": message}, headers)

    def throttled(self) -> None:
        self.detail(429, "Too many requests", {"Retry-After": self.retry_after()})

    def out_of_credits(self) -> None:
        self.detail(400, "Insufficient credits")

    def _authorized(self) -> bool:
        if re.fullmatch(r"Bearer \S+", self.headers.get("Authorization") or ""):
            return True
        self.detail(401, "Invalid API key")
        return False

    def _refusal(self, body: dict) -> str | None:
        """Luma's 400 reason for a request it can't run; an extend needs a completed generation."""
        if body.get("model") not in MODELS:
            return f"Invalid model: {body.get('model')!r}"
        if "aspect_ratio" in body and body["aspect_ratio"] not in ASPECT_RATIOS:
            return f"Invalid aspect ratio: {body['aspect_ratio']!r}"
        if body.get("resolution", "720p") not in RESOLUTIONS:
            return f"Invalid resolution: {body['resolution']!r}"
        if body.get("duration", "5s") not in DURATIONS:
            return "duration must be 5s or 9s"
        for name, frame in (body.get("keyframes") or {}).items():
            if name not in ("frame0", "frame1") or frame.get("type") not in ("image", "generation"):
                return f"keyframes.{name}: not a keyframe Luma takes (frame0 or frame1, an image or a generation)"
            if frame.get("type") == "image" and not _url(frame.get("url")):
                return f"keyframes.{name}.url must be an image URL"
            if frame.get("type") == "generation":
                source = self.state.tasks.get(frame.get("id", ""))
                if source is None or source.state() != "succeeded":
                    return f"keyframes.{name}: {frame.get('id')} is not a completed generation"
        if not body.get("prompt") and not body.get("keyframes"):
            return "prompt is required"
        return None

    def create(self) -> None:
        if not self._authorized():
            return
        body = self.read_json()
        refusal = self._refusal(body)
        if refusal:
            return self.detail(400, refusal)
        if self.state.config.out_of_credits:
            return self.out_of_credits()
        self.send_json(201, self._generation(self.state.create(body, body.get("prompt", ""), route=self.route)))

    def modify(self) -> None:
        if not self._authorized():
            return
        body = self.read_json()
        refusal = _modify_refusal(body)
        if refusal:
            return self.detail(400, refusal)
        if self.state.config.out_of_credits:
            return self.out_of_credits()
        self.send_json(201, self._generation(self.state.create(body, body.get("prompt", ""), route=self.route)))

    def get_generation(self, generation_id: str) -> None:
        if not self._authorized():
            return
        self.state.count("polls")
        task = self.state.tasks.get(generation_id)
        if task is None or task.cancelled_at is not None:  # Luma deletes rather than cancels
            return self.detail(404, "Generation not found")
        self.send_json(200, self._generation(task))

    def delete_generation(self, generation_id: str) -> None:
        if not self._authorized():
            return
        task = self.state.tasks.get(generation_id)
        if task is None or task.cancelled_at is not None:
            return self.detail(404, "Generation not found")
        self.state.count("cancels")
        task.cancelled_at = datetime.now(timezone.utc).timestamp()
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _generation(self, task: FakeTask) -> dict:
        state, body = task.state(), task.input
        frames = DURATIONS[body.get("duration", "5s")] * FPS
        return {
            "id": task.id, "generation_type": "video", "state": STATE[state], "model": body["model"],  # lumaai 1.21
            "created_at": datetime.fromtimestamp(task.created_at, timezone.utc).isoformat().replace("+00:00", "Z"),
            "failure_reason": MODERATED if state == "failed" else None,
            "assets": {"video": self.media_url(frames, FPS, *_size(body))} if state == "succeeded" else None,
            "request": body,
        }  # fmt: skip


if __name__ == "__main__":
    main(LumaHandler)
