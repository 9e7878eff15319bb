"""Local invasion: the fraction of a lesion's cells able to leave it.

The built-in stage holds that fraction constant per organ; factor plugins
(hypoxia, EMT alterations) scale it afterwards.
"""
from __future__ import annotations

from pydantic import Field

from paget.config import Table, organ_map, resolve_organ_map
from paget.manager import hookimpl


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
    per_organ = resolve_organ_map(config.invasion.fraction, body, 1.0)
    rates.invasive[:] = per_organ[lesions.organ]
