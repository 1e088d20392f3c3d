"""`vidgen doctor`: is this machine ready to render? Each check says what it found and why it matters."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from . import environment


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True

    @property
    def status(self) -> str:
        return "ok" if self.ok else ("MISSING" if self.required else "warn")


def _first_day() -> Check:
    """VIDGEN_FIRST_DAY: a bad value stops every command that needs the daily partitions."""
    try:
        day = environment.first_day()
    except environment.SettingError as error:
        return Check("VIDGEN_FIRST_DAY", False, str(error))
    where = "VIDGEN_FIRST_DAY" if os.getenv("VIDGEN_FIRST_DAY", "").strip() else "default: the first of the previous month"
    return Check("VIDGEN_FIRST_DAY", True, f"first daily partition {day} ({where})")


# What pyproject pins, for a checkout whose own metadata is not installed.
SQLALCHEMY_PIN = "sqlalchemy>=2.0.40,<2.1"


def _sqlalchemy_pin() -> str:
    try:
        requires = metadata.requires("vidgen_assets") or []
    except metadata.PackageNotFoundError:
        return SQLALCHEMY_PIN
    return next((r for r in requires if Requirement(r).name.lower() == "sqlalchemy"), SQLALCHEMY_PIN)


def _sqlalchemy() -> Check:
    """The pinned SQLAlchemy: on 2.1+ Dagster's Postgres storage (`postgres_db:`) fails at its first event write."""
    pin = Requirement(_sqlalchemy_pin())
    try:
        installed = metadata.version("sqlalchemy")
    except metadata.PackageNotFoundError:
        return Check("SQLAlchemy", False, f"not installed; the project needs {pin}: re-run `make setup`")
    if not pin.specifier.contains(installed, prereleases=True):
        return Check("SQLAlchemy", False, f"{installed} does not satisfy {pin} (Dagster's Postgres storage fails on "
                                          "2.1+ with `syntax error at or near \"$1\"`): re-run `make setup`")  # fmt: skip
    return Check("SQLAlchemy", True, f"{installed} ({pin})")


def _warehouse() -> Check:
    from .warehouse import Warehouse
    from .warehouse.connections import masked, scrub
    from .warehouse.schema import LATEST_VERSION

    target = environment.warehouse_target()
    try:
        version = Warehouse(target).schema_version()  # connecting applies pending migrations
    except Exception as error:  # shown by `run_checks`, so the password goes first
        return Check("warehouse", False, f"{masked(target)}: {type(error).__name__}: {scrub(str(error), target)[:200]}")
    return Check("warehouse", version == LATEST_VERSION, f"{masked(target)} (schema v{version} of v{LATEST_VERSION})")


def _media(s3_client_factory: Callable[[], object]) -> Check:
    from .storage import open_media_store

    uri = environment.media_uri()
    client = s3_client_factory() if uri.startswith("s3://") else None
    store = open_media_store(uri, s3_client=client, cache_dir=environment.vidgen_home() / "cache" / "media")
    probe = f"manifests/doctor/{uuid.uuid4().hex}.json"
    store.put_json(probe, {"probe": True})
    readable = store.get_json(probe) == {"probe": True}
    return Check("media store", readable, f"{uri} is writable")


def _codecs() -> Check:
    import av

    missing = [name for name, mode in (("libx264", "w"), ("h264", "r"), ("aac", "w")) if not _has_codec(av, name, mode)]
    return Check("PyAV codecs", not missing, f"PyAV {av.__version__}" + (f", missing {missing}" if missing else ": libx264, h264, aac"))


def _has_codec(av, name: str, mode: str) -> bool:
    try:
        av.codec.Codec(name, mode)
        return True
    except Exception:  # PyAV raises different errors per version for an unknown codec
        return False


def _presets() -> list[Check]:
    """The configured presets: built ones are always there; real ones need their weights here."""
    from .generation import get_preset
    from .generation.providers.registry import KEY_VARIABLES
    from .generation.loader import local_weights

    offline = os.getenv("HF_HUB_OFFLINE") == "1"
    checks = []
    for task, variable in (("text-to-image", "VIDGEN_KEYFRAME_MODEL"), ("image-to-video", "VIDGEN_VIDEO_MODEL")):
        preset = get_preset(os.getenv(variable, "tiny"), task)
        name = f"model {task}/{preset.name}"
        if preset.builder:
            checks.append(Check(name, True, f"built locally ({preset.builder}), no weights needed"))
            continue
        if preset.hosted:
            variable = KEY_VARIABLES[preset.hosted.provider]
            found = "set" if os.getenv(variable) else "not set: runs with this model fail at once"
            checks.append(Check(name, bool(os.getenv(variable)), f"hosted on {preset.hosted.provider}; {variable} {found}"))
            continue
        found = local_weights(preset, environment.models_dir())
        pinned = f"{preset.repo_id}@{(preset.revision or 'unpinned')[:12]}"
        if found is not None:
            checks.append(Check(name, True, f"{pinned} at {found}"))
        else:
            # Without HF_HUB_OFFLINE the first run may still download them, where the hub is reachable.
            where = "HF_HUB_OFFLINE=1, so runs will fail" if offline else "the first run will try the hub"
            checks.append(Check(name, False, f"{pinned} not on this machine; {where}", required=offline))
    return checks


