"""One theme through an OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp server).

Throttling (429/503 with `Retry-After`) and 5xx are waited out within `max_wait_s`; a malformed reply is
asked again, showing the model its mistake, up to `max_attempts` replies; a refused key, an unknown model
or URL ends the theme at once. Every message that leaves this module has the API key blanked out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from ..http_common import redact, retry_after_s
from .reply import ReplyProblem, parse_prompts, reply_content, request_body
from .settings import WriterSettings

TRANSIENT = frozenset({408, 409, 425, 429})  # and every 5xx: worth waiting for
FIRST_BACKOFF_S = 0.5  # the pause between reconnects and throttled tries doubles from here


@dataclass
class LlmAnswer:
    """The checked shots, or why there are none, and how many HTTP requests it took."""

    prompts: list[dict[str, str]] | None = None
    rejection: str | None = None
    calls: int = 0
    waited_s: float = 0.0  # throttle and reconnect waits so far, against `max_wait_s`


def error_message(response: httpx.Response) -> str:
    """The server's words: OpenAI's {"error": {"message"}}, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:300]
    return str(error or body)[:300]


def read_reply(response: httpx.Response, count: int) -> tuple[str, list[dict[str, str]] | None, str]:
    """(the reply's content, its checked shots or None, what was wrong with it) for a 200 answer."""
    content = ""
    try:
        try:
            payload = response.json()
        except ValueError:
            raise ReplyProblem("the answer is not JSON") from None
        content, finish_reason = reply_content(payload)
        return content, parse_prompts(content, count, finish_reason), ""
    except ReplyProblem as problem:
        return content, None, str(problem)


def refusal(settings: WriterSettings, response: httpx.Response) -> str | None:
    """Why an error status ends the theme at once, or None when it is worth another try."""
    status, said = response.status_code, error_message(response)
    if status in TRANSIENT or status >= 500:
        return None
    where = f"{settings.shown_url} answered HTTP {status}: {said}"
    if status in (401, 403):
        return f"{where} (the key was refused: check VIDGEN_LLM_API_KEY)"
    if status == 404:
        return f"{where} (check VIDGEN_LLM_BASE_URL and that it serves VIDGEN_LLM_MODEL {settings.model!r})"
    return where


def ask_model(
    settings: WriterSettings, theme: str, count: int, style: str | None, *, sleep: Callable[[float], None] = time.sleep
) -> LlmAnswer:
    """`count` checked shots for `theme` from the endpoint in `settings`, or the reason there are none."""
    answer = LlmAnswer()
    headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
    repairs: list[tuple[str, str]] = []  # (bad reply, what was wrong), shown to the model on the next try
    unreachable = 0
    backoff = FIRST_BACKOFF_S

    def wait(seconds: float, why: str) -> bool:
        """Sleep unless that would pass the total wait allowed; False then, with the reason recorded."""
        if answer.waited_s + seconds > settings.max_wait_s:
            answer.rejection = f"{why}; gave up after waiting {answer.waited_s:.0f} s (VIDGEN_LLM_MAX_WAIT_S)"
            return False
        sleep(seconds)
        answer.waited_s += seconds
        return True

    with httpx.Client(timeout=settings.timeout_s, headers=headers) as client:
        while True:
            body = request_body(settings.model, theme, count, style, repairs)
            answer.calls += 1
            try:
                response = client.post(settings.completions_url, json=body)
            except httpx.TransportError as error:
                unreachable += 1
                why = f"could not reach {settings.shown_url} ({unreachable} tries): {type(error).__name__}: {error}"
                if unreachable >= settings.max_attempts or not wait(backoff, why):
                    answer.rejection = answer.rejection or why
                    break
                backoff *= 2
                continue
            if response.status_code != 200:
                if reason := refusal(settings, response):
                    answer.rejection = reason
                    break
                pause = retry_after_s(response.headers)
                why = f"{settings.shown_url} answered HTTP {response.status_code}: {error_message(response)}"
                why += "" if pause is None else f" (asked to wait {pause:.0f} s more)"
                # Retry-After is a floor: a server that keeps saying 0 still gets a growing pause.
                if not wait(max(pause or 0.0, backoff), why):
                    break
                backoff *= 2
                continue
            content, prompts, problem = read_reply(response, count)
            if prompts is not None:
                answer.prompts = prompts
                break
            repairs.append((content, problem))
            if len(repairs) >= settings.max_attempts:
                answer.rejection = f"{settings.model} gave no usable reply in {len(repairs)} tries; the last: {problem}"
                break
    if answer.rejection:
        answer.rejection = redact(answer.rejection, settings.api_key)
    return answer
