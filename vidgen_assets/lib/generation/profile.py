"""Where a step's time and memory go: per-item timings, throughput, peak memory and cost."""

from __future__ import annotations

import math
import resource
import sys
from dataclasses import dataclass, field

PROGRESS_LINES = 20  # progress lines per step at most (plus the last item's)


def peak_memory_gb(device: str) -> tuple[str, float]:
    """("cuda_peak_gb", ...) for CUDA, else ("peak_rss_gb", ...) for this process."""
    if device == "cuda":
        import torch

        return "cuda_peak_gb", torch.cuda.max_memory_allocated() / 2**30
    # ru_maxrss is kilobytes on Linux and bytes on macOS.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return "peak_rss_gb", rss / (2**30 if sys.platform == "darwin" else 2**20)


def device_name(device: str) -> str:
    if device == "cuda":
        import torch

        return torch.cuda.get_device_name()
    return device


@dataclass
class StepProfile:
    """Timings of the items (clips or images) one step rendered."""

    total: int  # items the step renders (the render functions set it to those not already stored)
    device: str = "cpu"
    seconds: list[float] = field(default_factory=list)
    denoise_steps: int = 0
    denoise_seconds: float = 0.0

    def add(self, seconds: float, *, denoise_steps: int = 0, denoise_seconds: float = 0.0) -> str | None:
        """Record one item; returns a progress line with an ETA for the log at each twentieth of the step
        (and its last item), else None: log lines grow with shards, not items."""
        self.seconds.append(seconds)
        self.denoise_steps += denoise_steps
        self.denoise_seconds += denoise_seconds
        done = len(self.seconds)
        if done < self.total and done * PROGRESS_LINES // self.total == (done - 1) * PROGRESS_LINES // self.total:
            return None
        eta = (self.total - done) * (sum(self.seconds) / done)
        return f"{done}/{self.total} in {seconds:.2f}s, ETA {eta:.0f}s"


def shard_summary(profile: StepProfile, loads: int, load_seconds: float) -> dict:
    """What a shard step reports back, so the collecting step can describe the whole day."""
    memory_key, memory = peak_memory_gb(profile.device)
    return {
        "seconds": profile.seconds, "denoise_steps": profile.denoise_steps,
        "denoise_seconds": profile.denoise_seconds, "device": profile.device,
        "device_name": device_name(profile.device), memory_key: memory,
        "model_loads": loads, "load_s": load_seconds,
    }  # fmt: skip


def day_metadata(summaries: list[dict], price_per_gpu_hour: float) -> dict:
    """Profile metadata over all shards: per-item mean and p95, throughput, peak memory, cost, loads."""
    seconds = [s for summary in summaries for s in summary["seconds"]]
    ordered = sorted(seconds)
    mean = sum(seconds) / len(seconds) if seconds else 0.0
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)] if ordered else 0.0
    denoise_seconds = sum(s["denoise_seconds"] for s in summaries)
    metadata = {
        "device_name": summaries[0]["device_name"] if summaries else "",
        "rendered": len(seconds),
        "s_per_item_mean": round(mean, 4),
        "s_per_item_p95": round(p95, 4),
        "denoise_steps_per_s": round(sum(s["denoise_steps"] for s in summaries) / denoise_seconds, 2)
        if denoise_seconds else 0.0,
        "est_cost_per_item_usd": round(mean / 3600 * price_per_gpu_hour, 5),
        "model_loads": sum(s["model_loads"] for s in summaries),
        "model_load_s": round(sum(s["load_s"] for s in summaries), 3),
        "shards": len(summaries),
    }  # fmt: skip
    for memory_key in ("cuda_peak_gb", "peak_rss_gb"):
        peaks = [s[memory_key] for s in summaries if memory_key in s]
        if peaks:
            metadata[memory_key] = round(max(peaks), 3)
    return metadata
