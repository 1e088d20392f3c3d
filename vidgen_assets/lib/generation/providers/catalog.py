"""What each hosted video model can do and costs: its provider, model id, row knobs, limits and prices.

`presets.py` turns each entry into a `ModelPreset` (its `task` and `modes`, no weights), so a row or the
resource picks a hosted model by name like any local one. Prices are list prices (../shared/PROVIDERS.md)
for the cost estimate in lineage and metadata; the provider's invoice is what counts. The image-to-video
presets are here; text-to-video, first-and-last-frame and video-to-video ones in `catalog_shots.py`.
`HostedModel` itself lives in `hosted_model.py` (re-exported here with the knob tables).
"""

from __future__ import annotations

from .catalog_shots import SHOT_MODELS
from .hosted_model import KNOB_PARAMS, LUMA_RESOLUTIONS, ROW_KNOBS, HostedModel, seconds_at

__all__ = ["HOSTED_MODELS", "KNOB_PARAMS", "LUMA_RESOLUTIONS", "ROW_KNOBS", "HostedModel", "seconds_at"]

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
        choices={"num_frames": seconds_at(24, *range(2, 11))},
        ratios=("1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"),
        usd_per_output_second=0.05,
    ),
    # 5 s or 9 s at 24 fps; no seed. Luma's list price for Ray 2 at 720p, about $0.71 per 5 s (not in
    # PROVIDERS.md: check the current price list). Its shots start on an image (keyframes.frame0) and may end
    # on one (keyframes.frame1: a first-and-last-frame shot, same price).
    "luma-ray-2": HostedModel(
        "luma", "ray-2", knobs=("num_frames", "width", "height"),
        defaults={"num_frames": 120, "fps": 24, "motion_bucket_ids": (127,), "width": 1280, "height": 720},
        choices={"num_frames": seconds_at(24, 5, 9)},
        ratios=("1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21"), short_sides=tuple(LUMA_RESOLUTIONS),
        usd_per_output_second=0.142, modes=("image", "last_image"),
    ),
    # Kling 2.1 standard on fal's queue: $0.28 per 5 s; 5 s or 10 s at 24 fps, the keyframe's ratio.
    "fal-kling-2.1": HostedModel(
        "fal", "fal-ai/kling-video/v2.1/standard/image-to-video", knobs=("num_frames",),
        defaults={"num_frames": 120, "fps": 24, "motion_bucket_ids": (127,), "width": 1280, "height": 720},
        choices={"num_frames": seconds_at(24, 5, 10)},
        usd_per_output_second=0.056,
    ),
    **SHOT_MODELS,
}
