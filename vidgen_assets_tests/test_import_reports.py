"""What an import or `vidgen prompts add` did to existing rows (`--if-exists`), and days that can never
be partitions, through the CLI on DuckDB and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest

from vidgen_assets_tests.conftest import BOTH_WAREHOUSES
from vidgen_assets_tests.test_import_edges import HEADER, stored, vidgen

pytestmark = pytest.mark.slow  # CLI processes
DAY, OTHER = date(2026, 10, 1), date(2026, 10, 2)


@BOTH_WAREHOUSES
def test_imports_say_what_was_new_changed_and_moved_and_honour_if_exists(store, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(f"{HEADER}\na,{DAY},a fox,,1\nb,{DAY},a cat,,1\nd,{DAY},a dog,,1\n")
    result = vidgen("prompts", "import", str(path))
    assert "(3 new, 0 changed, 0 moved to another day, 0 unchanged)" in result.stdout
    assert "  new: a, b, d" in result.stdout

    path.write_text(f"{HEADER}\na,{DAY},a red fox,,1\nb,{OTHER},a cat,,1\nc,{DAY},a cow,,1\nd,{DAY},a dog,,1\n")
    result = vidgen("prompts", "import", str(path))
    assert result.returncode == 0
    assert "(1 new, 1 changed, 1 moved to another day, 1 unchanged)" in result.stdout
    assert "  new: c\n  changed: a\n  moved: b\n" in result.stdout

    path.write_text(f"{HEADER}\na,{DAY},a blue fox,,1\ne,{DAY},an eel,,1\n")
    result = vidgen("prompts", "import", "--if-exists", "skip", str(path))
    assert "stored 1 prompt row in" in result.stdout  # the skipped row was not written
    assert "(1 new, 0 changed, 0 moved to another day, 0 unchanged; 1 skipped: already present)" in result.stdout
    assert stored(store)["a"] == "a red fox" and stored(store)["e"] == "an eel"
    result = vidgen("prompts", "add", "--date", str(DAY), "--prompt", "a pink fox", "--prompt-id", "a", "--if-exists", "skip")
    assert result.returncode == 0  # skipping was asked for: not a failure
    assert "stored 0 prompt rows in" in result.stdout and "0 unchanged; 1 skipped: already present)" in result.stdout

    path.write_text(f"{HEADER}\nf,{DAY},a fern,,1\na,{DAY},a green fox,,1\n")
    result = vidgen("prompts", "import", "--if-exists", "error", "--chunk-rows", "1", str(path))
    assert result.returncode == 2
    assert result.stderr.strip() == "error: 1 prompt_id(s) already exist ('a'); nothing written (--if-exists error)"
    result = vidgen("prompts", "add", "--date", str(DAY), "--prompt", "a grey fox", "--prompt-id", "a", "--if-exists", "error")
    assert result.returncode == 1 and "already exist ('a')" in result.stderr
    assert "f" not in stored(store) and stored(store)["a"] == "a red fox"

    result = vidgen("prompts", "add", "--date", str(OTHER), "--prompt", "a fox", "--prompt-id", "a")
    assert result.returncode == 0 and "  moved: a" in result.stdout


@BOTH_WAREHOUSES
def test_days_that_can_never_be_partitions_are_turned_away_with_the_reason(store, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(f"{HEADER}\nold,2023-12-31,a fox,,1\nfirst,2024-01-01,a fox,,1\nfuture,2099-01-01,a fox,,1\n")
    result = vidgen("prompts", "import", str(path))
    assert result.returncode == 0 and "stored 2 prompt rows" in result.stdout
    assert ("row 1: scheduled_for 2023-12-31 is before 2024-01-01, the first daily partition: it would never render"
            in result.stderr)  # fmt: skip
    assert set(stored(store)) == {"first", "future"}
    result = vidgen("run", "--date", "2099-01-01")
    assert result.returncode == 2
    assert "error: 2099-01-01 is not a daily partition yet: it becomes one at 2099-01-01 00:00 UTC" in result.stderr
    result = vidgen("run", "--date", "2023-12-31")
    assert result.returncode == 2 and "before 2024-01-01, the first daily partition" in result.stderr


@pytest.mark.parametrize("first_day", ["2026-13-01", "yesterday"])
def test_a_bad_first_day_is_one_error_line_from_every_command_that_needs_it(store, tmp_path, monkeypatch, first_day):
    monkeypatch.setenv("VIDGEN_FIRST_DAY", first_day)
    path = tmp_path / "p.csv"
    path.write_text(f"{HEADER}\na,{DAY},a fox,,1\n")
    line = f"error: VIDGEN_FIRST_DAY={first_day!r} is not a day (YYYY-MM-DD)"
    for command in (("prompts", "add", "--date", str(DAY), "--prompt", "x"), ("prompts", "import", str(path)),
                    ("run", "--date", str(DAY)), ("demo", "--date", str(DAY))):  # fmt: skip
        result = vidgen(*command)  # asserts no traceback
        assert (result.returncode, result.stderr.strip()) == (2, line), command
    doctor = vidgen("doctor")
    assert doctor.returncode == 1 and "not ready: VIDGEN_FIRST_DAY" in doctor.stderr
    assert line.removeprefix("error: ") in doctor.stdout
    assert stored(store) == {}
