"""One hosted video model's description (`HostedModel`): its provider, model id, row knobs, limits and prices.

The catalog of hosted presets is `catalog.py` (image-to-video) and `catalog_shots.py` (the other kinds of
shot); both build `HostedModel`s from here.
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
    "max_guidance_scale", "decode_chunk_size", "width", "height", "take_crossfade_frames", "strength",
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


def seconds_at(fps: int, *seconds: int) -> tuple[int, ...]:
    """Frame counts of clips `seconds` long at `fps`: how a row asks for a provider's durations."""
    return tuple(fps * s for s in seconds)
