"""Preview images: PNG contact sheets of letterboxed, captioned thumbnails."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import BinaryIO

from PIL import Image, ImageDraw, ImageFont, ImageOps

PathLike = str | os.PathLike[str]

_BACKGROUND = (24, 24, 24)
_CAPTION_COLOUR = (220, 220, 220)
_ELLIPSIS = "..."  # ASCII: the bitmap fallback font has no single-glyph ellipsis.


def contact_sheet(
    images: Sequence[PathLike],
    captions: Sequence[str] | None,
    out_path: PathLike | BinaryIO,
    *,
    columns: int = 4,
    thumb_size: int = 128,
    caption_height: int = 16,
) -> tuple[int, int]:
    """Write a PNG grid of letterboxed thumbnails with captions (path or binary file); return (width, height).

    The grid is ``min(columns, len(images))`` cells wide; each cell is ``thumb_size``
    wide and ``thumb_size + caption_height`` tall.
    """
    if not images:
        raise ValueError("contact_sheet needs at least one image")
    if captions is not None and len(captions) != len(images):
        raise ValueError(f"got {len(captions)} captions for {len(images)} images")
    if columns < 1 or thumb_size < 1 or caption_height < 0:
        raise ValueError("columns and thumb_size must be positive, caption_height non-negative")

    grid_columns = min(columns, len(images))
    grid_rows = -(-len(images) // grid_columns)
    cell_height = thumb_size + caption_height
    sheet = Image.new("RGB", (grid_columns * thumb_size, grid_rows * cell_height), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()

    for index, image_path in enumerate(images):
        left = (index % grid_columns) * thumb_size
        top = (index // grid_columns) * cell_height
        # One image open at a time keeps memory flat for long lists of large frames.
        with Image.open(image_path) as image:
            # RGBA so transparent pixels show the sheet background when pasted.
            thumb = ImageOps.contain(image.convert("RGBA"), (thumb_size, thumb_size))
        offset = (left + (thumb_size - thumb.width) // 2, top + (thumb_size - thumb.height) // 2)
        sheet.paste(thumb, offset, thumb)
        if captions is not None and caption_height > 0:
            text = fit_text(draw, captions[index], font, thumb_size - 4)
            # Centre by measured box: the bitmap fallback font does not support anchors.
            box_left, box_top, box_right, box_bottom = draw.textbbox((0, 0), text, font=font)
            text_x = left + (thumb_size - (box_right - box_left)) // 2 - box_left
            text_y = top + thumb_size + (caption_height - (box_bottom - box_top)) // 2 - box_top
            draw.text((text_x, text_y), text, font=font, fill=_CAPTION_COLOUR)
    sheet.save(out_path, format="PNG")
    return sheet.size


def fit_text(
    draw: ImageDraw.ImageDraw,
    text: str,
    font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
    max_width: int,
) -> str:
    """Truncate ``text`` with an ellipsis until it fits in ``max_width`` pixels."""
    if draw.textlength(text, font=font) <= max_width:
        return text
    for end in range(len(text) - 1, 0, -1):
        candidate = text[:end].rstrip() + _ELLIPSIS
        if draw.textlength(candidate, font=font) <= max_width:
            return candidate
    return ""
