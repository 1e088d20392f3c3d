"""`vidgen prompts …`: import, add, list and delete prompt rows, and the import report `vidgen demo` shares."""

from __future__ import annotations

import argparse
import sys
import unicodedata
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from vidgen_assets.lib import environment
from vidgen_assets.lib.warehouse.connections import masked
from vidgen_assets.lib.warehouse.fields import SHOT_FIELDS as SHOT_COLUMNS

PRINTED_REJECTIONS = 50
IF_EXISTS_HELP = "what a prompt_id the warehouse already holds gets: replace it (default), skip the row, or error (nothing written)"


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return number


def first_day() -> date:
    """The first daily partition (`VIDGEN_FIRST_DAY`, as the partitions read it): earlier days never render."""
    return environment.first_day()


def not_a_partition(day: date) -> str | None:
    """Why `day` cannot be rendered now (before the first partition, or not one yet), or None."""
    from vidgen_assets.defs.partitions import daily_partitions

    if day < first_day():
        return (f"{day} is before {first_day()}, the first daily partition: it can never render "
                "(set VIDGEN_FIRST_DAY=YYYY-MM-DD to start earlier)")  # fmt: skip
    zone = ZoneInfo(daily_partitions.timezone or "UTC")
    # A day's partition exists from its start, less the days `end_offset` opens early.
    opens = datetime.combine(day, time(), zone) - timedelta(days=daily_partitions.end_offset - 1)
    now = datetime.now(zone)
    if opens > now:
        wait = opens - now
        left = f"{wait.days} days" if wait.days else f"{wait.seconds // 3600} h {wait.seconds // 60 % 60} min"
        return (f"{day} is not a daily partition yet: it becomes one at {opens:%Y-%m-%d %H:%M} {zone.key} "
                f"(in {left}); its rows are kept, and the schedule renders it then")  # fmt: skip
    return None


def warehouse():
    from vidgen_assets.lib.warehouse import Warehouse

    return Warehouse(environment.warehouse_target())


def _models() -> tuple[set[str], set[str]]:
    from vidgen_assets.lib.generation import VIDEO_TASKS, preset_names

    return preset_names("text-to-image"), preset_names(*VIDEO_TASKS)


def _report(result) -> None:
    writes = result.writes
    # Skipped rows were not written: they are counted apart, never in the stored total.
    skipped = f"; {writes.skipped} skipped: already present" if writes.skipped else ""
    print(
        f"stored {result.stored} prompt row{'' if result.stored == 1 else 's'} in {masked(environment.warehouse_target())} "
        f"({writes.new} new, {writes.changed} changed, {writes.moved} moved to another day, "
        f"{result.unchanged} unchanged{skipped}); {result.rejected} rejected"
    )
    for kind, count in (("new", writes.new), ("changed", writes.changed), ("moved", writes.moved),
                        ("skipped", writes.skipped)):  # fmt: skip
        if count:
            ids = ", ".join(writes.examples[kind]) + (f" and {count - len(writes.examples[kind])} more" if count > len(writes.examples[kind]) else "")
            print(f"  {kind}: {ids}")
    for rejection in result.rejections[:PRINTED_REJECTIONS]:
        print(f"rejected {rejection.prompt_id!r}: {rejection.reason}", file=sys.stderr)
    if result.rejected > PRINTED_REJECTIONS:
        more = result.rejected - PRINTED_REJECTIONS
        print(f"... and {more} more rejections: all are in the table prompt_rejections", file=sys.stderr)


def import_and_report(rows: list[dict], if_exists: str = "replace") -> int:
    """Import rows held in memory and print the report; the valid rows (stored or skipped as asked), or -1
    when `if_exists="error"` met a live id."""
    from vidgen_assets.lib.warehouse.importer import import_chunks
    from vidgen_assets.lib.warehouse.writes import ExistingIds

    try:
        result = import_chunks(warehouse(), [rows], *_models(), first_day=first_day(), if_exists=if_exists)
    except ExistingIds as error:
        print(f"error: {error}", file=sys.stderr)
        return -1
    _report(result)
    return result.stored + result.writes.skipped


def cmd_prompts_import(args: argparse.Namespace) -> int:
    from vidgen_assets.lib.warehouse.importer import import_file

    written = []  # the last progress report: what earlier chunks stored if a later one cannot be read

    def progress(result) -> None:
        written[:] = [result]
        skipped = f", {result.writes.skipped} skipped" if result.writes.skipped else ""
        print(f"chunk {result.chunks}: {result.rows} rows read, {result.stored} stored{skipped}, {result.rejected} rejected",
              flush=True)  # fmt: skip

    try:
        result = import_file(warehouse(), args.file, *_models(), chunk_rows=args.chunk_rows, progress=progress,
                             first_day=first_day(), if_exists=args.if_exists)  # fmt: skip
    except (OSError, ValueError) as error:  # readers turn a file they cannot read into ValueError
        kept = f"; the {written[0].stored} rows of the {written[0].chunks} chunks before it are stored" if written else ""
        print(f"error: {error}{kept}", file=sys.stderr)
        return 2
    _report(result)
    return 0


