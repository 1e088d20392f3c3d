"""What `vidgen demo` shows a person: a line per stage and a summary, then the reel path; `--verbose` for logs."""

from __future__ import annotations

from pathlib import Path

from vidgen_assets_tests.conftest import TEST_DAY
from vidgen_assets_tests.test_cli import vidgen


def test_demo_shows_stages_and_a_summary_not_the_event_stream(vidgen_home):
    result = vidgen("demo", "--date", TEST_DAY.isoformat(), "--count", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    stage_lines = [line.split()[0] for line in lines if "[####" in line]
    assert stage_lines == ["prompts", "keyframes", "videos", "reel", "render_stats"]
    assert "keyframes" in lines[-2] and "2 rendered / 0 reused" in lines[-2] and lines[-2].startswith("done: rows 2, rejected 0")
    assert Path(lines[-1]).is_file()  # the reel path stays last
    assert len(lines) <= 10 and "DEBUG" not in result.stderr and "it/s]" not in result.stderr
    assert len(result.stderr.splitlines()) <= 2, result.stderr[-2000:]  # at most the DuckDB exit note

    verbose = vidgen("run", "--date", TEST_DAY.isoformat(), "--verbose")
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    assert "STEP_START" in verbose.stderr and "done:" not in verbose.stdout
    assert verbose.stdout.strip().splitlines()[-1] == lines[-1]  # same rows, same reel
