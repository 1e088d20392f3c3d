"""A loopback Replicate: the predictions API as `../shared/PROVIDERS.md` and the `replicate` SDK describe it.

Paths: POST /v1/predictions {version, input}, POST /v1/models/{owner}/{name}/predictions {input},
GET /v1/predictions (newest first, one page), GET /v1/predictions/{id}, POST /v1/predictions/{id}/cancel.
Statuses starting | processing | succeeded | failed | canceled; errors are RFC 7807 problem details (401, 402 "Billing required", 404, 422, 429 with
`Retry-After`). A finished SVD prediction's output is one URL of a real MP4 this server serves, with
`video_length`'s frames at `frames_per_second`; a zeroscope-v2-xl one (text-to-video, by its pinned version
or its model route) a list of one URL, `num_frames` at `fps` and `width`×`height`; a meta/musicgen one one URL of a
real 32 kHz stereo WAV of `duration` seconds (a tone with a click on every beat at 120 BPM), served at
`/_fake/audio/<seconds>s.wav` outside the throttle and drop switches, like the videos. SVD takes no text, so the
moderation substring is matched against the prediction's input as JSON (sorted keys, e.g. '"seed": 13,').

Run: python -m vidgen_assets_tests.fakes.replicate_server --port P
"""

from __future__ import annotations

import io
import json
import re
import wave
from datetime import datetime, timezone

import numpy as np

from vidgen_assets_tests.fakes.harness import FakeHandler, FakeTask, main

STATUS = {"queued": "starting", "running": "processing", "succeeded": "succeeded", "failed": "failed", "cancelled": "canceled"}
FRAMES = {"14_frames_with_svd": 14, "25_frames_with_svd_xt": 25}
SVD, ZEROSCOPE, MUSICGEN = "stability-ai/stable-video-diffusion", "anotherjesse/zeroscope-v2-xl", "meta/musicgen"
# Pinned versions the fake knows by hash (any other well-formed hash runs SVD's schema).
VERSIONS = {"9f747673945c62801b13b84701c783929c0ee784e4748ec062204894dda1a351": ZEROSCOPE,
            "3f0457e4619daac51203dedb472816fd4af51f3149fa7a9e0b5ffcf1b8172438": SVD,
            "671ac645ce5e552cc63a54a2bbff63fcf798043055d2dac5fc9e36a837eedcfb": MUSICGEN}  # fmt: skip
MUSICGEN_VERSIONS = ("stereo-melody-large", "stereo-large", "melody-large", "large")
AUDIO_RATE, BEAT_S = 32_000, 0.5  # MusicGen's sample rate; 120 BPM
NSFW = "NSFW content detected. Try running it again, or try a different prompt."


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, timezone.utc).isoformat().replace("+00:00", "Z")