def cmd_prompts_list(args: argparse.Namespace) -> int:
    store = warehouse()
    rows = store.day_rows(args.date, extra=("updated_at",))
    print(f"{'prompt_id':<24} {'prompt':<42} {'seed':>10} {'models':<20} updated_at (UTC)")
    for row in rows:
        prompt = row["prompt"] if len(row["prompt"]) <= 40 else row["prompt"][:39] + "…"
        models = f"{row['keyframe_model'] or '-'}/{row['video_model'] or '-'}"
        updated = row["updated_at"].strftime("%Y-%m-%d %H:%M:%S")
        print(f"{row['prompt_id']:<24} {prompt:<42} {row['seed']:>10} {models:<20} {updated}")
    rejected = len(store.rejections(args.date))
    print(f"{len(rows)} prompt rows scheduled for {args.date}; {rejected} rejections recorded for it")
    return 0


def cmd_prompts_delete(args: argparse.Namespace) -> int:
    from vidgen_assets.lib.warehouse.changes import soft_delete_ids

    args.ids = [unicodedata.normalize("NFC", i.strip()) for i in args.ids]  # ids are stored in NFC
    deleted = soft_delete_ids(warehouse(), args.ids)
    print(f"deleted {len(deleted)} prompt rows (soft delete: the change sensor re-renders their days)")
    unknown = sorted(set(args.ids) - set(deleted))
    if unknown:
        print(f"not found or already deleted: {', '.join(unknown)}", file=sys.stderr)
    return 0 if deleted else 1


def cmd_prompts_add(args: argparse.Namespace) -> int:
    row = {
        "prompt_id": args.prompt_id or f"cli-{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}",
        "scheduled_for": args.date.isoformat(),
        "prompt": args.prompt,
        "negative_prompt": args.negative_prompt,
        "seed": args.seed,
        "motion_bucket_ids": args.motion_bucket_ids,
        "num_frames": args.num_frames,
        "fps": args.fps,
        "width": args.width,
        "height": args.height,
        "takes": args.takes,
        "take_crossfade_frames": args.take_crossfade_frames,
        "keyframe_model": args.keyframe_model,
        "video_model": args.video_model,
        **{field: getattr(args, field) for field in SHOT_COLUMNS},
    }
    return 0 if import_and_report([row], args.if_exists) == 1 else 1


def add_prompts_parser(commands) -> None:
    prompts = commands.add_parser("prompts", help="import, add, list and delete prompt rows")
    prompt_commands = prompts.add_subparsers(dest="prompts_command", required=True)
    importer = prompt_commands.add_parser("import", help="import a CSV, Parquet or JSON-lines file, in chunks")
    importer.add_argument("file")
    importer.add_argument("--chunk-rows", type=positive, default=50_000, help="rows per write transaction")
    importer.add_argument("--if-exists", choices=("replace", "skip", "error"), default="replace", help=IF_EXISTS_HELP)
    importer.set_defaults(handler=cmd_prompts_import)
    listing = prompt_commands.add_parser("list", help="the live prompt rows of a day")
    listing.add_argument("--date", type=parse_day, required=True)
    listing.set_defaults(handler=cmd_prompts_list)
    delete = prompt_commands.add_parser("delete", help="soft-delete prompt rows by id")
    delete.add_argument("ids", nargs="+", metavar="ID")
    delete.set_defaults(handler=cmd_prompts_delete)
    add = prompt_commands.add_parser("add", help="add one prompt row")
    add.add_argument("--date", type=parse_day, required=True)
    add.add_argument("--prompt", required=True)
    add.add_argument("--prompt-id")
    add.add_argument("--negative-prompt", default="")
    add.add_argument("--seed", type=int, default=0)
    add.add_argument("--motion-bucket-ids", help="semicolon-separated, e.g. 60;180")
    add.add_argument("--num-frames", type=int)
    add.add_argument("--fps", type=int)
    add.add_argument("--width", type=int, help="output width in pixels (default: the video model's)")
    add.add_argument("--height", type=int, help="output height in pixels (default: the video model's)")
    add.add_argument("--takes", type=int, help="extend the clip take by take from each take's last frame")
    add.add_argument("--take-crossfade-frames", type=int, help="blend this many frames at each join of the takes")
    add.add_argument("--scene", help="the scene this shot belongs to; its shots play in scene_order in the reel")
    add.add_argument("--scene-order", type=int, help="the shot's place in its scene")
    add.add_argument("--start-from", type=str.lower, choices=("keyframe", "previous"),
                     help="previous: start from the last frame of the scene's shot before this one")
    add.add_argument("--end-prompt", help="end on a second keyframe rendered from this prompt (first-and-last-frame)")
    add.add_argument("--restyle-of", help="restyle this prompt_id's clip (same day; a video-to-video model)")
    add.add_argument("--source-uri", help="restyle this video: a media-store key or s3://bucket/key")
    add.add_argument("--strength", type=float, help="how far a restyle may move from its source (0 < s <= 1)")
    add.add_argument("--keyframe-model")
    add.add_argument("--video-model")
    add.add_argument("--if-exists", choices=("replace", "skip", "error"), default="replace", help=IF_EXISTS_HELP)
    add.set_defaults(handler=cmd_prompts_add)
