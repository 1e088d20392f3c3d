"""Model presets, pipeline loading and rendering; no Dagster here."""

from .keyframes import KeyframeRequest, render_keyframes, row_generators
from .loader import PIPELINES, ModelUnavailableError, PipelineCache, model_revision, pick_device, resolve_weights
from .presets import MODES, PRESETS, VIDEO_TASKS, ModelPreset, UnknownPresetError, get_preset, preset_names
from .videos import ClipParams, ClipResult, render_clip

__all__ = [
    "MODES", "PIPELINES", "PRESETS", "VIDEO_TASKS", "ClipParams", "ClipResult", "KeyframeRequest", "ModelPreset",
    "ModelUnavailableError", "PipelineCache", "UnknownPresetError", "get_preset", "model_revision",
    "pick_device", "preset_names", "render_clip", "render_keyframes", "resolve_weights", "row_generators",
]  # fmt: skip