class ReplicateHandler(FakeHandler):
    routes = [
        ("POST", r"/v1/predictions", "create_version_prediction"),
        ("POST", r"/v1/models/([^/]+)/([^/]+)/predictions", "create_model_prediction"),
        ("GET", r"/v1/predictions", "list_predictions"),
        ("GET", r"/v1/predictions/([^/]+)", "get_prediction"),
        ("POST", r"/v1/predictions/([^/]+)/cancel", "cancel_prediction"),
    ]

    def _dispatch(self, method: str) -> None:
        # The audio a finished MusicGen prediction points at: served like the videos, never throttled.
        if method == "GET" and (audio := re.fullmatch(r"/_fake/audio/(\d+)s\.wav", self.path.split("?", 1)[0])):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            return self.send_bytes(wav_bytes(int(audio[1])), "audio/wav")
        super()._dispatch(method)

    def problem(self, status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> None:
        body = {"type": f"https://replicate.com/docs/reference/http#{status}", "title": title, "detail": detail, "status": status}
        self.send_json(status, body, headers, content_type="application/problem+json")

    def throttled(self) -> None:
        detail = f"Request was throttled. Expected available in {self.retry_after()} second."
        self.problem(429, "Request was throttled.", detail, {"Retry-After": self.retry_after()})

    def out_of_credits(self) -> None:
        self.problem(402, "Billing required", "You have insufficient credit to run this model. Go to "
                     "https://replicate.com/account/billing#billing to purchase credit.")  # fmt: skip

    def _authorized(self) -> bool:
        if re.fullmatch(r"Bearer \S+", self.headers.get("Authorization") or ""):
            return True
        self.problem(401, "Unauthenticated", "You did not pass a valid authentication token")
        return False

    def _create(self, model: str, version: str | None) -> None:
        if not self._authorized():
            return
        body = self.read_json()
        if self.state.config.out_of_credits:
            return self.out_of_credits()
        if version is not None and not re.fullmatch(r"[0-9a-f]{64}", version):
            return self.problem(422, "Invalid version or not permitted",
                                "The specified version does not exist (or perhaps you don't have permission to use it?)")
        check = {ZEROSCOPE: _zeroscope_invalid, MUSICGEN: _musicgen_invalid}.get(model, _invalid_input)
        problem = check(body.get("input") or {})
        if problem:
            return self.problem(422, "Input validation failed", problem)
        task = self.state.create(body, json.dumps(body.get("input"), sort_keys=True), route=self.route)
        task.input = {**body, "model": model}
        self.send_json(201, self._prediction(task))

    def create_version_prediction(self) -> None:
        # `version` is "hash" or "owner/name:hash".
        owner_name, _, version = (self.read_json().get("version") or "").rpartition(":")
        self._create(owner_name or VERSIONS.get(version, SVD), version)

    def create_model_prediction(self, owner: str, name: str) -> None:
        self._create(f"{owner}/{name}", None)

    def get_prediction(self, prediction_id: str) -> None:
        if not self._authorized():
            return
        self.state.count("polls")
        task = self.state.tasks.get(prediction_id)
        if task is None:
            return self.problem(404, "Not found", f"prediction {prediction_id} not found")
        self.send_json(200, self._prediction(task))

    def list_predictions(self) -> None:
        """The newest predictions first, one page (Replicate pages by cursor; the fake never needs a second)."""
        if not self._authorized():
            return
        with self.state.lock:
            newest = sorted(self.state.tasks.values(), key=lambda task: task.created_at, reverse=True)[:100]
        self.send_json(200, {"next": None, "previous": None, "results": [self._prediction(task) for task in newest]})

    def cancel_prediction(self, prediction_id: str) -> None:
        if not self._authorized():
            return
        task = self.state.tasks.get(prediction_id)
        if task is None:
            return self.problem(404, "Not found", f"prediction {prediction_id} not found")
        if task.state() in ("queued", "running"):
            self.state.count("cancels")
            task.cancelled_at = datetime.now(timezone.utc).timestamp()
        self.send_json(200, self._prediction(task))

    def _prediction(self, task: FakeTask) -> dict:
        state, model_input = task.state(), task.input.get("input") or {}
        started = task.created_at + 0.1 * task.processing_s if state != "queued" else None
        done = state in ("succeeded", "failed", "cancelled")
        completed = task.cancelled_at if state == "cancelled" else (task.created_at + task.processing_s if done else None)
        output = None
        if state == "succeeded" and task.input.get("model") == ZEROSCOPE:
            size = (int(model_input.get("width", 576)), int(model_input.get("height", 320)))
            output = [self.media_url(int(model_input.get("num_frames", 24)), int(model_input.get("fps", 8)), *size)]
        elif state == "succeeded" and task.input.get("model") == MUSICGEN:
            output = f"{self.base_url}/_fake/audio/{int(model_input.get('duration', 8))}s.wav"
        elif state == "succeeded":
            output = self.media_url(FRAMES[model_input.get("video_length", "14_frames_with_svd")], int(model_input.get("frames_per_second", 6)))
        base = f"{self.base_url}/v1/predictions/{task.id}"
        return {
            "id": task.id, "model": task.input.get("model"), "version": (task.input.get("version") or "").rpartition(":")[2],
            "input": model_input, "logs": "", "output": output, "data_removed": False,
            "error": NSFW if state == "failed" else None, "status": STATUS[state],
            "created_at": _iso(task.created_at), "started_at": _iso(started), "completed_at": _iso(completed),
            "urls": {"get": base, "cancel": f"{base}/cancel"},
            "metrics": {"predict_time": round(task.processing_s * 0.9, 3)} if state == "succeeded" else {},
        }  # fmt: skip


def _invalid_input(model_input: dict) -> str | None:
    """SVD's input schema, as Replicate's 422 words it."""
    if "input_image" not in model_input:
        return "input: input_image is required"
    if model_input.get("video_length", "14_frames_with_svd") not in FRAMES:
        return f"input.video_length: must be one of {sorted(FRAMES)}"
    if not 5 <= int(model_input.get("frames_per_second", 6)) <= 30:
        return "input.frames_per_second: Must be less than or equal to 30 and greater than or equal to 5"
    if not 1 <= int(model_input.get("motion_bucket_id", 127)) <= 255:
        return "input.motion_bucket_id: Must be less than or equal to 255 and greater than or equal to 1"
    return None


def _zeroscope_invalid(model_input: dict) -> str | None:
    """zeroscope-v2-xl's input schema (prompt, model, width, height, num_frames, fps, ...; all have defaults)."""
    if model_input.get("model", "xl") not in ("xl", "576w", "potat1", "animov-512x"):
        return "input.model: must be one of ['xl', '576w', 'potat1', 'animov-512x']"
    for name in ("width", "height", "num_frames", "fps"):
        if name in model_input and not (isinstance(model_input[name], int) and model_input[name] > 0):
            return f"input.{name}: must be a positive integer"
    if "prompt" in model_input and not isinstance(model_input["prompt"], str):
        return "input.prompt: must be a string"
    return None


def _musicgen_invalid(model_input: dict) -> str | None:
    """meta/musicgen's input schema (prompt, duration, model_version, output_format, seed, ...)."""
    if not isinstance(model_input.get("prompt", ""), str):
        return "input.prompt: must be a string"
    duration = model_input.get("duration", 8)
    if not (isinstance(duration, int) and 1 <= duration <= 300):
        return "input.duration: must be an integer from 1 to 300"
    if model_input.get("model_version", "stereo-melody-large") not in MUSICGEN_VERSIONS:
        return f"input.model_version: must be one of {list(MUSICGEN_VERSIONS)}"
    if model_input.get("output_format", "wav") not in ("wav", "mp3"):
        return "input.output_format: must be one of ['wav', 'mp3']"
    return None


_WAV_CACHE: dict[int, bytes] = {}


def wav_bytes(seconds: int) -> bytes:
    """A real 16-bit stereo WAV: a quiet 220 Hz tone with a loud 10 ms click on every beat; cached."""
    if seconds not in _WAV_CACHE:
        t = np.arange(seconds * AUDIO_RATE) / AUDIO_RATE
        signal = 0.1 * np.sin(2 * np.pi * 220 * t)
        signal[(t % BEAT_S) < 0.01] = 0.9
        pcm = (np.repeat(signal[:, None], 2, axis=1) * 32767).astype("<i2")
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(2)
            out.setsampwidth(2)
            out.setframerate(AUDIO_RATE)
            out.writeframes(pcm.tobytes())
        _WAV_CACHE[seconds] = buffer.getvalue()
    return _WAV_CACHE[seconds]


if __name__ == "__main__":
    main(ReplicateHandler)
