"""`vidgen experiment run|show`: compare variants of the daily run on a sample of a day's prompts."""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import uuid
from pathlib import Path

from vidgen_assets.cli_prompts import parse_day, warehouse

PARTITIONS = "experiments"  # the `experiment` asset's dynamic partitions: one per experiment name


def _spec(args: argparse.Namespace):
    import yaml

    from vidgen_assets.lib.experiments import spec_from_mapping

    if args.file:
        try:
            data = yaml.safe_load(Path(args.file).read_text()) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:  # UTF-16 (Excel's "Unicode text") too
            raise _Refused(f"cannot read {args.file}: {error}") from None
        if isinstance(data, dict) and args.name:
            data["name"] = args.name
        return spec_from_mapping(data)
    return spec_from_mapping({
        "name": args.name, "date": args.date.isoformat() if args.date else None, "sample": args.sample,
        "ids": args.ids or (), "variants": args.variant or [],
    })  # fmt: skip


class _Refused(Exception):
    """A spec or setting the command turns away before rendering anything."""


def _checked(spec):
    """The spec checked against the day's rows (what each variant would render) before any run starts."""
    from vidgen_assets.lib.experiments.run import experiment_day, valid_day_rows
    from vidgen_assets.lib.experiments.spec import check_rows, select_rows
    from vidgen_assets.defs.resources import media_store_from_env

    store, default_video = media_store_from_env(), os.getenv("VIDGEN_VIDEO_MODEL", "tiny")
    _, rows = select_rows(spec, valid_day_rows(warehouse(), store, experiment_day(spec, warehouse()), default_video))
    check_rows(spec, rows, default_video)
    return store


def launch(name: str, verbose: bool = False) -> None:
    """Materialize the experiment's partition of `experiment` in this process, recorded in the Dagster
    instance (the UI shows the run and can re-run it); raises RuntimeError with each failed step's error."""
    import dagster as dg

    from vidgen_assets.definitions import build_definitions
    from vidgen_assets.lib.dead_runs import reap_dead_cli_runs
    from vidgen_assets.runner import use_dagster_home
    from vidgen_assets.terminal import QUIET_RUN_CONFIG

    use_dagster_home()
    job = build_definitions().resolve_job_def("experiment_job")
    tags = {"vidgen/launched_by": "cli", "vidgen/host": socket.gethostname(), "vidgen/pid": str(os.getpid())}
    with dg.DagsterInstance.get() as instance:
        # A run left "started" by a killed `vidgen` would hold the `gpu` pool forever: end it first.
        reap_dead_cli_runs(instance, print)
        if not instance.has_dynamic_partition(PARTITIONS, name):
            instance.add_dynamic_partitions(PARTITIONS, [name])
        result = job.execute_in_process(
            partition_key=name, instance=instance, raise_on_error=False, run_id=str(uuid.uuid4()), tags=tags,
            run_config=None if verbose else QUIET_RUN_CONFIG,
        )  # fmt: skip
    if not result.success:
        errors = [f"{e.step_key}: {e.step_failure_data.error.message.strip()}" for e in result.all_events
                  if e.is_step_failure and e.step_failure_data.error]  # fmt: skip
        raise RuntimeError(f"experiment run {result.run_id} failed:\n" + "\n".join(errors or ["see the run's logs"]))


def _print(result: dict, form: str) -> None:
    from vidgen_assets.lib.experiments.compare import as_text

    if form == "json":
        print(json.dumps(result, indent=2, default=str))
        return
    print(f"experiment {result['name']}: {len(result['sampled'])} prompts of {result['day']}, {result['finished_at']}")
    print(as_text(result["table"]))
    print(f"contact sheet: {result['grid']['sheet_uri']}")
    print(result["grid"]["video_uri"])  # last: the side-by-side video, as `vidgen run` ends on the reel


def cmd_run(args: argparse.Namespace) -> int:
    from vidgen_assets.lib.experiments import ExperimentError
    from vidgen_assets.lib.experiments.run import load_result, save_spec

    try:
        spec = _spec(args)
        store = _checked(spec)
    except (ExperimentError, _Refused) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from vidgen_assets.lib.day_lock import experiment_lock, hold_run_day

    # One launcher of a name at a time: the run reads the spec stored here, so a second launcher waits.
    with hold_run_day(experiment_lock(spec.name), {"launched_by": "cli"}, on_wait=print):
        save_spec(store, spec)
        try:
            launch(spec.name, args.verbose)
        except RuntimeError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    _print(load_result(store, spec.name), args.format)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from vidgen_assets.defs.resources import media_store_from_env
    from vidgen_assets.lib.experiments import ExperimentError
    from vidgen_assets.lib.experiments.run import load_result

    try:
        result = load_result(media_store_from_env(), args.name)
    except ExperimentError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    _print(result, args.format)
    return 0


def add_experiment_parser(commands) -> None:
    experiment = commands.add_parser("experiment", help="compare models and settings side by side on a sample of a day's prompts")
    actions = experiment.add_subparsers(dest="action", required=True)
    run = actions.add_parser("run", help="render the sample under each variant and print the comparison")
    run.add_argument("name", nargs="?", default="", help="the experiment's name (its Dagster partition); or `name:` in --file")
    run.add_argument("--file", help="a YAML file with name, date, sample or ids, and variants")
    run.add_argument("--date", type=parse_day, help="the day whose prompts are sampled, YYYY-MM-DD")
    run.add_argument("--sample", type=int, help="how many of the day's prompts (the same ones for the same name)")
    run.add_argument("--ids", type=lambda text: [i for i in text.split(",") if i.strip()],
                     help="prompt ids instead of a sample: a,b,c")  # fmt: skip
    run.add_argument("--variant", action="append", metavar="KNOB=VALUE,...",
                     help='one per variant, e.g. "video_model=svd-xt,num_inference_steps=12"; "" is production')  # fmt: skip
    run.add_argument("--format", choices=("table", "json"), default="table", help="table (default) or json")
    run.add_argument("--verbose", action="store_true", help="Dagster's event log on the console")
    run.set_defaults(handler=cmd_run)
    show = actions.add_parser("show", help="print an experiment's last comparison")
    show.add_argument("name")
    show.add_argument("--format", choices=("table", "json"), default="table", help="table (default) or json")
    show.set_defaults(handler=cmd_show)
