"""What a day's hosted clips add to the `videos` output: refusals in the quality report, cost per provider."""

from __future__ import annotations

from collections.abc import Sequence


# Codes of our own for a clip a provider did not deliver (deadline, output lost): render failures, which
# count toward VIDGEN_MAX_FAILED_CLIP_SHARE. Every other code is the provider's refusal of the input
# (moderation, invalid input) or the budget's (`budget`): it says nothing of a model's health.
RENDER_FAILURE_PREFIX = "vidgen."


def is_refusal(failure: dict) -> bool:
    """A refusal (moderation, invalid input, `budget`), not a render failure."""
    return not str(failure.get("code") or "").startswith(RENDER_FAILURE_PREFIX)


def refused_quality(item: dict) -> dict:
    """A quality-report entry for a clip the provider refused or did not deliver (or a shot left out before
    rendering: its source or input shot missing): it fails, saying why;
    `refused` marks a refusal, which the failed-clip share leaves aside."""
    failure = item["failure"]
    who = f"{item['provider']} did not make it" if item.get("provider") else "not rendered"
    problem = f"{who}: {failure['code']}: {failure['reason']}"
    return {"passed": False, "problems": problem, "frames": 0, "provider_failure": failure, "refused": is_refusal(failure)}


def failing_share(quality: dict) -> tuple[int, int, float]:
    """(failing, refused, share) of a quality report: the share of failing clips among those not refused."""
    refused = sum(1 for found in quality.values() if found.get("refused"))
    failing = sum(1 for found in quality.values() if not found["passed"] and not found.get("refused"))
    judged = len(quality) - refused
    return failing, refused, (failing / judged if judged else 0.0)


def cost_by_provider(items: Sequence[dict]) -> dict[str, float]:
    """Estimated USD of the clips rendered by each provider in this materialization (cache hits cost nothing)."""
    costs: dict[str, float] = {}
    for item in items:
        if item.get("provider") and not item.get("cache_hit"):
            costs[item["provider"]] = round(costs.get(item["provider"], 0.0) + item.get("timings", {}).get("cost_usd", 0.0), 6)
    return costs


def refusals(items: Sequence[dict], refused: bool = True) -> list[dict]:
    """Clips a provider refused (or, `refused=False`, did not deliver), with the code and reason."""
    return [
        {"prompt_id": i["prompt_id"], "key": i["key"], "provider": i.get("provider", "local"), **i["failure"]}
        for i in items if "failure" in i and is_refusal(i["failure"]) == refused
    ]  # fmt: skip
