"""Hosted presets for the other kinds of shot: text-to-video, first-and-last-frame and video-to-video.

Each declares its `task` and `modes` (presets.MODES: text, image, last_image, video) and the row knobs it
honours; the client picks the provider's route from what the request carries (README: "Kinds of shot").
Prices are list prices: where one is not in ../shared/PROVIDERS.md or the provider's own pages it says
"not confirmed" and is a best estimate for the budget's reservation; the provider's invoice is what counts.
"""

from __future__ import annotations

from math import ceil

from .hosted_model import LUMA_RESOLUTIONS, HostedModel, seconds_at

# Luma's modify modes from closest to the source to freest (lumaai 1.21 `generations.video.modify`).
LUMA_MODIFY_MODES = (
    "adhere_1", "adhere_2", "adhere_3", "flex_1", "flex_2", "flex_3", "reimagine_1", "reimagine_2", "reimagine_3",
)  # fmt: skip


def luma_modify_mode(strength: float) -> str:
    """The row's `strength` (0 < s <= 1, how far a restyle may move from its source) as Luma's modify mode:
    nine equal steps, (k-1)/9 < s <= k/9 → the k-th of adhere_1..3, flex_1..3, reimagine_1..3; so 0.1 is
    adhere_1, 0.5 flex_2, 1.0 reimagine_3."""
    step = ceil(round(float(strength) * len(LUMA_MODIFY_MODES), 9))
    return LUMA_MODIFY_MODES[min(len(LUMA_MODIFY_MODES), max(1, step)) - 1]


_24FPS_720P = {"fps": 24, "motion_bucket_ids": (127,), "width": 1280, "height": 720}
# Veo 3.1 on Runway (runwayml 5.24: text_to_video and image_to_video take these ratios, 4, 6 or 8 s).
_VEO_RATIOS = ("1280:720", "720:1280", "1080:1920", "1920:1080")
_VEO = dict(
    provider="runway", model="veo3.1", knobs=("num_frames", "width", "height"),
    defaults={"num_frames": 192, **_24FPS_720P}, choices={"num_frames": seconds_at(24, 4, 6, 8)}, ratios=_VEO_RATIOS,
    usd_per_output_second=0.20,
)  # fmt: skip
_LUMA_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21")

SHOT_MODELS: dict[str, HostedModel] = {
    # Runway Gen-4.5 from the prompt alone (POST /v1/text_to_video): 2-10 s, 1280:720 or 720:1280 (runwayml
    # 5.24), 12 credits/s at $0.01 (PROVIDERS.md), so $0.60 per 5 s.
    "runway-gen4.5": HostedModel(
        "runway", "gen4.5", knobs=("num_frames", "width", "height"), defaults={"num_frames": 120, **_24FPS_720P},
        choices={"num_frames": seconds_at(24, *range(2, 11))}, ratios=("1280:720", "720:1280"),
        usd_per_output_second=0.12, task="text-to-video", modes=("text",),
    ),
    # Veo 3.1 on Runway, sent with `audio: false` (the reel is silent). 20 credits/s without audio (40 with):
    # from a third-party copy of Runway's price list, not confirmed; $1.60 per 8 s (Veo's default length).
    "runway-veo3.1": HostedModel(**_VEO, task="text-to-video", modes=("text",)),
    # The same model from a first frame, optionally ending on a last frame: promptImage as
    # [{uri, position: "first"}, {uri, position: "last"}] on POST /v1/image_to_video. Price as above (not confirmed).
    "runway-veo3.1-i2v": HostedModel(**_VEO, task="image-to-video", modes=("image", "last_image")),
    # Runway Aleph 2 restyles a source clip (POST /v1/video_to_video: videoUri, promptText, ratio, seed); the
    # output is as long as the source, so the price is per second of it. No strength knob. Ratios and price
    # are gen4_aleph's (15 credits/s, third-party copy of Runway's list): not confirmed for aleph2.
    "runway-aleph2": HostedModel(
        "runway", "aleph2", knobs=("width", "height"), defaults={"num_frames": 120, **_24FPS_720P},
        ratios=("1280:720", "720:1280", "1104:832", "960:960", "832:1104", "1584:672", "848:480", "640:480"),
        usd_per_output_second=0.15, max_takes=1, task="video-to-video", modes=("video",),
    ),
    # Luma Ray 2 without keyframes: text-to-video, same sizes and price as luma-ray-2 (720p list price, not
    # confirmed in PROVIDERS.md).
    "luma-ray-2-t2v": HostedModel(
        "luma", "ray-2", knobs=("num_frames", "width", "height"), defaults={"num_frames": 120, **_24FPS_720P},
        choices={"num_frames": seconds_at(24, 5, 9)}, ratios=_LUMA_RATIOS, short_sides=tuple(LUMA_RESOLUTIONS),
        usd_per_output_second=0.142, task="text-to-video", modes=("text",),
    ),
    # Luma's modify (POST /generations/video/modify: media.url, mode, model, prompt): the source clip restyled,
    # as long as the source; `strength` picks the mode (`luma_modify_mode`). Price: Ray 2's per-second 720p
    # price assumed, not confirmed.
    "luma-ray-2-modify": HostedModel(
        "luma", "ray-2", knobs=("strength",), defaults={"num_frames": 120, "strength": 0.5, **_24FPS_720P},
        ranges={"strength": (0.0, 1.0)}, usd_per_output_second=0.142, max_takes=1, task="video-to-video",
        modes=("video",),
    ),
    # Kling 2.1 standard from the prompt alone on fal's queue (fal-ai/kling-video/v2.1/standard/text-to-video:
    # prompt, duration "5"|"10", aspect_ratio 16:9|9:16|1:1). Price: the image-to-video app's $0.28 per 5 s
    # assumed, not confirmed for this app.
    "fal-kling-2.1-t2v": HostedModel(
        "fal", "fal-ai/kling-video/v2.1/standard/text-to-video", knobs=("num_frames", "width", "height"),
        defaults={"num_frames": 120, **_24FPS_720P}, choices={"num_frames": seconds_at(24, 5, 10)},
        ratios=("16:9", "9:16", "1:1"), usd_per_output_second=0.056, task="text-to-video", modes=("text",),
    ),
    # Zeroscope v2 XL on Replicate, pinned (POST /v1/predictions {version, input: {prompt, model: "xl", width,
    # height, num_frames, fps, seed}}): 1024x576. Replicate bills hardware time; an A100 (80 GB) at $0.0014/s
    # and about two minutes a clip are assumed, not confirmed (Replicate publishes no fixed price for it).
    "replicate-zeroscope-t2v": HostedModel(
        "replicate", "anotherjesse/zeroscope-v2-xl:9f747673945c62801b13b84701c783929c0ee784e4748ec062204894dda1a351",
        knobs=("num_frames", "fps"), defaults={"num_frames": 24, "fps": 8, "motion_bucket_ids": (127,),
                                               "width": 1024, "height": 576},
        choices={"num_frames": (24, 36, 48)}, ranges={"fps": (8, 24)},
        usd_per_processing_second=0.0014, reserve_processing_s=120.0, task="text-to-video", modes=("text",),
    ),
}
