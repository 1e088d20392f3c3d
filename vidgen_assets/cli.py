"""`vidgen`: demo, run a day, manage prompts. Commands that render print the reel path last."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from datetime import date, datetime, timedelta, timezone

from vidgen_assets.cli_experiments import add_experiment_parser
from vidgen_assets.cli_money import add_estimate_parser, estimate_line, print_spend
from vidgen_assets.cli_prompts import add_prompts_parser, import_and_report, not_a_partition, parse_day, warehouse
from vidgen_assets.cli_storage import add_storage_parser, pipeline_s3_client
from vidgen_assets.cli_themes import add_themes_parser
from vidgen_assets.lib import environment


def _yesterday_utc() -> date:
    return datetime.now(timezone.utc).date() - timedelta(days=1)


def _render(day: date, verbose: bool = False) -> int:
    from vidgen_assets.lib.warehouse.store import EMPTY_FINGERPRINT
    from vidgen_assets.runner import DayWithdrawn, RunFailed, run_day
    from vidgen_assets.terminal import StageProgress

    problem = not_a_partition(day)  # a bad VIDGEN_FIRST_DAY raises SettingError: `main` prints it
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from vidgen_assets.lib.warehouse.themes import day_themes

    store = warehouse()
    rendered_before = store.last_renders([day]).get(day, EMPTY_FINGERPRINT) != EMPTY_FINGERPRINT
    # A day of themes only has its rows written by the run itself (`theme_prompts`).
    if not store.day_count(day) and not day_themes(store, day) and not rendered_before:
        # Nothing to render: say so instead of launching a run that fails for want of clips. A day rendered
        # before whose rows were all deleted does run: it withdraws the day's reel.
        print(f"no prompts scheduled for {day}", file=sys.stderr)
        return 1
    from vidgen_assets.lib.rules.budget import BudgetSettingError

    try:
        print(estimate_line(day), flush=True)  # what the run is about to spend, before it spends it
    except BudgetSettingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # the estimate only informs: the run's own gate still holds every budget
        print(f"estimate {day}: unavailable ({type(error).__name__}: {error})", file=sys.stderr)
    print(f"rendering {day} (VIDGEN_HOME={environment.vidgen_home()}, DAGSTER_HOME={environment.dagster_home()})")
    progress = None if verbose else StageProgress()
    try:
        reel = run_day(day, progress=progress)
    except RunFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except DayWithdrawn as withdrawn:
        reel = str(withdrawn)  # no path: the last line says why there is no reel
    if progress is not None:
        print(progress.summary())
    print(reel)  # last, always: scripts read the reel's path (or why there is none) from the final line
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from vidgen_assets.lib.warehouse.importer import demo_rows

    if args.music:
        from vidgen_assets.cli_themes import add_demo_theme

        if add_demo_theme(args.date, args.count):
            return 1
    else:
        import_and_report(demo_rows(args.date, args.count))
    return _render(args.date, args.verbose)


def cmd_run(args: argparse.Namespace) -> int:
    return _render(args.date, args.verbose)


def cmd_lineage(args: argparse.Namespace) -> int:
    from vidgen_assets.lib.warehouse.lineage import lineage_chain

    try:
        chain = lineage_chain(warehouse(), args.id)
    except LookupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for output in (o for o in chain["outputs"] if o["kind"] == "theme"):  # the theme that wrote the row, first
        theme = output["params"] or {}
        print(f"theme    {theme.get('theme_id')}  {theme.get('theme')!r}  count={theme.get('count')}  "
              f"written by {theme.get('backend')}  cache_hit={output['cache_hit']}  run={output['run_id']}")  # fmt: skip
    for row in chain["prompts"]:
        print(f"prompt   {row['prompt_id']}  {row['scheduled_for']}  seed={row['seed']}  {row['prompt']!r}")
        if row.get("scene"):
            from vidgen_assets.lib.generation.scenes import scene_chain

            print(f"scene    {scene_chain(warehouse().day_rows(row['scheduled_for']), row['scene'])}")
    if not chain["rendered"]:
        day = chain["prompts"][0]["scheduled_for"]
        reasons = [r["reason"] for r in warehouse().rejections(day) if r["prompt_id"] == args.id]
        if reasons:  # the day was run, and this row turned away: why, not "go render it"
            print(f"rejected {reasons[-1]}")
            return 0
        print(f"not rendered yet: no run has made anything from {args.id!r}; render its day with `vidgen run --date {day}`")
        return 0
    for output in (o for o in chain["outputs"] if o["kind"] != "theme"):
        models = ", ".join(f"{m['model']}@{str(m['revision'])[:12]}" for m in (output["models"] or {}).values())
        parents = ",".join(p[:20] for p in output["parent_keys"] or [])
        print(
            f"{output['kind']:<8} {output['key']}  {output['uri']}\n"
            f"         from [{parents}] {models}  cache_hit={output['cache_hit']}  run={output['run_id']}"
        )
    if chain.get("withdrawn"):
        print(f"reel     none: {chain['withdrawn']}")
    for run in chain["runs"]:
        print(f"run      {run['run_id']}  {run['day']}  {run['recorded_at']:%Y-%m-%d %H:%M:%S}  rendered={run['rendered']}  reused={run['reused']}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from vidgen_assets.lib.doctor import format_table, run_checks
    from vidgen_assets.runner import gpu_pool_check, levers_check, use_dagster_home

    use_dagster_home()  # a new local instance gets its defaults here, before `dagster dev` reads it
    checks = run_checks(pipeline_s3_client, extra=[("gpu pool", gpu_pool_check), ("GPU levers", levers_check)])
    print(format_table(checks))
    failed = [c.name for c in checks if c.required and not c.ok]
    if failed:
        print(f"\nnot ready: {', '.join(failed)}", file=sys.stderr)
        return 1
    print("\nready")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from vidgen_assets.lib.stats.format import aligned_table, as_csv, as_json, metrics_table
    from vidgen_assets.lib.warehouse.render_stats import read_stats

    if args.days < 1:
        print("error: --days must be at least 1", file=sys.stderr)
        return 2
    last = args.until or datetime.now(timezone.utc).date()
    stats = read_stats(warehouse(), last - timedelta(days=args.days - 1), last)
    if args.format == "csv":
        print(as_csv(stats), end="")
    elif args.format == "json":
        print(as_json(stats))
    elif stats.empty:
        print(f"no render statistics for the {args.days} day(s) up to {last}: render a day with `vidgen run --date D`")
    else:
        print(aligned_table(stats))
        if metrics := metrics_table(stats):
            print(f"\n{metrics}")
    if args.format == "table":
        print_spend(last - timedelta(days=args.days - 1), last)
    return 0


def add_stats_parser(commands) -> None:
    stats = commands.add_parser("stats", help="render statistics per day and model (the render_stats table)")
    stats.add_argument("--days", type=int, default=7, help="how many days back, ending --until (default 7)")
    stats.add_argument("--until", type=parse_day, help="the last day shown, YYYY-MM-DD (default: today, UTC)")
    stats.add_argument("--format", choices=("table", "csv", "json"), default="table", help="table (default), csv or json")
    stats.set_defaults(handler=cmd_stats)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vidgen", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="load demo prompts for a day and render it")
    demo.add_argument("--date", type=parse_day, default=_yesterday_utc(), help="YYYY-MM-DD (default: yesterday, UTC)")
    demo.add_argument("--count", type=int, default=6, help="demo prompts to load (default 6)")
    demo.add_argument("--music", action="store_true",
                      help="a music video: a demo theme the prompt writer expands into --count rows, with a soundtrack")  # fmt: skip
    demo.add_argument("--verbose", action="store_true", help="Dagster's full event log instead of progress bars")
    demo.set_defaults(handler=cmd_demo)

    run = commands.add_parser("run", help="render a day from the prompts already in the warehouse")
    run.add_argument("--date", type=parse_day, required=True, help="YYYY-MM-DD")
    run.add_argument("--verbose", action="store_true", help="Dagster's full event log instead of progress bars")
    run.set_defaults(handler=cmd_run)

    add_prompts_parser(commands)
    add_themes_parser(commands)

    lineage = commands.add_parser("lineage", help="show where a prompt's or key's outputs came from")
    lineage.add_argument("id", help="a prompt_id or a content key (keyframe-..., clip-..., reel-...)")
    lineage.set_defaults(handler=cmd_lineage)

    doctor = commands.add_parser("doctor", help="check the setup; exits non-zero when something required is missing")
    doctor.set_defaults(handler=cmd_doctor)
    add_stats_parser(commands)
    add_estimate_parser(commands)
    add_storage_parser(commands)
    add_experiment_parser(commands)
    return parser


def _setting_error(error: BaseException | None) -> environment.SettingError | None:
    """The `SettingError` behind `error`, if one is (itself or a cause)."""
    while error is not None and not isinstance(error, environment.SettingError):
        error = error.__cause__ or error.__context__
    return error


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not getattr(args, "verbose", True):
        from vidgen_assets.terminal import quiet_libraries

        quiet_libraries()
    try:
        code = args.handler(args)
        sys.stdout.flush()  # a reader gone away shows here, not as an ignored exception at exit
        return code
    except BrokenPipeError:
        # The reader went away (`vidgen prompts list | head`): stop quietly, as other Unix tools do. Output
        # still buffered goes to /dev/null, so the interpreter's flush at exit does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except Exception as error:
        # One line for a bad environment variable, wherever the command first reads it (the daily
        # partitions read VIDGEN_FIRST_DAY on import; Dagster wraps what loading the definitions raised);
        # other errors keep their traceback.
        setting = _setting_error(error)
        if setting is None:
            raise
        print(f"error: {setting}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
