"""Expiry of Dagster's per-run step outputs on S3 through a bucket lifecycle rule.

The S3 IO manager writes two kinds of objects under `<media prefix>/dagster-io/`:
- `<asset>/<day>`: one per asset and day, overwritten by each run; later steps read them. Kept.
- `storage/<run_id>/<step>/<output>`: the graph assets' inner op outputs (shard lists, shard results), a
  few per run, never read after the run except to re-execute it. These grow with every run: S3 deletes
  them a number of days after they were written, by the rule below.
"""

from __future__ import annotations

import hashlib
from typing import Any

from botocore.exceptions import ClientError

RULE_ID = "vidgen-expire-dagster-step-outputs"  # the rule of the bucket's root; other prefixes add a suffix
DEFAULT_DAYS = 7


def step_outputs_prefix(media_prefix: str) -> str:
    """Where the S3 IO manager keeps per-run op outputs for media under `media_prefix`."""
    return "/".join(part for part in (media_prefix.strip("/"), "dagster-io", "storage") if part) + "/"


def rule_id(media_prefix: str) -> str:
    """One rule per media prefix, so `s3://b/prod` and `s3://b/staging` each keep their own expiry.

    S3 caps rule ids at 255 characters: the prefix is named in the id as far as it fits, with a short digest
    of the whole prefix so two long prefixes with one beginning still differ.
    """
    prefix = media_prefix.strip("/")
    if not prefix:
        return RULE_ID
    digest = hashlib.sha256(prefix.encode()).hexdigest()[:8]
    return f"{RULE_ID}-{prefix[:180]}-{digest}"


def step_outputs_rule(media_prefix: str, days: int = DEFAULT_DAYS) -> dict[str, Any]:
    if days < 1:
        raise ValueError(f"step outputs must live at least 1 day (re-executing a failed run reads them), not {days}")
    return {
        "ID": rule_id(media_prefix),
        "Filter": {"Prefix": step_outputs_prefix(media_prefix)},
        "Status": "Enabled",
        "Expiration": {"Days": days},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    }


def expire_step_outputs(client, bucket: str, media_prefix: str, days: int = DEFAULT_DAYS) -> dict[str, Any]:
    """Put this prefix's expiry rule on `bucket`, keeping the bucket's other rules (other prefixes' too); returns it."""
    try:
        rules = client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
            raise
        rules = []
    rule = step_outputs_rule(media_prefix, days)
    # Replaced by id, and by filter too: a rule of an earlier version (one fixed id) for this same prefix goes.
    others = [existing for existing in rules
              if existing.get("ID") != rule["ID"] and existing.get("Filter") != rule["Filter"]]  # fmt: skip
    client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [*others, rule]})
    return rule
