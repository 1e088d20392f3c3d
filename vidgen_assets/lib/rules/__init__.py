"""Rules that need both prompt rows or models (lib/generation) and the warehouse (lib/warehouse)."""
