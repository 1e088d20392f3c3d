"""The `vidgen` console script, run as a user would: a subprocess with its own data home."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from vidgen_assets.lib.video import probe_video
from vidgen_assets_tests.conftest import TEST_DAY


def vidgen(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vidgen_assets.cli", *args],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )  # fmt: skip


def prompt_ids(home: Path) -> list[str]:
    with duckdb.connect(str(home / "warehouse.duckdb")) as connection:
        return [r[0] for r in connection.execute("SELECT prompt_id FROM prompts ORDER BY prompt_id").fetchall()]


def test_demo_prints_a_playable_reel_path_last(vidgen_home):
    result = vidgen("demo", "--date", TEST_DAY.isoformat(), "--count", "3")
    assert result.returncode == 0, result.stderr[-3000:]
    reel = Path(result.stdout.strip().splitlines()[-1])
    assert reel.is_file() and reel.is_relative_to(vidgen_home)
    info = probe_video(reel)
    assert (info.codec, info.pix_fmt, info.frames) == ("h264", "yuv420p", 3 * 8)
    assert prompt_ids(vidgen_home) == [f"demo-{TEST_DAY}-00{n}" for n in (1, 2, 3)]
    # The run is recorded in the instance `dagster dev` reads.
    assert any((vidgen_home / "dagster").iterdir())


def test_import_csv_and_parquet_and_add(vidgen_home, tmp_path):
    csv_file = tmp_path / "prompts.csv"
    csv_file.write_text(
        "prompt_id,scheduled_for,prompt,negative_prompt,seed,subject,action,motion_bucket_ids\n"
        f"c1,{TEST_DAY},a red kite,,5,,,10;20\n"
        f"c2,{TEST_DAY},,,6,a heron,taking off,\n"
        f"c3,not-a-date,a cat,,7,,,\n"
        f"c4,{TEST_DAY},a dog,,-1,,,\n"
    )
    result = vidgen("prompts", "import", str(csv_file))
    assert result.returncode == 0, result.stderr
    assert "stored 2 prompt rows" in result.stdout
    assert "scheduled_for must be a date" in result.stderr and "seed must be between" in result.stderr

    parquet_file = tmp_path / "prompts.parquet"
    with duckdb.connect() as connection:
        connection.execute(
            f"COPY (SELECT 'q1' AS prompt_id, DATE '{TEST_DAY}' AS scheduled_for, 'a tram' AS prompt, "
            f"'' AS negative_prompt, 9 AS seed) TO '{parquet_file}' (FORMAT parquet)"
        )
    assert vidgen("prompts", "import", str(parquet_file)).returncode == 0
    added = vidgen("prompts", "add", "--date", str(TEST_DAY), "--prompt", "a comet", "--prompt-id", "a1", "--seed", "4",
                   "--width", "96", "--height", "64")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert prompt_ids(vidgen_home) == ["a1", "c1", "c2", "q1"]
    odd = vidgen("prompts", "add", "--date", str(TEST_DAY), "--prompt", "a comet", "--width", "95")
    assert odd.returncode == 1 and "width must be even, got 95" in odd.stdout + odd.stderr

    with duckdb.connect(str(vidgen_home / "warehouse.duckdb")) as connection:
        composed, buckets, size = connection.execute(
            "SELECT (SELECT prompt FROM prompts WHERE prompt_id = 'c2'), "
            "(SELECT motion_bucket_ids FROM prompts WHERE prompt_id = 'c1'), "
            "(SELECT [width, height] FROM prompts WHERE prompt_id = 'a1')"
        ).fetchone()
        rejected = connection.execute("SELECT count(*) FROM prompt_rejections").fetchone()[0]
    assert composed == "a heron taking off" and buckets == "10;20" and size == [96, 64] and rejected == 3


def test_import_of_a_missing_file_is_a_clear_error(vidgen_home, tmp_path):
    result = vidgen("prompts", "import", str(tmp_path / "nope.csv"))
    assert result.returncode == 2 and "no such file" in result.stderr


def test_run_with_an_absent_real_model_stops_with_instructions(vidgen_home, tmp_path):
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    added = vidgen(
        "prompts", "add", "--date", str(TEST_DAY), "--prompt", "a fox", "--keyframe-model", "sdxl-turbo", env=env
    )
    assert added.returncode == 0, added.stderr
    result = vidgen("run", "--date", str(TEST_DAY), env=env)
    assert result.returncode == 1
    message = result.stderr
    assert "'sdxl-turbo' (stabilityai/sdxl-turbo at revision 71153311d3dbb46851df1931d3ca6e939de83304)" in message
    assert "huggingface-cli download" in message and "VIDGEN_MODELS_DIR" in message
    assert "Traceback" not in message


def test_demo_succeeds_on_a_path_without_ffprobe(vidgen_home, tmp_path):
    import dagster as dg

    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    result = vidgen("demo", "--date", TEST_DAY.isoformat(), "--count", "2", env={"PATH": str(empty_bin)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert probe_video(result.stdout.strip().splitlines()[-1]).frames == 2 * 8
    with dg.DagsterInstance.get() as instance:
        records = instance.get_event_records(dg.EventRecordsFilter(dg.DagsterEventType.ASSET_CHECK_EVALUATION))
    evaluations = {r.event_log_entry.dagster_event.event_specific_data.check_name: r.event_log_entry.dagster_event.event_specific_data
                   for r in records}  # fmt: skip
    evaluation = evaluations["reel_plays_and_adds_up"]
    assert evaluation.passed
    assert evaluation.metadata["decoder"].value == "ffmpeg"  # imageio-ffmpeg's binary stood in for ffprobe


def test_setup_without_root_skips_the_system_packages_and_says_so():
    """`make system-packages` as an unprivileged user: no apt-get attempt, a note on what is skipped, exit 0."""
    import shutil
    import tempfile

    if os.geteuid() != 0 or not shutil.which("runuser"):
        pytest.skip("needs root to act as an unprivileged user")
    # A world-readable copy: the user `nobody` may not be able to enter the checkout or pytest's temp dirs.
    with tempfile.TemporaryDirectory() as place:
        work = Path(place)
        work.chmod(0o755)
        shutil.copy(Path(__file__).parents[1] / "Makefile", work / "Makefile")
        tools = work / "bin"
        tools.mkdir(mode=0o755)
        for tool in ("make", "sh", "id", "apt-get"):  # no ffprobe or chromium on this PATH
            (tools / tool).symlink_to(shutil.which(tool))
        result = subprocess.run(
            [shutil.which("runuser"), "-u", "nobody", "--", str(tools / "make"), "-s", "-C", str(work), "system-packages"],
            capture_output=True, text=True, timeout=60, env={"PATH": str(tools), "HOME": str(work)},
        )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "skipping the optional system packages" in result.stdout and "imageio-ffmpeg" in result.stdout


def test_list_delete_and_an_empty_day_refused(vidgen_home, tmp_path):
    csv_file = tmp_path / "p.csv"
    csv_file.write_text("prompt_id,scheduled_for,prompt,negative_prompt,seed\n"
                        f"l1,{TEST_DAY},a lantern in the rain over a quiet harbour at night,,5\n"
                        f"l2,{TEST_DAY},a kite,,6\nl3,{TEST_DAY},a kite,,-6\n")  # fmt: skip
    imported = vidgen("prompts", "import", str(csv_file), "--chunk-rows", "2")
    assert imported.returncode == 0 and "chunk 2: 3 rows read, 2 stored, 1 rejected" in imported.stdout
    listing = vidgen("prompts", "list", "--date", str(TEST_DAY))
    assert listing.returncode == 0, listing.stderr
    assert "l1" in listing.stdout and "a lantern in the rain over a quiet harb…" in listing.stdout
    assert f"2 prompt rows scheduled for {TEST_DAY}; 1 rejections recorded for it" in listing.stdout
    # A reader that goes away (`| head`) ends the listing quietly, with the shell's code for SIGPIPE.
    piped = subprocess.Popen([sys.executable, "-m", "vidgen_assets.cli", "prompts", "list", "--date", str(TEST_DAY)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    piped.stdout.close()
    assert piped.wait(timeout=120) == 141 and piped.stderr.read() == ""
    deleted = vidgen("prompts", "delete", "l1", "nope")
    assert deleted.returncode == 0 and "deleted 1 prompt rows" in deleted.stdout and "nope" in deleted.stderr
    assert vidgen("prompts", "delete", "l1").returncode == 1  # already deleted: nothing to do
    assert "1 prompt rows scheduled" in vidgen("prompts", "list", "--date", str(TEST_DAY)).stdout
    empty = vidgen("run", "--date", "2026-10-30")
    assert empty.returncode == 1 and empty.stderr.strip() == "no prompts scheduled for 2026-10-30"
    assert not (vidgen_home / "dagster" / "storage").exists()  # no run was launched
