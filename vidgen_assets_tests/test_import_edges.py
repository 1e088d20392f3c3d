"""Import inputs at the edges, through `vidgen prompts import` on DuckDB and PostgreSQL: each gets a
one-line error before anything is written, or a rejection naming its row; good rows are never lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

import duckdb
import pytest

from vidgen_assets_tests.conftest import BOTH_WAREHOUSES

pytestmark = pytest.mark.slow  # a dozen CLI processes per warehouse
HEADER = "prompt_id,scheduled_for,prompt,negative_prompt,seed"
DAY = date(2026, 10, 1)


def vidgen(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "vidgen_assets.cli", *args], capture_output=True, text=True,
                            timeout=300, env=dict(os.environ))  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    return result


def stored(store, column: str = "prompt") -> dict[str, object]:
    with store.connect() as session:
        return dict(session.execute(f"SELECT prompt_id, {column} FROM prompts ORDER BY prompt_id").fetchall())


def rejected(store) -> dict[str, str]:
    return {r["prompt_id"]: r["reason"] for r in store.rejections()}


@BOTH_WAREHOUSES
def test_unreadable_files_fail_in_one_line_before_any_write(store, tmp_path):
    empty = tmp_path / "empty.parquet"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1" + os.urandom(200))
    for path in (empty, corrupt):
        result = vidgen("prompts", "import", str(path))
        assert result.returncode == 2
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"error: {path}: not a readable Parquet file")
    semicolons = tmp_path / "excel-de.csv"  # Excel in a locale whose list separator is ';'
    semicolons.write_text(f"{HEADER.replace(',', ';')}\ns1;{DAY};a fox;;1\n")
    result = vidgen("prompts", "import", str(semicolons))
    assert result.returncode == 2
    assert result.stderr.strip().endswith("(this file is separated by ';': save it comma-separated)")
    good = tmp_path / "good.csv"
    good.write_text(f"{HEADER}\ng1,{DAY},a fox,,1\n")
    result = vidgen("prompts", "import", "--chunk-rows", "0", str(good))
    assert result.returncode == 2 and "--chunk-rows: must be a whole number of at least 1, got '0'" in result.stderr
    assert stored(store) == {}


@BOTH_WAREHOUSES
def test_timestamps_bom_long_fields_and_bad_json_lines_are_rows_not_crashes(store, tmp_path):
    parquet = tmp_path / "stamped.parquet"
    with duckdb.connect() as connection:
        connection.execute(f"COPY (SELECT 'p1' AS prompt_id, TIMESTAMP '{DAY} 10:30:00' AS scheduled_for, "
                           f"'a tram' AS prompt, 3 AS seed) TO '{parquet}' (FORMAT parquet)")  # fmt: skip
    assert vidgen("prompts", "import", str(parquet)).returncode == 0

    lines = tmp_path / "p.jsonl"
    lines.write_text(json.dumps({"prompt_id": "j1", "scheduled_for": f"{DAY}T08:00:00", "prompt": "a kite"}) + "\n"
                     '{"prompt_id": "j2", "scheduled_for": \n'
                     + json.dumps({"prompt_id": "j3", "scheduled_for": str(DAY), "prompt": "a boat"}) + "\n")  # fmt: skip
    result = vidgen("prompts", "import", str(lines))
    assert result.returncode == 0 and "stored 2 prompt rows" in result.stdout
    assert "row 2: line 2 is not valid JSON" in result.stderr

    excel = tmp_path / "excel.csv"  # Excel's "CSV UTF-8": a byte-order mark, CRLF line ends
    excel.write_bytes(f"\ufeff{HEADER}\r\ne1,{DAY},a heron,,1\r\n".encode())
    assert vidgen("prompts", "import", str(excel)).returncode == 0

    long = tmp_path / "long.csv"  # Python's csv stops at 131,072 characters a field
    long.write_text(f"{HEADER}\nl1,{DAY},a fox,,1\nl2,{DAY},{'x' * 200_000},,1\nl3,{DAY},a cat,,1\n")
    result = vidgen("prompts", "import", "--chunk-rows", "2", str(long))
    assert result.returncode == 0 and "stored 2 prompt rows" in result.stdout
    assert "row 2: prompt has 200000 characters; the limit is 2000" in result.stderr

    assert set(stored(store)) == {"p1", "j1", "j3", "e1", "l1", "l3"}
    assert stored(store, "scheduled_for")["p1"] == DAY and stored(store, "scheduled_for")["j1"] == DAY
    reasons = rejected(store)
    assert "l2" in reasons and "j2" not in reasons  # a line that is not JSON has no id to file it under
    assert reasons[None].startswith("row 2: line 2 is not valid JSON")


@BOTH_WAREHOUSES
def test_nul_and_control_characters_in_any_field_reject_that_row_only(store, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(
        f"{HEADER},subject,action,location\n"
        f"ok,{DAY},a fox,,1,,,\n"
        f"nul-action,{DAY},a fox,,1,a fox,run\x00ning,\n"
        f"nul\x00id,{DAY},a fox,,-1,,,\n"
        f"long-action,{DAY},a fox,,1,,{'y' * 100_000},\n"
        f"bell,{DAY},,,1,a fox,running,in the \x07snow\n"
        f"composed,{DAY},,,1,a fox,running,in the snow\n"
    )  # fmt: skip
    result = vidgen("prompts", "import", str(path))
    assert result.returncode == 0, result.stderr
    assert stored(store) == {"ok": "a fox", "composed": "a fox running in the snow"}
    reasons = rejected(store)
    assert reasons["nul-action"] == "row 2: action contains control character '\\x00'"
    assert reasons["nul\\x00id"].startswith("row 3: prompt_id contains control character")  # stored escaped
    assert reasons["long-action"] == "row 4: action has 100000 characters; the limit is 200"
    assert reasons["bell"] == "row 5: location contains control character '\\x07'"


@BOTH_WAREHOUSES
def test_a_duplicate_id_keeps_the_parts_of_the_copy_that_was_valid(store, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(f"{HEADER},subject,action\n"
                    f"d1,{DAY},,,-1,a wrong subject,wrongly\n"
                    f"d1,{DAY},,,2,a heron,taking off\n")  # fmt: skip
    assert vidgen("prompts", "import", str(path)).returncode == 0
    with store.connect() as session:
        row = session.rows("SELECT prompt, subject, action, seed FROM prompts WHERE prompt_id = 'd1'")[0]
    assert row == {"prompt": "a heron taking off", "subject": "a heron", "action": "taking off", "seed": 2}


@BOTH_WAREHOUSES
def test_ids_are_one_row_however_their_accents_are_encoded(store, tmp_path):
    nfc, nfd = "caf\u00e9", "cafe\u0301"
    path = tmp_path / "p.csv"
    path.write_text(f"{HEADER}\n{nfd},{DAY},a cup,,1\n{nfc},{DAY},a cup,,1\n", encoding="utf-8")
    result = vidgen("prompts", "import", str(path))
    assert "row 2: duplicate prompt_id 'café'" in result.stderr
    result = vidgen("prompts", "add", "--date", str(DAY), "--prompt", "a cup of tea", "--prompt-id", nfd)
    assert result.returncode == 0 and "0 new, 1 changed" in result.stdout
    assert stored(store) == {nfc: "a cup of tea"}
    assert vidgen("prompts", "delete", nfd).returncode == 0
    assert store.day_rows(DAY) == []


@BOTH_WAREHOUSES
def test_one_instant_is_one_day_in_every_format_and_an_unclosed_quote_is_named(store, tmp_path):
    instant = "2026-12-01T23:30:00-08:00"  # 2026-12-02 07:30 UTC
    parquet = tmp_path / "tz.parquet"
    with duckdb.connect() as connection:
        connection.execute(f"COPY (SELECT 'pq' AS prompt_id, TIMESTAMPTZ '{instant}' AS scheduled_for, "
                           f"'a tram' AS prompt) TO '{parquet}' (FORMAT parquet)")  # fmt: skip
    lines = tmp_path / "tz.jsonl"
    lines.write_text(json.dumps({"prompt_id": "js", "scheduled_for": instant, "prompt": "a kite"}) + "\n")
    text = tmp_path / "tz.csv"
    text.write_text(f"{HEADER}\ncs,{instant},a fox,,1\nzulu,2026-12-01T23:30Z,a cat,,1\n"
                    "junk,2026-12-01 is the day,a cow,,1\nnul,2026-12-01\x00,a cow,,1\n")  # fmt: skip
    for path in (parquet, lines, text):
        assert vidgen("prompts", "import", str(path)).returncode == 0
    assert stored(store, "scheduled_for") == {"pq": date(2026, 12, 2), "js": date(2026, 12, 2),
                                               "cs": date(2026, 12, 2), "zulu": date(2026, 12, 1)}  # fmt: skip
    reasons = rejected(store)
    assert reasons["junk"] == ("row 3: scheduled_for must be a date YYYY-MM-DD or an ISO 8601 date-time "
                               "(e.g. 2026-12-01T23:30:00-08:00), got '2026-12-01 is the day'")  # fmt: skip
    assert reasons["nul"].startswith("row 4: scheduled_for must be a date")

    quote = tmp_path / "quote.csv"
    quote.write_text(f"{HEADER},subject,action\n" + f'm-1,{DAY},"a fox\nin the snow",,1,,\n'
                     + f'q-1,{DAY},"unterminated,,1,,\n' + "".join(f"q-{i},{DAY},p{i},,{i},,\n" for i in range(2, 50)))  # fmt: skip
    result = vidgen("prompts", "import", str(quote))
    assert result.returncode == 0 and "2 rows read, 1 stored, 1 rejected" in result.stdout
    assert ("rejected 'q-1': row 2: an unclosed quote in prompt (line 4) appears to have swallowed the following 48 "
            "lines, 48 of them rows ('q-2', 'q-3', 'q-4', 'q-5', 'q-6' and 43 more)") in result.stderr  # fmt: skip
    assert stored(store)["m-1"] == "a fox\nin the snow" and "q-1" not in stored(store)
