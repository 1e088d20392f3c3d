"""Named model presets: where the weights come from, pinned, and the defaults each model wants."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from .providers.catalog import HOSTED_MODELS, HostedModel

Task = Literal["text-to-image", "image-to-video", "text-to-video", "video-to-video"]
# Every task a row's `video_model` may name: what makes a clip.
VIDEO_TASKS: tuple[Task, ...] = ("image-to-video", "text-to-video", "video-to-video")
# What a shot can be given, and which a video model takes (`ModelPreset.modes`):
#   text: renders from the prompt alone; image: starts from an image (a keyframe, or the previous shot's
#   last frame); last_image: ends on a second keyframe (`end_prompt`); video: restyles a clip (`restyle_of`).
MODES = ("text", "image", "last_image", "video")
_TASK_MODES = {"image-to-video": ("image",), "text-to-video": ("text",), "video-to-video": ("video",)}


@dataclass(frozen=True)
class ModelPreset:
    name: str
    task: Task
    pipeline_class: str
    repo_id: str | None = None  # Hugging Face repo; None for models the project builds itself
    revision: str | None = None  # pinned commit: the same name always means the same weights
    variant: str | None = None
    builder: str | None = None  # "tiny": built and saved by tiny.py; "shape": real architecture, random weights
    dtype: str = "auto"  # "auto": bf16/fp16 on GPUs, fp32 on CPU
    defaults: Mapping[str, Any] = field(default_factory=dict)
    max_frames: int = 128  # the most `num_frames` a row may ask for (validation reads it from here)
    max_side: int = 2048  # the largest `width`/`height` a row may ask of a local model (hosted: its sizes)
    max_takes: int = 8  # a long take is extended from each take's last frame; providers bill every take
    hosted: HostedModel | None = None  # rendered by a hosted provider's API: no weights, no pipeline
    modes: tuple[str, ...] = ()  # what its shots may be given (MODES); () the task's own (_TASK_MODES)
    # What every one of its shots must be given: Wan 2.1 FLF2V reads exactly two images, a first and a last.
    required_modes: tuple[str, ...] = ()

    @property
    def model_id(self) -> str:
        return self.repo_id or f"vidgen/{self.task}-{self.name}"

    @property
    def uses_negative_prompt(self) -> bool:
        """Only classifier-free guidance (scale > 1) reads the negative prompt; SVD-like image-to-video has no text."""
        text = self.task != "image-to-video" or self.pipeline_class in TEXT_GUIDED_IMAGE_PIPELINES
        return text and self.defaults.get("guidance_scale", 1.0) > 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))
        if not self.modes:
            object.__setattr__(self, "modes", _TASK_MODES.get(self.task, ()))


_TINY_IMAGE = {"width": 64, "height": 64, "num_inference_steps": 2, "guidance_scale": 1.0}
_TINY_VIDEO = {
    "width": 64, "height": 64, "num_frames": 8, "fps": 8, "num_inference_steps": 2,
    "min_guidance_scale": 1.0, "max_guidance_scale": 1.0, "noise_aug_strength": 0.02,
    "decode_chunk_size": 4, "motion_bucket_ids": (127,),
}  # fmt: skip
_SVD = {
    "width": 1024, "height": 576, "num_frames": 14, "fps": 7, "num_inference_steps": 25,
    "min_guidance_scale": 1.0, "max_guidance_scale": 3.0, "noise_aug_strength": 0.02,
    "decode_chunk_size": 8, "motion_bucket_ids": (127,),
}  # fmt: skip
_SVD_XT = {**_SVD, "num_frames": 25}
_SDXL_TURBO = {"width": 512, "height": 512, "num_inference_steps": 1, "guidance_scale": 0.0}
_TINY_T2V = {
    "width": 32, "height": 32, "num_frames": 9, "fps": 8, "num_inference_steps": 2, "guidance_scale": 1.0,
    "decode_chunk_size": 4,
}  # fmt: skip
# Conditioned shots (lib/generation/conditioned.py). Their pipelines read no motion bucket: one bucket, one clip
# (params.motion_buckets reads it for every task but text-to-video). Long takes continue with the SVD renderer,
# so these models make one take.
_ONE_CLIP = {"motion_bucket_ids": (127,)}
_WAN_FLF2V = {
    "width": 1280, "height": 720, "num_frames": 81, "fps": 16, "num_inference_steps": 50, "guidance_scale": 5.0,
    "decode_chunk_size": 8, **_ONE_CLIP,
}  # fmt: skip
_WAN_V2V = {
    "width": 832, "height": 480, "num_frames": 81, "fps": 16, "num_inference_steps": 50, "guidance_scale": 5.0,
    "decode_chunk_size": 8, "strength": 0.7, **_ONE_CLIP,
}  # fmt: skip
# Pipelines whose image-conditioned shots are also text-guided: they read the negative prompt (guidance > 1).
TEXT_GUIDED_IMAGE_PIPELINES = ("WanImageToVideoPipeline", "LTXConditionPipeline")

_ALL = (
    ModelPreset(
    "tiny", "text-to-image", "StableDiffusionPipeline", builder="tiny", defaults=_TINY_IMAGE,
    dtype="float64",  # batch-size rounding stays far below one pixel level; see keyframes.py
),
    ModelPreset(
    "tiny-cfg", "text-to-image", "StableDiffusionPipeline", builder="tiny",
    defaults={**_TINY_IMAGE, "guidance_scale": 5.0}, dtype="float64",  # the tiny model with guidance: reads negatives
),
    ModelPreset(
        "sd-turbo", "text-to-image", "StableDiffusionPipeline", "stabilityai/sd-turbo",
        "b261bac6fd2cf515557d5d0707481eafa0485ec2", variant="fp16",
        defaults={"width": 512, "height": 512, "num_inference_steps": 1, "guidance_scale": 0.0},
    ),
    ModelPreset(
        "sdxl-turbo", "text-to-image", "StableDiffusionXLPipeline", "stabilityai/sdxl-turbo",
        "71153311d3dbb46851df1931d3ca6e939de83304", variant="fp16",
        defaults={"width": 512, "height": 512, "num_inference_steps": 4, "guidance_scale": 0.0},
    ),
    ModelPreset(
        "sdxl-base", "text-to-image", "StableDiffusionXLPipeline", "stabilityai/stable-diffusion-xl-base-1.0",
        "462165984030d82259a11f4367a4eed129e94a7b", variant="fp16",
        defaults={"width": 1024, "height": 1024, "num_inference_steps": 30, "guidance_scale": 5.0},
    ),
    ModelPreset(
        "tiny", "image-to-video", "StableVideoDiffusionPipeline", builder="tiny", defaults=_TINY_VIDEO,
        max_frames=14,
    ),
    ModelPreset(
        "svd", "image-to-video", "StableVideoDiffusionPipeline", "stabilityai/stable-video-diffusion-img2vid",
        "9cf024d5bfa8f56622af86c884f26a52f6676f2e", variant="fp16", defaults=_SVD, max_frames=14,
    ),
    ModelPreset(
        "svd-xt", "image-to-video", "StableVideoDiffusionPipeline",
        "stabilityai/stable-video-diffusion-img2vid-xt", "9e43909513c6714f1bc78bcb44d96e733cd242aa",
        variant="fp16", defaults=_SVD_XT, max_frames=25,
    ),
    ModelPreset(
        "svd-xt-1-1", "image-to-video", "StableVideoDiffusionPipeline",
        "stabilityai/stable-video-diffusion-img2vid-xt-1-1", "043843887ccd51926e3efed36270444a838e7861",
        variant="fp16", defaults=_SVD_XT, max_frames=25,
    ),
ModelPreset(
    "tiny-t2v", "text-to-video", "WanPipeline", builder="tiny", defaults=_TINY_T2V, max_frames=33,
),
ModelPreset(
    "ltx-video", "text-to-video", "LTXPipeline", "Lightricks/LTX-Video", "8984fa25007f376c1a299016d0957a37a2f797bb",
    defaults={
        "width": 704, "height": 480, "num_frames": 121, "fps": 24, "num_inference_steps": 50,
        "guidance_scale": 3.0, "decode_chunk_size": 8,
    },
    max_frames=257,
),
ModelPreset(
    "wan2.1-t2v-1.3b", "text-to-video", "WanPipeline", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
    "0fad780a534b6463e45facd96134c9f345acfa5b",
    defaults={
        "width": 832, "height": 480, "num_frames": 81, "fps": 16, "num_inference_steps": 50,
        "guidance_scale": 5.0, "decode_chunk_size": 8,
    },
    max_frames=81,
),
ModelPreset(
    "tiny-flf2v", "image-to-video", "WanImageToVideoPipeline", builder="tiny", defaults={**_TINY_T2V, **_ONE_CLIP},
    max_frames=33, max_takes=1, modes=("image", "last_image"), required_modes=("last_image",),
),
ModelPreset(
    "tiny-v2v", "video-to-video", "WanVideoToVideoPipeline", builder="tiny",
    defaults={**_TINY_T2V, **_ONE_CLIP, "strength": 0.7}, max_frames=33, max_takes=1,
),
ModelPreset(
    # Commit 17c3076 ("Upload folder using huggingface_hub (#5)") brought the weights. Its shots need an end
    # keyframe too: the transformer reads the CLIP tokens of exactly two images (conditioned._clip_images).
    "wan2.1-flf2v-14b", "image-to-video", "WanImageToVideoPipeline", "Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers",
    "17c30769b1e0b5dcaa1799b117bf20a9c31f59d7", defaults=_WAN_FLF2V, max_frames=81, max_takes=1,
    modes=("image", "last_image"), required_modes=("last_image",),
),
ModelPreset(
    # The text-to-video 1.3B weights (same commit as wan2.1-t2v-1.3b), loaded as a video-to-video pipeline.
    "wan2.1-v2v-1.3b", "video-to-video", "WanVideoToVideoPipeline", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
    "0fad780a534b6463e45facd96134c9f345acfa5b", defaults=_WAN_V2V, max_frames=81, max_takes=1,
),
ModelPreset(
    # LTX-Video 0.9.5 (diffusers layout) for keyframes at any frame and clip conditioning. Its commit is not
    # pinned yet: the loader refuses to download it (only a local directory loads) until one is.
    "ltx-video-condition", "image-to-video", "LTXConditionPipeline", "Lightricks/LTX-Video-0.9.5", None,
    defaults={
        "width": 768, "height": 512, "num_frames": 121, "fps": 24, "num_inference_steps": 40,
        "guidance_scale": 3.0, "decode_chunk_size": 8, "strength": 0.7, **_ONE_CLIP,
    },
    max_frames=257, max_takes=1, modes=("image", "last_image", "video"),
),
# Shape-true models (lib/generation/shape.py): the real architectures with random weights, built on the device,
# so a GPU benchmark times the real layer sizes where the weights cannot be downloaded. Pictures are noise.
ModelPreset(
    "sdxl-turbo-shape", "text-to-image", "StableDiffusionXLPipeline", builder="shape", defaults=_SDXL_TURBO,
),
ModelPreset("svd-xt-shape", "image-to-video", "StableVideoDiffusionPipeline", builder="shape", defaults=_SVD_XT,
            max_frames=25),
ModelPreset(
    "wan2.1-t2v-1.3b-shape", "text-to-video", "WanPipeline", builder="shape",
    defaults={
        "width": 832, "height": 480, "num_frames": 81, "fps": 16, "num_inference_steps": 50,
        "guidance_scale": 5.0, "decode_chunk_size": 8,
    },
    max_frames=81,
),
ModelPreset(
    "ltx-video-shape", "text-to-video", "LTXPipeline", builder="shape",
    defaults={
        "width": 704, "height": 480, "num_frames": 121, "fps": 24, "num_inference_steps": 50,
        "guidance_scale": 3.0, "decode_chunk_size": 8,
    },
    max_frames=257,
),
)  # fmt: skip

# Hosted models: the provider's model id and version stand where a repo and revision would.
_HOSTED = tuple(
    ModelPreset(
        name, hosted.task, "hosted", f"{hosted.provider}:{hosted.model_name}", hosted.version,
        dtype="hosted", defaults=hosted.defaults, max_frames=hosted.max_frames, max_takes=hosted.max_takes,
        hosted=hosted, modes=hosted.modes,
    )
    for name, hosted in HOSTED_MODELS.items()
)

# Keyed by task first: `tiny` names both a text-to-image and an image-to-video model.
PRESETS: dict[str, dict[str, ModelPreset]] = {}
for _preset in _ALL + _HOSTED:
    PRESETS.setdefault(_preset.task, {})[_preset.name] = _preset


class UnknownPresetError(ValueError):
    pass


def preset_names(*tasks: Task) -> set[str]:
    return {name for task in tasks for name in PRESETS.get(task, {})}


def get_preset(name: str, *tasks: Task) -> ModelPreset:
    """The preset called `name` for the first of `tasks` that has one."""
    for task in tasks:
        if name in PRESETS.get(task, {}):
            return PRESETS[task][name]
    known = ", ".join(sorted(preset_names(*tasks)))
    raise UnknownPresetError(f"unknown {' or '.join(tasks)} model preset {name!r}; known: {known}")
