"""Resources shared by every stage; defaults come from the environment helper in `lib`."""

import os

import dagster as dg
from dagster_aws.s3 import S3Resource

from vidgen_assets.defs.io_managers import step_outputs_io_manager
from vidgen_assets.lib import environment
from vidgen_assets.lib.environment import flag_setting, number_setting
from vidgen_assets.lib.audio.presets import DEFAULT_MUSIC_MODEL, MUSIC_MODEL_VARIABLE
from vidgen_assets.lib.generation.batching import MAX_DENOISE_BATCH
from vidgen_assets.lib.generation.levers import LeverUnavailableError, check_attention_backend_name
from vidgen_assets.lib.generation.loader import pick_device
from vidgen_assets.lib.generation.presets import ModelPreset
from vidgen_assets.lib.generation.providers.base import ProviderClient
from vidgen_assets.lib.generation.providers.registry import BASE_URL_VARIABLES, KEY_VARIABLES, PROVIDERS, client_for
from vidgen_assets.lib.generation.providers.tasks import HostedSettings
from vidgen_assets.lib.generation.settings import RenderSettings
from vidgen_assets.lib.generation.sharding import (
    DEFAULT_POD_START_S, DEFAULT_S_PER_CLIP, DEFAULT_S_PER_KEYFRAME, ShardSize, shard_size,
)  # fmt: skip
from vidgen_assets.lib.storage import MediaStore, open_media_store
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.themes import WriterSettings, writer_settings_from_env


class WarehouseResource(dg.ConfigurableResource):
    """The prompts warehouse: a DuckDB file, `md:` (MotherDuck) or `postgresql://` URL (default `$VIDGEN_HOME/warehouse.duckdb`)."""

    target: str = ""

    def open(self) -> Warehouse:
        return Warehouse(self.target or environment.warehouse_target())


class MediaResource(dg.ConfigurableResource):
    """Media and manifests: a directory or `s3://bucket/prefix` (default `$VIDGEN_HOME/media`).

    S3 goes through dagster-aws's `S3Resource`; the endpoint comes from `AWS_ENDPOINT_URL`, so any
    S3-compatible store works, and credentials from the usual AWS variables or the pod's role.
    """

    uri: str = ""
    s3: dg.ResourceDependency[S3Resource]

    def open(self) -> MediaStore:
        uri = self.uri or environment.media_uri()
        client = self.s3.get_client() if uri.startswith("s3://") else None
        return open_media_store(uri, s3_client=client, cache_dir=environment.vidgen_home() / "cache" / "media")


class GenerationResource(dg.ConfigurableResource):
    """Model presets, the device they run on and how a day is split; prompt rows may override the models."""

    keyframe_model: str = "tiny"
    video_model: str = "tiny"
    device: str = "auto"
    dtype: str = "auto"
    keyframe_batch_size: int = 4
    shard_size: int = 0  # prompt rows per GPU step (its own pod on Kubernetes); 0: the start-up rule picks it
    pod_start_s: float = DEFAULT_POD_START_S  # a step pod's scheduling, image pull and model load
    s_per_clip: float = DEFAULT_S_PER_CLIP  # GPU seconds per clip, for the start-up rule
    s_per_keyframe: float = DEFAULT_S_PER_KEYFRAME  # GPU seconds per keyframe, for the start-up rule
    price_per_gpu_hour: float = 0.0
    cpu_offload: bool = False
    vae_slicing: bool = False
    vae_tiling: bool = False
    # GPU levers (lib/generation/settings.py says what each does), off until measured.
    attention_backend: str = ""  # "native", "flash", "_flash_3" or "sage" (its kernel must be installed)
    compile_denoiser: bool = False
    channels_last: bool = False
    step_cache: float = 0.0  # first-block cache threshold for Wan/LTX (in their clip keys); 0: off
    decode_chunk_size: int = 0  # SVD frames per VAE decode for rows that set none (in the key); 0: the preset's
    denoise_batch: int = 1  # SVD clips denoised per pipeline call, 1 to 4
    overlap_encode: bool = False  # a shard encodes clip N on a CPU thread while clip N+1 denoises (SVD, Wan text-to-video)
    models_dir: str = ""

    def render_settings(self) -> RenderSettings:
        """These settings as plain Python: what planning, loading and rendering read (experiments too)."""
        return RenderSettings(**{name: getattr(self, name) for name in RenderSettings.__dataclass_fields__})

    def resolved_device(self) -> str:
        return pick_device(self.device)

    def dtype_of(self, preset: ModelPreset) -> str:
        """The dtype `preset` loads in on this step's device: part of its outputs' content keys."""
        return self.render_settings().dtype_of(preset)

    def shard_rows(self, stage: str, items: list[dict]) -> ShardSize:
        """Rows per shard step for `stage` ("keyframe" or "clip"): `shard_size` when set, else the rule in
        `lib/generation/sharding.py` (pod start-up at most 10 % of a shard's GPU time)."""
        rows = len({item["prompt_id"] for item in items})
        return shard_size(
            configured=self.shard_size, pod_start_s=self.pod_start_s,
            s_per_item=self.s_per_clip if stage == "clip" else self.s_per_keyframe,
            items_per_row=len(items) / rows if rows else 1.0, day_rows=rows,
        )  # fmt: skip

    def pipeline(self, name: str, task: str):
        """The preset's pipeline, loaded once per process and shared by every step in it."""
        return self.render_settings().pipeline(name, task)


