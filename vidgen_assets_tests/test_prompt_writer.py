"""The prompt writer (lib/themes): themes to prompt rows, offline and through a loopback chat-completions server."""

from __future__ import annotations

import base64
import email.utils
import time
from datetime import date
from pathlib import Path

import httpx
import pytest

from vidgen_assets.lib.storage.media import LocalMediaStore
from vidgen_assets.lib.warehouse import Warehouse, compose_prompt, validate_rows
from vidgen_assets.lib.warehouse.importer import import_rows
from vidgen_assets.lib.themes import WriterConfigError, WriterSettings, write_theme, writer_settings_from_env
from vidgen_assets.lib.themes.llm import retry_after_s
from vidgen_assets.lib.themes.reply import ReplyProblem, parse_prompts
from vidgen_assets_tests.fakes.harness import free_port, running_fake

API_KEY = "sk-proj-Zq81tLmx0Pc4VhRw2Nd7"
MODEL = "fake-chat-1"
THEME = {
    "theme_id": "harbor", "scheduled_for": date(2026, 11, 21), "theme": "a foggy harbor at dawn", "count": 4,
    "style": None, "music_prompt": "slow piano", "keyframe_model": "tiny", "video_model": None,
}  # fmt: skip
SHOT = {"subject": "a fox", "action": "runs", "location": "in snow", "style": "ink", "camera": "wide", "lighting": "dusk"}


@pytest.fixture(scope="module")
def fake():
    with running_fake("vidgen_assets_tests.fakes.chat") as server:
        yield server


@pytest.fixture
def chat(fake):
    fake.reset()
    fake.configure(api_key=API_KEY, model=MODEL)
    return fake


@pytest.fixture
def store(tmp_path) -> LocalMediaStore:
    return LocalMediaStore(tmp_path / "media")


def settings_for(fake, **changes) -> WriterSettings:
    base = {"base_url": f"{fake.base_url}/v1/", "model": MODEL, "api_key": API_KEY, "timeout_s": 10, "max_wait_s": 10}
    return WriterSettings(**{**base, **changes})


def cached_files(store: LocalMediaStore) -> list[Path]:
    return sorted((store.root / "writer").glob("*.json")) if (store.root / "writer").exists() else []


def test_offline_expansion_is_deterministic_and_carries_the_theme(store):
    offline = writer_settings_from_env({"VIDGEN_LLM_BASE_URL": "  "})
    first, again = write_theme(THEME, offline, store), write_theme(THEME, offline, store)
    assert first.rejection is None and first.backend == "offline" and first.calls == 0
    assert first.prompt_ids == ["harbor-001", "harbor-002", "harbor-003", "harbor-004"]
    assert first.rows == again.rows
    assert all(row["style"].startswith("a foggy harbor at dawn, ") and row["keyframe_model"] == "tiny" for row in first.rows)
    assert len({compose_prompt(row) for row in first.rows}) == 4
    assert [row["prompt_id"] for row in first.rows[:4]] == first.prompt_ids
    more = write_theme({**THEME, "count": 6}, offline, store)  # a higher count appends, keeping rendered rows
    assert more.rows[:4] == first.rows and len(more.rows) == 6
    other = write_theme({**THEME, "theme": "a desert highway at noon"}, offline, store)
    assert [compose_prompt(r) for r in other.rows] != [compose_prompt(r) for r in first.rows]
    assert [r["seed"] for r in other.rows] == [r["seed"] for r in first.rows]  # seeds follow the ids
    specs, rejections = validate_rows(first.rows, {"tiny"}, {"tiny"})
    assert not rejections and [s.prompt_id for s in specs] == first.prompt_ids
    assert cached_files(store) == []  # offline rows are cheap to redo: nothing kept


