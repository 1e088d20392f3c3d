"""Music presets: the local Stable Audio models and, by name, the hosted ones (`hosted.py`)."""

from __future__ import annotations

import os

from ..generation.presets import ModelPreset, UnknownPresetError
from .tiny import MUSIC_TASK

MUSIC_MODEL_VARIABLE = "VIDGEN_MUSIC_MODEL"
DEFAULT_MUSIC_MODEL = "tiny-music"

# Local presets share the generation loader (`PIPELINES`): tiny builds, pinned revisions, the clear error
# when weights are absent. `max_seconds` comes from the loaded pipeline (its DiT's sample size).
MUSIC_PRESETS: dict[str, ModelPreset] = {
    preset.name: preset
    for preset in (
        ModelPreset(
            "tiny-music", MUSIC_TASK, "StableAudioPipeline", builder="tiny",  # type: ignore[arg-type]
            defaults={"num_inference_steps": 2, "guidance_scale": 1.0},
        ),
        ModelPreset(
            # A snapshot with the diffusers layout (vae/, transformer/, ... since the hub's PR #39, 2024-07-30).
            # The repo is gated: accept its licence on the hub before downloading.
            "stable-audio-open-1.0", MUSIC_TASK, "StableAudioPipeline",  # type: ignore[arg-type]
            "stabilityai/stable-audio-open-1.0", "67351841772475731424cf358c9fb785716ac78f",
            defaults={"num_inference_steps": 100, "guidance_scale": 7.0},
        ),
    )
}  # fmt: skip


def hosted_music_presets() -> dict:
    """`HOSTED_MUSIC_PRESETS` of `hosted.py`, imported only when a music model is looked up."""
    from .hosted import HOSTED_MUSIC_PRESETS

    return HOSTED_MUSIC_PRESETS


def music_model_name() -> str:
    """The music model a day renders with: `VIDGEN_MUSIC_MODEL`, else `tiny-music`."""
    return os.getenv(MUSIC_MODEL_VARIABLE) or DEFAULT_MUSIC_MODEL


def is_hosted_music(name: str) -> bool:
    return name not in MUSIC_PRESETS and name in hosted_music_presets()


def music_preset_names() -> list[str]:
    return sorted({*MUSIC_PRESETS, *hosted_music_presets()})


def check_music_model(name: str) -> None:
    """Raise `UnknownPresetError` naming the known music models unless `name` is one."""
    if name not in MUSIC_PRESETS and name not in hosted_music_presets():
        raise UnknownPresetError(
            f"unknown music model {name!r} ({MUSIC_MODEL_VARIABLE}); known: {', '.join(music_preset_names())}"
        )


def music_model_identity(name: str) -> tuple[str, str]:
    """(model id, revision) of a music preset, local or hosted: what its soundtracks' keys name."""
    check_music_model(name)
    if name in MUSIC_PRESETS:
        from ..generation.loader import model_revision

        preset = MUSIC_PRESETS[name]
        return preset.model_id, model_revision(preset)
    hosted = hosted_music_presets()[name]
    return f"{hosted.provider}:{hosted.model}", hosted.version
