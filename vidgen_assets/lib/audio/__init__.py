"""Soundtracks: music for a day's reel from a prompt, local (Stable Audio) or hosted, content-addressed.

Modules are imported where used (`render`, `presets`, `hosted`, ...): this package imports nothing heavy.
"""
