"""Shape-true presets: the real SDXL-Turbo, SVD-XT, Wan 2.1 1.3B and LTX-Video architectures, random weights.

They time and size a clip on a GPU where the real weights cannot be downloaded: same layer
sizes, same attention shapes, same VAE, so seconds and memory match the real model's.
Built in memory on the target device (no multi-GB files); layer sizes from the models'
published `config.json` files. `tiny=True` shrinks the widths and depths (same classes, same
code path) so a CPU rehearsal builds them in seconds.
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


# Tiny overrides for a CPU rehearsal: same model classes and pipelines, widths and depths cut down.
_TINY_SDXL_UNET = dict(
    block_out_channels=(8, 16), layers_per_block=1, transformer_layers_per_block=(1, 1), attention_head_dim=(2, 4),
    norm_num_groups=4, cross_attention_dim=32, addition_time_embed_dim=8, projection_class_embeddings_input_dim=64,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
)  # fmt: skip
_TINY_VAE = dict(
    block_out_channels=(8, 16), norm_num_groups=4, layers_per_block=1,
    down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
)  # fmt: skip
_TINY_SVD_UNET = dict(
    sample_size=8, block_out_channels=(32, 64), layers_per_block=1, num_attention_heads=(2, 2),
    cross_attention_dim=32, addition_time_embed_dim=8, projection_class_embeddings_input_dim=24, num_frames=14,
    down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
    up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
)  # fmt: skip
WAN_1_3B = dict(
    patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
    text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True,
    qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024,
)  # fmt: skip
LTX_VIDEO = dict(
    in_channels=128, out_channels=128, patch_size=1, patch_size_t=1, num_attention_heads=32, attention_head_dim=64,
    cross_attention_dim=2048, num_layers=28, caption_channels=4096,
)  # fmt: skip
# The text encoders both video models read: UMT5-XXL (Wan) and T5-v1.1-XXL (LTX), encoder only.
_XXL = dict(d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64, feed_forward_proj="gated-gelu")


def build_shape_pipeline(name: str, device: str, dtype, tiny: bool = False):
    """The named shape preset's pipeline, created directly on `device` in `dtype` (`tiny`: cut-down sizes)."""
    import torch

    builders = {
        "sdxl-turbo-shape": _sdxl_turbo, "svd-xt-shape": _svd_xt, "wan2.1-t2v-1.3b-shape": _wan,
        "ltx-video-shape": _ltx,
    }  # fmt: skip
    torch.manual_seed(0)  # the same random weights every build: a lever's clip compares with the baseline's
    with torch.device(device):
        pipeline = builders[name](tiny)
    return pipeline.to(device=device, dtype=dtype)


def _sdxl_turbo(tiny: bool):
    from diffusers import AutoencoderKL, EulerAncestralDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from .tiny import clip_tokenizer

    tokenizer = clip_tokenizer()
    common = dict(
        vocab_size=len(tokenizer), max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    small = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, projection_dim=16)
    text_encoder = CLIPTextModel(CLIPTextConfig(**{
        **dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
               hidden_act="quick_gelu", projection_dim=768), **(small if tiny else {}), **common,
    }))  # fmt: skip
    text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**{
        **dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20,
               hidden_act="gelu", projection_dim=1280), **(small if tiny else {}), **common,
    }))  # fmt: skip
    return StableDiffusionXLPipeline(
        vae=AutoencoderKL(**{**SD_VAE, **(_TINY_VAE if tiny else {})}, scaling_factor=0.13025, force_upcast=True),
        text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=tokenizer, tokenizer_2=tokenizer,
        unet=UNet2DConditionModel(**{**SDXL_UNET, **(_TINY_SDXL_UNET if tiny else {})}),
        scheduler=EulerAncestralDiscreteScheduler(
            beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, timestep_spacing="trailing",
            steps_offset=1,
        ),
    )  # fmt: skip


def _svd_xt(tiny: bool):
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    small = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=1, num_attention_heads=2, patch_size=32,
                 projection_dim=32)  # fmt: skip
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**{
        **dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=16,
               patch_size=14, image_size=224, projection_dim=1024, hidden_act="gelu"), **(small if tiny else {}),
    }))  # fmt: skip
    vae_blocks = (32, 64) if tiny else (128, 256, 512, 512)
    return StableVideoDiffusionPipeline(
        vae=AutoencoderKLTemporalDecoder(block_out_channels=vae_blocks, layers_per_block=2, latent_channels=4,
                                         down_block_types=("DownEncoderBlock2D",) * len(vae_blocks)),
        image_encoder=image_encoder,
        unet=UNetSpatioTemporalConditionModel(**{**SVD_XT_UNET, **(_TINY_SVD_UNET if tiny else {})}),
        feature_extractor=CLIPImageProcessor(crop_size=224, size={"shortest_edge": 224}),
        scheduler=EulerDiscreteScheduler(
            beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, interpolation_type="linear",
            prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002, steps_offset=1,
            timestep_spacing="leading", timestep_type="continuous", use_karras_sigmas=True,
        ),
    )  # fmt: skip


def _wan(tiny: bool):
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    from .tiny import unigram_tokenizer, wan_text_components

    if tiny:
        return WanPipeline(**wan_text_components())
    tokenizer = unigram_tokenizer()  # the sequence length, not the vocabulary, sets the cost: 512 tokens
    return WanPipeline(
        tokenizer=tokenizer, text_encoder=UMT5EncoderModel(UMT5Config(vocab_size=len(tokenizer), **_XXL)),
        transformer=WanTransformer3DModel(**WAN_1_3B), vae=AutoencoderKLWan(),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
    )  # fmt: skip


def _ltx(tiny: bool):
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXPipeline
    from diffusers import LTXVideoTransformer3DModel
    from transformers import T5Config, T5EncoderModel

    from .tiny import unigram_tokenizer

    tokenizer = unigram_tokenizer()
    if tiny:
        text = dict(d_model=32, d_kv=16, d_ff=37, num_layers=1, num_heads=2)
        transformer = dict(num_attention_heads=2, attention_head_dim=8, cross_attention_dim=16, num_layers=1,
                           caption_channels=32)  # fmt: skip
        vae = dict(block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
                   layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1))  # fmt: skip
    else:
        text, transformer, vae = _XXL, {}, {}
    return LTXPipeline(
        tokenizer=tokenizer, text_encoder=T5EncoderModel(T5Config(vocab_size=len(tokenizer), **text)),
        transformer=LTXVideoTransformer3DModel(**{**LTX_VIDEO, **transformer}), vae=AutoencoderKLLTXVideo(**vae),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=True),
    )  # fmt: skip
