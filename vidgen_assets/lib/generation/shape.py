"""Shape-true presets: the real SDXL-Turbo and SVD-XT architectures with random weights.

They time and size a clip on a GPU where the real weights cannot be downloaded: same layer
sizes, same attention shapes, same VAE, so seconds and memory match the real model's.
Built in memory on the target device (no multi-GB files); layer sizes from the models'
published `config.json` files.
"""

from __future__ import annotations

SDXL_UNET = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280),
    transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), cross_attention_dim=2048,
    addition_embed_type="text_time", addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816,
    use_linear_projection=True, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
)  # fmt: skip
SD_VAE = dict(
    block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=2,
)  # fmt: skip
SVD_XT_UNET = dict(
    sample_size=96, in_channels=8, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
    transformer_layers_per_block=1, num_attention_heads=(5, 10, 20, 20), cross_attention_dim=1024,
    addition_time_embed_dim=256, projection_class_embeddings_input_dim=768, num_frames=25,
    down_block_types=("CrossAttnDownBlockSpatioTemporal",) * 3 + ("DownBlockSpatioTemporal",),
    up_block_types=("UpBlockSpatioTemporal",) + ("CrossAttnUpBlockSpatioTemporal",) * 3,
)  # fmt: skip


def build_shape_pipeline(name: str, device: str, dtype):
    """The named shape preset's pipeline, created directly on `device` in `dtype`."""
    import torch

    builders = {"sdxl-turbo-shape": _sdxl_turbo, "svd-xt-shape": _svd_xt}
    with torch.device(device):
        pipeline = builders[name]()
    return pipeline.to(device=device, dtype=dtype)


def _sdxl_turbo():
    from diffusers import AutoencoderKL, EulerAncestralDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from .tiny import clip_tokenizer

    tokenizer = clip_tokenizer()
    common = dict(
        vocab_size=len(tokenizer), max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                       hidden_act="quick_gelu", projection_dim=768, **common)
    )  # fmt: skip
    text_encoder_2 = CLIPTextModelWithProjection(
        CLIPTextConfig(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20,
                       hidden_act="gelu", projection_dim=1280, **common)
    )  # fmt: skip
    return StableDiffusionXLPipeline(
        vae=AutoencoderKL(**SD_VAE, scaling_factor=0.13025, force_upcast=True),
        text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=tokenizer, tokenizer_2=tokenizer,
        unet=UNet2DConditionModel(**SDXL_UNET),
        scheduler=EulerAncestralDiscreteScheduler(
            beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, timestep_spacing="trailing",
            steps_offset=1,
        ),
    )  # fmt: skip


def _svd_xt():
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    image_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=16,
                         patch_size=14, image_size=224, projection_dim=1024, hidden_act="gelu")
    )  # fmt: skip
    return StableVideoDiffusionPipeline(
        vae=AutoencoderKLTemporalDecoder(block_out_channels=(128, 256, 512, 512), layers_per_block=2,
                                         down_block_types=("DownEncoderBlock2D",) * 4, latent_channels=4),
        image_encoder=image_encoder, unet=UNetSpatioTemporalConditionModel(**SVD_XT_UNET),
        feature_extractor=CLIPImageProcessor(crop_size=224, size={"shortest_edge": 224}),
        scheduler=EulerDiscreteScheduler(
            beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, interpolation_type="linear",
            prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002, steps_offset=1,
            timestep_spacing="leading", timestep_type="continuous", use_karras_sigmas=True,
        ),
    )  # fmt: skip
