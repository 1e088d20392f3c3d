"""What a day's hosted clips add to the `videos` output: refusals in the quality report, cost per provider."""

from __future__ import annotations

from collections.abc import Sequence


def refused_quality(item: dict) -> dict:
    """A quality-report entry for a clip the provider refused or did not deliver: it fails, saying why."""
    failure = item["failure"]
    problem = f"{item['provider']} did not make it: {failure['code']}: {failure['reason']}"
    return {"passed": False, "problems": problem, "frames": 0, "provider_failure": failure}


def cost_by_provider(items: Sequence[dict]) -> dict[str, float]:
    """Estimated USD of the clips rendered by each provider in this materialization (cache hits cost nothing)."""
    costs: dict[str, float] = {}
    for item in items:
        if item.get("provider") and not item.get("cache_hit"):
            costs[item["provider"]] = round(costs.get(item["provider"], 0.0) + item.get("timings", {}).get("cost_usd", 0.0), 6)
    return costs


def refusals(items: Sequence[dict]) -> list[dict]:
    """Clips a provider refused or did not deliver, with its code and reason."""
    return [
        {"prompt_id": i["prompt_id"], "key": i["key"], "provider": i["provider"], **i["failure"]}
        for i in items if "failure" in i
    ]  # fmt: skip
