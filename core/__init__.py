"""paget: simulation of the metastatic cascade ("seed and soil", Paget 1889).

Public API: :class:`Simulation`, :func:`simulate` (one run from dotted
parameters, :mod:`paget.explore`), :data:`hookimpl` for plugin authors, the
errors :class:`ConfigError` and :class:`PluginError`, the warning
:class:`ConfigWarning` (a value accepted after an adjustment, or one with no
effect, that the user should know of), and :func:`open_dataset` to
read a result file back as :meth:`Simulation.run` returned it.
"""
from .errors import ConfigError, ConfigWarning, PagetError, PluginError
from .manager import hookimpl
from .output import open_dataset
from .simulation import Simulation, list_scenarios
from .explore import simulate

__all__ = ["Simulation", "hookimpl", "ConfigError", "ConfigWarning", "PluginError", "PagetError",
           "list_scenarios", "open_dataset", "simulate"]
