"""Exceptions a user or plugin author can meet, each naming what went wrong."""
from __future__ import annotations

__all__ = ["PagetError", "ConfigError", "PluginError"]


class PagetError(Exception):
    """Base class of paget's own errors."""


class ConfigError(PagetError, ValueError):
    """A configuration value is missing, of the wrong type or out of range.

    The message names the key (dotted path), the value given and what is
    allowed; the CLI prints it on one line and exits with status 2.
    """


class PluginError(PagetError, RuntimeError):
    """A plugin could not be loaded, is wired wrongly, or raised in a hook.

    ``plugin`` and ``hook`` name the culprit where known.
    """

    def __init__(self, message: str, plugin: str | None = None, hook: str | None = None):
        super().__init__(message)
        self.plugin = plugin
        self.hook = hook
