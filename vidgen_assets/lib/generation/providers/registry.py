"""Provider name → client class, imported lazily: `vidgen_assets.lib.generation.providers.<provider>`.

Each provider module exposes one class with `provider`, `key_variable`, `base_url_variable` and
`__init__(self, api_key: str, base_url: str | None = None)` implementing `base.ProviderClient`.
A provider's SDK is imported only when a day has a row for it.
"""

from __future__ import annotations

import importlib

from .base import MalformedKeyError, MissingKeyError, ProviderClient

# provider → class name in its module; the module is this package's `<provider>`.
CLIENT_CLASSES = {"replicate": "ReplicateClient", "runway": "RunwayClient", "luma": "LumaClient", "fal": "FalClient"}
PROVIDERS = tuple(CLIENT_CLASSES)
# The variables each provider's SDK reads; a key is never logged, only its variable's name.
KEY_VARIABLES = {"replicate": "REPLICATE_API_TOKEN", "runway": "RUNWAYML_API_SECRET", "luma": "LUMAAI_API_KEY", "fal": "FAL_KEY"}
BASE_URL_VARIABLES = {"replicate": "REPLICATE_BASE_URL", "runway": "RUNWAYML_BASE_URL", "luma": "LUMAAI_BASE_URL", "fal": "VIDGEN_FAL_BASE_URL"}


# Documented key prefixes (Replicate's tokens start `r8_`); the others publish none to check against.
KEY_PREFIXES = {"replicate": "r8_"}


def key_problem(provider: str, api_key: str) -> str | None:
    """What is wrong with a key's shape (never quoting it), or None. A key is one printable word."""
    if api_key != api_key.strip():
        ends = "a newline" if api_key.rstrip(" \t") != api_key.rstrip() else "whitespace"
        return (f"it starts or ends with {ends} (as `kubectl create secret --from-file` leaves from a file's last line)")
    for position, char in enumerate(api_key, 1):
        if char.isspace():
            return f"it has whitespace inside (character {position} of {len(api_key)})"
        if not char.isprintable() or not char.isascii():
            return f"it has a non-printable or non-ASCII character (character {position} of {len(api_key)})"
    prefix = KEY_PREFIXES.get(provider)
    if prefix and not api_key.startswith(prefix):
        return f"{provider} keys start with {prefix!r}, this one does not"
    return None


def client_class(provider: str) -> type:
    if provider not in CLIENT_CLASSES:
        raise ValueError(f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}")
    module = importlib.import_module(f"{__package__}.{provider}")
    return getattr(module, CLIENT_CLASSES[provider])


def client_for(provider: str, api_key: str | None, base_url: str | None = None) -> ProviderClient:
    """A client for `provider`; a missing key raises MissingKeyError, a malformed one MalformedKeyError, both
    naming the variable, never the value (checked first, so no SDK is imported and no request sent for nothing)."""
    variable = KEY_VARIABLES[provider] if provider in KEY_VARIABLES else f"the {provider} API key"
    if not api_key:
        raise MissingKeyError(variable)
    if problem := key_problem(provider, api_key):
        raise MalformedKeyError(variable, problem)
    return client_class(provider)(api_key, base_url or None)
