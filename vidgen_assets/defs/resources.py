"""Resources shared by every stage; defaults come from the environment helper in `lib`."""

import os
from pathlib import Path

import dagster as dg

from vidgen_assets.lib import environment
from vidgen_assets.lib.generation import PIPELINES, get_preset
from vidgen_assets.lib.storage import MediaStore, open_media_store
from vidgen_assets.lib.warehouse import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The prompts warehouse: a DuckDB file or connection string (default `$VIDGEN_HOME/warehouse.duckdb`)."""

    target: str = ""

    def open(self) -> Warehouse:
        return Warehouse(self.target or environment.warehouse_path())


class MediaResource(dg.ConfigurableResource):
    """Media and manifests: a directory or `s3://bucket/prefix` (default `$VIDGEN_HOME/media`)."""

    uri: str = ""

    def open(self) -> MediaStore:
        return open_media_store(self.uri or environment.media_uri())


class GenerationResource(dg.ConfigurableResource):
    """Model presets and the device they run on; prompt rows may override the models."""

    keyframe_model: str = "tiny"
    video_model: str = "tiny"
    device: str = "auto"
    dtype: str = "auto"
    keyframe_batch_size: int = 4
    models_dir: str = ""

    def pipeline(self, name: str, task: str):
        """The preset's pipeline, loaded once per process and shared by every step in it."""
        models_dir = Path(self.models_dir) if self.models_dir else environment.models_dir()
        return PIPELINES.get(get_preset(name, task), models_dir, device=self.device, dtype=self.dtype)


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource(target=os.getenv("VIDGEN_WAREHOUSE", "")),
            "media": MediaResource(uri=os.getenv("VIDGEN_MEDIA_URI", "")),
            "generation": GenerationResource(
                keyframe_model=os.getenv("VIDGEN_KEYFRAME_MODEL", "tiny"),
                video_model=os.getenv("VIDGEN_VIDEO_MODEL", "tiny"),
                device=os.getenv("VIDGEN_DEVICE", "auto"),
            ),
        }
    )
