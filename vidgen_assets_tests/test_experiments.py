"""Experiments: variants of the daily run over a sample of a day's prompts, compared side by side.

One rendered day and one 3-variant experiment (6 prompts, tiny models) are shared by the module's tests.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import av
import dagster as dg
import numpy as np
import pytest

from vidgen_assets.cli import main
from vidgen_assets.lib.experiments.compare import FIGURES, UNAVAILABLE
from vidgen_assets_tests.conftest import TEST_DAY

DAY = TEST_DAY.isoformat()
VARIANTS = ("video_model=tiny", "num_inference_steps=1", "num_frames=4")  # the first equals production


@pytest.fixture(scope="module")
def home(tmp_path_factory, models_dir):
    """A VIDGEN_HOME with the day rendered by the daily job (`vidgen demo`, 6 prompts)."""
    home = tmp_path_factory.mktemp("experiments") / "home"
    (home / "dagster").mkdir(parents=True)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("VIDGEN_HOME", str(home))
        env.setenv("VIDGEN_MODELS_DIR", str(models_dir))
        env.setenv("DAGSTER_HOME", str(home / "dagster"))
        env.setenv("HF_HUB_OFFLINE", "1")
        for name in ("VIDGEN_MEDIA_URI", "VIDGEN_WAREHOUSE", "VIDGEN_VIDEO_MODEL", "VIDGEN_KEYFRAME_MODEL"):
            env.delenv(name, raising=False)
        assert main(["demo", "--date", DAY, "--count", "6"]) == 0
        yield home


def daily_state(home: Path) -> dict:
    """What the daily run left: each daily asset's latest materialization, `day_renders`, the day's lineage."""
    import duckdb

    with dg.DagsterInstance.get() as instance:
        latest = {
            name: _run_and_time(instance.get_latest_materialization_event(dg.AssetKey(name)))
            for name in ("prompts", "keyframes", "videos", "reel", "render_stats")
        }
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as connection:
        renders = connection.execute("SELECT * FROM day_renders ORDER BY 1").fetchall()
        lineage = connection.execute("SELECT count(*), max(recorded_at) FROM clips").fetchone()
    return {"latest": latest, "day_renders": renders, "lineage": lineage}


def _run_and_time(entry) -> tuple[str, float] | None:
    return (entry.run_id, entry.timestamp) if entry else None


@pytest.fixture(scope="module")
def experiment(home):
    """The 3-variant experiment run from the CLI entry point, its printed table and its stored comparison."""
    before = daily_state(home)
    args = ["experiment", "run", "cmp", "--date", DAY, "--sample", "6"] + [a for v in VARIANTS for a in ("--variant", v)]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = main(args)
    assert code == 0, out.getvalue()[-3000:]
    with contextlib.redirect_stdout(io.StringIO()) as shown:
        assert main(["experiment", "show", "cmp", "--format", "json"]) == 0
    return {"before": before, "after": daily_state(home), "out": out.getvalue(), "result": json.loads(shown.getvalue())}


def test_production_variant_is_all_cache_hits_and_others_render(experiment):
    table = {column["variant"]: column for column in experiment["result"]["table"]}
    assert list(table) == list(VARIANTS)
    production, fewer_steps, shorter = (table[v] for v in VARIANTS)
    assert production["cache_hit_pct"] == 100.0 and production["rendered"] == 0 and production["clips"] == 6
    assert fewer_steps["rendered"] == 6 and shorter["rendered"] == 6
    # The keyframes are production's for every variant: only clip knobs changed.
    assert 50.0 <= fewer_steps["cache_hit_pct"] < 100.0
    # Production's cache hits still report what their render cost, from the daily lineage.
    assert production["timed_clips"] == 6 and production["s_per_clip_p50"] > 0


def test_table_holds_every_figure_and_metric(experiment):
    result = experiment["result"]
    for column in result["table"]:
        for figure, _ in FIGURES:
            assert figure in column, figure
        assert isinstance(column["denoise_s_p50"], float) and isinstance(column["decode_encode_s_p50"], float)
        assert column["peak_memory_gb"] > 0 and column["failed_checks"] == 0
        for metric in result["metrics"]:
            value = column[f"{metric}_p50"]
            assert value == UNAVAILABLE or isinstance(value, float), (metric, value)
    # The terminal table: a line per figure with a value per variant; the side-by-side video's path last.
    lines = experiment["out"].strip().splitlines()
    assert any(line.startswith("s_per_clip_p50") and len(line.split()) == 4 for line in lines)
    assert lines[-1] == result["grid"]["video_uri"]


def test_side_by_side_has_a_column_per_variant_and_a_row_per_prompt(experiment, home):
    result = experiment["result"]
    video = Path(result["grid"]["video_uri"])
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert (stream.codec_context.width, stream.codec_context.height) == (3 * 64, 6 * 64)
    assert len(frames) == 8  # the 8-frame clips; the 4-frame variant holds its last frame
    assert frames[-1][:, 128:].std() > 0 and np.abs(frames[-1][:, 128:].astype(int) - frames[-2][:, 128:]).mean() < 1
    # Row i, column 0 is prompt i's production clip: its first frame matches that clip's, not another prompt's.
    clips = {c["prompt_id"]: c["uri"] for c in result["clips"][VARIANTS[0]]}
    tile = frames[0][:50, :64].astype(int)  # above the label band
    distances = []
    for prompt_id in result["sampled"]:
        with av.open(clips[prompt_id]) as clip:
            first = next(clip.decode(video=0)).to_ndarray(format="rgb24")[:50].astype(int)
        distances.append(np.abs(tile - first).mean())
    assert int(np.argmin(distances)) == 0 and distances[0] < 6
    assert Path(result["grid"]["sheet_uri"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_daily_outputs_and_day_renders_are_untouched(experiment, home):
    assert experiment["after"] == experiment["before"]
    spec = json.loads((home / "media" / "experiments" / "cmp" / "spec.json").read_text())
    assert spec["sample"] == 6 and [v["name"] for v in spec["variants"]] == list(VARIANTS)


def test_yaml_experiment_reuses_every_clip_already_made(experiment, home, tmp_path, capsys):
    ids = experiment["result"]["sampled"][:2]
    path = tmp_path / "exp.yaml"
    path.write_text(
        f"name: from-yaml\nids: [{', '.join(ids)}]\nvariants:\n  - name: production\n"
        "  - name: one-step\n    num_inference_steps: 1\n"
    )
    assert main(["experiment", "run", "--file", str(path), "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["sampled"] == ids and [c["variant"] for c in result["table"]] == ["production", "one-step"]
    # Both variants were rendered by the daily run or the first experiment: nothing renders twice.
    assert all(c["rendered"] == 0 and c["cache_hit_pct"] == 100.0 for c in result["table"])
    assert result["table"][1]["timed_clips"] == 2  # its timings come from the experiment that rendered them


@pytest.mark.parametrize(
    ("variants", "extra", "message"),
    [
        (["steps=3", ""], [], "unknown knob 'steps'"),
        (["video_model=nope", ""], [], "model preset 'nope'"),
        (["num_frames=99", ""], [], "variant 'num_frames=99' cannot render demo-"),
        (["num_frames=many", ""], [], "num_frames='many': expected int"),
        (["num_inference_steps=1"], [], "at least 2 variants"),
        (["", "num_frames=4"], ["--sample", "2", "--ids", "nope"], "either a sample size"),
        (["", "num_frames=4"], ["--ids", "nope"], "not among the day's valid rows: nope"),
        # Knobs out of range are refused as an import refuses them, before anything renders.
        (["", "num_inference_steps=0"], [], "cannot render demo-"),
        (["", "fps=0"], [], "cannot render demo-"),
        (["", "strength=5"], [], "cannot render demo-"),
        (["", "device=cuda"], [], "this machine has 0 CUDA device(s)"),
    ],
)
def test_bad_specs_are_clear_errors(experiment, capsys, variants, extra, message):
    args = ["experiment", "run", "bad", "--date", DAY, *(["--sample", "2"] if not extra else extra)]
    assert main(args + [a for v in variants for a in ("--variant", v)]) == 2
    assert message in capsys.readouterr().err


def test_a_spec_saved_as_utf16_is_one_clear_error(experiment, tmp_path, capsys):
    path = tmp_path / "exp.yaml"
    path.write_text(f"name: u16\ndate: {DAY}\nsample: 2\nvariants: ['', 'seed=3']\n", encoding="utf-16")
    assert main(["experiment", "run", "--file", str(path)]) == 2
    assert f"cannot read {path}" in capsys.readouterr().err


def test_show_of_an_unknown_experiment_says_how_to_start_it(experiment, capsys):
    assert main(["experiment", "show", "never-run"]) == 1
    assert "vidgen experiment run" in capsys.readouterr().err


def test_experiment_asset_materializes_a_partition_from_dagster(experiment, home):
    from vidgen_assets.defs.experiments.assets import experiment as experiment_asset
    from vidgen_assets.definitions import build_definitions
    from vidgen_assets.lib.experiments import spec_from_mapping
    from vidgen_assets.lib.experiments.run import save_spec
    from vidgen_assets.defs.resources import media_store_from_env

    spec = {"name": "ui", "date": DAY, "sample": 2, "variants": [{"name": "production"}, {"name": "short", "num_frames": 4}]}
    save_spec(media_store_from_env(), spec_from_mapping(spec))
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("experiments", ["ui"])
        result = dg.materialize([experiment_asset], partition_key="ui", instance=instance,
                                resources=build_definitions().resources)  # fmt: skip
        assert result.success
        (materialization,) = result.asset_materializations_for_node("experiment")
        assert instance.get_latest_materialization_event(dg.AssetKey("experiment")).run_id == result.run_id
    metadata = materialization.metadata
    assert metadata["preview"].value.startswith("![experiment ui") and "data:image/png;base64," in metadata["preview"].value
    comparison = metadata["comparison"].value
    assert "| figure | production | short |" in comparison and "| cache_hit_pct | 100 | 100 |" in comparison
    assert Path(metadata["side_by_side"].value).is_file()
    assert metadata["cache_hit_pct/production"].value == 100.0

