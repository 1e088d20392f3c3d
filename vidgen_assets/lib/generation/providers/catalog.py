"""What each hosted video model can do and costs: its provider, model id, row knobs, limits and prices.

`presets.py` turns each entry into a `ModelPreset` (task image-to-video, no weights), so a row or the
resource picks a hosted model by name like any local one. Prices are list prices (../shared/PROVIDERS.md)
for the cost estimate in lineage and metadata; the provider's invoice is what counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from math import gcd
from types import MappingProxyType
from typing import Any

# Row knobs (prompt-row columns) a video model may read; a row setting one its model ignores is rejected.
ROW_KNOBS = (
    "motion_bucket_ids", "num_frames", "fps", "noise_aug_strength", "num_inference_steps", "min_guidance_scale",
    "max_guidance_scale", "decode_chunk_size", "width", "height", "take_crossfade_frames",
)  # fmt: skip
# The ClipParams field each knob sets (the rest share their name).
KNOB_PARAMS = {"motion_bucket_ids": "motion_bucket_id"}
# Luma's resolutions, named by the output's short side (9:16 at 720p is 720x1280).
LUMA_RESOLUTIONS = {540: "540p", 720: "720p", 1080: "1080p", 2160: "4k"}


@dataclass(frozen=True)
class HostedModel:
    """One hosted model: what a row may ask of it and what a clip costs."""

    provider: str  # "replicate", "runway", "luma", "fal": the client module and the pool `api_<provider>`
    model: str  # the provider's model id: "owner/name:version" on Replicate, "gen4_turbo", "ray-2", a fal app
    knobs: tuple[str, ...]  # row knobs (ROW_KNOBS) it honours
    defaults: Mapping[str, Any]  # ClipParams defaults; width × height is the output size it makes
    reads_prompt: bool = True  # sends the row's prompt with the keyframe (SVD takes the image alone)
    choices: Mapping[str, tuple] = field(default_factory=dict)  # allowed values per knob
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # inclusive bounds per knob
    ratios: tuple[str, ...] = ()  # output ratios as the provider spells them; width:height must reduce to one
    short_sides: tuple[int, ...] = ()  # the output's short side must be one of these (a resolution); () any
    max_takes: int = 8  # takes extended from the previous take (Luma: its generation); each take is billed
    usd_per_clip: float = 0.0
    usd_per_output_second: float = 0.0  # seconds of video made (Runway credits, fal, Luma)
    usd_per_processing_second: float = 0.0  # seconds the provider's hardware ran (Replicate)
    reserve_processing_s: float = 0.0  # hardware seconds a task's price is held for before it runs (Replicate)
    task: str = "image-to-video"  # the preset's task: image-, text- or video-to-video
    modes: tuple[str, ...] = ()  # what its shots may be given (presets.MODES); () the task's own

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))

    @property
    def model_name(self) -> str:
        """The model without a Replicate version: part of the preset's model id."""
        return self.model.partition(":")[0]

    @property
    def version(self) -> str:
        """What pins the model's behaviour: the Replicate version hash, else the model id itself."""
        return self.model.rpartition(":")[2]

    @property
    def max_frames(self) -> int:
        return max(self.choices.get("num_frames", (self.defaults["num_frames"],)))

    def params_read(self) -> tuple[str, ...]:
        """The ClipParams fields that change this model's output: they go into the clip's content key."""
        return tuple(sorted({KNOB_PARAMS.get(knob, knob) for knob in self.knobs} | {"num_frames", "fps", "seed"}))

    def duration_s(self, params: Mapping[str, Any]) -> float:
        return params["num_frames"] / params["fps"]

    def ratio(self, params: Mapping[str, Any]) -> str:
        """width:height in the provider's spelling: the exact pair if listed, else reduced (16:9).

        A model that takes a resolution apart (`short_sides`) lists aspect ratios, matched by value:
        5040x2160 is its "21:9", which reduces to 7:3.
        """
        width, height = params["width"], params["height"]
        exact = f"{width}:{height}"
        if exact in self.ratios:
            return exact
        if self.short_sides:
            for ratio in self.ratios:
                across, down = map(int, ratio.split(":"))
                if width * down == height * across:
                    return ratio
        divisor = gcd(width, height)
        return f"{width // divisor}:{height // divisor}"

    def cost_usd(self, params: Mapping[str, Any], processing_s: float) -> float:
        """The list price of one clip made with `params` that ran `processing_s` on the provider."""
        return round(
            self.usd_per_clip + self.usd_per_output_second * self.duration_s(params)
            + self.usd_per_processing_second * processing_s, 6,
        )  # fmt: skip

    def list_price_usd(self, params: Mapping[str, Any]) -> float:
        """What one task is expected to cost before it runs: what a budget holds for it."""
        return self.cost_usd(params, self.reserve_processing_s)

    def limit_error(self, row: Mapping[str, Any], preset_name: str) -> str | None:
        """Why the row asks for something this model can't do, or None."""
        where = f"video model {preset_name!r} (hosted on {self.provider})"
        for knob in ROW_KNOBS:
            values = row.get(knob)
            if values in (None, (), []):
                continue
            if knob not in self.knobs:
                takes = ", ".join(self.knobs) or "none"
                return f"{knob} is not something {where} takes; its row knobs: {takes}"
            for value in values if isinstance(values, (tuple, list)) else (values,):
                if knob in self.choices and value not in self.choices[knob]:
                    allowed = ", ".join(map(str, self.choices[knob]))
                    return f"{knob} {value} is not offered by {where}; it takes {allowed}"
                low, high = self.ranges.get(knob, (value, value))
                if not low <= value <= high:
                    return f"{knob} {value} is outside {low}-{high}, what {where} accepts"
        width, height = row.get("width"), row.get("height")
        if self.ratios and (width or height):
            params = {"width": width or self.defaults["width"], "height": height or self.defaults["height"]}
            if self.ratio(params) not in self.ratios:
                return f"{params['width']}x{params['height']} is not a ratio {where} makes; it makes {', '.join(self.ratios)}"
            if self.short_sides and min(params.values()) not in self.short_sides:
                sides = ", ".join(map(str, self.short_sides))
                size = f"{params['width']}x{params['height']}"
                return f"{size} is not a resolution {where} makes; its short side is one of {sides}"
        return None