def _gpu() -> Check:
    import torch

    wants_cuda = os.getenv("VIDGEN_DEVICE", "auto") == "cuda"
    if torch.cuda.is_available():
        return Check("GPU", True, torch.cuda.get_device_name(), required=wants_cuda)
    return Check("GPU", False, "none visible; rendering runs on the CPU", required=wants_cuda)


def _second_opinion() -> Check:
    """Which FFmpeg tool the reel check decodes with: the system ffprobe when present, else imageio-ffmpeg's."""
    from .video import second_opinion_tool

    tool, path = second_opinion_tool()
    where = "system ffprobe" if tool == "ffprobe" else "imageio-ffmpeg's ffmpeg (no system ffprobe on PATH)"
    return Check("reel check decoder", True, f"{where}: {path}")


def _dagster_home() -> Check:
    home = Path(os.getenv("DAGSTER_HOME") or environment.dagster_home())
    return Check("DAGSTER_HOME", home.is_dir() and os.access(home, os.W_OK), f"{home} (created by the first vidgen run)", required=False)


Probe = tuple[str, Callable[[], "Check | list[Check]"]]


def _music() -> list[Check]:
    """The soundtrack's model (a day with a music prompt renders with it) and the reel's beat tracker."""
    from .audio.presets import MUSIC_PRESETS, check_music_model, hosted_music_presets, music_model_name
    from .generation.loader import local_weights
    from .generation.providers.registry import KEY_VARIABLES

    name = music_model_name()
    check_music_model(name)  # an unknown name stops the code location from loading: required
    label = f"music model {name}"
    if name in MUSIC_PRESETS and MUSIC_PRESETS[name].builder:
        found = Check(label, True, "built locally, no weights needed")
    elif name in MUSIC_PRESETS:
        preset = MUSIC_PRESETS[name]
        where = local_weights(preset, environment.models_dir())
        pinned = f"{preset.repo_id}@{(preset.revision or 'unpinned')[:12]}"
        found = Check(label, where is not None, f"{pinned} at {where}" if where else
                      f"{pinned} not in {environment.models_dir()}: days with a music prompt fail", required=False)  # fmt: skip
    else:
        variable = KEY_VARIABLES[hosted_music_presets()[name].provider]
        found = Check(label, bool(os.getenv(variable)), f"hosted; {variable} " + ("set" if os.getenv(variable) else
                      "not set: days with a music prompt fail"), required=False)  # fmt: skip
    try:
        from importlib.metadata import version

        beats = Check("beat tracker", True, f"librosa {version('librosa')}", required=False)
    except Exception as error:  # the reel of a day with music fails without it
        beats = Check("beat tracker", False, f"librosa is not installed ({error}): run `make setup`", required=False)
    return [found, beats]


def _writer() -> Check:
    """Where themes are written into prompt rows: offline, or an OpenAI-compatible endpoint that answers."""
    import httpx

    from .themes import writer_settings_from_env

    settings = writer_settings_from_env()  # a bad VIDGEN_LLM_* variable: required, every theme day fails
    if settings.offline:
        return Check("prompt writer", True, "offline (no VIDGEN_LLM_BASE_URL): themes expand through the word lists")
    url = settings.completions_url.replace("/chat/completions", "/models", 1)
    headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
    where = f"{settings.model} at {settings.shown_url.rsplit('/chat/completions', 1)[0]}"
    try:
        status = httpx.get(url, headers=headers, timeout=5.0).status_code
    except httpx.HTTPError as error:  # the message names the host only: never the key
        return Check("prompt writer", False, f"{where} unreachable ({type(error).__name__}): themes will be rejected",
                     required=False)  # fmt: skip
    if status in (401, 403):
        return Check("prompt writer", False, f"{where} refused VIDGEN_LLM_API_KEY (HTTP {status})", required=False)
    return Check("prompt writer", True, f"{where} answers (GET /models: HTTP {status})", required=False)


def run_checks(s3_client_factory: Callable[[], object], extra: Sequence[Probe] = ()) -> list[Check]:
    """Every check (plus `extra` (name, probe) pairs); one that raises becomes a failed check, never a crash."""
    results: list[Check] = []
    probes: list[Probe] = [
        ("VIDGEN_FIRST_DAY", _first_day), ("SQLAlchemy", _sqlalchemy), ("warehouse", _warehouse), ("media store", lambda: _media(s3_client_factory)), ("PyAV codecs", _codecs),
        ("models", _presets), ("music model", _music), ("prompt writer", _writer), ("GPU", _gpu), ("reel check decoder", _second_opinion), ("DAGSTER_HOME", _dagster_home),
        *extra,
    ]  # fmt: skip
    for name, probe in probes:
        try:
            found = probe()
        except Exception as error:
            found = Check(name, False, f"{type(error).__name__}: {str(error)[:200]}")
        results.extend(found if isinstance(found, list) else [found])
    return results


def format_table(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{'check'.ljust(width)}  status   detail", f"{'-' * width}  -------  ------"]
    lines += [f"{c.name.ljust(width)}  {c.status.ljust(7)}  {c.detail}" for c in checks]
    return "\n".join(lines)
