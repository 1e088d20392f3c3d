"""Spot a CSV record whose unclosed quote ran on over the rows after it.

Python's csv reader (like Excel) lets a quoted field hold line breaks, so a stray `"` makes one
record of everything up to the next quote, or to the end of the file, and the rows in between
vanish into one field. A field may still legitimately span lines (Excel writes Alt+Enter so):
only lines that read as rows of this file count as swallowed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

EXAMPLE_IDS = 5
_DAY = re.compile(r"\s*\d{4}-\d{2}-\d{2}", re.ASCII)


def extra_lines(row: Mapping[str, object]) -> int:
    """How many line breaks the record's fields hold: the lines it spans beyond its first."""
    return sum(len(v.splitlines()) - 1 for v in row.values() if isinstance(v, str) and ("\n" in v or "\r" in v))


def _looks_like_row(line: str, names: Sequence[str], day_column: int | None) -> bool:
    # A delimiter per column, as the header has, and (when the file has the column) a date where it goes:
    # a line of prose rarely has both.
    fields = line.split(",")
    return len(fields) >= len(names) and (day_column is None or bool(_DAY.match(fields[day_column])))


def swallowed_reason(row: Mapping[str, object], names: Sequence[str], first_line: int) -> str | None:
    """Why this record looks like an unclosed quote that swallowed following rows, or None."""
    day_column = names.index("scheduled_for") if "scheduled_for" in names else None
    id_column = names.index("prompt_id")
    for column, value in row.items():
        if not isinstance(value, str) or ("\n" not in value and "\r" not in value):
            continue
        lines = value.splitlines()[1:]
        ids = [line.split(",")[id_column].strip() for line in lines if _looks_like_row(line, names, day_column)]
        if not ids:
            continue
        shown = ", ".join(repr(i) for i in ids[:EXAMPLE_IDS]) + (f" and {len(ids) - EXAMPLE_IDS} more" if len(ids) > EXAMPLE_IDS else "")
        return (f"an unclosed quote in {column} (line {first_line}) appears to have swallowed the following "
                f"{len(lines)} lines, {len(ids)} of them rows ({shown}); none of them was imported: close the quote "
                "and import the file again")  # fmt: skip
    return None