def test_theme_through_the_chat_endpoint_then_from_the_cache(chat, store, tmp_path):
    settings = settings_for(chat)
    written = write_theme(THEME, settings, store)
    assert written.rejection is None and written.calls == 1 and not written.cache_hit and written.backend == MODEL
    assert written.prompt_ids == ["harbor-001", "harbor-002", "harbor-003", "harbor-004"]
    assert all(row["location"] == "in a world of a foggy harbor at dawn" for row in written.rows)
    assert {row["scheduled_for"] for row in written.rows} == {"2026-11-21"}
    request = chat.creates()[0]["body"]
    assert request["temperature"] == 0 and isinstance(request["seed"], int) and request["model"] == MODEL
    schema = request["response_format"]["json_schema"]
    assert request["response_format"]["type"] == "json_schema" and schema["strict"] is True
    assert schema["schema"]["properties"]["prompts"]["minItems"] == 4 == schema["schema"]["properties"]["prompts"]["maxItems"]
    assert cached_files(store) == [store.root / "writer" / f"{written.cache_key}.json"]

    again = write_theme({**THEME, "music_prompt": "drums"}, settings, store)  # music does not shape prompts
    assert again.calls == 0 and again.cache_hit and again.rows == written.rows
    assert chat.stats()["creates"] == 1

    changed = write_theme({**THEME, "theme": "a foggy harbor at dusk"}, settings, store)
    assert changed.calls == 1 and changed.cache_key != written.cache_key
    assert changed.rows[0]["location"] == "in a world of a foggy harbor at dusk"
    assert write_theme({**THEME, "count": 5}, settings, store).calls == 1
    assert chat.stats()["creates"] == 3

    warehouse = Warehouse(tmp_path / "warehouse.duckdb")  # the rows import as they are, `source` and all
    stored, rejections = import_rows(warehouse, written.rows, {"tiny"}, {"tiny"})
    assert stored == 4 and rejections == []
    day = warehouse.day_rows(date(2026, 11, 21))
    assert sorted(r["prompt_id"] for r in day) == written.prompt_ids


def test_a_throttled_call_waits_for_retry_after(chat, store):
    chat.configure(throttle_next=1, retry_after_s=1)
    started = time.monotonic()
    written = write_theme(THEME, settings_for(chat), store)
    assert written.rejection is None and written.calls == 2 and len(written.rows) == 4
    assert time.monotonic() - started >= 1.0
    assert chat.stats()["throttled"] == 1


def test_throttling_past_the_allowed_wait_rejects_the_theme(chat, store):
    chat.configure(throttle_next=10, retry_after_s=2)
    written = write_theme(THEME, settings_for(chat, max_wait_s=1), store)
    assert written.rows == [] and written.calls == 1
    assert "HTTP 429" in written.rejection and "VIDGEN_LLM_MAX_WAIT_S" in written.rejection
    assert cached_files(store) == []


def test_a_malformed_reply_is_asked_again_with_the_mistake_shown(chat, store):
    chat.configure(malformed_next=1)
    written = write_theme(THEME, settings_for(chat), store)
    assert written.rejection is None and written.calls == 2 and len(written.rows) == 4
    retry = chat.creates()[1]["body"]["messages"]
    assert [m["role"] for m in retry] == ["system", "user", "assistant", "user"]
    assert "not valid JSON" in retry[3]["content"] and chat.stats()["malformed"] == 1


def test_too_few_prompts_every_time_rejects_the_theme_uncached(chat, store):
    chat.configure(too_few_next=10)
    settings = settings_for(chat, max_attempts=3)
    written = write_theme(THEME, settings, store)
    assert written.rows == [] and written.calls == 3
    assert "3 tries" in written.rejection and "the reply has 3 prompts; 4 were asked for" in written.rejection
    assert cached_files(store) == []
    assert write_theme(THEME, settings, store).calls == 3  # a rejection is not kept: the next run asks again


def test_a_refused_key_rejects_at_once_without_echoing_it(chat, store):
    wrong = "sk-wrong-Yb62Kq0pLr9sTx4"
    written = write_theme(THEME, settings_for(chat, api_key=wrong), store)
    assert written.calls == 1 and written.rows == []
    assert "HTTP 401" in written.rejection and "VIDGEN_LLM_API_KEY" in written.rejection
    assert wrong not in written.rejection and "Incorrect API key provided: ***" in written.rejection


def test_an_unknown_model_rejects_at_once(chat, store):
    written = write_theme(THEME, settings_for(chat, model="no-such-model"), store)
    assert written.calls == 1 and "HTTP 404" in written.rejection and "VIDGEN_LLM_MODEL 'no-such-model'" in written.rejection


def test_connections_are_retried_then_the_theme_names_the_url(chat, store):
    chat.configure(drop_next=1)
    assert write_theme(THEME, settings_for(chat), store).calls == 2  # one dropped connection, then the answer
    port = free_port()  # nothing listens there; a new theme, as the first one's reply is kept
    nowhere = settings_for(chat, base_url=f"http://127.0.0.1:{port}/v1", max_attempts=2)
    written = write_theme({**THEME, "theme": "an unreachable coast"}, nowhere, store)
    assert written.calls == 2 and written.rows == []
    assert f"could not reach http://127.0.0.1:{port}/v1/chat/completions (2 tries)" in written.rejection


