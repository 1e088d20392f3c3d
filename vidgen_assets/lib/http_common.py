"""Keys kept out of messages, and `Retry-After`: shared by the provider clients and the prompt writer's LLM client.

Plain Python with no heavy imports, so the prompt writer does not load the generation package for it.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping


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
