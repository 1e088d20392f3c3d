"""S3 credentials as clusters hand them out: temporary keys with a session token, profiles, none at all (pod roles).

What reaches the wire is read from the signed requests botocore sends to moto_server.
"""

from __future__ import annotations

import dagster as dg

from vidgen_assets.defs.resources import s3_resource
from vidgen_assets_tests.s3_server import s3_bucket, s3_endpoint  # noqa: F401

TOKEN = "FwoGZXIvYXdzEXAMPLE-session-token"


def signed_requests(client) -> list[dict]:
    """The headers of every request `client` sends from now on."""
    sent: list[dict] = []
    def record(request, **_):
        sent.append({name: value.decode() if isinstance(value, bytes) else value for name, value in request.headers.items()})

    client.meta.events.register("before-send.s3", record)
    return sent


def pipeline_client():
    with dg.build_resources({"s3": s3_resource()}) as resources:  # the pipeline's own S3 settings
        return resources.s3


def test_temporary_keys_send_their_session_token(s3_bucket, monkeypatch):  # noqa: F811
    _, bucket = s3_bucket
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIATEMPORARYKEY")
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    client = pipeline_client()
    sent = signed_requests(client)
    client.put_object(Bucket=bucket, Key="media/probe.txt", Body=b"x")
    assert client.get_object(Bucket=bucket, Key="media/probe.txt")["Body"].read() == b"x"
    assert [headers.get("X-Amz-Security-Token") for headers in sent] == [TOKEN, TOKEN]
    assert all("Credential=ASIATEMPORARYKEY/" in headers["Authorization"] for headers in sent)
    # The token stays an environment reference: the UI and run config show its name, never its value.
    assert s3_resource().aws_session_token == dg.EnvVar("AWS_SESSION_TOKEN")


def test_without_keys_boto3_finds_them_itself(s3_bucket, monkeypatch, tmp_path):  # noqa: F811
    """No keys in the environment: nothing is passed, so a profile (or a pod's role) supplies them."""
    _, bucket = s3_bucket
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    credentials = tmp_path / "credentials"
    credentials.write_text("[render]\naws_access_key_id = AKIAPROFILEKEY\naws_secret_access_key = from-profile\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_PROFILE", "render")
    resource = s3_resource()
    assert (resource.aws_access_key_id, resource.aws_secret_access_key, resource.aws_session_token) == (None, None, None)
    client = pipeline_client()
    sent = signed_requests(client)
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert "Credential=AKIAPROFILEKEY/" in sent[0]["Authorization"]
    assert "X-Amz-Security-Token" not in sent[0]
