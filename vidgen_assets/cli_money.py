"""`vidgen estimate` and the money lines of `vidgen run` and `vidgen stats`: the spend ledger against the budgets."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, timedelta

from vidgen_assets.cli_prompts import parse_day, warehouse
from vidgen_assets.lib import environment

MAX_DAYS = 366  # an estimate plans every row of every day: a year at most per call


def estimate(days: list[date]) -> dict:
    """The estimate of `days` with the models, media and per-clip seconds a run would use (the environment's)."""
    from vidgen_assets.defs.resources import media_store_from_env
    from vidgen_assets.lib.rules.budget import Budgets
    from vidgen_assets.lib.rules.estimate import estimate_days, planning_from_env

    return estimate_days(warehouse(), media_store_from_env(), days, Budgets.from_env(), **planning_from_env())


def _usd(value: float | None) -> str:
    return "no limit" if value is None else f"{value:.2f} USD"


def budget_phrases(found: dict) -> list[str]:
    phrases = []
    for b in found["budgets"]:
        on = f" ({b['day']})" if b.get("day") else " (this month, UTC)"
        phrases.append(f"{b['budget']}{on}: {_usd(b['remaining_usd'])} left of {_usd(b['limit_usd'])}")
    return phrases or ["no budget set (VIDGEN_BUDGET_USD_PER_DAY, VIDGEN_BUDGET_USD_PER_MONTH, VIDGEN_<PROVIDER>_BUDGET_USD_PER_DAY)"]


def estimate_line(day: date) -> str:
    """One line for `vidgen run`: the paid tasks it would create, their list price, GPU time and budgets."""
    found = estimate([day])
    paid = [line for line in found["lines"] if line["provider"] != "local"]
    tasks = ", ".join(f"{line['takes']} {line['model']} task(s) {line['list_usd']:.2f} USD" for line in paid) or "no paid tasks"
    text = f"estimate {day}: {tasks}; local ~{found['gpu_s']:.0f} GPU-s; " + "; ".join(budget_phrases(found))
    if found["over"]:
        text += " — over budget, the clips that do not fit are refused (budget): " + "; ".join(found["over"])
    return text


def cmd_estimate(args: argparse.Namespace) -> int:
    from vidgen_assets.lib.rules.budget import BudgetSettingError

    last = args.to or args.date
    if last < args.date:
        print(f"error: --to {last} is before --date {args.date}", file=sys.stderr)
        return 2
    if (last - args.date).days >= MAX_DAYS:
        print(f"error: at most {MAX_DAYS} days per estimate", file=sys.stderr)
        return 2
    try:
        found = estimate([args.date + timedelta(days=n) for n in range((last - args.date).days + 1)])
    except BudgetSettingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps(found))
        return 0
    header = ("day", "provider", "model", "kind", "clips", "takes", "list USD", "GPU-s")
    rows = [header] + [
        (line["day"], line["provider"], line["model"], line["kind"], str(line["clips"]), str(line["takes"]),
         f"{line['list_usd']:.2f}", f"{line['gpu_s']:.0f}")
        for line in found["lines"]
    ]  # fmt: skip
    if len(rows) == 1:
        print(f"nothing to create for {', '.join(found['days'])}: every clip is made, created or refused for good")
    else:
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        print("\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows))
    print(f"total: {found['list_usd']:.2f} USD list price, ~{found['gpu_s']:.0f} local GPU-s")
    for phrase in budget_phrases(found):
        print(phrase)
    for over in found["over"]:
        print(f"over budget: {over} (clips that do not fit are refused with code budget)")
    return 0


def spend_report(first: date, last: date) -> dict:
    """What the ledger holds per day and provider in `first`..`last`, this month's total, and the budgets."""
    from vidgen_assets.lib.rules.budget import Budgets
    from vidgen_assets.lib.warehouse.spend import day_spend, month_spent

    store, budgets = warehouse(), Budgets.from_env()
    days = [{**row, "day": str(row["day"])} for row in day_spend(store, first, last)]
    for row in days:
        row["day_budget_usd"] = budgets.per_day
        row["provider_budget_usd"] = budgets.per_provider_day.get(row["provider"])
    return {"days": days, "month_spent_usd": round(month_spent(store), 6), "month_budget_usd": budgets.per_month,
            "budgets_set": bool(budgets.limits_set())}


def print_spend(first: date, last: date) -> None:
    """`vidgen stats`'s spend section: each day and provider against its budgets, then the month; nothing
    for a setup that never paid for a task and sets no budget."""
    report = spend_report(first, last)
    if not (report["days"] or report["month_spent_usd"] or report["month_budget_usd"] is not None or report["budgets_set"]):
        return
    if not report["days"]:
        print(f"\nspend: no paid tasks for {first}..{last}")
    else:
        print("\nspend (list price held or billed; budgets from VIDGEN_*BUDGET_USD_PER_DAY)")
        for row in report["days"]:
            print(f"{row['day']}  {row['provider']:<10} {row['spent_usd']:.4f} USD (billed {row['billed_usd']:.4f}, "
                  f"held {row['held_usd']:.4f})  tasks {row['tasks']}  refused {row['refused']}  "
                  f"day budget {_usd(row['day_budget_usd'])}  provider budget {_usd(row['provider_budget_usd'])}")  # fmt: skip
    print(f"this month (UTC): {report['month_spent_usd']:.4f} USD of {_usd(report['month_budget_usd'])}")


def add_estimate_parser(commands) -> None:
    parser = commands.add_parser("estimate", help="what a day (or days) would create and cost, against the budgets")
    parser.add_argument("--date", type=parse_day, required=True, help="YYYY-MM-DD, the first day")
    parser.add_argument("--to", type=parse_day, help="YYYY-MM-DD, the last day (default: --date)")
    parser.add_argument("--format", choices=("table", "json"), default="table", help="table (default) or json")
    parser.set_defaults(handler=cmd_estimate)
