"""Find a preset's weights and load its pipeline once per process.

Weights are looked up, in order: a local directory `<models_dir>/<task>/<preset>` (built
here for tiny presets, or copied in by hand), the Hugging Face cache at the pinned
revision, and, unless `HF_HUB_OFFLINE=1`, the hub itself. If none has them the run stops
with `ModelUnavailableError` saying how to provide them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .levers import apply_levers, check_attention_backend
from .presets import ModelPreset
from .shape import build_shape_pipeline
from .tiny import TINY_BUILD_VERSION, ensure_tiny_model, tiny_kind

log = logging.getLogger(__name__)


class ModelUnavailableError(RuntimeError):
    """The preset's weights are not on this machine and cannot be downloaded; not worth retrying."""


def local_model_dir(preset: ModelPreset, models_dir: Path) -> Path:
    return models_dir / preset.task / preset.name


def model_revision(preset: ModelPreset) -> str:
    if preset.revision:
        return preset.revision
    # A real model whose commit is not pinned yet (it loads only from a local directory, see resolve_weights).
    return "unpinned" if is_unpinned(preset) else f"tiny-build-{TINY_BUILD_VERSION}"


def is_unpinned(preset: ModelPreset) -> bool:
    """A Hugging Face model with no pinned revision: never downloaded, since "main" moves."""
    return preset.repo_id is not None and preset.revision is None and not preset.builder and not preset.hosted


def _unavailable(preset: ModelPreset, models_dir: Path, cause: BaseException | None) -> ModelUnavailableError:
    return ModelUnavailableError(
        f"Model weights for preset {preset.name!r} ({preset.repo_id} at revision {preset.revision}) are not "
        "available on this machine and could not be downloaded"
        + (f" ({type(cause).__name__})" if cause else "")
        + ". Provide them either in the Hugging Face cache, e.g. "
        f"`huggingface-cli download {preset.repo_id} --revision {preset.revision}` on a machine with access "
        "(then copy ~/.cache/huggingface or set HF_HOME), or as a diffusers directory at "
        f"{local_model_dir(preset, models_dir)} (set VIDGEN_MODELS_DIR to move it). "
        "Or choose the offline `tiny` preset."
    )


def _unpinned(preset: ModelPreset, models_dir: Path) -> ModelUnavailableError:
    return ModelUnavailableError(
        f"Preset {preset.name!r} ({preset.repo_id}) has no pinned revision yet, and the project never loads a "
        "moving branch such as main (one preset name must always mean the same weights). Pin a commit of "
        f"{preset.repo_id} in lib/generation/presets.py, or provide the weights as a diffusers directory at "
        f"{local_model_dir(preset, models_dir)} (set VIDGEN_MODELS_DIR to move it)."
    )


def local_weights(preset: ModelPreset, models_dir: Path) -> Path | None:
    """The preset's weights if already on this machine (local directory or HF cache), without downloading."""
    local = local_model_dir(preset, models_dir)
    if (local / "model_index.json").exists():
        return local
    if is_unpinned(preset):
        return None  # the cache holds branches too: an unpinned lookup would load whatever main was
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(preset.repo_id, revision=preset.revision, local_files_only=True))
    except Exception:  # any cache miss; the hub's error names are version-specific
        return None


def resolve_weights(preset: ModelPreset, models_dir: Path) -> Path:
    """A local diffusers directory holding the preset's weights, building or fetching as needed."""
    if preset.builder == "tiny":
        local = local_model_dir(preset, models_dir)
        if ensure_tiny_model(tiny_kind(preset.task, preset.name), local):
            log.info("built tiny %s model in %s", preset.task, local)
        return local
    found = local_weights(preset, models_dir)
    if found is not None:
        return found
    if is_unpinned(preset):
        raise _unpinned(preset, models_dir)
    if os.getenv("HF_HUB_OFFLINE") == "1":
        raise _unavailable(preset, models_dir, None)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(preset.repo_id, revision=preset.revision))
    except Exception as error:
        raise _unavailable(preset, models_dir, error) from None


def is_out_of_memory(error: BaseException) -> bool:
    """A CUDA/MPS out-of-memory error: worth retrying with a smaller batch, unlike any other error."""
    import torch

    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower()


