"""Plain-Python building blocks (warehouse, generation, video, storage); no Dagster needed."""
