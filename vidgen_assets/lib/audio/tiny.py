"""A random-weight Stable Audio pipeline built from configs, for soundtracks with no network and no GPU.

It is saved with `save_pretrained` and loaded with `StableAudioPipeline.from_pretrained` like the real
checkpoint, so the `tiny-music` preset runs the same loading and rendering code. Its audio is noise-like
but deterministic for a seed: 16 kHz stereo, at most `TINY_MAX_SECONDS` a call (longer tracks are
rendered in segments, as the real model's are past its 47 s).
"""

from __future__ import annotations

from pathlib import Path

from ..generation.tiny import TINY_SEED, unigram_tokenizer

TINY_SAMPLE_RATE = 16_000
_DOWNSAMPLING = (4, 4, 4)  # 64 audio samples per latent frame
_LATENT_FRAMES = 512
TINY_MAX_SECONDS = _LATENT_FRAMES * 64 / TINY_SAMPLE_RATE  # 2.048 s
MUSIC_TASK = "text-to-audio"


def build_tiny_music(target: Path) -> None:
    """Save a tiny `StableAudioPipeline` (DiT, Oobleck VAE, T5 encoder, projection, cosine scheduler) to `target`."""
    import torch
    from diffusers import AutoencoderOobleck, CosineDPMSolverMultistepScheduler, StableAudioDiTModel, StableAudioPipeline
    from diffusers.pipelines.stable_audio.modeling_stable_audio import StableAudioProjectionModel
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(TINY_SEED)
    tokenizer = unigram_tokenizer()
    tokenizer.model_max_length = 32  # prompts are padded to this; the real model's T5 takes 128
    text_encoder = T5EncoderModel(
        T5Config(vocab_size=len(tokenizer), d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2)
    )
    conditioning = 16
    projection = StableAudioProjectionModel(
        text_encoder_dim=16, conditioning_dim=conditioning, min_value=0, max_value=512
    )
    latent_channels = 8
    vae = AutoencoderOobleck(
        encoder_hidden_size=8, downsampling_ratios=list(_DOWNSAMPLING), channel_multiples=[1, 2, 2],
        decoder_channels=8, decoder_input_channels=latent_channels, audio_channels=2, sampling_rate=TINY_SAMPLE_RATE,
    )  # fmt: skip
    transformer = StableAudioDiTModel(
        sample_size=_LATENT_FRAMES, in_channels=latent_channels, num_layers=2, attention_head_dim=8,
        num_attention_heads=2, num_key_value_attention_heads=1, out_channels=latent_channels,
        cross_attention_dim=16, time_proj_dim=16, global_states_input_dim=2 * conditioning,
        cross_attention_input_dim=conditioning,
    )  # fmt: skip
    # The real model's scheduler settings (its scheduler_config.json).
    scheduler = CosineDPMSolverMultistepScheduler(
        sigma_min=0.3, sigma_max=500, sigma_data=1.0, sigma_schedule="exponential", solver_order=2,
        prediction_type="v_prediction", rho=7.0,
    )  # fmt: skip
    StableAudioPipeline(
        vae=vae, text_encoder=text_encoder, projection_model=projection, tokenizer=tokenizer,
        transformer=transformer, scheduler=scheduler,
    ).save_pretrained(target)  # fmt: skip
