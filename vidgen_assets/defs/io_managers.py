"""Where asset outputs go between steps: the instance's storage locally, S3 when media is on S3."""

import dagster as dg
from dagster_aws.s3 import S3PickleIOManager

from vidgen_assets.lib.storage.s3 import split_s3_uri


def _load_naming_missing_upstream(load, context: dg.InputContext):
    """An upstream with no stored output for the day stops the step with what to materialize first."""
    try:
        return load(context)
    except Exception as error:
        missing = isinstance(error, FileNotFoundError) or "NoSuchKey" in type(error).__name__ + str(error)
        if not (missing and context.has_asset_key):
            raise
        asset = context.asset_key.to_user_string()
        days = context.asset_partition_keys if context.has_asset_partitions else []
        day = days[0] if len(days) == 1 else "this partition"
        raise dg.Failure(
            f"`{asset}` has no stored output for {day}: materialize `{asset}` for {day} first "
            f"(e.g. `dagster asset materialize -m vidgen_assets.definitions --select {asset} --partition {day}`)",
            allow_retries=False,
        ) from error


class LocalStepOutputs(dg.FilesystemIOManager):
    """Dagster's pickling file IO manager (under the instance's storage), naming a missing upstream clearly."""

    def create_io_manager(self, context) -> dg.IOManager:
        return _NamingMissingUpstream(super().create_io_manager(context))


class _NamingMissingUpstream(dg.IOManager):
    def __init__(self, inner: dg.IOManager):
        self._inner = inner

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        self._inner.handle_output(context, obj)

    def load_input(self, context: dg.InputContext):
        return _load_naming_missing_upstream(self._inner.load_input, context)


class S3StepOutputs(S3PickleIOManager):
    """dagster-aws's S3 pickle IO manager, naming a missing upstream clearly."""

    def load_input(self, context: dg.InputContext):
        return _load_naming_missing_upstream(super().load_input, context)


def step_outputs_io_manager(media_uri: str, s3_resource) -> dict:
    """Asset outputs and shard item lists go where every step can read them: S3 when media is on S3.

    Each asset reads its upstream's output for the partition through this, never a file at a fixed path.
    """
    if not media_uri.startswith("s3://"):
        return {"io_manager": LocalStepOutputs()}
    bucket, prefix = split_s3_uri(media_uri)
    return {"io_manager": S3StepOutputs(s3_resource=s3_resource, s3_bucket=bucket, s3_prefix=f"{prefix}/dagster-io".lstrip("/"))}
