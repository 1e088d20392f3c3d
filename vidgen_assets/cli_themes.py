"""`vidgen themes …`: import, add, list and delete themes, which the prompt writer turns into prompt rows."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys

from vidgen_assets.cli_prompts import _models, first_day, parse_day, positive, warehouse
from vidgen_assets.lib import environment
from vidgen_assets.lib.warehouse.connections import masked

PRINTED_REJECTIONS = 50


def default_theme_id(day, theme: str) -> str:
    """The same day and theme text give the same id, so adding a theme twice updates it instead of doubling it."""
    return f"theme-{day.isoformat()}-{hashlib.sha256(theme.strip().encode()).hexdigest()[:8]}"


def _report(result) -> int:
    print(
        f"stored {result.stored} theme{'' if result.stored == 1 else 's'} in {masked(environment.warehouse_target())} "
        f"({result.new} new, {result.changed} changed, {result.moved} moved to another day, "
        f"{result.unchanged} unchanged); {result.rejected} rejected"
    )
    for rejection in result.rejections[:PRINTED_REJECTIONS]:
        print(f"rejected {rejection.theme_id!r}: {rejection.reason}", file=sys.stderr)
    if result.rejected > PRINTED_REJECTIONS:
        print(f"... and {result.rejected - PRINTED_REJECTIONS} more rejections: all are in the table theme_rejections",
              file=sys.stderr)  # fmt: skip
    return 0 if result.stored else 1  # non-zero only when nothing usable was given


def cmd_themes_import(args: argparse.Namespace) -> int:
    from vidgen_assets.lib.warehouse.themes import import_theme_file

    try:
        result = import_theme_file(warehouse(), args.file, *_models(), chunk_rows=args.chunk_rows, first_day=first_day())
    except (OSError, ValueError) as error:  # a file that cannot be read at all
        print(f"error: {error}", file=sys.stderr)
        return 2
    return _report(result)


def cmd_themes_add(args: argparse.Namespace) -> int:
    from vidgen_assets.lib.warehouse.themes import import_themes

    row = {
        "theme_id": args.theme_id or default_theme_id(args.date, args.theme),
        "scheduled_for": args.date.isoformat(),
        "theme": args.theme,
        "count": args.count,
        "style": args.style,
        "music_prompt": args.music_prompt,
        "keyframe_model": args.keyframe_model,
        "video_model": args.video_model,
    }
    result = import_themes(warehouse(), [[row]], *_models(), first_day=first_day())
    if result.stored:
        print(f"theme {row['theme_id']}")
    return _report(result)


# `vidgen demo --music`: a theme the offline writer (or the configured model) expands, and music with a steady pulse.
DEMO_THEME = "a lighthouse on a stormy coast at night"
DEMO_MUSIC_PROMPT = "slow ambient synth pads over a steady soft kick drum, 100 bpm"


def add_demo_theme(day, count: int) -> int:
    """Store the demo theme for `day` (`count` prompt rows, a music prompt); returns non-zero when it was refused."""
    from vidgen_assets.lib.warehouse.themes import import_themes

    row = {"theme_id": f"demo-theme-{day.isoformat()}", "scheduled_for": day.isoformat(), "theme": DEMO_THEME,
           "count": count, "music_prompt": DEMO_MUSIC_PROMPT}  # fmt: skip
    return _report(import_themes(warehouse(), [[row]], *_models(), first_day=first_day()))


def cmd_themes_list(args: argparse.Namespace) -> int:
    from vidgen_assets.lib.warehouse.themes import day_themes, theme_rejections, theme_row_counts

    store = warehouse()
    themes = day_themes(store, args.date)
    written = theme_row_counts(store, [t["theme_id"] for t in themes])
    rejected = len(theme_rejections(store, args.date))
    if args.format == "json":
        listed = [{**t, "rows_written": written[t["theme_id"]]} for t in themes]
        print(json.dumps({"date": args.date.isoformat(), "themes": listed, "rejections": rejected}, default=str, indent=2))
        return 0
    print(f"{'theme_id':<30} {'theme':<36} {'count':>5} {'rows':>5}  music_prompt")
    for theme in themes:
        text = theme["theme"] if len(theme["theme"]) <= 34 else theme["theme"][:33] + "…"
        print(f"{theme['theme_id']:<30} {text:<36} {theme['count']:>5} {written[theme['theme_id']]:>5}  "
              f"{theme['music_prompt'] or '-'}")  # fmt: skip
    print(f"{len(themes)} themes scheduled for {args.date}; {rejected} rejections recorded for it")
    for rejection in theme_rejections(store, args.date)[-PRINTED_REJECTIONS:]:  # the newest, with their reasons
        print(f"rejected {rejection['theme_id']!r} ({rejection['source']}): {rejection['reason']}")
    return 0


def cmd_themes_delete(args: argparse.Namespace) -> int:
    from vidgen_assets.lib.warehouse.fields import normal_id
    from vidgen_assets.lib.warehouse.themes import delete_themes

    ids = [normal_id(i) for i in args.ids]
    deleted = delete_themes(warehouse(), ids)
    print(f"deleted {len(deleted)} themes (soft delete: their prompt rows are retired when their day renders again)")
    if unknown := sorted(set(ids) - set(deleted)):
        print(f"not found or already deleted: {', '.join(unknown)}", file=sys.stderr)
    return 0 if deleted else 1


def add_themes_parser(commands) -> None:
    themes = commands.add_parser("themes", help="import, add, list and delete themes (prompts written for you)")
    theme_commands = themes.add_subparsers(dest="themes_command", required=True)
    importer = theme_commands.add_parser("import", help="import a CSV, Parquet or JSON-lines file of themes")
    importer.add_argument("file")
    importer.add_argument("--chunk-rows", type=positive, default=10_000, help="rows per write transaction")
    importer.set_defaults(handler=cmd_themes_import)
    add = theme_commands.add_parser("add", help="add (or update) one theme")
    add.add_argument("--date", type=parse_day, required=True)
    add.add_argument("--theme", required=True, help="what the day's prompts are about")
    add.add_argument("--count", type=positive, required=True, help="how many prompt rows to write (1-200)")
    add.add_argument("--music-prompt", help="music for the day's reel")
    add.add_argument("--style", help="a style every prompt row gets, e.g. 'watercolor'")
    add.add_argument("--keyframe-model", help="keyframe preset for the rows it writes")
    add.add_argument("--video-model", help="video preset for the rows it writes")
    add.add_argument("--id", dest="theme_id", help="default: theme-<date>-<hash of the theme text>")
    add.set_defaults(handler=cmd_themes_add)
    listing = theme_commands.add_parser("list", help="a day's live themes and how many prompt rows each has written")
    listing.add_argument("--date", type=parse_day, required=True)
    listing.add_argument("--format", choices=("table", "json"), default="table")
    listing.set_defaults(handler=cmd_themes_list)
    delete = theme_commands.add_parser("delete", help="soft-delete themes by id")
    delete.add_argument("ids", nargs="+", metavar="ID")
    delete.set_defaults(handler=cmd_themes_delete)
