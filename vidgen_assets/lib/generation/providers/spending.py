"""What the provider runner asks of whoever holds the money: reserve a task's price before its create,
settle it from the finished clip's cost. The ledger lives in the warehouse; `lib/rules/budget.py` binds
it to this interface and the defs layer passes it in, so the provider library knows no warehouse."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from .base import ProviderError


class BudgetRefused(ProviderError):
    """A budget has no room for the task's list price: it is not created, and a later run asks again."""


class ClipSpend(Protocol):
    """One clip's (or take's) money: `reserve` right before its create, `settle` when it has ended."""

    def reserve(self) -> None:
        """Hold the task's list price; raises BudgetRefused when a budget has no room."""
        ...

    def settle(self, billed_usd: float, reason: str = "") -> None:
        """The task ended: bill it (`billed_usd` > 0) or release what was held."""
        ...


Spending = Callable[[dict], ClipSpend]  # a clip item → its ClipSpend


class FreeSpend:
    """No ledger (library use without a warehouse): nothing is held, nothing refused."""

    def reserve(self) -> None:
        pass

    def settle(self, billed_usd: float, reason: str = "") -> None:
        pass


def no_ledger(item: dict) -> ClipSpend:
    return FreeSpend()
