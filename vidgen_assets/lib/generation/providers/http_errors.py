"""HTTP answers and transport failures mapped onto the provider error kinds, shared by the clients.

Each provider says "out of credits" and "refused" in its own words; the client passes those rules in,
this module applies the common ones (429 + Retry-After and 5xx: transient) and keeps keys out of messages.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping

from .base import OutOfCreditsError, PermanentProviderError, ProviderError, TransientProviderError, UnauthorizedError

# 408 (request timeout) and 409 (a conflicting request in flight) clear up by themselves, like 5xx.
TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds the provider asks us to wait: `Retry-After` as seconds or an HTTP date (None if absent)."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if email.utils.parsedate_tz(value) else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def secret_forms(secret: str) -> list[str]:
    """Every form a key takes in an error: as is and stripped, `repr`'s escapes (str and bytes), URL-encoded,
    and base64 (standard and URL-safe) wherever it sits in an encoded string (`Bearer …`, basic auth's
    `user:key`). Longest first, so a longer form is blanked before a part of it."""
    import base64
    from urllib.parse import quote, quote_plus

    forms: set[str] = set()
    for value in {secret, secret.strip()} - {""}:
        forms |= {value, repr(value)[1:-1], repr(value.encode())[2:-1], quote(value, safe=""), quote_plus(value)}
        raw = value.encode()
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            forms.add(encode(raw).decode())
            # Inside a longer encoded string the key starts 0, 1 or 2 bytes before a 3-byte group: the whole
            # groups from there on encode the same whatever surrounds them.
            for shift in range(3):
                core = raw[shift:][: (len(raw) - shift) // 3 * 3]
                forms.add(encode(core).decode())
    return sorted((f for f in forms if len(f) >= 8), key=len, reverse=True)


def redact(text: str, secret: str) -> str:
    """The text with the key blanked out in every form it may take (`secret_forms`), whatever echoed it
    (a proxy, a verbose error body, an HTTP library quoting a header's `repr`)."""
    if not secret:
        return text
    for form in secret_forms(secret):
        text = text.replace(form, "***")
    return text


def status_error(
    provider: str,
    status: int,
    reason: str,
    headers: Mapping[str, str],
    *,
    secret: str,
    key_variable: str,
    out_of_credits: Callable[[int, str], bool],
    code: str | None = None,
    retryable: bool = False,
) -> ProviderError:
    """The error for an HTTP error answer; `reason` is the provider's message, `code` its error code.
    A refused key (401/403) stops the step, naming the variable it came from."""
    message = redact(f"{provider} answered HTTP {status}: {reason}", secret)
    if out_of_credits(status, reason):
        return OutOfCreditsError(message)
    if status in (401, 403):
        return UnauthorizedError(f"{message} (check {key_variable})")
    if retryable or status in TRANSIENT_STATUSES or status >= 500:
        return TransientProviderError(message, retry_after=retry_after_s(headers))
    return PermanentProviderError(message, code=code or f"HTTP_{status}")


def transport_error(provider: str, error: Exception, *, secret: str) -> TransientProviderError:
    """A dropped connection or a timeout: worth another try."""
    return TransientProviderError(redact(f"{provider} could not be reached: {type(error).__name__}: {error}", secret))


def sdk_error(
    provider: str,
    error: Exception,
    *,
    secret: str,
    key_variable: str,
    out_of_credits: Callable[[int, str], bool],
    code: Callable[[int, str], str | None] = lambda status, reason: None,
) -> ProviderError | None:
    """The error for an exception of a Stainless-generated SDK (`runwayml`, `lumaai`); None if it is not one.

    Both SDKs raise `APIStatusError` (status_code, body, response) for an error answer and
    `APIConnectionError` for a transport failure; their class names match, the modules differ.
    """
    kinds = {cls.__name__ for cls in type(error).__mro__}
    if "APIStatusError" in kinds:
        reason = error_reason(getattr(error, "body", None)) or str(error)
        status = error.status_code
        return status_error(provider, status, reason, error.response.headers, secret=secret, key_variable=key_variable,
                            out_of_credits=out_of_credits, code=code(status, reason))  # fmt: skip
    if "APIConnectionError" in kinds:
        return transport_error(provider, error, secret=secret)
    return None


def error_reason(body: object) -> str | None:
    """The message of an error body: Runway's {"error"}, Luma's and fal's {"detail"} (a string or a list)."""
    if isinstance(body, Mapping):
        detail = body.get("error") or body.get("detail") or body.get("message")
        if isinstance(detail, list):
            return "; ".join(str(d.get("msg", d)) if isinstance(d, Mapping) else str(d) for d in detail)
        return str(detail) if detail else None
    return str(body) if body else None


def delete_unless_finished(poll: Callable[[str], object], delete: Callable[[str], object], task_id: str) -> None:
    """Cancel by DELETE where that is the provider's only way, leaving a finished task (and its output)
    alone; a task the provider no longer knows (404) is as good as cancelled."""
    try:
        if not poll(task_id).finished:
            delete(task_id)
    except PermanentProviderError as error:
        if error.code != "HTTP_404":
            raise
