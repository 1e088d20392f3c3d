"""The comparison table: per variant, what its clips of the sampled prompts cost and how they measure.

Seconds are per clip, as the render functions timed them (a cache hit reports the render that made it);
cost is the provider's bill for a hosted clip, else seconds × the GPU price. Metric medians come from the
quality check's per-clip `metrics`; a metric no clip has is "unavailable", never a made-up number.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

UNAVAILABLE = "unavailable"
# (figure, what it is): the table's rows in order, before the metric medians.
FIGURES = (
    ("clips", "clips of the sampled prompts"),
    ("rendered", "clips rendered by this run (the rest were cache hits)"),
    ("cache_hit_pct", "keyframes and clips found in the cache, %"),
    ("s_per_clip_p50", "seconds per clip, median"),
    ("denoise_s_p50", "denoise seconds per clip, median"),
    ("decode_encode_s_p50", "decode + encode seconds per clip, median"),
    ("timed_clips", "clips with recorded timings"),
    ("cost_per_clip_usd", "cost per clip, mean (USD)"),
    ("peak_memory_gb", "peak memory (GiB)"),
    ("wall_s", "wall seconds for the variant"),
    ("failed_checks", "clips failing a quality check"),
)


def metric_names(qualities: Iterable[Mapping[str, Any]]) -> list[str]:
    """The quality check's metrics (`lib/video/metrics.py`) and prompt alignment, then any other a clip reported."""
    from ..video.metrics import CLIP_SCORE, METRICS

    names = [*METRICS, CLIP_SCORE]  # prompt alignment is listed, as unavailable, when no clip has it
    for quality in qualities:
        names += [name for name in (quality.get("metrics") or {}) if name not in names]
    return names


def _median(values: Iterable[float | None]) -> float | str:
    present = [float(v) for v in values if v is not None]
    return round(statistics.median(present), 4) if present else UNAVAILABLE


def variant_figures(run: Mapping[str, Any], sampled: Sequence[str], quality: Mapping[str, dict],
                    metrics: Sequence[str], price_per_gpu_hour: float) -> dict[str, Any]:  # fmt: skip
    """The table's column for one variant's run (`render.render_variant`) and its clips' quality."""
    wanted = set(sampled)
    clips = [c for c in run["clips"] if c["prompt_id"] in wanted]
    keyframes = [k for k in run["keyframes"] if k["prompt_id"] in wanted]
    timed = [c for c in clips if "seconds" in c]
    looked_up = keyframes + [c for c in clips if "failure" not in c]
    checked = [quality[c["key"]] for c in clips if c["key"] in quality]
    figures = {
        "variant": run["variant"],
        "clips": len(clips),
        "rendered": sum(not c.get("cache_hit") and "failure" not in c for c in clips),
        "cache_hit_pct": round(100 * sum(bool(i.get("cache_hit")) for i in looked_up) / len(looked_up), 1) if looked_up else 0.0,
        "s_per_clip_p50": _median(c["seconds"] for c in timed),
        "denoise_s_p50": _median(c.get("timings", {}).get("denoise_s") for c in timed),
        "decode_encode_s_p50": _median(c.get("timings", {}).get("decode_encode_s") for c in timed),
        "timed_clips": len(timed),
        "cost_per_clip_usd": _cost(clips, price_per_gpu_hour),
        "peak_memory_gb": run.get("cuda_peak_gb", run.get("peak_rss_gb")),
        "peak_memory_kind": "cuda_peak_gb" if "cuda_peak_gb" in run else "peak_rss_gb",
        "wall_s": run["wall_s"],
        "failed_checks": sum(1 for c in clips if not quality.get(c["key"], {}).get("passed", False)),
    }
    for name in metrics:
        figures[f"{name}_p50"] = _median((q.get("metrics") or {}).get(name) for q in checked)
    return figures


def _cost(clips: Sequence[Mapping[str, Any]], price_per_gpu_hour: float) -> float | str:
    costs = []
    for clip in clips:
        timings = clip.get("timings") or {}
        if "cost_usd" in timings:  # hosted: what the provider billed (0 for a refusal)
            costs.append(float(timings["cost_usd"]))
        elif "seconds" in clip:
            costs.append(clip["seconds"] / 3600 * price_per_gpu_hour)
    return round(sum(costs) / len(costs), 6) if costs else UNAVAILABLE


def rows_of(table: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[str]]]:
    """The table transposed: (figure, a value per variant), figures in FIGURES order, then metrics."""
    names = [name for name, _ in FIGURES] + [k for k in table[0] if k.endswith("_p50") and k not in dict(FIGURES)]
    return [(name, [_shown(column.get(name)) for column in table]) for name in names]


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def as_text(table: Sequence[Mapping[str, Any]]) -> str:
    """An aligned terminal table: a row per figure, a column per variant."""
    header = ["figure", *(column["variant"] for column in table)]
    lines = [header, *([name, *values] for name, values in rows_of(table))]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines)


def as_markdown(table: Sequence[Mapping[str, Any]]) -> str:
    """The same table in Markdown, for the asset's materialization."""
    cells = lambda values: "| " + " | ".join(v.replace("|", "/") for v in values) + " |"  # noqa: E731
    header = ["figure", *(column["variant"] for column in table)]
    lines = [cells(header), cells(["---"] * len(header))]
    return "\n".join(lines + [cells([name, *values]) for name, values in rows_of(table)])
