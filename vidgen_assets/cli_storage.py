"""`vidgen storage ...`: the media bucket's housekeeping."""

from __future__ import annotations

import argparse
import json
import sys

from vidgen_assets.lib import environment


def pipeline_s3_client():
    """The client the pipeline uses: same retries, credentials resolved from their EnvVars."""
    import dagster as dg

    from vidgen_assets.defs.resources import s3_resource

    with dg.build_resources({"s3": s3_resource()}) as resources:
        return resources.s3  # S3Resource provides the boto3 client itself


def cmd_expire_step_outputs(args: argparse.Namespace) -> int:
    from vidgen_assets.lib.storage.lifecycle import expire_step_outputs
    from vidgen_assets.lib.storage.s3 import split_s3_uri

    uri = environment.media_uri()
    if not uri.startswith("s3://"):
        print(f"VIDGEN_MEDIA_URI={uri} is not on S3: local step outputs live in the Dagster instance's storage")
        return 1
    try:
        bucket, prefix = split_s3_uri(uri)
    except ValueError as error:
        print(f"error: VIDGEN_MEDIA_URI={uri}: {error}", file=sys.stderr)
        return 2
    rule = expire_step_outputs(pipeline_s3_client(), bucket, prefix, days=args.days)
    print(json.dumps({"bucket": bucket, "rule": rule}))
    return 0


def add_storage_parser(commands) -> None:
    storage = commands.add_parser("storage", help="housekeeping of the media store")
    actions = storage.add_subparsers(dest="action", required=True)
    expire = actions.add_parser(
        "expire-step-outputs",
        help="add (or update) this media prefix's lifecycle rule deleting Dagster's per-run step outputs "
        "(dagster-io/storage/) after N days; other prefixes' rules and the bucket's own rules are kept",
    )
    expire.add_argument("--days", type=int, default=7, help="days to keep them (default 7)")
    expire.set_defaults(handler=cmd_expire_step_outputs)