class ProvidersResource(dg.ConfigurableResource):
    """Hosted video providers: API keys (empty: each is read from its SDK's variable when a hosted step runs; or
    `EnvVar`s), base URLs, and tasks in flight per provider step. A key is needed only when a row uses its provider."""

    replicate_api_token: str = ""
    replicate_base_url: str = ""
    runwayml_api_secret: str = ""
    runwayml_base_url: str = ""
    lumaai_api_key: str = ""
    lumaai_base_url: str = ""
    fal_key: str = ""
    fal_base_url: str = ""
    concurrency: int = 8  # tasks in flight per provider step; VIDGEN_<PROVIDER>_CONCURRENCY overrides per provider
    concurrency_by_provider: dict[str, int] = {}
    clip_deadline_s: float = 1800.0  # per clip: then its task is cancelled and the clip left out of the reel

    def client(self, provider: str) -> ProviderClient:
        """The provider's client; a missing key raises MissingKeyError naming its variable."""
        key_field, url_field = _PROVIDER_FIELDS[provider]
        # Unset here, the key is read from its variable when a hosted step needs it: a key captured when the
        # code location loaded would fail every run (hosted or not) of a process started without it.
        api_key = getattr(self, key_field) or os.getenv(KEY_VARIABLES[provider], "")
        return client_for(provider, api_key, getattr(self, url_field))

    def settings(self, provider: str) -> HostedSettings:
        concurrency = self.concurrency_by_provider.get(provider, self.concurrency)
        return HostedSettings(concurrency=concurrency, clip_deadline_s=self.clip_deadline_s)


# provider → (key field, base-URL field) of ProvidersResource, named after the SDKs' own variables.
_PROVIDER_FIELDS = {
    provider: (KEY_VARIABLES[provider].lower(), BASE_URL_VARIABLES[provider].lower().removeprefix("vidgen_"))
    for provider in PROVIDERS
}


def providers_resource() -> ProvidersResource:
    """Keys stay out of the config (the UI never shows them): each is read from its variable at use."""
    urls = {field: os.getenv(BASE_URL_VARIABLES[p], "") for p, (_, field) in _PROVIDER_FIELDS.items()}
    by_provider = {p: int(os.environ[f"VIDGEN_{p.upper()}_CONCURRENCY"]) for p in PROVIDERS if os.getenv(f"VIDGEN_{p.upper()}_CONCURRENCY")}
    return ProvidersResource(
        **urls, concurrency=int(os.getenv("VIDGEN_PROVIDER_CONCURRENCY", "8")),
        concurrency_by_provider=by_provider, clip_deadline_s=float(os.getenv("VIDGEN_PROVIDER_CLIP_DEADLINE_S", "1800")),
    )  # fmt: skip


