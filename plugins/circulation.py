"""Circulation: arrest and death of CTCs bed by bed, solved as an absorbing chain.

Each capillary bed a CTC enters kills it with probability ``death_per_pass``
(shear, anoikis, NK cells); a survivor arrests with probability ``arrest``
(size restriction), or passes on with the bed's venous blood
(:func:`paget.body.absorbing_fates`).  Cells shed into lymph meet the regional
lymph nodes first, die there with the nodes' ``death_per_pass``, arrest with
the regional station's ``lymph_node_arrest``, and otherwise go on to the distant
nodes (where the body has them: ``body.distant_node``), which they pass the same
way with the distant station's arrest, and then reach the venous blood through
the thoracic duct (and so the lung bed first).  That is the chain the primary's
lymph takes; a metastasis's lymph enters it where its organ drains
(:func:`lymph_entry`): from the regional nodes and from every organ other than
the primary's at the distant station, from the distant nodes into the venous
blood.
"""
from __future__ import annotations

from typing import Annotated, Literal, Union

import numpy as np
import pydantic
from pydantic import Field

from paget.body import absorbing_fates
from paget.config import Table, organ_map, resolve_organ_map
from paget.manager import hookimpl
from paget.state import FateMatrix


ARREST = 0.2
LYMPH_NODE_ARREST = 0.5
#: the lymph node stations, in the order lymph meets them
STATIONS = ("lymph_nodes", "distant_nodes")
_Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
_Station = Literal[STATIONS]  # type: ignore[valid-type]



class CirculationTable(Table):
    # [DERIVED] a per-pass chain fitted to the autopsy table of DiSibio &
    # French 2008 (Arch Pathol Lab Med 132:931) needs an effective arrest probability of ~0.2 per
    # bed, since breast and lung primaries reach the liver in 35-50 % of
    # patients; near-certain first-bed arrest (Chambers et al. 2002, Nat Rev
    # Cancer 2:563) would leave them almost no liver metastases.
    # The cancer scenarios share a value [DERIVED] by the joint fit of
    # docs/validation/calibrate.py (docs/explanation/validation.md).
    arrest: organ_map(probability=True) = Field(  # type: ignore[valid-type]
        ARREST, description="probability that a CTC surviving a bed arrests in it",
        json_schema_extra={"source": "derived: a per-bed chain fitted to the autopsy table of "
                                     "DiSibio & French 2008 (Arch Pathol Lab Med 132:931)"})
    # ASSUMPTION (an illustrative round value, no published source): 5 % of
    # CTCs die per bed passage.
    death_per_pass: organ_map(probability=True) = Field(  # type: ignore[valid-type]
        0.05, description="probability that a CTC dies in a bed it enters",
        json_schema_extra={"source": "assumption"})
    # ASSUMPTION: half of the cells reaching a node group by lymph arrest
    # there (the cancer scenarios share a value [DERIVED] by the joint fit).
    lymph_node_arrest: Union[_Probability, dict[_Station, _Probability]] = Field(  # type: ignore[valid-type]
        LYMPH_NODE_ARREST,
        description="probability a lymph-borne cell arrests in a node station: one value for "
                    "both, or {lymph_nodes = a, distant_nodes = b} (regional, then distant "
                    "nodes; both named)",
        json_schema_extra={"source": "assumption"})

    @pydantic.field_validator("lymph_node_arrest")
    @classmethod
    def _both_stations(cls, v):
        if isinstance(v, dict):
            missing = [s for s in STATIONS if s not in v]
            if missing:
                raise ValueError(f"a per-station table must name both node stations "
                                 f"({' and '.join(STATIONS)}); missing {', '.join(missing)}")
        return v


def node_arrest(value, station: str) -> float:
    """A station's arrest probability from ``lymph_node_arrest`` (one number for
    both stations, or a {station: probability} map)."""
    return float(value[station]) if isinstance(value, dict) else float(value)


@hookimpl
def paget_config_tables():
    return {"circulation": CirculationTable}


@hookimpl(tryfirst=True)
def paget_fate_matrix(config, body, survival, arrest):
    """Per-pass death 1 - (1 - death) * survival and arrest min(1, arrest * multiplier),
    for a circulation class with those multipliers (1, 1 by default)."""
    cfg = config.circulation
    arrest_mult = arrest
    arrest = np.minimum(1.0, resolve_organ_map(cfg.arrest, body, ARREST) * arrest_mult)
    death = 1.0 - (1.0 - resolve_organ_map(cfg.death_per_pass, body, 0.05)) * survival
    death = np.clip(death, 0.0, 1.0)
    blood = absorbing_fates(body, arrest, death)
    # lymph: arrest in the nodes, else the venous return (the lung bed first)
    start_lung = np.zeros((1, body.n_organs + 1))
    start_lung[0, body.organ_index("lung")] = 1.0
    venous = absorbing_fates(body, arrest, death, entry=start_lung)[0]
    # each node group is a bed like any other: death first, then arrest, else
    # onwards (regional nodes -> distant nodes -> venous blood), built from the
    # venous end backwards; entering[k]: the fates of a cell that enters the
    # chain at station k
    groups = [(body.lymph_node, STATIONS[0])]
    if body.distant_node:
        groups.append((body.distant_node, STATIONS[1]))
    entering = [venous] * len(groups)
    lymph = venous
    for k in reversed(range(len(groups))):
        name, station = groups[k]
        ln = body.organ_index(name)
        stop = min(1.0, node_arrest(cfg.lymph_node_arrest, station) * arrest_mult)
        onward = (1.0 - death[ln]) * (1.0 - stop) * lymph
        onward[ln] += (1.0 - death[ln]) * stop
        onward[-1] += death[ln]
        lymph = entering[k] = onward
    return FateMatrix(blood=blood, lymph=lymph,
                      lymph_by_source=lymph_entry(body, config.primary.organ, entering, venous))


def lymph_entry(body, primary_organ: str, entering: list, venous: np.ndarray) -> np.ndarray:
    """Lymph fates per source organ, ``(n_organs, n_organs + 1)``: where the
    lymph of a lesion in each organ enters the node chain.

    * the primary's organ drains to the regional nodes (``entering[0]``);
    * a lesion in the regional nodes drains by their efferent vessels into the
      next station, the distant nodes;
    * a lesion in the distant nodes drains by the thoracic duct into the
      venous blood;
    * a lesion in any other organ drains to that organ's own nodes, which lie
      outside the primary's regional basin and so count as distant nodes (M1
      nodes; Amin et al. 2017, AJCC Cancer Staging Manual, 8th ed.) [READ-2].

    Without a distant station, what would enter it goes to the venous blood.
    Anatomy of the chain: lymph passes node groups in series, efferent vessels
    of one group being afferent to the next, and reaches the venous angle by the
    thoracic duct or the right lymphatic duct (Standring 2016, Gray's Anatomy,
    41st ed., ch. 'Lymphatic system') [RECALLED].
    """
    distant = entering[1] if len(entering) > 1 else venous
    out = np.empty((body.n_organs, body.n_organs + 1))
    out[:] = distant            # every organ, the regional nodes among them
    if body.distant_node:
        out[body.organ_index(body.distant_node)] = venous
    out[body.organ_index(primary_organ)] = entering[0]
    return out
