"""What an experiment is: a name, a sample of prompt rows and two or more variants of overrides.

A spec comes from CLI flags (`--variant "video_model=tiny,num_inference_steps=1"`) or a YAML/JSON mapping,
and is stored as JSON in the media store (`experiments/<name>/spec.json`), where the `experiment` asset reads it.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any

from ..generation.params import mode_error, preset_limit_error
from ..generation.presets import VIDEO_TASKS, UnknownPresetError, get_preset
from ..generation.scenes import components, dependencies
from ..generation.videos import ClipParams


class ExperimentError(ValueError):
    """A spec that cannot run; the message says what to change."""


MODEL_KNOBS = ("keyframe_model", "video_model")
# Every clip parameter a row may set (motion buckets as a list, as on a row), and the negative prompt.
ROW_KNOBS: dict[str, type] = {
    **{f.name: {"int": int, "float": float}[f.type] for f in fields(ClipParams) if f.name != "motion_bucket_id"},
    "motion_bucket_ids": tuple, "negative_prompt": str,
}  # fmt: skip
# Generation resource options: how pipelines load and where they run (dtype is part of the content keys).
RESOURCE_OPTIONS: dict[str, type] = {
    "device": str, "dtype": str, "cpu_offload": bool, "vae_slicing": bool, "vae_tiling": bool,
    "attention_backend": str, "compile_denoiser": bool, "keyframe_batch_size": int, "channels_last": bool,
    "step_cache": float, "denoise_batch": int, "overlap_encode": bool,
}  # fmt: skip
DTYPES = ("auto", "float32", "float16", "bfloat16", "float64")
KNOBS = (*MODEL_KNOBS, *ROW_KNOBS, *RESOURCE_OPTIONS)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class Variant:
    """A label and its overrides; no overrides is production (the daily run's settings)."""

    label: str
    overrides: dict[str, Any] = field(default_factory=dict)

    def row_overrides(self) -> dict[str, Any]:
        return {k: v for k, v in self.overrides.items() if k in MODEL_KNOBS or k in ROW_KNOBS}

    def options(self) -> dict[str, Any]:
        return {k: v for k, v in self.overrides.items() if k in RESOURCE_OPTIONS}


@dataclass(frozen=True)
class ExperimentSpec:
    name: str
    variants: tuple[Variant, ...]
    day: date | None = None
    sample: int | None = None
    ids: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "date": self.day.isoformat() if self.day else None, "sample": self.sample,
            "ids": list(self.ids), "variants": [{"name": v.label, **_plain(v.overrides)} for v in self.variants],
        }  # fmt: skip


