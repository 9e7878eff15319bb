"""slow_shedding: a minimal third-party paget plugin.

It scales the shedding rate of every lesion by ``factor`` (default 0.5, i.e.
halves it), for example to ask how much a drug that slows intravasation would
delay metastasis.  Its parameter lives in its own configuration table,
validated like paget's own::

    [slow_shedding]
    factor = 0.5        # in [0, 1]

Register it in any of three ways (see docs/howto/plugin.md):

* ``[plugins] load = ["slow_shedding"]`` in a config, or ``paget run --plugin
  slow_shedding``, with this folder on ``PYTHONPATH``;
* ``pip install ./examples/plugins``, whose ``pyproject.toml`` declares the
  entry point ``slow_shedding`` in the group ``paget`` (loaded automatically);
* ``paget.Simulation(config, plugins=[("slow_shedding", slow_shedding)])``.
"""
from __future__ import annotations

from pydantic import Field

import paget
from paget.config import Table


class SlowSheddingTable(Table):
    """Parameters of the slow_shedding plugin (table ``[slow_shedding]``)."""

    factor: float = Field(0.5, ge=0, le=1, allow_inf_nan=False,
                          description="multiplies every lesion's shedding rate (dimensionless)")


@paget.hookimpl
def paget_config_tables():
    """Declare the ``[slow_shedding]`` table."""
    return {"slow_shedding": SlowSheddingTable}


@paget.hookimpl
def paget_intravasation(rates, config):
    """Scale ``rates.shed`` in place.

    The built-in intravasation plugin is ``tryfirst``, so it has set the base
    rate ``m (f N)^alpha`` by the time this runs; a plugin that *scales* a
    rate must not be ``tryfirst`` itself.
    """
    rates.shed *= config.slow_shedding.factor
