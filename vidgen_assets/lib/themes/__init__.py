"""The prompt writer: a theme to prompt rows, through an OpenAI-compatible chat endpoint or offline."""

from .settings import WriterConfigError, WriterSettings, writer_settings_from_env
from .writer import WrittenTheme, write_theme

__all__ = ["WriterConfigError", "WriterSettings", "WrittenTheme", "write_theme", "writer_settings_from_env"]
