"""Experiments: render a sample of a day's prompt rows under two or more variants and compare them.

A variant is a set of overrides (models, row knobs, generation options). Variants render through the same
plan and render functions and content keys as the daily run, so a variant equal to production reuses its
clips; results go under `experiments/<name>/` in the media store, never into the daily outputs.
"""

from .spec import ExperimentError, ExperimentSpec, Variant, parse_variant, spec_from_mapping

__all__ = ["ExperimentError", "ExperimentSpec", "Variant", "parse_variant", "spec_from_mapping"]