def release_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def pick_device(requested: str = "auto") -> str:
    import torch

    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def cuda_device_count() -> int:
    """CUDA devices visible to this process (0 on a CPU-only machine)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def pick_dtype(device: str, requested: str = "auto"):
    import torch

    if requested != "auto":
        return getattr(torch, requested)
    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float16 if device == "mps" else torch.float32


@dataclass(frozen=True)
class LoadOptions:
    """Memory and speed options applied once, when a pipeline is loaded."""

    cpu_offload: bool = False  # keep only the running component on the GPU (slower, far less memory)
    vae_slicing: bool = False
    vae_tiling: bool = False
    attention_backend: str | None = None  # levers.ATTENTION_BACKENDS; None keeps diffusers' default
    compile_denoiser: bool = False  # torch.compile the UNet/transformer: slow first clip, faster after
    channels_last: bool = False  # NHWC memory format for the UNet and VAE
    step_cache: float = 0.0  # first-block cache threshold for transformers (changes pixels); 0: off
    shape_tiny: bool = False  # shape presets only: cut-down sizes for a CPU rehearsal


@dataclass
class LoadStats:
    loads: int = 0
    load_seconds: float = 0.0
    loaded: list[str] = field(default_factory=list)


class PipelineCache:
    """Pipelines keyed by (model, revision, pipeline class, device, dtype); each is loaded once per process.
    The class is part of it: one checkpoint may serve two pipelines (wan2.1-v2v-1.3b restyles with the
    weights wan2.1-t2v-1.3b renders text with)."""

    def __init__(self) -> None:
        self._pipelines: dict[tuple, Any] = {}
        self._lock = threading.Lock()
        self.stats = LoadStats()

    def get(
        self,
        preset: ModelPreset,
        models_dir: Path,
        *,
        device: str = "auto",
        dtype: str = "auto",
        options: LoadOptions = LoadOptions(),
    ):
        device = pick_device(device)
        torch_dtype = pick_dtype(device, preset.dtype if dtype == "auto" else dtype)
        key = (preset.model_id, model_revision(preset), preset.pipeline_class, device, str(torch_dtype), options)
        with self._lock:
            if key not in self._pipelines:
                self._pipelines[key] = self._load(preset, models_dir, device, torch_dtype, options)
            return self._pipelines[key]

    def _load(self, preset: ModelPreset, models_dir: Path, device: str, torch_dtype, options: LoadOptions):
        import diffusers

        if options.attention_backend:
            check_attention_backend(options.attention_backend)  # before minutes of loading, not after
        weights = None if preset.builder == "shape" else resolve_weights(preset, models_dir)
        started = time.perf_counter()
        if weights is None:
            pipeline = build_shape_pipeline(preset.name, device, torch_dtype, tiny=options.shape_tiny)
        else:
            # fp16 weight files exist only for half-precision loads; fp32 loads take the full files.
            variant = preset.variant if preset.variant and str(torch_dtype) != "torch.float32" else None
            pipeline_class = getattr(diffusers, preset.pipeline_class)
            pipeline = pipeline_class.from_pretrained(weights, dtype=torch_dtype, variant=variant)
        _apply_options(pipeline, device, options)
        apply_levers(pipeline, options, models_dir)
        pipeline.set_progress_bar_config(disable=True)
        elapsed = time.perf_counter() - started
        self.stats.loads += 1
        self.stats.load_seconds += elapsed
        self.stats.loaded.append(f"{preset.task}/{preset.name}")
        log.info("loaded %s %s on %s in %.2fs", preset.task, preset.name, device, elapsed)
        return pipeline


def _apply_options(pipeline, device: str, options: LoadOptions) -> None:
    if options.cpu_offload and device == "cuda":
        pipeline.enable_model_cpu_offload()
    else:
        pipeline.to(device)
    vae = getattr(pipeline, "vae", None)
    if options.vae_slicing and hasattr(vae, "enable_slicing"):
        vae.enable_slicing()
    if options.vae_tiling and hasattr(vae, "enable_tiling"):
        vae.enable_tiling()


PIPELINES = PipelineCache()
