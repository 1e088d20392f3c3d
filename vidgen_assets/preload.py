"""What the local fork server imports before it forks step processes: torch, diffusers, the job module
and the code location, built once here so that every step starts with it instead of building it.
Only the fork server imports this module; the code location itself loads without torch."""

from vidgen_assets.lib.quiet import quiet_libraries

quiet_libraries()  # before diffusers and torch read their settings

import diffusers  # noqa: E402, F401
import torch  # noqa: E402, F401

import vidgen_assets.runner  # noqa: F401  (the module `dagster.reconstructable(daily_reel_job)` points at)
from vidgen_assets.definitions import build_definitions

build_definitions()
