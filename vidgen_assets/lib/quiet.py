"""Keeps library chatter out of runs' compute logs, whoever starts them (`dagster dev`, the daemon, the CLI)."""

from __future__ import annotations

import os
import warnings

QUIET_ENV = {
    "TQDM_DISABLE": "1",  # diffusers' and transformers' bars; read when tqdm is imported
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    # Also transformers' note that image processors fall back to PIL without torchvision, which is on purpose.
    "TRANSFORMERS_VERBOSITY": "error",
    "DIFFUSERS_VERBOSITY": "error",
}


def quiet_libraries() -> None:
    """Silence library bars and chatter (a variable already set wins); must run before torch, diffusers or
    tqdm are imported. Child processes (step processes, fork servers) inherit it."""
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    # Every asset output names its data version; Dagster 1.13 would warn that the parameter is beta once per step.
    warnings.filterwarnings("ignore", message=r"Parameter `data_version` of initializer `Output.__init__` is currently in beta")
