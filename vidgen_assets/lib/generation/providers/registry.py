"""Provider name → client class, imported lazily: `vidgen_assets.lib.generation.providers.<provider>`.

Each provider module exposes one class with `provider`, `key_variable`, `base_url_variable` and
`__init__(self, api_key: str, base_url: str | None = None)` implementing `base.ProviderClient`.
A provider's SDK is imported only when a day has a row for it.
"""

from __future__ import annotations

import importlib

from .base import MissingKeyError, ProviderClient

# provider → class name in its module; the module is this package's `<provider>`.
CLIENT_CLASSES = {"replicate": "ReplicateClient", "runway": "RunwayClient", "luma": "LumaClient", "fal": "FalClient"}
PROVIDERS = tuple(CLIENT_CLASSES)
# The variables each provider's SDK reads; a key is never logged, only its variable's name.
KEY_VARIABLES = {"replicate": "REPLICATE_API_TOKEN", "runway": "RUNWAYML_API_SECRET", "luma": "LUMAAI_API_KEY", "fal": "FAL_KEY"}
BASE_URL_VARIABLES = {"replicate": "REPLICATE_BASE_URL", "runway": "RUNWAYML_BASE_URL", "luma": "LUMAAI_BASE_URL", "fal": "VIDGEN_FAL_BASE_URL"}


def client_class(provider: str) -> type:
    if provider not in CLIENT_CLASSES:
        raise ValueError(f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}")
    module = importlib.import_module(f"{__package__}.{provider}")
    return getattr(module, CLIENT_CLASSES[provider])


def client_for(provider: str, api_key: str | None, base_url: str | None = None) -> ProviderClient:
    """A client for `provider`; a missing key raises MissingKeyError naming the variable (checked first,
    so no SDK is imported for nothing)."""
    if not api_key:
        raise MissingKeyError(KEY_VARIABLES[provider] if provider in KEY_VARIABLES else f"the {provider} API key")
    return client_class(provider)(api_key, base_url or None)
