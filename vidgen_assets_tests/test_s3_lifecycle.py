"""`vidgen storage expire-step-outputs`: the lifecycle rule that bounds Dagster's per-run outputs on S3 (moto_server)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vidgen_assets.lib.storage.lifecycle import RULE_ID, step_outputs_prefix, step_outputs_rule
from vidgen_assets_tests.s3_server import s3_bucket, s3_endpoint  # noqa: F401

KEEP = {"ID": "keep-logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 30}}


def expire(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "vidgen_assets.cli", "storage", "expire-step-outputs", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_the_rule_expires_per_run_outputs_and_keeps_the_bucket_s_other_rules(s3_bucket, monkeypatch):  # noqa: F811
    client, bucket = s3_bucket
    monkeypatch.setenv("VIDGEN_MEDIA_URI", f"s3://{bucket}/vidgen")
    client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [KEEP]})

    applied = expire("--days", "3")
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout.splitlines()[-1])["rule"]["Filter"] == {"Prefix": "vidgen/dagster-io/storage/"}
    assert expire("--days", "5").returncode == 0  # applied again: replaced, not added twice
    rules = {rule["ID"]: rule for rule in client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert set(rules) == {RULE_ID, "keep-logs"}
    assert rules[RULE_ID]["Expiration"] == {"Days": 5} and rules[RULE_ID]["Status"] == "Enabled"
    assert rules["keep-logs"]["Expiration"] == {"Days": 30}


def test_local_media_has_no_bucket_to_expire(vidgen_home):
    refused = expire()
    assert refused.returncode == 1 and "is not on S3" in refused.stdout


def test_rule_shape():
    assert step_outputs_prefix("") == "dagster-io/storage/" and step_outputs_prefix("/a/b/") == "a/b/dagster-io/storage/"
    with pytest.raises(ValueError, match="at least 1 day"):
        step_outputs_rule("vidgen", days=0)
