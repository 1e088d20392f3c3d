"""GPU levers applied to a loaded pipeline: attention backend, channels_last, torch.compile, step caching.

Each is off by default (`LoadOptions`), so runs that set none load exactly as before. A lever
whose kernel is not installed stops the load with `LeverUnavailableError` naming what is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

# Names the project accepts (diffusers' AttentionBackendName values); "native" is PyTorch's SDPA.
ATTENTION_BACKENDS = ("native", "flash", "_flash_3", "sage")
# The module each backend's kernel comes from, to name it when it is missing.
_KERNEL_MODULES = {
    "flash": "flash_attn (pip install flash-attn)",
    "_flash_3": "flash_attn_interface (FlashAttention 3, built from source)",
    "sage": "sageattention (pip install sageattention)",
}


# Local pipelines whose denoiser is a diffusers transformer with a first-block cache hook (Wan, LTX).
STEP_CACHE_PIPELINES = frozenset(
    {"WanPipeline", "WanImageToVideoPipeline", "WanVideoToVideoPipeline", "LTXPipeline", "LTXConditionPipeline"}
)


def caches_steps(preset) -> bool:
    """Whether the step-cache lever applies to `preset`'s model (elsewhere the option is ignored, not keyed)."""
    return not preset.hosted and preset.pipeline_class in STEP_CACHE_PIPELINES


class LeverUnavailableError(RuntimeError):
    """A lever was asked for that this machine cannot apply (kernel missing, model without the hook)."""


def check_attention_backend_name(name: str) -> None:
    """Raise `LeverUnavailableError` unless diffusers has an attention backend named `name` (kernel not checked:
    a CPU code server need not have the GPU image's kernels)."""
    from diffusers.models.attention_dispatch import AttentionBackendName

    # Any diffusers backend is accepted; ATTENTION_BACKENDS are the ones the benchmark measures.
    if name not in {backend.value for backend in AttentionBackendName}:
        known = ", ".join(ATTENTION_BACKENDS)
        raise LeverUnavailableError(f"unknown attention backend {name!r}; the measured ones: {known}")


def check_attention_backend(name: str) -> None:
    """Raise `LeverUnavailableError` unless `name` is a diffusers attention backend whose kernel imports here."""
    from diffusers.models.attention_dispatch import AttentionBackendName, _check_attention_backend_requirements

    check_attention_backend_name(name)
    try:
        _check_attention_backend_requirements(AttentionBackendName(name))
    except (RuntimeError, ImportError) as error:
        raise LeverUnavailableError(
            f"attention backend {name!r} needs {_KERNEL_MODULES.get(name, 'its kernel package')}, "
            f"which is not importable here ({error}). "
            "Unset VIDGEN_ATTENTION_BACKEND (or choose 'native') to use PyTorch's SDPA."
        ) from None


def denoiser_of(pipeline):
    """The pipeline's UNet or transformer: the part that runs every step."""
    return getattr(pipeline, "unet", None) or getattr(pipeline, "transformer", None)


def use_compile_cache(models_dir: Path) -> Path:
    """Keep Inductor's compiled kernels under the models directory, so a pod's restart reuses them
    (an explicit TORCHINDUCTOR_CACHE_DIR wins)."""
    cache = Path(os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(models_dir / ".torch-compile")))
    cache.mkdir(parents=True, exist_ok=True)
    return cache


def apply_levers(pipeline, options, models_dir: Path) -> None:
    """Apply `options`' levers (a LoadOptions) to a pipeline already on its device. torch.compile is lazy:
    its cost lands on the first call, which is where a benchmark reads it."""
    import torch

    denoiser = denoiser_of(pipeline)
    if options.attention_backend:
        check_attention_backend(options.attention_backend)
        denoiser.set_attention_backend(options.attention_backend)
    if options.channels_last:
        # 2-D convolutions in NHWC run faster on tensor cores; SVD's temporal (3-D) layers keep their layout.
        for part in (getattr(pipeline, "unet", None), getattr(pipeline, "vae", None)):
            for module in part.modules() if part is not None else ():
                if isinstance(module, torch.nn.Conv2d):
                    module.to(memory_format=torch.channels_last)
    if options.step_cache:
        if not hasattr(denoiser, "enable_cache") or getattr(pipeline, "unet", None) is not None:
            raise LeverUnavailableError("step caching (first-block cache) applies to transformer models only")
        from diffusers import FirstBlockCacheConfig

        try:
            denoiser.enable_cache(FirstBlockCacheConfig(threshold=options.step_cache))
        except IndexError:  # diffusers needs a block after the first one to cache
            raise LeverUnavailableError("step caching needs a transformer of at least two blocks") from None
    if options.compile_denoiser:
        use_compile_cache(models_dir)
        torch.set_float32_matmul_precision("high")
        # Transformers repeat one block: compiling it once compiles them all, in a fraction of the time.
        if getattr(denoiser, "_repeated_blocks", None):
            denoiser.compile_repeated_blocks(fullgraph=False, dynamic=False)
        else:
            denoiser.compile(fullgraph=False, dynamic=False)