def _seconds_at(fps: int, *seconds: int) -> tuple[int, ...]:
    """Frame counts of clips `seconds` long at `fps`: how a row asks for a provider's durations."""
    return tuple(fps * s for s in seconds)


HOSTED_MODELS: dict[str, HostedModel] = {
    # Replicate bills hardware time: SVD runs on an A100 (80 GB) at $0.0014/s.
    "replicate-svd-xt": HostedModel(
        "replicate", "stability-ai/stable-video-diffusion:3f0457e4619daac51203dedb472816fd4af51f3149fa7a9e0b5ffcf1b8172438",
        knobs=("motion_bucket_ids", "num_frames", "fps", "noise_aug_strength"), reads_prompt=False,
        defaults={"num_frames": 25, "fps": 6, "motion_bucket_ids": (127,), "noise_aug_strength": 0.02,
                  "width": 1024, "height": 576},
        choices={"num_frames": (14, 25)}, ranges={"fps": (5, 30), "motion_bucket_ids": (1, 255),
                                                   "noise_aug_strength": (0.0, 1.0)},
        usd_per_processing_second=0.0014, reserve_processing_s=60.0,  # SVD-XT 25 frames: under a minute on an A100
    ),
    # 5 credits per second of video at $0.01 a credit; 24 fps.
    "runway-gen4-turbo": HostedModel(
        "runway", "gen4_turbo", knobs=("num_frames", "width", "height"),
        defaults={"num_frames": 120, "fps": 24, "motion_bucket_ids": (127,), "width": 1280, "height": 720},
        choices={"num_frames": _seconds_at(24, *range(2, 11))},
        ratios=("1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"),
        usd_per_output_second=0.05,
    ),
    # 5 s or 9 s at 24 fps; no seed. Luma's list price for Ray 2 at 720p, about $0.71 per 5 s (not in
    # PROVIDERS.md: check the current price list).
    "luma-ray-2": HostedModel(
        "luma", "ray-2", knobs=("num_frames", "width", "height"),
        defaults={"num_frames": 120, "fps": 24, "motion_bucket_ids": (127,), "width": 1280, "height": 720},
        choices={"num_frames": _seconds_at(24, 5, 9)},
        ratios=("1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21"), short_sides=tuple(LUMA_RESOLUTIONS),
        usd_per_output_second=0.142,
    ),
    # Kling 2.1 standard on fal's queue: $0.28 per 5 s; 5 s or 10 s at 24 fps, the keyframe's ratio.
    "fal-kling-2.1": HostedModel(
        "fal", "fal-ai/kling-video/v2.1/standard/image-to-video", knobs=("num_frames",),
        defaults={"num_frames": 120, "fps": 24, "motion_bucket_ids": (127,), "width": 1280, "height": 720},
        choices={"num_frames": _seconds_at(24, 5, 10)},
        usd_per_output_second=0.056,
    ),
}
