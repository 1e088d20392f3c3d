"""Warehouse schema, applied as numbered migrations at start-up.

Each migration runs once, in order, inside a transaction, and is recorded in
`schema_migrations`; add new ones at the end, never edit an applied one. The SQL is DuckDB's;
PostgreSQL runs the same versions, with its own text where the DDL differs (`for_postgres`).
"""

from __future__ import annotations

import re

_DAY_RENDERS = """
        CREATE TABLE day_renders (
            scheduled_for DATE PRIMARY KEY,
            fingerprint VARCHAR NOT NULL,  -- of the live rows the day's last prompts step read
            run_id VARCHAR,
            rendered_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
        );
"""

MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "prompts and rejections",
        """
        CREATE TABLE prompts (
            prompt_id VARCHAR PRIMARY KEY,
            scheduled_for DATE NOT NULL,
            prompt VARCHAR,
            subject VARCHAR,
            action VARCHAR,
            location VARCHAR,
            style VARCHAR,
            camera VARCHAR,
            lighting VARCHAR,
            negative_prompt VARCHAR,
            seed BIGINT,
            keyframe_model VARCHAR,
            video_model VARCHAR,
            motion_bucket_ids VARCHAR,  -- semicolon-separated, as in the CSV import
            num_frames INTEGER,
            fps INTEGER,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            deleted_at TIMESTAMP
        );
        -- The daily read filters on the day; the change sensor scans by watermark.
        CREATE INDEX prompts_scheduled_for ON prompts (scheduled_for);
        CREATE INDEX prompts_updated_at ON prompts (updated_at);
        CREATE TABLE prompt_rejections (
            prompt_id VARCHAR,
            scheduled_for VARCHAR,  -- as given: a bad date is itself a reason to reject
            reason VARCHAR NOT NULL,
            rejected_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        );
        """,
    ),
    (
        2,
        "clip lineage",
        """
        CREATE TABLE clips (
            key VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,  -- keyframe, clip or reel
            partition_date DATE NOT NULL,
            prompt_id VARCHAR,
            uri VARCHAR NOT NULL,
            parent_keys VARCHAR,  -- JSON list
            models VARCHAR,  -- JSON: model ids and revisions
            params VARCHAR,  -- JSON: every generation parameter
            timings VARCHAR,  -- JSON: seconds per phase
            device VARCHAR,
            cache_hit BOOLEAN NOT NULL,
            run_id VARCHAR,
            recorded_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        );
        CREATE INDEX clips_prompt_id ON clips (prompt_id);
        CREATE INDEX clips_key ON clips (key);
        """,
    ),
    (
        3,
        "per-row video parameters",
        """
        ALTER TABLE prompts ADD COLUMN noise_aug_strength DOUBLE;
        ALTER TABLE prompts ADD COLUMN num_inference_steps INTEGER;
        ALTER TABLE prompts ADD COLUMN min_guidance_scale DOUBLE;
        ALTER TABLE prompts ADD COLUMN max_guidance_scale DOUBLE;
        ALTER TABLE prompts ADD COLUMN decode_chunk_size INTEGER;
        ALTER TABLE prompts ADD COLUMN width INTEGER;
        ALTER TABLE prompts ADD COLUMN height INTEGER;
        """,
    ),
    (
        4,
        "UTC timestamps, moves, import rejections, day renders",
        # DuckDB cannot retype an indexed column, so `prompts` is rebuilt. Existing naive values
        # are read as UTC (the connection's zone): the assumption is that writers ran in UTC, as
        # servers and containers do; rows written from another zone shift by its offset, once.
        """
        CREATE TABLE prompts_utc (
            prompt_id VARCHAR PRIMARY KEY,
            scheduled_for DATE NOT NULL,
            prompt VARCHAR, subject VARCHAR, action VARCHAR, location VARCHAR, style VARCHAR,
            camera VARCHAR, lighting VARCHAR, negative_prompt VARCHAR, seed BIGINT,
            keyframe_model VARCHAR, video_model VARCHAR, motion_bucket_ids VARCHAR,
            num_frames INTEGER, fps INTEGER,
            created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
            updated_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
            deleted_at TIMESTAMPTZ,
            noise_aug_strength DOUBLE, num_inference_steps INTEGER, min_guidance_scale DOUBLE,
            max_guidance_scale DOUBLE, decode_chunk_size INTEGER, width INTEGER, height INTEGER,
            previous_scheduled_for DATE  -- the day a row moved away from, so both days re-render
        );
        INSERT INTO prompts_utc BY NAME SELECT * FROM prompts;
        DROP TABLE prompts;
        ALTER TABLE prompts_utc RENAME TO prompts;
        CREATE INDEX prompts_scheduled_for ON prompts (scheduled_for);
        CREATE INDEX prompts_updated_at ON prompts (updated_at);
        ALTER TABLE prompt_rejections ALTER COLUMN rejected_at TYPE TIMESTAMPTZ;
        ALTER TABLE prompt_rejections ADD COLUMN source VARCHAR;  -- 'import', or the prompts step
        DROP INDEX clips_prompt_id;
        DROP INDEX clips_key;
        ALTER TABLE clips ALTER COLUMN recorded_at TYPE TIMESTAMPTZ;
        CREATE INDEX clips_prompt_id ON clips (prompt_id);
        CREATE INDEX clips_key ON clips (key);
        """
        + _DAY_RENDERS,
    ),
    (
        5,
        "render statistics per day and model",
        """
        CREATE TABLE render_stats (
            day DATE NOT NULL,
            kind VARCHAR NOT NULL,  -- keyframe or clip
            model VARCHAR NOT NULL,  -- preset name
            model_id VARCHAR,
            device VARCHAR,  -- where the rendered items ran, comma-separated
            run_id VARCHAR,  -- the day's latest run, which the counts describe
            items INTEGER,
            rendered INTEGER,
            cache_hits INTEGER,
            cache_hit_rate DOUBLE,
            s_per_item_mean DOUBLE,
            s_per_item_p50 DOUBLE,
            s_per_item_p95 DOUBLE,
            denoise_s_p50 DOUBLE,
            denoise_s_p95 DOUBLE,
            decode_encode_s_p50 DOUBLE,
            decode_encode_s_p95 DOUBLE,
            steps_per_s DOUBLE,
            peak_memory_gb DOUBLE,
            render_s_total DOUBLE,
            cost_per_item_usd DOUBLE,
            cost_day_usd DOUBLE,
            run_queue_s DOUBLE,
            pool_wait_p50_s DOUBLE,
            pool_wait_p95_s DOUBLE,
            queue_wait_p95_s DOUBLE,
            run_wall_s DOUBLE,
            computed_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
            PRIMARY KEY (day, kind, model)
        );
        """,
    ),
    (
        6,
        "takes: a clip extended take by take from each take's last frame",
        "ALTER TABLE prompts ADD COLUMN takes INTEGER; ALTER TABLE prompts ADD COLUMN take_crossfade_frames INTEGER;",
    ),
    (
        7,
        "provider_claims: one live claim per clip key before a paid provider task is created",
        """
        CREATE TABLE provider_claims (
            clip_key VARCHAR PRIMARY KEY,
            provider VARCHAR NOT NULL,
            holder VARCHAR NOT NULL,  -- host:pid:nonce of the step that may create the clip's task
            claimed_at DOUBLE NOT NULL,  -- epoch seconds
            expires_at DOUBLE NOT NULL,  -- renewed by the holder's heartbeat; past it, another run may take over
            takeovers INTEGER NOT NULL DEFAULT 0
        );
        """,
    ),
    (
        8,
        "spend ledger: one row per paid task asked for (reserved, billed, released or refused)",
        """
        CREATE TABLE spend (
            spend_id VARCHAR PRIMARY KEY,
            partition_date DATE NOT NULL,  -- the day the clip belongs to (per-day budgets)
            provider VARCHAR NOT NULL,
            model VARCHAR NOT NULL,  -- preset name
            clip_key VARCHAR NOT NULL,  -- the clip's (or take's) content key
            prompt_id VARCHAR,
            run_id VARCHAR,
            state VARCHAR NOT NULL,  -- reserved, billed, released or refused (a budget had no room)
            reserved_usd DOUBLE NOT NULL,  -- the list price held before the create
            billed_usd DOUBLE,  -- what the provider bills, once known
            reason VARCHAR,  -- why released or refused
            reserved_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,  -- monthly budgets count by this (UTC)
            settled_at TIMESTAMPTZ
        );
        CREATE INDEX spend_partition_date ON spend (partition_date);
        CREATE INDEX spend_reserved_at ON spend (reserved_at);
        CREATE INDEX spend_clip_key ON spend (clip_key);
        """,
    ),
    (
        9,
        "shots: scenes in order, continuations, first-and-last-frame shots and restyles",
        "ALTER TABLE prompts ADD COLUMN scene VARCHAR; ALTER TABLE prompts ADD COLUMN scene_order INTEGER; "
        "ALTER TABLE prompts ADD COLUMN start_from VARCHAR; ALTER TABLE prompts ADD COLUMN end_prompt VARCHAR; "
        "ALTER TABLE prompts ADD COLUMN restyle_of VARCHAR; ALTER TABLE prompts ADD COLUMN source_uri VARCHAR; "
        "ALTER TABLE prompts ADD COLUMN strength DOUBLE;",
    ),
    (
        10,
        "themes: a day's theme, expanded into prompt rows by the prompt writer; which theme wrote a row",
        """
        CREATE TABLE themes (
            theme_id VARCHAR PRIMARY KEY,
            scheduled_for DATE NOT NULL,
            theme VARCHAR NOT NULL,
            count INTEGER NOT NULL,  -- prompt rows to write
            style VARCHAR,
            music_prompt VARCHAR,
            keyframe_model VARCHAR,  -- preset names for the rows it writes
            video_model VARCHAR,
            created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
            updated_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
            deleted_at TIMESTAMPTZ,
            previous_scheduled_for DATE  -- the day a theme moved away from, so both days re-render
        );
        CREATE INDEX themes_scheduled_for ON themes (scheduled_for);
        CREATE INDEX themes_updated_at ON themes (updated_at);
        CREATE TABLE theme_rejections (
            theme_id VARCHAR,
            scheduled_for VARCHAR,  -- as given
            reason VARCHAR NOT NULL,
            source VARCHAR,  -- 'import', or the prompt writer
            rejected_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
        );
        ALTER TABLE prompts ADD COLUMN source VARCHAR;  -- 'theme:<theme_id>' for rows a theme wrote, else NULL
        """,
    ),
    (
        11,
        "render_stats: each clip metric's median per day and model (lib/video/metrics.py), for drift checks",
        """
        ALTER TABLE render_stats ADD COLUMN motion_p50 DOUBLE;
        ALTER TABLE render_stats ADD COLUMN flicker_p50 DOUBLE;
        ALTER TABLE render_stats ADD COLUMN sharpness_p50 DOUBLE;
        ALTER TABLE render_stats ADD COLUMN luma_mean_p50 DOUBLE;
        ALTER TABLE render_stats ADD COLUMN luma_std_p50 DOUBLE;
        ALTER TABLE render_stats ADD COLUMN saturation_p50 DOUBLE;
        ALTER TABLE render_stats ADD COLUMN start_jump_p50 DOUBLE;
        ALTER TABLE render_stats ADD COLUMN join_jump_p50 DOUBLE;
        ALTER TABLE render_stats ADD COLUMN clip_score_p50 DOUBLE;
        """,
    ),
)

LATEST_VERSION = MIGRATIONS[-1][0]

# PostgreSQL retypes indexed columns in place (no rebuild); naive values are read as UTC, the
# session's zone, as DuckDB's migration does.
_POSTGRES_TEXT = {
    4: """
        ALTER TABLE prompts ALTER COLUMN created_at TYPE TIMESTAMPTZ, ALTER COLUMN updated_at TYPE TIMESTAMPTZ,
            ALTER COLUMN deleted_at TYPE TIMESTAMPTZ, ADD COLUMN previous_scheduled_for DATE;
        ALTER TABLE prompt_rejections ALTER COLUMN rejected_at TYPE TIMESTAMPTZ, ADD COLUMN source VARCHAR;
        ALTER TABLE clips ALTER COLUMN recorded_at TYPE TIMESTAMPTZ;
        """
    + _DAY_RENDERS,
}


def for_postgres(version: int, sql: str) -> str:
    """A migration's PostgreSQL text: its own where DuckDB's DDL has no equivalent, else DuckDB's with `DOUBLE PRECISION`."""
    return _POSTGRES_TEXT.get(version) or re.sub(r"\bDOUBLE\b", "DOUBLE PRECISION", sql)