class ReelResource(dg.ConfigurableResource):
    """How the day's reel is put together and how many bad clips stop it."""

    order: str = "prompt"  # prompt, style or subject
    crossfade_s: float = 0.0
    captions: bool = False  # burn each clip's prompt into its frames
    audio_path: str = ""  # a local audio file, trimmed or padded to the reel
    max_failed_clip_share: float = 0.2  # above this share of failing clips, the blocking check stops the reel


class WriterResource(dg.ConfigurableResource):
    """The language model that writes a theme's prompt rows: any OpenAI-compatible chat endpoint, or offline.

    Values are the `VIDGEN_LLM_*` variables as text (blank: their defaults; no base URL: offline); the URL
    and key are `EnvVar`s, so the UI shows their names, never a key.
    """

    base_url: str = ""
    model: str = ""
    api_key: str = ""
    timeout_s: str = ""
    max_attempts: str = ""
    max_wait_s: str = ""

    def settings(self) -> WriterSettings:
        """The checked settings; a bad value raises `WriterConfigError` naming its variable."""
        names = ("base_url", "model", "api_key", "timeout_s", "max_attempts", "max_wait_s")
        return writer_settings_from_env({f"VIDGEN_LLM_{name.upper()}": getattr(self, name) for name in names})


class MusicResource(dg.ConfigurableResource):
    """The soundtrack's model (`tiny-music`, `stable-audio-open-1.0` or a hosted preset) and its knobs; every
    one is part of the soundtrack's content key. Device, dtype and the models directory come from `generation`."""

    model: str = DEFAULT_MUSIC_MODEL
    seed: int = 0
    steps: int = 0  # denoising steps; 0: the preset's default (hosted models ignore it)
    negative_prompt: str = ""  # read only by models run with guidance (stable-audio-open-1.0)


def music_resource() -> MusicResource:
    """The definitions' `music` resource: `VIDGEN_MUSIC_MODEL`, `VIDGEN_MUSIC_SEED`, `VIDGEN_MUSIC_STEPS` and
    `VIDGEN_MUSIC_NEGATIVE_PROMPT` (a seed or step count that is not a whole number fails, naming it)."""
    return MusicResource(
        model=os.getenv(MUSIC_MODEL_VARIABLE) or DEFAULT_MUSIC_MODEL,
        seed=_whole_number("VIDGEN_MUSIC_SEED"),
        steps=_whole_number("VIDGEN_MUSIC_STEPS"),
        negative_prompt=os.getenv("VIDGEN_MUSIC_NEGATIVE_PROMPT", ""),
    )


def _whole_number(variable: str) -> int:
    value = os.getenv(variable) or "0"
    if not value.isdigit():
        raise ValueError(f"{variable}={value!r} is not a whole number of 0 or more")
    return int(value)


def s3_resource() -> S3Resource:
    """S3 through dagster-aws; keys, when given as variables, stay `EnvVar`s: the UI shows their names, never values.

    With no keys set, none are passed and boto3's own chain finds them (`AWS_PROFILE`, a pod's role through
    IRSA or the instance metadata). Temporary keys need their `AWS_SESSION_TOKEN` too: keys passed explicitly
    make boto3 ignore the token in the environment, so it is passed with them.
    Throttling (503 SlowDown) and 5xx answers are retried by botocore up to `VIDGEN_S3_MAX_ATTEMPTS`
    times with backoff, more than boto3's default, because a busy day writes thousands of objects.
    """
    variables = (
        ("aws_access_key_id", "AWS_ACCESS_KEY_ID"),
        ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"),
        ("aws_session_token", "AWS_SESSION_TOKEN"),
    )
    keys = {field: dg.EnvVar(variable) for field, variable in variables if os.getenv(variable)}
    return S3Resource(max_attempts=int(os.getenv("VIDGEN_S3_MAX_ATTEMPTS", "10")), **keys)


def media_store_from_env() -> MediaStore:
    """The media store the definitions' `media` resource opens by default, outside a run (CLI, sensor ticks)."""
    uri, client = environment.media_uri(), None
    if uri.startswith("s3://"):
        with dg.build_resources({"s3": s3_resource()}) as built:
            client = built.s3  # S3Resource provides the boto3 client itself
    return open_media_store(uri, s3_client=client, cache_dir=environment.vidgen_home() / "cache" / "media")


