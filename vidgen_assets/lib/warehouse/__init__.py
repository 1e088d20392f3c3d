"""The prompts warehouse: schema, validation, reads and writes."""

from .store import Warehouse
from .validation import PromptSpec, Rejection, RowError, compose_prompt, validate_row, validate_rows

__all__ = ["PromptSpec", "Rejection", "RowError", "Warehouse", "compose_prompt", "validate_row", "validate_rows"]
