"""paget: simulation of the metastatic cascade ("seed and soil", Paget 1889).

Public API: :class:`Simulation`, :data:`hookimpl` for plugin authors, the
errors :class:`ConfigError` and :class:`PluginError`.
"""
from .errors import ConfigError, PagetError, PluginError
from .manager import hookimpl
from .simulation import Simulation, list_scenarios

__all__ = ["Simulation", "hookimpl", "ConfigError", "PluginError", "PagetError", "list_scenarios"]