def _attention_backend_setting() -> str:
    """VIDGEN_ATTENTION_BACKEND, trimmed and in lower case; a name diffusers does not know is a SettingError."""
    name = os.getenv("VIDGEN_ATTENTION_BACKEND", "").strip().lower()
    if name:
        try:
            check_attention_backend_name(name)
        except LeverUnavailableError as error:
            raise environment.SettingError(f"VIDGEN_ATTENTION_BACKEND: {error}") from None
    return name


@dg.definitions
def resources() -> dg.Definitions:
    media_uri = os.getenv("VIDGEN_MEDIA_URI", "")
    return dg.Definitions(
        resources={
            # An EnvVar: the UI shows the variable's name, never a URL's password.
            "warehouse": WarehouseResource(target=dg.EnvVar("VIDGEN_WAREHOUSE") if os.getenv("VIDGEN_WAREHOUSE") else ""),
            "media": MediaResource(uri=media_uri, s3=s3_resource()),
            "generation": GenerationResource(
                keyframe_model=os.getenv("VIDGEN_KEYFRAME_MODEL", "tiny"),
                video_model=os.getenv("VIDGEN_VIDEO_MODEL", "tiny"),
                device=os.getenv("VIDGEN_DEVICE", "auto"),
                # A bad number or flag stops the load with one line naming the variable (environment.SettingError).
                shard_size=number_setting("VIDGEN_SHARD_SIZE", 0, kind=int, low=0),
                pod_start_s=number_setting("VIDGEN_POD_START_S", DEFAULT_POD_START_S, low=0),
                s_per_clip=number_setting("VIDGEN_S_PER_CLIP", DEFAULT_S_PER_CLIP, low=0),
                s_per_keyframe=number_setting("VIDGEN_S_PER_KEYFRAME", DEFAULT_S_PER_KEYFRAME, low=0),
                price_per_gpu_hour=number_setting("VIDGEN_PRICE_PER_GPU_HOUR", 0.0, low=0),
                # GPU levers (lib/generation/settings.py), all off unless set.
                attention_backend=_attention_backend_setting(),
                compile_denoiser=flag_setting("VIDGEN_COMPILE"),
                channels_last=flag_setting("VIDGEN_CHANNELS_LAST"),
                overlap_encode=flag_setting("VIDGEN_OVERLAP_ENCODE"),
                step_cache=number_setting("VIDGEN_STEP_CACHE", 0.0, low=0, high=1),
                decode_chunk_size=number_setting("VIDGEN_DECODE_CHUNK", 0, kind=int, low=0),
                denoise_batch=number_setting("VIDGEN_DENOISE_BATCH", 1, kind=int, low=1, high=MAX_DENOISE_BATCH),
            ),
            "providers": providers_resource(),
            "music": music_resource(),
            "writer": WriterResource(
                base_url=dg.EnvVar("VIDGEN_LLM_BASE_URL") if os.getenv("VIDGEN_LLM_BASE_URL") else "",
                model=os.getenv("VIDGEN_LLM_MODEL", ""),
                api_key=dg.EnvVar("VIDGEN_LLM_API_KEY") if os.getenv("VIDGEN_LLM_API_KEY") else "",
                **{name: os.getenv(f"VIDGEN_LLM_{name.upper()}", "") for name in ("timeout_s", "max_attempts", "max_wait_s")},
            ),
            "reel_settings": ReelResource(
                order=os.getenv("VIDGEN_REEL_ORDER", "prompt"),
                crossfade_s=float(os.getenv("VIDGEN_REEL_CROSSFADE_S", "0")),
                captions=os.getenv("VIDGEN_REEL_CAPTIONS", "") == "1",
                audio_path=os.getenv("VIDGEN_REEL_AUDIO", ""),
                max_failed_clip_share=float(os.getenv("VIDGEN_MAX_FAILED_CLIP_SHARE", "0.2")),
            ),
            **step_outputs_io_manager(media_uri, s3_resource()),
        }
    )
