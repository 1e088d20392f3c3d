"""What `vidgen demo` shows a person: a line per stage and a summary, then the reel path; `--verbose` for logs."""

from __future__ import annotations

import io
from pathlib import Path

import dagster as dg

from vidgen_assets.terminal import StageProgress
from vidgen_assets_tests.conftest import TEST_DAY
from vidgen_assets_tests.test_cli import vidgen


def test_demo_shows_stages_and_a_summary_not_the_event_stream(vidgen_home):
    result = vidgen("demo", "--date", TEST_DAY.isoformat(), "--count", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    stage_lines = [line.split()[0] for line in lines if "[####" in line]
    assert stage_lines == ["theme_prompts", "prompts", "keyframes", "videos", "soundtrack", "reel", "render_stats"]
    assert "keyframes" in lines[-2] and "2 rendered / 0 reused" in lines[-2] and lines[-2].startswith("done: rows 2, rejected 0")
    assert Path(lines[-1]).is_file()  # the reel path stays last
    assert any(line.startswith(f"estimate {TEST_DAY}: no paid tasks") for line in lines)  # said before rendering
    assert len(lines) <= 13 and "DEBUG" not in result.stderr and "it/s]" not in result.stderr
    assert len(result.stderr.splitlines()) <= 2, result.stderr[-2000:]  # at most the DuckDB exit note

    verbose = vidgen("run", "--date", TEST_DAY.isoformat(), "--verbose")
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    assert "STEP_START" in verbose.stderr and "done:" not in verbose.stdout
    assert verbose.stdout.strip().splitlines()[-1] == lines[-1]  # same rows, same reel


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_bar_follows_each_rendered_item():
    screen = Terminal()
    progress = StageProgress(out=screen)
    for shard, done in (("shard_0", 1), ("shard_1", 1), ("shard_0", 2)):
        progress.handle(dg.EventLogEntry(
            error_info=None, level=20, user_message=f"clip p{done} bucket 127: {done}/2 in 0.50s, ETA {2 - done}s",
            run_id="r", timestamp=0.0, step_key=f"videos.render_clips_shard[{shard}]", dagster_event=None,
        ))  # fmt: skip
    frames = screen.getvalue().split("\r")[1:]
    assert [f.split()[2] for f in frames] == ["1/2", "2/4", "3/4"]  # both shards add up, each line overwrites the last
    assert frames[-1].startswith("videos       [###############.....]") and "ETA 1s" in frames[-1]
