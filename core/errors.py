"""Exceptions a user or plugin author can meet, each naming what went wrong."""
from __future__ import annotations

__all__ = ["PagetError", "ConfigError", "PluginError", "PathError", "OutputExistsError",
           "ConfigWarning", "plural"]


class PagetError(Exception):
    """Base class of paget's own errors."""


class ConfigError(PagetError, ValueError):
    """A configuration value is missing, of the wrong type or out of range.

    The message names the key (dotted path), the value given and what is
    allowed; the CLI prints it on one line and exits with status 2.
    """


class PathError(ConfigError):
    """A file or directory named for a run cannot be used: the output (or its
    directory) cannot be written or is not paget's to replace, or a checkpoint
    directory cannot be made or written.

    Raised before step 0, with nothing written; the CLI prints it on one line
    and exits with status 2.
    """


class OutputExistsError(PathError, FileExistsError):
    """The output exists and replacing it was not asked for (``--overwrite``)."""


class ConfigWarning(UserWarning):
    """A configuration value was accepted after an adjustment the user should
    know of (e.g. ``output.interval`` rounded to a whole number of steps).

    The message names the key, the value given and the value used; the CLI
    prints it as one line, ``paget: note: ...``, on stderr.
    """


class PluginError(PagetError, RuntimeError):
    """A plugin could not be loaded, is wired wrongly, or raised in a hook.

    ``plugin`` and ``hook`` name the culprit where known.
    """

    def __init__(self, message: str, plugin: str | None = None, hook: str | None = None):
        super().__init__(message)
        self.plugin = plugin
        self.hook = hook


def plural(n: float, word: str, words: str | None = None) -> str:
    """``n`` and ``word`` in agreement: ``plural(1, "day")`` is ``"1 day"``,
    ``plural(2.5, "day")`` ``"2.5 days"`` (numbers as ``:g`` formats them).
    ``words`` is the plural where adding an "s" is wrong
    (``plural(3, "patient x arm", "patients x arms")``)."""
    text = f"{n:g}" if isinstance(n, float) else str(n)
    return f"{text} {word if text == '1' else (words or word + 's')}"
