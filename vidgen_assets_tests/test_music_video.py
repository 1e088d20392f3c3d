"""From a theme to a music video: prompt rows written through a loopback chat endpoint, a generated soundtrack,
cuts on the beat, and only what changed rendered again."""

from __future__ import annotations

from fractions import Fraction

import av
import dagster as dg
import pytest

from vidgen_assets.cli import main
from vidgen_assets.lib import environment
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.runner import run_day
from vidgen_assets_tests.conftest import TEST_DAY
from vidgen_assets_tests.fakes.harness import running_fake

MODEL = "fake-chat-1"


@pytest.fixture(scope="module")
def chat():
    with running_fake("vidgen_assets_tests.fakes.chat") as server:
        yield server


def latest(asset: str):
    from vidgen_assets.definitions import build_definitions

    with dg.DagsterInstance.get() as instance:
        return build_definitions().load_asset_value(asset, instance=instance, partition_key=TEST_DAY.isoformat())


def made_by_last_run() -> dict[str, int]:
    """How many outputs of each kind the newest run rendered (not reused)."""
    with Warehouse(environment.warehouse_target()).connect() as session:
        (run_id,) = session.execute("SELECT run_id FROM clips ORDER BY recorded_at DESC LIMIT 1").fetchone()
        rows = session.execute(
            "SELECT kind, count(*) FROM clips WHERE run_id = ? AND NOT cache_hit GROUP BY kind", [run_id]
        ).fetchall()
    return dict(rows)


def streams(path: str) -> dict[str, float]:
    with av.open(path) as container:
        return {s.type: float(s.duration * s.time_base) for s in container.streams if s.duration}


def theme(tmp_path, *, count: int, music: str, text: str = "a foggy harbor at dawn") -> int:
    path = tmp_path / f"themes-{count}.csv"
    path.write_text(f"theme_id,scheduled_for,theme,count,music_prompt\nharbor,{TEST_DAY},{text},{count},{music}\n")
    return main(["themes", "import", str(path)])


def test_a_theme_becomes_a_music_video_and_only_what_changed_renders_again(vidgen_home, chat, monkeypatch, tmp_path):
    chat.reset()
    chat.configure(model=MODEL)
    monkeypatch.setenv("VIDGEN_LLM_BASE_URL", f"{chat.base_url}/v1")
    monkeypatch.setenv("VIDGEN_LLM_MODEL", MODEL)
    assert theme(tmp_path, count=3, music="slow piano over a steady kick") == 0

    reel_uri = run_day(TEST_DAY)
    assert chat.stats()["creates"] == 1
    rows = Warehouse(environment.warehouse_target()).day_rows(TEST_DAY, extra=("source",))
    assert [(r["prompt_id"], r["source"]) for r in rows] == [(f"harbor-00{n}", "theme:harbor") for n in (1, 2, 3)]
    track, reel = latest("soundtrack"), latest("reel")
    assert track["key"] and reel["soundtrack"]["key"] == track["key"]
    # The AAC stream is as long as the video, within one frame.
    plan = reel["cut_plan"]
    lengths = streams(reel_uri)
    assert set(lengths) == {"video", "audio"}
    assert abs(lengths["audio"] - lengths["video"]) <= 1 / plan["fps"]
    # Every cut falls within one frame of a beat; no clip was dropped.
    assert len(plan["frames"]) == len(reel["clips"]) == 3
    played = [frames + delta for frames, delta in zip(plan["frames"], plan["deltas"])]  # trimmed or held
    starts = [float(Fraction(sum(played[:n]), plan["fps"])) for n in range(1, len(played))]
    assert starts == pytest.approx(plan["cuts_s"])
    for start in starts:
        assert min(abs(start - beat) for beat in plan["beats_s"]) <= 1 / plan["fps"] + 1e-9

    # A re-run asks the model nothing and renders nothing.
    run_day(TEST_DAY)
    assert chat.stats()["creates"] == 1
    assert made_by_last_run() == {}

    # Another music prompt: a new soundtrack and reel; not one keyframe or clip.
    assert theme(tmp_path, count=3, music="fast drum and bass") == 0
    run_day(TEST_DAY)
    assert chat.stats()["creates"] == 1  # the music prompt is not the writer's input
    assert made_by_last_run() == {"soundtrack": 1, "reel": 1}
    assert latest("soundtrack")["key"] != track["key"]

    # One more prompt from the theme: one call, and only the new row renders.
    assert theme(tmp_path, count=4, music="fast drum and bass") == 0
    run_day(TEST_DAY)
    assert chat.stats()["creates"] == 2
    made = made_by_last_run()
    assert (made.get("keyframe"), made.get("clip")) == (1, 1) and made.get("reel") == 1
    assert len(latest("reel")["clips"]) == 4


def test_demo_music_renders_offline_with_a_soundtrack(vidgen_home, monkeypatch, capsys):
    monkeypatch.delenv("VIDGEN_LLM_BASE_URL", raising=False)
    assert main(["demo", "--music", "--date", TEST_DAY.isoformat(), "--count", "2"]) == 0
    reel_path = capsys.readouterr().out.strip().splitlines()[-1]
    assert set(streams(reel_path)) == {"video", "audio"}
    assert latest("theme_prompts")["themes"][0]["calls"] == 0
