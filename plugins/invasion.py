"""Local invasion: the fraction of a lesion's cells able to leave it.

The built-in stage holds that fraction constant per organ; factor plugins
(hypoxia, EMT alterations) scale it afterwards.
"""
from __future__ import annotations

from pydantic import Field

from paget.config import Table, organ_map, resolve_organ_map
from paget.ext import plugin_math
from paget.manager import hookimpl
from paget.plugins._memo import once


class InvasionTable(Table):
    # ASSUMPTION: by default the whole lesion counts as invasive, so that the
    # shedding law m N^alpha of [intravasation] is calibrated on lesion size
    # (as the CTC anchors of Coumans et al. 2013 are); lower it to model
    # lesions that are partly non-invasive.
    fraction: organ_map(probability=True) = Field(  # type: ignore[valid-type]
        1.0, description="invasive fraction of a lesion's cells (dimensionless)",
        json_schema_extra={"source": "assumption: the whole lesion, as the shedding law is "
                                     "calibrated on lesion size"})


@hookimpl
def paget_config_tables():
    return {"invasion": InvasionTable}


@hookimpl(tryfirst=True)
def paget_invasion(lesions, rates, config, body):
    plugin_math.per_organ_rows(_fractions(config.invasion, body), lesions.organ, rates.invasive)


#: per (invasion table, body): the invasive fraction per organ
_FRACTIONS: dict = {}


def _fractions(cfg: InvasionTable, body):
    """The invasive fraction per organ, once per (table, body) (frozen tables)."""
    return once(_FRACTIONS, (cfg, body), lambda: resolve_organ_map(cfg.fraction, body, 1.0))
