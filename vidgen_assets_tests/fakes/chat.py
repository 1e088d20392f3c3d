"""A loopback OpenAI-compatible chat-completions server (what OpenAI, vLLM, Ollama and llama.cpp serve).

`POST /v1/chat/completions` answers OpenAI's `chat.completion` object; its content is JSON prompts made
deterministically from the `Theme:` line of the first user message, as many as the `response_format`
schema's `minItems` asks for. Errors use OpenAI's `{"error": {"message", "type", "code"}}` with real
statuses: 401 for a missing or wrong bearer key (when `api_key` is configured; the message echoes the key
given, as a careless proxy might, so tests can see the client hide it), 404 for a model other than a
configured `model`, 400 for a request without messages, 429 + `Retry-After` from `throttle_next`.

Besides the harness's control settings (harness.py), `POST /_fake/config` takes `api_key`, `model`,
`malformed_next` (the next n completions are cut-off JSON) and `too_few_next` (the next n hold one prompt
fewer than asked). `GET /_fake/stats` counts answered completions as `creates`, plus `throttled`, `refused`
(401/404/400), `malformed` and `too_few`; `GET /_fake/creates` lists the request bodies.

Run: python -m vidgen_assets_tests.fakes.chat --port P
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid

from vidgen_assets_tests.fakes.harness import FakeHandler, main

SUBJECTS = ("a lone cyclist", "a paper lantern", "an old tram", "a street cat", "a kite")
ACTIONS = ("drifting past", "circling slowly", "rising", "waiting", "turning away")
CAMERAS = ("slow push in", "top-down shot", "tracking shot")
LIGHTS = ("blue hour", "warm tungsten", "flickering neon")


def shots(theme: str, count: int) -> list[dict[str, str]]:
    """`count` prompts for `theme`, the same for the same theme every time."""
    start = int(hashlib.sha256(theme.encode()).hexdigest()[:8], 16)
    return [
        {
            "subject": SUBJECTS[(start + n) % len(SUBJECTS)],
            "action": ACTIONS[(start // 7 + n) % len(ACTIONS)],
            "location": f"in a world of {theme}"[:200],
            "style": "cinematic",
            "camera": CAMERAS[(start + 2 * n) % len(CAMERAS)],
            "lighting": LIGHTS[(start // 3 + n) % len(LIGHTS)],
        }
        for n in range(count)
    ]


class ChatHandler(FakeHandler):
    routes = [("POST", r"/v1/chat/completions", "completions"), ("GET", r"/v1/models", "models")]

    def error(self, status: int, message: str, kind: str, code: str | None, headers: dict | None = None) -> None:
        self.send_json(status, {"error": {"message": message, "type": kind, "param": None, "code": code}}, headers)

    def throttled(self) -> None:
        self.error(429, "Rate limit reached for requests. Please try again later.", "requests", "rate_limit_exceeded",
                   {"Retry-After": self.retry_after()})  # fmt: skip

    def setting(self, name: str, default=None):
        return getattr(self.state.config, name, default)  # set through /_fake/config; a reset forgets it

    def take(self, name: str) -> bool:
        """Consume one of the scripted answers `malformed_next` / `too_few_next`, if any are left."""
        with self.state.lock:
            left = getattr(self.state.config, name, 0)
            if left > 0:
                setattr(self.state.config, name, left - 1)
            return left > 0

    def bump(self, name: str) -> None:
        with self.state.lock:
            self.state.stats[name] = self.state.stats.get(name, 0) + 1

    def refuse(self, status: int, message: str, kind: str, code: str) -> None:
        self.bump("refused")
        self.error(status, message, kind, code)

    def models(self) -> None:
        served = self.setting("model") or "fake-chat-1"
        self.send_json(200, {"object": "list", "data": [{"id": served, "object": "model", "owned_by": "fake"}]})

    def completions(self) -> None:
        key = self.setting("api_key")
        given = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if key and given != key:
            return self.refuse(401, f"Incorrect API key provided: {given or '(none)'}.", "invalid_request_error",
                               "invalid_api_key")  # fmt: skip
        try:
            body = self.read_json()
        except ValueError:
            return self.refuse(400, "We could not parse the JSON body of your request.", "invalid_request_error", None)
        served = self.setting("model")
        if served and body.get("model") != served:
            return self.refuse(404, f"The model `{body.get('model')}` does not exist or you do not have access to it.",
                               "invalid_request_error", "model_not_found")  # fmt: skip
        users = [m.get("content", "") for m in body.get("messages") or [] if m.get("role") == "user"]
        if not users:
            return self.refuse(400, "'messages' must contain at least one user message.", "invalid_request_error", None)
        theme = re.search(r"^Theme: (.*)$", users[0], re.MULTILINE)
        schema = (((body.get("response_format") or {}).get("json_schema") or {}).get("schema") or {})
        count = schema.get("properties", {}).get("prompts", {}).get("minItems", 3)
        self.state.create(body, users[0], route=self.route)
        prompts = shots(theme.group(1) if theme else users[0], count)
        content = json.dumps({"prompts": prompts})
        if self.take("malformed_next"):
            self.bump("malformed")
            content = content[: len(content) // 2]
        elif self.take("too_few_next"):
            self.bump("too_few")
            content = json.dumps({"prompts": prompts[:-1]})
        tokens = sum(len(m.get("content", "").split()) for m in body["messages"])
        self.send_json(200, {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model"), "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": tokens, "completion_tokens": len(content.split()),
                      "total_tokens": tokens + len(content.split())},
        })  # fmt: skip


if __name__ == "__main__":
    main(ChatHandler)