def _plain(overrides: Mapping[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()}


def coerce(knob: str, value: Any) -> Any:
    """`value` (text from the CLI or a YAML scalar) as the type `knob` takes; a clear error otherwise."""
    if knob not in KNOBS:
        raise ExperimentError(f"unknown knob {knob!r}; known: {', '.join(sorted(KNOBS))}")
    kind = ROW_KNOBS.get(knob) or RESOURCE_OPTIONS.get(knob) or str
    try:
        if kind is tuple:
            parts = value if isinstance(value, list | tuple) else str(value).replace(";", " ").split()
            return tuple(int(part) for part in parts)
        if kind is bool:
            text = str(value).strip().lower()
            if text not in _TRUE + _FALSE:
                raise ValueError(text)
            return text in _TRUE
        if kind is int and float(value) != int(float(value)):
            raise ValueError(value)
        return kind(float(value)) if kind is int else kind(value)
    except (TypeError, ValueError):
        raise ExperimentError(f"{knob}={value!r}: expected {'a list of integers' if kind is tuple else kind.__name__}") from None


def parse_variant(text: str) -> Variant:
    """`"video_model=svd-xt,num_inference_steps=12"` (optionally `name=...`) as a variant; `""` is production."""
    overrides, label = {}, None
    for part in filter(None, (p.strip() for p in text.split(","))):
        knob, sep, value = part.partition("=")
        if not sep or not value.strip():
            raise ExperimentError(f"variant {text!r}: {part!r} is not knob=value")
        if knob.strip() == "name":
            label = value.strip()
        else:
            overrides[knob.strip()] = coerce(knob.strip(), value.strip())
    return Variant(label or _label(overrides), overrides)


def _label(overrides: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={';'.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in overrides.items()) or "production"


def _variant(value: Any) -> Variant:
    if isinstance(value, str):
        return parse_variant(value)
    if value is None:
        return Variant("production")
    if not isinstance(value, Mapping):
        raise ExperimentError(f"a variant is a mapping of knob: value or a 'knob=value,...' string, got {value!r}")
    given = dict(value.get("overrides") or {k: v for k, v in value.items() if k != "name"})
    overrides = {knob: coerce(knob, v) for knob, v in given.items()}
    return Variant(str(value.get("name") or _label(overrides)), overrides)


def spec_from_mapping(data: Mapping[str, Any]) -> ExperimentSpec:
    """A spec from a YAML/JSON mapping (keys `name`, `date`, `sample` or `ids`, `variants`), checked on its own."""
    if not isinstance(data, Mapping):
        raise ExperimentError("an experiment file holds a mapping with name, date, sample or ids, and variants")
    unknown = set(data) - {"name", "date", "sample", "ids", "variants"}
    if unknown:
        raise ExperimentError(f"unknown experiment field(s): {', '.join(sorted(unknown))}")
    ids = data.get("ids") or ()
    ids = tuple(i.strip() for i in ids.split(",")) if isinstance(ids, str) else tuple(str(i) for i in ids)
    try:
        day = date.fromisoformat(str(data["date"])) if data.get("date") else None
    except ValueError:
        raise ExperimentError(f"date {data['date']!r} is not YYYY-MM-DD") from None
    spec = ExperimentSpec(
        name=str(data.get("name") or ""), variants=tuple(_variant(v) for v in data.get("variants") or ()),
        day=day, sample=int(data["sample"]) if data.get("sample") is not None else None, ids=tuple(filter(None, ids)),
    )  # fmt: skip
    check_spec(spec)
    return spec


def check_spec(spec: ExperimentSpec) -> None:
    """Problems visible without the prompt rows: the name, the sample, the variants and their models."""
    if not NAME.match(spec.name):
        raise ExperimentError(
            f"experiment name {spec.name!r}: letters, digits, '.', '_' or '-', at most 64, starting alphanumeric"
        )
    if bool(spec.ids) == (spec.sample is not None):
        raise ExperimentError("give either a sample size (with a date) or prompt ids, not both or neither")
    if spec.sample is not None and (spec.sample < 1 or spec.day is None):
        raise ExperimentError("a sample needs a date and a size of at least 1")
    if len(spec.variants) < 2:
        raise ExperimentError(f"an experiment compares at least 2 variants, got {len(spec.variants)}")
    labels = [v.label for v in spec.variants]
    if len(set(labels)) < len(labels):
        raise ExperimentError(f"variant names must differ: {', '.join(labels)}")
    for variant in spec.variants:
        options = variant.options()
        if options.get("dtype", "auto") not in DTYPES:
            raise ExperimentError(f"variant {variant.label!r}: dtype {options['dtype']!r} is not one of {', '.join(DTYPES)}")
        if not re.match(r"^(auto|cpu|mps|cuda(:\d+)?)$", options.get("device", "auto")):
            device = options["device"]
            raise ExperimentError(f"variant {variant.label!r}: device {device!r} is not auto, cpu, mps, cuda or cuda:N")
        try:
            if "keyframe_model" in variant.overrides:
                get_preset(variant.overrides["keyframe_model"], "text-to-image")
            if "video_model" in variant.overrides:
                get_preset(variant.overrides["video_model"], *VIDEO_TASKS)
        except UnknownPresetError as error:
            raise ExperimentError(f"variant {variant.label!r}: {error}") from None


def sample_ids(name: str, ids: Sequence[str], count: int) -> list[str]:
    """`count` of `ids`, the same for the same name and rows (seeded by the name), in id order."""
    seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    return sorted(random.Random(seed).sample(sorted(ids), min(count, len(ids))))


def select_rows(spec: ExperimentSpec, rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[dict]]:
    """The sampled prompt ids, and the rows to render: those plus the shots they are made from (a scene's
    shots, a restyle's source), so each sampled clip is keyed exactly as in the daily run."""
    by_id = {row["prompt_id"]: dict(row) for row in rows}
    if spec.ids:
        missing = [i for i in spec.ids if i not in by_id]
        if missing:
            raise ExperimentError(f"not among the day's valid rows: {', '.join(missing)}")
        sampled = list(spec.ids)
    else:
        sampled = sample_ids(spec.name, list(by_id), spec.sample or 0)
    if not sampled:
        raise ExperimentError(f"no valid prompt rows on {spec.day} to sample")
    groups = components(list(by_id), dependencies(list(by_id.values())))
    needed = {pid for group in groups if set(group) & set(sampled) for pid in group}
    return sampled, [row for pid, row in by_id.items() if pid in needed]


def variant_rows(rows: Sequence[Mapping[str, Any]], variant: Variant) -> list[dict]:
    overrides = variant.row_overrides()
    return [{**row, **overrides} for row in rows]


def check_rows(spec: ExperimentSpec, rows: Sequence[Mapping[str, Any]], default_video_model: str) -> None:
    """Every variant must be able to render every row: the daily run's preset limits and shot modes."""
    from ..generation.loader import cuda_device_count
    from ..generation.presets import preset_names
    from ..warehouse.validation import RowError, validate_row

    problems = []
    for variant in spec.variants:
        device = str(variant.options().get("device") or "")
        if device.startswith("cuda") and int(device.partition(":")[2] or 0) >= cuda_device_count():
            problems.append(f"variant {variant.label!r}: device {device!r}, but this machine has {cuda_device_count()} "
                            "CUDA device(s)")  # fmt: skip
        for row in variant_rows(rows, variant):
            try:  # the knobs as an import checks them: ranges, types, the models' names
                validate_row({**row, "scheduled_for": str(row["scheduled_for"])}, preset_names("text-to-image"),
                             preset_names(*VIDEO_TASKS))  # fmt: skip
            except RowError as error:
                problems.append(f"variant {variant.label!r} cannot render {row['prompt_id']}: {error}")
                continue
            preset = get_preset(row.get("video_model") or default_video_model, *VIDEO_TASKS)
            if problem := preset_limit_error(row, preset) or mode_error(row, preset):
                problems.append(f"variant {variant.label!r} cannot render {row['prompt_id']}: {problem}")
    if problems:
        raise ExperimentError("; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""))
