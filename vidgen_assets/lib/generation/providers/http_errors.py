"""HTTP answers and transport failures mapped onto the provider error kinds, shared by the clients.

Each provider says "out of credits" and "refused" in its own words; the client passes those rules in,
this module applies the common ones (429 + Retry-After and 5xx: transient) and keeps keys out of messages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ...http_common import redact, retry_after_s, secret_forms  # noqa: F401  (callers import them from here)
from .base import OutOfCreditsError, PermanentProviderError, ProviderError, TransientProviderError, UnauthorizedError

# 408 (request timeout) and 409 (a conflicting request in flight) clear up by themselves, like 5xx.
TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})


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
