"""Tiny random-weight models for conditioned shots: first-and-last frame, and restyle (video-to-video).

Built like the other tiny models (`tiny.py` registers them in `TINY_BUILDERS` and builds them under its
lock); the Wan parts are `tiny.wan_text_components`, so they are as small and fast as `tiny-t2v`.
"""

from __future__ import annotations

from pathlib import Path

# The tiny CLIP image encoder: 32x32 images in 8x8 patches, 16 + 1 tokens per image.
CLIP_IMAGE_SIZE, CLIP_PATCH, CLIP_WIDTH = 32, 8, 16
CLIP_TOKENS = (CLIP_IMAGE_SIZE // CLIP_PATCH) ** 2 + 1


def first_last_pipeline(two_images: bool = True):
    """A tiny Wan 2.1 image-to-video pipeline shaped like FLF2V: the transformer reads the CLIP tokens of
    the first and the last image (`pos_embed_seq_len`), as `Wan2.1-FLF2V-14B` does. `two_images=False`
    gives the single-image layout of Wan 2.1 I2V instead (its shots have no last image)."""
    from diffusers import WanImageToVideoPipeline
    from transformers import CLIPVisionConfig, CLIPVisionModel

    try:  # transformers 5 without torchvision: the PIL backend, which `CLIPImageProcessor` falls back to
        from transformers import CLIPImageProcessorPil as ImageProcessor
    except ImportError:
        from transformers import CLIPImageProcessor as ImageProcessor

    from .tiny import wan_text_components

    inner = 2 * 12  # the tiny Wan transformer's heads x head dim: the image keys/values project from it
    parts = wan_text_components(
        in_channels=16 + 4 + 16,  # noise latents + the 4-frame mask + the encoded first (and last) frame
        image_dim=CLIP_WIDTH, added_kv_proj_dim=inner,
        pos_embed_seq_len=2 * CLIP_TOKENS if two_images else None,
    )  # fmt: skip
    image_encoder = CLIPVisionModel(
        CLIPVisionConfig(
            hidden_size=CLIP_WIDTH, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
            image_size=CLIP_IMAGE_SIZE, patch_size=CLIP_PATCH, projection_dim=CLIP_WIDTH,
        )
    )  # fmt: skip
    image_processor = ImageProcessor(
        size={"shortest_edge": CLIP_IMAGE_SIZE}, crop_size={"height": CLIP_IMAGE_SIZE, "width": CLIP_IMAGE_SIZE},
        image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711],
    )  # fmt: skip
    return WanImageToVideoPipeline(**parts, image_encoder=image_encoder, image_processor=image_processor)


def build_tiny_first_last(target: Path) -> None:
    first_last_pipeline().save_pretrained(target)


def build_tiny_restyle(target: Path) -> None:
    """Wan video-to-video: the text-to-video model's parts (as the real 1.3B restyle preset uses T2V weights)."""
    from diffusers import WanVideoToVideoPipeline

    from .tiny import wan_text_components

    WanVideoToVideoPipeline(**wan_text_components()).save_pretrained(target)