def test_the_key_never_appears_in_what_the_writer_produces(chat, store):
    secret_forms = [API_KEY, base64.b64encode(API_KEY.encode()).decode(), base64.b64encode(f"user:{API_KEY}".encode()).decode()]
    settings = settings_for(chat)
    produced = [repr(settings), str(settings)]
    for theme in (THEME, {**THEME, "theme": "a second theme"}):
        written = write_theme(theme, settings, store)
        produced += [repr(written), written.cache_key]
    chat.configure(api_key="sk-another-key-entirely")  # the fake refuses ours and echoes it back
    refused = write_theme({**THEME, "theme": "a third"}, settings, store).rejection
    in_url = settings_for(chat, base_url=f"http://user:{API_KEY}@127.0.0.1:{free_port()}/v1", max_attempts=1)
    unreachable = write_theme({**THEME, "theme": "a fourth"}, in_url, store).rejection
    assert "Incorrect API key provided: ***" in refused and "could not reach http://127.0.0.1:" in unreachable
    produced += [refused, unreachable, *(path.read_text() for path in store.root.rglob("*") if path.is_file())]
    assert len(cached_files(store)) == 2
    for form in secret_forms:
        assert not [text for text in produced if form in text]


def test_replies_are_checked_before_they_become_rows():
    good = '{"prompts": [%s, %s]}' % (str(SHOT).replace("'", '"'), str(SHOT).replace("'", '"'))
    assert parse_prompts(f"```json\n{good}\n```", 2) == [SHOT, SHOT]
    assert parse_prompts(good, 1) == [SHOT]  # extra prompts are dropped
    with pytest.raises(ReplyProblem, match="cut off at the token limit"):
        parse_prompts(good[:30], 2, "length")
    with pytest.raises(ReplyProblem, match="prompt 1 has no camera"):
        parse_prompts('{"prompts": [{"subject": "a", "action": "b", "location": "c", "style": "d", "lighting": "e"}]}', 1)
    with pytest.raises(ReplyProblem, match="subject has 201 characters"):
        parse_prompts('{"prompts": [%s]}' % str({**SHOT, "subject": "x" * 201}).replace("'", '"'), 1)


def test_retry_after_reads_seconds_and_http_dates():
    in_30_s = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert retry_after_s(httpx.Headers({"Retry-After": "7"})) == 7
    assert 25 <= retry_after_s(httpx.Headers({"Retry-After": in_30_s})) <= 31
    assert retry_after_s(httpx.Headers({"Retry-After": "whenever"})) is None
    assert retry_after_s(httpx.Headers({})) is None


def test_settings_come_from_the_environment_with_clear_errors():
    assert writer_settings_from_env({}).offline
    online = writer_settings_from_env({"VIDGEN_LLM_BASE_URL": "http://u:p@host:8000/v1/?k=1", "VIDGEN_LLM_MODEL": "m",
                                       "VIDGEN_LLM_API_KEY": API_KEY, "VIDGEN_LLM_MAX_ATTEMPTS": "5"})  # fmt: skip
    assert online.max_attempts == 5 and online.max_wait_s == 120 and online.backend == "m"
    assert online.shown_url == "http://host:8000/v1/chat/completions" and API_KEY not in repr(online)
    for env, message in [
        ({"VIDGEN_LLM_BASE_URL": "http://host/v1"}, "VIDGEN_LLM_MODEL is not"),
        ({"VIDGEN_LLM_BASE_URL": "host:8000"}, "must be an http"),
        ({"VIDGEN_LLM_MAX_ATTEMPTS": "2.5"}, "VIDGEN_LLM_MAX_ATTEMPTS must be a whole number"),
        ({"VIDGEN_LLM_TIMEOUT_S": "soon"}, "VIDGEN_LLM_TIMEOUT_S must be a number"),
        ({"VIDGEN_LLM_API_KEY": "sk-ab\u00e9cd"}, "VIDGEN_LLM_API_KEY holds characters"),
    ]:
        with pytest.raises(WriterConfigError, match=message):
            writer_settings_from_env(env)


@pytest.mark.parametrize("change, reason", [
    ({"count": 0}, "count must be between 1 and 200"), ({"theme": " "}, "theme is empty"),
    ({"scheduled_for": "next tuesday"}, "scheduled_for"), ({"theme_id": None}, "theme_id is empty"),
    ({"theme": "x" * 190}, "shorten the theme or set VIDGEN_LLM_BASE_URL"),
])  # fmt: skip
def test_a_bad_theme_is_a_rejection_not_an_error(store, change, reason):
    written = write_theme({**THEME, **change}, WriterSettings(), store)
    assert written.rows == [] and written.calls == 0 and reason in written.rejection
