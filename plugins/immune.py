"""Immune response: NK-cell kill of CTCs, kill of small lesions, competence, evasion.

Model
-----
A row's **visibility** to the immune system is

    v = competence * immune_competence[patient] * (1 - immune_evasion[row])

where ``competence`` is this table's cohort-wide multiplier, ``immune_competence``
the patient-level state this plugin owns (1 = typical; left at 1 here, to be
drawn per patient by the cohort, issue 6), and ``immune_evasion`` genetics'
trait (0 = fully visible; taken as 0 when genetics is not loaded).

* **CTCs in the blood** (NK cells): in every capillary bed a visible CTC is
  killed with probability ``ctc_kill * v``, independently of the circulation's
  own per-bed death, so the per-bed survival is multiplied by
  ``1 - ctc_kill * v`` (``rates.ctc_survival``; clipped at 0 when ``v > 1``).
* **Small lesions** (elimination, equilibrium, escape: cancer immunoediting,
  Dunn et al. 2002, Nat Immunol 3:991 [READ abstract]; its "three Es", Dunn,
  Old & Schreiber 2004, Annu Rev Immunol 22:329 [READ abstract]): each
  growing row's cells get an added per-cell death rate

      kill = lesion_kill * v / (1 + N / half_size)

  where ``N`` is its lesion's cells (all clones).  A lesion of N cells thus
  loses ``lesion_kill * v * N / (1 + N / half_size)`` cells a day, at most
  ``lesion_kill * v * half_size``: the immune system eliminates a one-cell
  colony with a larger probability (``(d + kill) / b`` instead of ``d / b``
  for ``b > d + kill``), holds lesions whose growth is near the kill in
  equilibrium, and is outgrown (escape) once a lesion is much larger than
  ``half_size``.

Hooks
-----
``paget_circulation`` sets the CTC kill (a multiplier: its place among the
other factors on ``ctc_survival`` matters only to rounding).  ``paget_growth``
adds the lesion kill to ``rates.death`` (:func:`apply_lesion_kill`); it is
marked ``trylast`` so that the kill is an extra hazard added after the other
plugins have set and scaled the growth rates: genetics' ``proliferation``
scales net growth, and scaling after the kill had been added would scale the
kill too.  The angiogenesis plugin's avascular cap is ``trylast`` as well, and
pluggy calls ``trylast`` implementations in the order the plugins were
registered (the reverse of the order among ordinary ones): the built-in order
registers angiogenesis before immune (``paget.manager.DEFAULT_PLUGINS``), so
the cap comes first and the kill is added to the capped rates.  A lesion held
at the cap therefore still loses the cells the immune system kills (in the
other order the cap, which sets ``death = max(death, birth - room)``, would
absorb the kill of a lesion at the cap).  Dormant solitary cells are not
affected: immune-mediated dormancy is left to the colonization stage's
dormancy rates.
"""
from __future__ import annotations

import numpy as np
from pydantic import Field

from paget.config import Table
from paget.ext import plugin_math
from paget.manager import hookimpl
from paget.state import StateRead, StateVariable


class ImmuneTable(Table):
    # ASSUMPTION: NK cells kill 5 % of visible CTCs per capillary bed, as much
    # again as the circulation's default per-bed death (itself an assumption);
    # no per-bed NK kill probability is in paget's sources
    # (docs/reference/sources.md).  To be calibrated.
    ctc_kill: float = Field(0.05, ge=0, le=1,
                            description="probability per capillary bed that NK cells kill a "
                                        "fully visible CTC (competence 1)",
                            json_schema_extra={"source": "assumption"})
    # ASSUMPTION: 0.005/day added to the death of a one-cell colony (the
    # colonization default: turnover 0.02/day, birth ~0.037/day at one cell),
    # raising its extinction probability from 0.54 to ~0.68.
    lesion_kill: float = Field(0.005, ge=0,
                               description="k: per-cell kill rate of a visible lesion of a few "
                                           "cells, 1/day",
                               json_schema_extra={"source": "assumption"})
    # ASSUMPTION: the kill halves at 1e4 cells, a ~0.27 mm micrometastasis
    # ((pi/6) D^3 1e6 cells/mm^3, Coumans et al. 2013, BMC Cancer 13:283
    # [READ]): at most k * 1e4 = 50 cells/day per lesion, negligible for a
    # 1e6-cell primary.
    half_size: float = Field(1e4, gt=0,
                             description="N_half: lesion cells at which the per-cell kill halves",
                             json_schema_extra={"source": "assumption"})
    competence: float = Field(1.0, ge=0,
                              description="multiplier of every patient's immune_competence "
                                          "(0: no immune response)")


@hookimpl
def paget_config_tables():
    return {"immune": ImmuneTable}


@hookimpl
def paget_state_variables():
    return [StateVariable("immune_competence", "patient", "float64", 1.0, "1",
                          "immune competence of the patient (1 = typical)", output=True)]


@hookimpl
def paget_state_reads():
    return [StateRead("immune_evasion", "paget_growth", required=False)]   # genetics' trait


def visibility(lesions, state, config) -> np.ndarray:
    """Per row: competence * immune_competence[patient] * (1 - immune_evasion)."""
    v = config.immune.competence * state.patient["immune_competence"][lesions.pidx]
    evasion = state.lesion.get("immune_evasion")
    if evasion is not None:
        v = v * (1.0 - evasion[lesions.row])
    return v


def apply_lesion_kill(lesions, rates, state, config, v: np.ndarray) -> None:
    """Add the immune kill of small lesions to ``rates.death`` of growing rows."""
    cfg = config.immune
    if cfg.lesion_kill == 0.0 or len(lesions) == 0:
        return
    grows = ~lesions.dormant & (lesions.cells > 0) & (v > 0)
    if not grows.any():
        return
    n = lesions.lesion_cells[grows]
    rates.death[grows] += cfg.lesion_kill * v[grows] / (1.0 + n / cfg.half_size)


@hookimpl
def paget_circulation(lesions, rates, state, config):
    cfg = config.immune
    if len(lesions) == 0 or cfg.competence == 0.0 or cfg.ctc_kill == 0.0:
        return
    # times max(1 - ctc_kill x visibility, 0), compiled
    plugin_math.immune_ctc_survival(lesions.pidx, state.patient["immune_competence"],
                                    state.lesion.get("immune_evasion"), lesions.row,
                                    cfg.competence, cfg.ctc_kill, rates.ctc_survival)


@hookimpl(trylast=True)
def paget_growth(lesions, rates, state, config):
    cfg = config.immune
    if len(lesions) == 0 or cfg.competence == 0.0 or cfg.lesion_kill == 0.0:
        return
    # apply_lesion_kill with the rows' visibility, compiled
    plugin_math.immune_lesion_kill(lesions.dormant, lesions.cells, lesions.lesion_cells,
                                   lesions.pidx, state.patient["immune_competence"],
                                   state.lesion.get("immune_evasion"), lesions.row,
                                   cfg.competence, cfg.lesion_kill, cfg.half_size, rates.death)
