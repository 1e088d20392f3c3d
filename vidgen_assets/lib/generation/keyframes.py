"""Text-to-image keyframes in batches, seeded per row.

Each row gets its own `torch.Generator`, so a row's noise does not depend on the batch size
or on its position in the batch. Kernels may still round differently per batch size (by
~1e-6 in float32, enough to move a pixel one level); the tiny preset runs in float64 so its
keyframes are pixel-identical whatever the batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class KeyframeRequest:
    prompt: str
    negative_prompt: str = ""
    seed: int = 0


def row_generators(seeds: Sequence[int]) -> list:
    """One CPU generator per seed: CPU noise is the same on every device, so seeds stay portable."""
    import torch

    return [torch.Generator(device="cpu").manual_seed(seed) for seed in seeds]


def render_keyframes(
    pipeline,
    requests: Sequence[KeyframeRequest],
    *,
    width: int = 64,
    height: int = 64,
    num_inference_steps: int = 2,
    guidance_scale: float = 1.0,
    batch_size: int = 4,
) -> Iterator[tuple[KeyframeRequest, object]]:
    """Yield (request, PIL image) in request order, `batch_size` rows per pipeline call."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    for start in range(0, len(requests), batch_size):
        batch = requests[start : start + batch_size]
        negatives = [r.negative_prompt for r in batch]
        images = pipeline(
            prompt=[r.prompt for r in batch],
            # None for rows without one (SDXL then uses zero embeddings); callers never mix the two kinds
            # in one request list's batch, or a row's pixels would depend on its neighbours.
            negative_prompt=negatives if any(negatives) else None,
            width=width,
            height=height,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            generator=row_generators([r.seed for r in batch]),
        ).images
        yield from zip(batch, images)
