"""Random-weight pipelines built from configs, for runs with no network and no GPU.

They are saved with `save_pretrained` and then loaded with `from_pretrained` like any
checkpoint, so the tiny preset exercises the same loading and generation code as the real
ones. The outputs are noise-like but deterministic for a given seed.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .tiny_shots import build_tiny_first_last, build_tiny_restyle

# Bumped whenever the configs below change, so cached builds are rebuilt, not reused.
TINY_BUILD_VERSION = 1
BUILD_MARKER = "vidgen_tiny_build.json"
TINY_SEED = 0


def _byte_level_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A CLIP byte-level BPE vocabulary made offline: every byte, its word-final form, a few merges."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    extra = iter(range(256, 512))
    chars = [chr(b) if b in printable else chr(next(extra)) for b in range(256)]
    tokens = chars + [c + "</w>" for c in chars]
    merges = [("t", "h"), ("th", "e</w>"), ("a", "n"), ("i", "n"), ("o", "n</w>"), ("e", "r</w>")]
    tokens += [left + right for left, right in merges] + ["<|startoftext|>", "<|endoftext|>"]
    return {token: index for index, token in enumerate(dict.fromkeys(tokens))}, merges


def clip_tokenizer():
    from transformers import CLIPTokenizer

    vocab, merges = _byte_level_vocab()
    # SD pads every prompt to 77 tokens; the text model's position table must match.
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def build_tiny_text_to_image(target: Path) -> None:
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(TINY_SEED)
    tokenizer = clip_tokenizer()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
            num_attention_heads=2, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, projection_dim=16,
        )
    )  # fmt: skip
    unet = UNet2DConditionModel(
        sample_size=32, block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16, attention_head_dim=4,
    )  # fmt: skip
    vae = AutoencoderKL(
        block_out_channels=(8, 16), norm_num_groups=4, latent_channels=4, layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
    )  # fmt: skip
    scheduler = EulerDiscreteScheduler(
        beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, steps_offset=1,
        timestep_spacing="trailing",
    )  # fmt: skip
    pipeline = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    pipeline.save_pretrained(target)


def build_tiny_image_to_video(target: Path) -> None:
    import torch
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(TINY_SEED)
    unet = UNetSpatioTemporalConditionModel(
        sample_size=8, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=32, num_attention_heads=(2, 2),  # few heads: CPU attention dominates
        addition_time_embed_dim=8, projection_class_embeddings_input_dim=24, num_frames=14,
    )  # fmt: skip
    vae = AutoencoderKLTemporalDecoder(
        block_out_channels=(32, 64), down_block_types=("DownEncoderBlock2D",) * 2, latent_channels=4,
    )
    # The pipeline resizes keyframes to 224x224 for CLIP, so the encoder must take that size.
    image_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32, projection_dim=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=37, image_size=224, patch_size=32,
        )
    )  # fmt: skip
    feature_extractor = CLIPImageProcessor(crop_size=224, size={"shortest_edge": 224})
    scheduler = EulerDiscreteScheduler(
        beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, interpolation_type="linear",
        prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002, steps_offset=1,
        timestep_spacing="leading", timestep_type="continuous", use_karras_sigmas=True,
    )  # fmt: skip
    pipeline = StableVideoDiffusionPipeline(
        vae=vae, image_encoder=image_encoder, unet=unet, scheduler=scheduler,
        feature_extractor=feature_extractor,
    )  # fmt: skip
    pipeline.save_pretrained(target)


def unigram_tokenizer():
    """A T5-style Unigram tokenizer over lowercase letters and digits, made offline."""
    from transformers import T5Tokenizer

    pieces = ["<pad>", "</s>", "<unk>", "\u2581"] + [f"\u2581{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
    pieces += list("abcdefghijklmnopqrstuvwxyz0123456789")
    return T5Tokenizer(vocab=[(piece, -float(i)) for i, piece in enumerate(pieces)], extra_ids=0)


def wan_text_components(**transformer_config) -> dict:
    """The tiny Wan text-to-video parts (seeded; `transformer_config` overrides the transformer's config)."""
    import torch
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(TINY_SEED)
    tokenizer = unigram_tokenizer()
    text_encoder = UMT5EncoderModel(
        UMT5Config(vocab_size=len(tokenizer), d_model=32, d_kv=16, d_ff=37, num_layers=2, num_heads=2)
    )
    transformer = WanTransformer3DModel(**{
        "patch_size": (1, 2, 2), "num_attention_heads": 2, "attention_head_dim": 12, "in_channels": 16,
        "out_channels": 16, "text_dim": 32, "freq_dim": 256, "ffn_dim": 32, "num_layers": 2, "rope_max_seq_len": 32,
        **transformer_config,
    })  # fmt: skip
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1)
    return {"tokenizer": tokenizer, "text_encoder": text_encoder, "vae": vae, "transformer": transformer,
            "scheduler": FlowMatchEulerDiscreteScheduler(shift=7.0)}  # fmt: skip


