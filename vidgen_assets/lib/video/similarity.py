"""How close one clip is to another of the same size, frame by frame: PSNR and SSIM.

The quality cost of a lever that changes pixels (step caching, batched denoising) is measured against
the clip rendered without it at the same seed. Both clips are decoded in step, one frame of each at a
time. SSIM is Wang et al.'s (2004) on luma: an 11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03,
with OpenCV's filters, which the clip metrics already use.
"""

from __future__ import annotations

import math
from itertools import zip_longest
from pathlib import Path

import numpy as np

from .probe import iter_frames

_C1, _C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two (H, W, 3) uint8 RGB frames, on their luma."""
    import cv2

    x, y = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float64) for f in (a, b))

    def blur(image: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(image, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    index = ((2 * mx * my + _C1) * (2 * cov + _C2)) / ((mx * mx + my * my + _C1) * (vx + vy + _C2))
    return float(index.mean())


def clip_similarity(path: str | Path, reference: str | Path) -> dict[str, float]:
    """`psnr_db` over all frames (inf when identical) and mean per-frame `ssim` of a clip against a reference."""
    squared, count, ssims = 0.0, 0, []
    for frame, ref in zip_longest(iter_frames(path), iter_frames(reference)):
        if frame is None or ref is None or frame.shape != ref.shape:
            raise ValueError(f"{path} and {reference} differ in frame count or size: not comparable")
        squared += float(((frame.astype(np.float64) - ref) ** 2).sum())
        count += frame.size
        ssims.append(ssim(frame, ref))
    mse = squared / count
    return {"psnr_db": math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse), "ssim": float(np.mean(ssims))}
