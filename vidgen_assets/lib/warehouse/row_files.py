"""Rows from CSV, Parquet or JSON-lines files, streamed in chunks: prompt rows and theme rows alike.

A file that cannot be read at all raises `ValueError` before the first chunk; a record that cannot be
read (a malformed JSON line, a broken CSV record) becomes a row holding `READ_ERROR`, so validation
quarantines it under its id and day where it still has them.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .csv_quotes import extra_lines, swallowed_reason
from .fields import READ_ERROR

# Python's csv refuses fields over 131,072 characters; a longer prompt is a row to reject, not a file.
CSV_FIELD_LIMIT = 16 * 1024 * 1024
JSON_LINES = (".jsonl", ".ndjson")


@dataclass(frozen=True)
class RowFile:
    """What a file of rows must have: its id column, and the header rule its errors quote."""

    id_column: str
    header_rule: str  # e.g. "start with prompt_id,scheduled_for,…"


def read_row_chunks(path: str | Path, chunk_rows: int, kind: RowFile) -> Iterator[list[dict]]:
    """Raw rows as they are in the file, `chunk_rows` at a time (the first read before any is yielded)."""
    path = Path(path)
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        rows = _parquet_rows(path, kind)
    else:
        rows = _json_rows(path) if suffix in JSON_LINES else _csv_rows(path, kind)
    while batch := list(itertools.islice(rows, chunk_rows)):  # an unreadable file fails on the first, before any write
        yield batch


def _parquet_rows(path: Path, kind: RowFile) -> Iterator[dict]:
    import duckdb

    try:
        # An in-memory database of its own: the warehouse file is not touched while reading.
        with duckdb.connect() as connection:
            connection.execute("SET TimeZone = 'UTC'")  # a TIMESTAMPTZ scheduled_for is read as its UTC day
            result = connection.execute("SELECT * FROM read_parquet(?)", [str(path)])
            names = [d[0] for d in result.description]
            if kind.id_column not in names:
                raise ValueError(f"{path}: no {kind.id_column} column; the columns must {kind.header_rule}")
            while batch := result.fetchmany(1024):
                yield from (dict(zip(names, row)) for row in batch)
    except duckdb.Error as error:
        reason = str(error).strip().splitlines()[0]
        raise ValueError(f"{path}: not a readable Parquet file: {reason}") from None


def _json_rows(path: Path) -> Iterator[dict]:
    # errors="surrogateescape" keeps undecodable bytes so the row is rejected, not the file.
    with path.open(encoding="utf-8-sig", errors="surrogateescape") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as error:
                yield {READ_ERROR: f"line {line_number} is not valid JSON: {error}"}
                continue
            yield row if isinstance(row, dict) else {READ_ERROR: f"line {line_number} is not a JSON object"}


def _csv_rows(path: Path, kind: RowFile) -> Iterator[dict]:
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark.
    with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as handle:
        reader = csv.DictReader(handle)
        try:
            names = [str(n).strip() for n in reader.fieldnames or []]
        except csv.Error as error:
            raise ValueError(f"{path}: the header cannot be read: {error}") from None
        if kind.id_column not in names:
            other = next((d for d in ";\t|" if d in (names or [""])[0]), None)
            hint = f" (this file is separated by {other!r}: save it comma-separated)" if other else ""
            raise ValueError(f"{path}: the header must {kind.header_rule}{hint}")
        reader.fieldnames = names
        # csv_quotes finds the id column by the prompts' name.
        id_names = ["prompt_id" if n == kind.id_column else n for n in names]
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:  # the reader goes on at the next line
                row = {READ_ERROR: f"the CSV record ending on line {reader.line_num} cannot be read: {error}"}
            else:  # the row keeps its id and day, so its rejection is filed under them
                if swallowed := swallowed_reason(row, id_names, reader.line_num - extra_lines(row)):
                    row[READ_ERROR] = swallowed
            yield row
