"""How a run renders: models, device, memory options and GPU levers, in one place for the daily assets
(the `generation` resource builds one) and for experiments (a variant replaces some fields)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import environment
from .levers import caches_steps
from .loader import PIPELINES, LoadOptions
from .presets import ModelPreset, get_preset
from .recipe import resolved_dtype


@dataclass(frozen=True)
class RenderSettings:
    """Every knob has a default that changes nothing: the levers are off until measured (benchmarks/bench_gpu.py)."""

    keyframe_model: str = "tiny"
    video_model: str = "tiny"
    device: str = "auto"
    dtype: str = "auto"
    keyframe_batch_size: int = 4
    cpu_offload: bool = False
    vae_slicing: bool = False
    vae_tiling: bool = False
    attention_backend: str = ""  # "native", "flash", "_flash_3" or "sage" (its kernel must be installed)
    compile_denoiser: bool = False
    channels_last: bool = False
    step_cache: float = 0.0  # first-block cache threshold, Wan/LTX only; changes pixels, so it is in their keys
    decode_chunk_size: int = 0  # SVD frames per VAE decode for rows that set none (in the key); 0: the preset's
    denoise_batch: int = 1  # SVD clips denoised per pipeline call (lib/generation/batching.py)
    overlap_encode: bool = False  # decode+encode clip N on a CPU thread while clip N+1 denoises (SVD, Wan text-to-video)
    models_dir: str = ""
    price_per_gpu_hour: float = 0.0

    def dtype_of(self, preset: ModelPreset) -> str:
        """The dtype `preset` loads in on this device: part of its outputs' content keys."""
        return resolved_dtype(preset, self.device, self.dtype)

    def plan_options(self) -> dict[str, Any]:
        """What `plan_clips` puts into the clips it applies to (and so into their keys)."""
        return {"step_cache": self.step_cache, "decode_chunk_size": self.decode_chunk_size}

    def load_options(self, preset: ModelPreset) -> LoadOptions:
        return LoadOptions(
            cpu_offload=self.cpu_offload, vae_slicing=self.vae_slicing, vae_tiling=self.vae_tiling,
            attention_backend=self.attention_backend or None, compile_denoiser=self.compile_denoiser,
            channels_last=self.channels_last, step_cache=self.step_cache if caches_steps(preset) else 0.0,
        )  # fmt: skip

    def pipeline(self, name: str, task: str):
        """The preset's pipeline, loaded once per process (and set of options) and shared by every step in it."""
        preset = get_preset(name, task)
        models_dir = Path(self.models_dir) if self.models_dir else environment.models_dir()
        return PIPELINES.get(preset, models_dir, device=self.device, dtype=self.dtype, options=self.load_options(preset))
