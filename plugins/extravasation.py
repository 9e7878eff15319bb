"""Extravasation: an arrested CTC crosses the endothelium of its organ ("soil")."""
from __future__ import annotations

from pydantic import Field

from paget.config import Table, organ_map, resolve_organ_map
from paget.manager import hookimpl

# Luzzi et al. 1998 (Am J Pathol 153:865) [READ-2]: ~80 % of B16F1 cells
# injected into the mesenteric vein had extravasated in mouse liver by day 3
# (fenestrated sinusoids).  ASSUMPTIONS: 0.01 across the blood-brain barrier
# and 0.1 elsewhere (DESIGN.md's illustration), to be calibrated (issue 6).
DEFAULT_PROBABILITY = {"default": 0.1, "liver": 0.8, "brain": 0.01}


class ExtravasationTable(Table):
    probability: organ_map(probability=True) = Field(  # type: ignore[valid-type]
        default_factory=lambda: dict(DEFAULT_PROBABILITY),
        description="probability that an arrested CTC extravasates, per organ")


@hookimpl
def paget_config_tables():
    return {"extravasation": ExtravasationTable}


@hookimpl(tryfirst=True)
def paget_extravasation(probability, config, body):
    probability[:] = resolve_organ_map(config.extravasation.probability, body, 0.1)[None, :]