def build_tiny_text_to_video(target: Path) -> None:
    from diffusers import WanPipeline

    WanPipeline(**wan_text_components()).save_pretrained(target)


# Keyed by preset, `<task>/<name>` (its directory under the models dir): each tiny preset has its own model.
TINY_BUILDERS = {
    "text-to-image/tiny": build_tiny_text_to_image,
    "text-to-image/tiny-cfg": build_tiny_text_to_image,
    "image-to-video/tiny": build_tiny_image_to_video,
    "text-to-video/tiny-t2v": build_tiny_text_to_video,
    "image-to-video/tiny-flf2v": build_tiny_first_last,
    "video-to-video/tiny-v2v": build_tiny_restyle,
    "text-to-audio/tiny-music": lambda target: _build_tiny_music(target),
}


def _build_tiny_music(target: Path) -> None:
    """The soundtrack's tiny StableAudio (`lib/audio/tiny.py`), imported only when it is built."""
    from ..audio.tiny import build_tiny_music

    build_tiny_music(target)


def _make_world_readable(root: Path) -> None:
    """mkdtemp gives 0700 and safetensors writes 0600; a non-root pod user must still read the model."""
    for path in (root, *root.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)


def _is_current(target: Path) -> bool:
    try:
        return json.loads((target / BUILD_MARKER).read_text()).get("version") == TINY_BUILD_VERSION
    except (FileNotFoundError, NotADirectoryError, ValueError):  # absent, or being replaced right now
        return False


@contextmanager
def _build_lock(target: Path) -> Iterator[None]:
    """One builder per model at a time, across processes (test workers, two launchers, pods on one volume)."""
    with (target.parent / f".{target.name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def tiny_kind(task: str, name: str) -> str:
    """The `TINY_BUILDERS` key of the tiny preset `name` of `task`."""
    return f"{task}/{name}"


def ensure_tiny_model(kind: str, target: Path) -> bool:
    """Build the tiny `kind` model (a `TINY_BUILDERS` key) into `target` unless a current build is there;
    True if this call built it.

    Builds go to a temporary sibling and are renamed into place, so a crash never leaves a
    half-written model that later runs would load; a process that finds another building the same
    model waits for it and loads its copy.
    """
    if kind not in TINY_BUILDERS:
        raise ValueError(f"no tiny model builder for {kind!r}; known: {', '.join(sorted(TINY_BUILDERS))}")
    if _is_current(target):
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    with _build_lock(target):
        if _is_current(target):  # built while this process waited for the lock
            return False
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            TINY_BUILDERS[kind](staging)
            (staging / BUILD_MARKER).write_text(json.dumps({"kind": kind, "version": TINY_BUILD_VERSION}))
            _make_world_readable(staging)
            if target.exists():
                shutil.rmtree(target)  # an older build: readers load a current one only
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return True
