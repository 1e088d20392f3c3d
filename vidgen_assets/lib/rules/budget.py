"""What a budget allows: a clip's list price (from its model's preset) held in the warehouse's spend ledger.

Budgets come from the environment; unset means no limit:
- `VIDGEN_BUDGET_USD_PER_DAY`: per daily partition, all providers together;
- `VIDGEN_BUDGET_USD_PER_MONTH`: the calendar month (UTC) in which the tasks are created, all days;
- `VIDGEN_<PROVIDER>_BUDGET_USD_PER_DAY` (e.g. `VIDGEN_REPLICATE_BUDGET_USD_PER_DAY`): one provider, per partition.

Every create goes through the ledger, budget or not, so `vidgen stats` and `vidgen estimate` see all money.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from ..generation.presets import get_preset
from ..generation.providers.registry import PROVIDERS
from ..generation.providers.spending import BudgetRefused
from ..warehouse import Warehouse
from ..warehouse.spend import Limit, Task, day_spent, month_spent, reserve, settle

DAY_VARIABLE, MONTH_VARIABLE = "VIDGEN_BUDGET_USD_PER_DAY", "VIDGEN_BUDGET_USD_PER_MONTH"


class BudgetSettingError(ValueError):
    """A budget variable holds something that is not an amount of US dollars."""


def provider_variable(provider: str) -> str:
    return f"VIDGEN_{provider.upper()}_BUDGET_USD_PER_DAY"


def _amount(variable: str, env: Mapping[str, str]) -> float | None:
    text = env.get(variable, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise BudgetSettingError(f"{variable} must be an amount of US dollars, 0 or more (e.g. 25 or 7.50), not {text!r}")
    return value


@dataclass(frozen=True)
class Budgets:
    """The limits in force; None: no limit."""

    per_day: float | None = None
    per_month: float | None = None
    per_provider_day: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Budgets:
        by_provider = {p: _amount(provider_variable(p), env) for p in PROVIDERS}
        return cls(_amount(DAY_VARIABLE, env), _amount(MONTH_VARIABLE, env),
                   {p: usd for p, usd in by_provider.items() if usd is not None})  # fmt: skip

    def limits_set(self) -> list[str]:
        """The variables of the budgets in force."""
        return [limit.name for provider in PROVIDERS for limit in self.limits(provider) if limit.scope == "provider_day"] + [
            name for name, usd in ((DAY_VARIABLE, self.per_day), (MONTH_VARIABLE, self.per_month)) if usd is not None]

    def limits(self, provider: str) -> list[Limit]:
        """The limits a task on `provider` must fit in, narrowest first (the one a refusal names)."""
        found = []
        if provider in self.per_provider_day:
            found.append(Limit(provider_variable(provider), "provider_day", self.per_provider_day[provider]))
        if self.per_day is not None:
            found.append(Limit(DAY_VARIABLE, "day", self.per_day))
        if self.per_month is not None:
            found.append(Limit(MONTH_VARIABLE, "month", self.per_month))
        return found

    def remaining(self, warehouse: Warehouse, day: date) -> list[dict]:
        """Each budget in force for `day`: its variable, limit, what counts against it now and what remains."""
        by_provider = day_spent(warehouse, day)
        spent = {DAY_VARIABLE: sum(by_provider.values())}
        if self.per_month is not None:
            spent[MONTH_VARIABLE] = month_spent(warehouse)
        spent.update({provider_variable(p): by_provider.get(p, 0.0) for p in self.per_provider_day})
        limits = {DAY_VARIABLE: self.per_day, MONTH_VARIABLE: self.per_month,
                  **{provider_variable(p): usd for p, usd in self.per_provider_day.items()}}  # fmt: skip
        return [
            {"budget": name, "limit_usd": usd, "spent_usd": round(spent[name], 6),
             "remaining_usd": round(max(0.0, usd - spent[name]), 6)}
            for name, usd in limits.items() if usd is not None
        ]  # fmt: skip


def task_price(item: dict) -> float:
    """The list price of one task for a hosted clip (or take) item."""
    hosted = get_preset(item["preset"], item["task"]).hosted
    return hosted.list_price_usd({**hosted.defaults, **item["params"]})


class LedgerSpend:
    """One clip's reservation in the ledger (the provider runner's `ClipSpend`)."""

    def __init__(self, ledger: LedgerSpending, item: dict):
        self.ledger, self.item, self.spend_id = ledger, item, None

    def reserve(self) -> None:
        item = self.item
        task = Task(self.ledger.day, item["provider"], item["preset"], item["key"], item.get("prompt_id"),
                    self.ledger.run_id, task_price(item))  # fmt: skip
        self.spend_id, short, remaining = reserve(self.ledger.warehouse, task, self.ledger.budgets.limits(task.provider))
        if short is not None:
            raise BudgetRefused(
                f"{short.name} is {short.usd:.2f} USD and {remaining:.2f} USD of it remains: this task's list price "
                f"is {task.usd:.2f} USD; a later run creates it when the budget allows"
            )

    def settle(self, billed_usd: float, reason: str = "") -> None:
        # Without a reservation of its own, the task was created by an earlier run: settle what that run held.
        settle(self.ledger.warehouse, self.item["key"], billed_usd, spend_id=self.spend_id, reason=reason[:500])


@dataclass
class LedgerSpending:
    """Binds a run's hosted clips to the ledger: `spending(item)` is what the provider runner takes."""

    warehouse: Warehouse
    day: date
    run_id: str | None
    budgets: Budgets

    def __call__(self, item: dict) -> LedgerSpend:
        return LedgerSpend(self, item)
