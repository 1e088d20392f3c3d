"""The README's limits tables and validation agree: every documented option of every video preset is
accepted by `vidgen prompts add`, and the next value past each limit is rejected with the reason."""

from __future__ import annotations

import re
from itertools import count

import pytest

from vidgen_assets.cli import main
from vidgen_assets_tests.conftest import REPO_ROOT, TEST_DAY

README = (REPO_ROOT / "README.md").read_text()
_ids = count()


def table_rows(first_header: str) -> list[list[str]]:
    """The cells of the README table whose first header cell is `first_header`."""
    block = README.split(f"| {first_header} |", 1)[1].split("\n\n", 1)[0]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in block.splitlines()[2:]]


def add(capsys, model: str, **knobs: int) -> str:
    """`vidgen prompts add` with these knobs; '' when stored, else what it printed about the rejection."""
    args = ["prompts", "add", "--date", str(TEST_DAY), "--prompt", "a fox", "--prompt-id", f"p{next(_ids)}",
            "--video-model", model]  # fmt: skip
    for knob, value in knobs.items():
        args += [f"--{knob.replace('_', '-')}", str(value)]
    code = main(args)
    out, err = capsys.readouterr()
    assert (code == 0) == ("stored 1 prompt row in" in out), (out, err)
    return "" if code == 0 else err


def frames(cell: str) -> list[int]:
    """`24 × 2-10 s`, `24 × 5 or 9 s` or `14 or 25` from a `num_frames (...)` cell, as frame counts."""
    spec = re.search(r"`num_frames` \(([^)]*)\)", cell).group(1)
    fps, _, seconds = spec.rpartition(" × ")
    values = [int(n) for n in re.findall(r"\d+", seconds)]
    if "-" in seconds:
        values = list(range(values[0], values[1] + 1))
    return [int(fps) * v for v in values] if fps else values


def sizes(cell: str) -> list[tuple[int, int]]:
    """Each documented output size: exact pairs (`1280:720`), or each ratio at each short side."""
    match = re.search(r"`width`/`height` \(([^;)]*)(?:; short side ([\d, or]+))?", cell)
    if not match:
        return []
    ratios = [tuple(map(int, r.split(":"))) for r in match.group(1).split(", ")]
    if not match.group(2):
        return ratios
    shorts = [int(n) for n in re.findall(r"\d{3,4}", match.group(2))]
    return [(short * a // min(a, b), short * b // min(a, b)) for a, b in ratios for short in shorts]


@pytest.mark.parametrize("row", table_rows("preset"), ids=lambda row: row[0].strip("`"))
def test_each_documented_hosted_option_is_accepted_and_one_past_it_rejected(vidgen_home, capsys, row):
    model, knobs_cell = row[0].strip("`"), row[2]
    counts = frames(knobs_cell)
    assert counts, f"no num_frames documented for {model}"
    for frame_count in counts:
        assert add(capsys, model, num_frames=frame_count) == "", (model, frame_count)
    assert "is not offered by" in add(capsys, model, num_frames=max(counts) + 24)
    documented = sizes(knobs_cell)
    for width, height in documented:
        assert add(capsys, model, width=width, height=height) == "", (model, width, height)
    if documented:
        assert add(capsys, model, width=max(w for w, _ in documented) + 8, height=max(h for _, h in documented))
    if model == "luma-ray-2":
        assert (3840, 2160) in documented and max(counts) == 216
    if model in ("runway-gen4-turbo", "fal-kling-2.1"):
        assert max(counts) == 240


@pytest.mark.parametrize("row", table_rows("local video preset"), ids=lambda row: row[0].split("`")[1])
def test_each_local_presets_documented_limits_are_what_validation_allows(vidgen_home, capsys, row):
    wan = row[1].startswith("4k+1")
    most = int(re.findall(r"\d+", row[1])[-1])
    low, high = map(int, re.findall(r"\d+", row[2])[:2])
    for model in re.findall(r"`([^`]+)`", row[0]):
        assert add(capsys, model, num_frames=most) == ""
        assert f"num_frames {most + 4} exceeds {most}" in add(capsys, model, num_frames=most + 4)
        if wan:
            assert "makes 4k+1 frames" in add(capsys, model, num_frames=most - 2)
        assert add(capsys, model, width=high, height=low) == ""
        assert f"width {high + 8} exceeds {high}" in add(capsys, model, width=high + 8)
        assert "multiples of 8" in add(capsys, model, height=low + 4)
