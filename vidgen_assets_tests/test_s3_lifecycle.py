"""`vidgen storage expire-step-outputs`: the lifecycle rule that bounds Dagster's per-run outputs on S3 (moto_server)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vidgen_assets.lib.storage import open_media_store
from vidgen_assets.lib.storage.lifecycle import RULE_ID, rule_id, step_outputs_prefix, step_outputs_rule
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
    ours = rule_id("vidgen")
    assert set(rules) == {ours, "keep-logs"}
    assert rules[ours]["Expiration"] == {"Days": 5} and rules[ours]["Status"] == "Enabled"
    assert rules["keep-logs"]["Expiration"] == {"Days": 30}


def test_local_media_has_no_bucket_to_expire(vidgen_home):
    refused = expire()
    assert refused.returncode == 1 and "is not on S3" in refused.stdout


def test_rule_shape():
    assert step_outputs_prefix("") == "dagster-io/storage/" and step_outputs_prefix("/a/b/") == "a/b/dagster-io/storage/"
    with pytest.raises(ValueError, match="at least 1 day"):
        step_outputs_rule("vidgen", days=0)


def test_each_media_prefix_keeps_its_own_rule(s3_bucket, monkeypatch):  # noqa: F811
    """prod, then staging, on one bucket: both expire, each by its own rule; a rerun for prod replaces only prod's."""
    client, bucket = s3_bucket
    client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [KEEP]})
    for prefix, days in (("prod", "3"), ("staging", "5"), ("prod", "4")):
        monkeypatch.setenv("VIDGEN_MEDIA_URI", f"s3://{bucket}/{prefix}")
        applied = expire("--days", days)
        assert applied.returncode == 0, applied.stderr
    rules = client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    by_prefix = {rule["Filter"]["Prefix"]: rule for rule in rules}
    assert set(by_prefix) == {"logs/", "prod/dagster-io/storage/", "staging/dagster-io/storage/"}
    assert by_prefix["prod/dagster-io/storage/"]["Expiration"] == {"Days": 4}
    assert by_prefix["staging/dagster-io/storage/"]["Expiration"] == {"Days": 5}
    assert len({rule["ID"] for rule in rules}) == 3 and all(len(rule["ID"]) <= 255 for rule in rules)


def test_a_rule_of_the_single_id_era_for_the_same_prefix_is_replaced(s3_bucket, monkeypatch):  # noqa: F811
    client, bucket = s3_bucket
    old = {**step_outputs_rule("prod", 9), "ID": RULE_ID}
    client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [old]})
    monkeypatch.setenv("VIDGEN_MEDIA_URI", f"s3://{bucket}/prod")
    assert expire("--days", "2").returncode == 0
    (rule,) = client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["Filter"] == {"Prefix": "prod/dagster-io/storage/"} and rule["Expiration"] == {"Days": 2}


@pytest.mark.parametrize("prefix", ["../../x", "a/../b", "./a", "a//b", "a\\b"])
def test_a_prefix_that_climbs_or_hides_a_folder_is_refused(prefix, monkeypatch):
    monkeypatch.setenv("VIDGEN_MEDIA_URI", f"s3://vidgen-media/{prefix}")
    refused = expire()
    assert refused.returncode == 2 and "invalid S3 media prefix" in refused.stderr
    assert "Traceback" not in refused.stderr
    with pytest.raises(ValueError, match="invalid S3 media prefix"):
        open_media_store(f"s3://vidgen-media/{prefix}", s3_client=object())


def test_rule_ids_differ_per_prefix():
    ids = {rule_id(prefix) for prefix in ("", "prod", "staging", "a" * 300, "a" * 300 + "b")}
    assert len(ids) == 5 and rule_id("") == RULE_ID and all(len(i) <= 255 for i in ids)
