"""Where the prompt writer sends a theme: an OpenAI-compatible endpoint named by the environment, or nowhere
(the offline expansion). The API key stays out of every repr, message, cache key and file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

DEFAULT_TIMEOUT_S = 120.0  # one completion of a few dozen prompts on a busy server
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_MAX_WAIT_S = 120.0


class WriterConfigError(ValueError):
    """A `VIDGEN_LLM_*` variable is unusable; the message names it."""


@dataclass(frozen=True)
class WriterSettings:
    """The chat endpoint (`base_url` None: offline), its model and key, and how long to keep trying."""

    base_url: str | None = None
    model: str = ""
    api_key: str = field(default="", repr=False)
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_attempts: int = DEFAULT_MAX_ATTEMPTS  # malformed replies (and unreachable tries) before giving up
    max_wait_s: float = DEFAULT_MAX_WAIT_S  # total throttle and reconnect waiting per theme

    @property
    def offline(self) -> bool:
        return not self.base_url

    @property
    def backend(self) -> str:
        """"offline", or the model name: what the rows' lineage and the cache key name."""
        return "offline" if self.offline else self.model

    @property
    def completions_url(self) -> str:
        """`{base_url}/chat/completions`, a trailing slash tolerated and a query (e.g. `api-version`) kept."""
        parts = urlsplit(self.base_url or "")
        return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/chat/completions"))

    @property
    def shown_url(self) -> str:
        """The completions URL as it may be shown: without user:password@ or a query (either may hold a secret)."""
        parts = urlsplit(self.completions_url)
        host = parts.netloc.rsplit("@", 1)[-1]
        return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float, *, whole: bool = False) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise WriterConfigError(f"{name} must be a number, got {raw[:40]!r}") from None
    if whole and not value.is_integer():
        raise WriterConfigError(f"{name} must be a whole number, got {raw}")
    if not low <= value <= high:  # also false for NaN
        raise WriterConfigError(f"{name} must be between {low:g} and {high:g}, got {raw}")
    return value


def writer_settings_from_env(env: Mapping[str, str] | None = None) -> WriterSettings:
    """Settings from `VIDGEN_LLM_BASE_URL` (unset or blank: offline), `VIDGEN_LLM_MODEL`, `VIDGEN_LLM_API_KEY`,
    `VIDGEN_LLM_TIMEOUT_S`, `VIDGEN_LLM_MAX_ATTEMPTS` and `VIDGEN_LLM_MAX_WAIT_S`."""
    env = os.environ if env is None else env
    base_url = (env.get("VIDGEN_LLM_BASE_URL") or "").strip() or None
    model = (env.get("VIDGEN_LLM_MODEL") or "").strip()
    if base_url:
        if urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).hostname:
            raise WriterConfigError("VIDGEN_LLM_BASE_URL must be an http(s) URL such as http://127.0.0.1:8000/v1")
        if not model:
            raise WriterConfigError("VIDGEN_LLM_BASE_URL is set but VIDGEN_LLM_MODEL is not: name the model it serves")
    api_key = (env.get("VIDGEN_LLM_API_KEY") or "").strip()
    if not all(" " <= character <= "~" for character in api_key):  # it travels in an HTTP header
        raise WriterConfigError("VIDGEN_LLM_API_KEY holds characters an HTTP header cannot carry (not printable ASCII)")
    return WriterSettings(
        base_url=base_url,
        model=model,
        api_key=api_key,
        timeout_s=_number(env, "VIDGEN_LLM_TIMEOUT_S", DEFAULT_TIMEOUT_S, 1, 3600),
        max_attempts=int(_number(env, "VIDGEN_LLM_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS, 1, 20, whole=True)),
        max_wait_s=_number(env, "VIDGEN_LLM_MAX_WAIT_S", DEFAULT_MAX_WAIT_S, 0, 3600),
    )
