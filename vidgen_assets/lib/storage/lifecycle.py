"""Expiry of Dagster's per-run step outputs on S3 through a bucket lifecycle rule.

The S3 IO manager writes two kinds of objects under `<media prefix>/dagster-io/`:
- `<asset>/<day>`: one per asset and day, overwritten by each run; later steps read them. Kept.
- `storage/<run_id>/<step>/<output>`: the graph assets' inner op outputs (shard lists, shard results), a
  few per run, never read after the run except to re-execute it. These grow with every run: S3 deletes
  them a number of days after they were written, by the rule below.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

RULE_ID = "vidgen-expire-dagster-step-outputs"
DEFAULT_DAYS = 7


def step_outputs_prefix(media_prefix: str) -> str:
    """Where the S3 IO manager keeps per-run op outputs for media under `media_prefix`."""
    return "/".join(part for part in (media_prefix.strip("/"), "dagster-io", "storage") if part) + "/"


def step_outputs_rule(media_prefix: str, days: int = DEFAULT_DAYS) -> dict[str, Any]:
    if days < 1:
        raise ValueError(f"step outputs must live at least 1 day (re-executing a failed run reads them), not {days}")
    return {
        "ID": RULE_ID,
        "Filter": {"Prefix": step_outputs_prefix(media_prefix)},
        "Status": "Enabled",
        "Expiration": {"Days": days},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    }


def expire_step_outputs(client, bucket: str, media_prefix: str, days: int = DEFAULT_DAYS) -> dict[str, Any]:
    """Put the expiry rule on `bucket`, keeping the bucket's other lifecycle rules; returns the rule."""
    try:
        rules = client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
            raise
        rules = []
    rule = step_outputs_rule(media_prefix, days)
    others = [existing for existing in rules if existing.get("ID") != RULE_ID]
    client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [*others, rule]})
    return rule
