"""Where vidgen runs and where it keeps its data.

One helper decides the deployment environment (LOCAL, BRANCH or PROD); resources and the
executor key on it instead of reading scattered environment variables.
"""

from __future__ import annotations

import math
import os
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from pathlib import Path

DEFAULT_HOME = Path("~/.vidgen")


class SettingError(ValueError):
    """An environment variable holds a value vidgen cannot use; the message names the variable and the fix.

    The CLI turns it into one `error:` line (exit 2); any other ValueError stays a bug to see whole.
    """


class Environment(str, Enum):
    LOCAL = "LOCAL"
    BRANCH = "BRANCH"
    PROD = "PROD"


def get_environment() -> Environment:
    """LOCAL unless Dagster+ says this is a branch or the production deployment."""
    if os.getenv("DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT") == "1":
        return Environment.BRANCH
    if os.getenv("DAGSTER_CLOUD_DEPLOYMENT_NAME") == "prod":
        return Environment.PROD
    return Environment.LOCAL


def vidgen_home() -> Path:
    """The data home (`VIDGEN_HOME`, default `~/.vidgen`): warehouse, media and model cache."""
    return Path(os.getenv("VIDGEN_HOME") or DEFAULT_HOME).expanduser().resolve()


def warehouse_target() -> str:
    """`VIDGEN_WAREHOUSE` (a DuckDB file, `md:` connection string or `postgresql://` URL), default `$VIDGEN_HOME/warehouse.duckdb`."""
    return os.getenv("VIDGEN_WAREHOUSE") or str(vidgen_home() / "warehouse.duckdb")


def media_uri() -> str:
    """`VIDGEN_MEDIA_URI`, a directory or `s3://bucket/prefix`; locally the default is `$VIDGEN_HOME/media`."""
    configured = os.getenv("VIDGEN_MEDIA_URI")
    if configured:
        return configured
    if get_environment() != Environment.LOCAL:
        raise SettingError(f"set VIDGEN_MEDIA_URI (s3://bucket/prefix) for the {get_environment().value} deployment")
    return str(vidgen_home() / "media")


def models_dir() -> Path:
    """Where built tiny models and local checkpoints live (`VIDGEN_MODELS_DIR`)."""
    configured = os.getenv("VIDGEN_MODELS_DIR")
    return Path(configured).expanduser().resolve() if configured else vidgen_home() / "models"


def dagster_home() -> Path:
    """`DAGSTER_HOME`, or `$VIDGEN_HOME/dagster` so the CLI and `dagster dev` share runs."""
    configured = os.getenv("DAGSTER_HOME")
    return Path(configured).expanduser().resolve() if configured else vidgen_home() / "dagster"


def first_day(today: date | None = None) -> date:
    """The first daily partition: `VIDGEN_FIRST_DAY` (YYYY-MM-DD), by default the first of the previous month.

    The default keeps a new user's recent days in view instead of behind years of empty partitions;
    set it to pin the start (a fixed day never moves under a running deployment).
    """
    today = today or datetime.now(timezone.utc).date()
    configured = os.getenv("VIDGEN_FIRST_DAY", "").strip()
    if not configured:
        return (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    try:
        day = date.fromisoformat(configured)
    except ValueError:
        raise SettingError(f"VIDGEN_FIRST_DAY={configured!r} is not a day (YYYY-MM-DD)") from None
    if day > today + timedelta(days=1):  # today is a partition too (end_offset=1): later would leave none
        raise SettingError(f"VIDGEN_FIRST_DAY={configured} is after tomorrow: there would be no partitions")
    return day


_FLAGS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def flag_setting(name: str) -> bool:
    """A yes/no variable: 1/true/yes/on or 0/false/no/off (any case); unset or empty is no."""
    value = os.getenv(name, "").strip().lower()
    if value and value not in _FLAGS:
        raise SettingError(f"{name}={os.environ[name]!r} is not one of 1/true/yes/on or 0/false/no/off")
    return _FLAGS.get(value, False)


def number_setting(name: str, default: float, *, kind: type = float, low: float | None = None, high: float | None = None):
    """A number variable of `kind` (int or float) within [low, high]; unset or empty gives `default`."""
    value = os.getenv(name, "").strip()
    if not value:
        return default
    try:
        if not value.isascii() or "_" in value:  # int() and float() also take "1_000" and other scripts' digits
            raise ValueError(value)
        number = kind(value)
    except ValueError:
        raise SettingError(f"{name}={value!r} is not {'a whole number' if kind is int else 'a number'}") from None
    if not math.isfinite(number):
        raise SettingError(f"{name}={value!r} is not a finite number")
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise SettingError(f"{name}={value} is out of range: it must be {bounds}")
    return number
