"""Angiogenesis: avascular lesions stay near 1-2 mm until their angiogenic switch.

Model
-----
Every lesion is *avascular* or *vascular* (the lesion-level state ``vascular``).

* **The cap.**  An avascular lesion is fed by diffusion alone and stops growing
  near 1-2 mm, ~10^6 cells (Folkman 1971, N Engl J Med 285:1182 [RECALLED];
  experimental tumours without angiogenesis stay between ~0.2 and 2 mm,
  10^5-10^6 cells, in an editorial of J Natl Cancer Inst 2000, 92:94 [READ-2];
  1 mm^3 ~ 10^6 cells as used by Coumans et al. 2013, BMC Cancer 13:283 [READ]).
  The net rate ``b - d`` of each row of an avascular
  lesion of ``N`` cells (all its clones) is held at or below
  ``max(0, ln(cap / N) / dt)`` by raising the death rate; the birth rate (the
  larger of the two: the turnover) is kept.  Well below the cap nothing
  changes; the step that would carry the lesion past the cap ends, on
  average, exactly on it (rejected: leaving the rates alone below the cap,
  which overshoots by one step of growth, ~8 % at daily steps for the busy
  test growth and ~70 % at weekly ones, so the cap would depend on ``dt``);
  at or above the cap net growth is zero, so the lesion fluctuates around the
  cap as a critical birth-death process (variance ``2 b N t``).  A lesion that
  is already shrinking (``death >= birth``: immune kill, therapy) is left
  alone: the cap limits growth, it does not create it.
* **The switch.**  Each step an avascular growing lesion turns vascular with
  probability ``1 - exp(-switch_rate * drive * (1 + hypoxia_gain * hypoxia) * dt)``,
  where ``drive`` is genetics' ``angiogenic_drive`` trait and ``hypoxia``
  microenvironment's index (each 1 and 0 when that plugin is absent).  A
  lesion of several clones draws once per clone with the clone's share of the
  lesion's cells as a weight on the hazard, so the lesion's hazard is
  ``switch_rate * (1 + hypoxia_gain * hypoxia) * (cell-weighted mean drive)``,
  whatever its number of clones (rejected: one full-rate draw per clone,
  which would make a lesion switch faster merely for having more clones).
  Draws are keyed (``draws.uniform``), so results do not depend on the ranks.
* **Sharing.**  Vessels belong to the lesion: every row (clone) of a lesion
  with a vascular row is vascular, including clones founded in it later (from
  their first step: a clone founded in the last step of a run is written to
  the lesion table before it has had one, still avascular).  New lesions
  (metastases founded by one cell, reactivated dormant cells) start avascular.
  The hypoxia read is microenvironment's value as it stands when this hook
  runs (this step's or the previous one's, depending on the plugins' order).
* **The primary at t = 0** is vascular if its initial cells are at or above
  ``avascular_cap``: it is presented as a tumour that has reached the avascular
  limit and grows on (the default 1 mm^3, 10^6-cell primary is therefore
  vascular, and the default scenario's growth and shedding, calibrated on
  clinical tumours, are unchanged).  A smaller primary starts avascular and
  must switch like any lesion.
* **Shedding.**  Vascular lesions shed ``vascular_shedding`` times more CTCs
  than avascular ones of the same size.  The intravasation rate is calibrated
  on CTC counts of a 2.7 mm (10^7 cells) primary (Coumans et al. 2013), far
  above the cap and so vascular; to keep that calibration the factor is
  applied as a division of the shedding of *avascular* rows (rejected: a
  multiplier on vascular rows, which would raise every clinical tumour's CTC
  count above its calibration).

Hooks
-----
The switch and sharing run in ``paget_update_state``.  The shedding factor is
applied in ``paget_intravasation`` (compiled: ``plugin_math.divide_where_not``),
after the built-in stage has set the shedding.  The cap is applied in
``paget_growth`` (compiled: ``plugin_math.avascular_cap``; on each growing
avascular row the net rate is at most ``max(0, ln(cap / N) / dt)``, ``N`` the
lesion's cells, by raising ``death``), marked ``trylast`` so that it comes after every factor
that sets or scales the growth rates (genetics' ``proliferation``): it bounds
the net rate those leave.  The immune plugin's lesion kill is also ``trylast``
and, registered after this plugin, is called after the cap (pluggy calls
``trylast`` implementations in the order they were registered): the kill is an
extra hazard on top of the capped rates, so a lesion held at the cap still
loses the cells the immune system kills.
"""
from __future__ import annotations

import numpy as np
from pydantic import Field

from paget.config import Table
from paget.ext import plugin_math
from paget.manager import hookimpl
from paget.state import StateRead, StateVariable


class AngiogenesisTable(Table):
    # Folkman 1971 (N Engl J Med 285:1182): avascular tumours stay at ~1-2 mm,
    # ~1e6 cells, until the angiogenic switch [RECALLED]; 1 mm^3 ~ 1e6 cells
    # (as used by Coumans et al. 2013, BMC Cancer 13:283) [READ].
    avascular_cap: float = Field(1e6, ge=1,
                                 description="cells at which an avascular lesion stops growing",
                                 json_schema_extra={"source": "avascular tumours stay near 1-2 "
                                                              "mm (Folkman 1971, N Engl J Med "
                                                              "285:1182), ~1e6 cells"})
    # ASSUMPTION: 1e-3/day, a mean wait of 1/1e-3 days = 2.7 years at the cap
    # without hypoxia (1 year with the default hypoxia gain at the hypoxia of a
    # 1e6-cell avascular lesion, ~0.43): long enough that dormant avascular
    # micrometastases are common over a ten-year follow-up, short enough that
    # most metastases seeded early switch within it.  To be calibrated.
    switch_rate: float = Field(1e-3, ge=0,
                               description="angiogenic switch rate of an avascular lesion, 1/day",
                               json_schema_extra={"source": "assumption"})
    # ASSUMPTION: an avascular lesion has no vessels of its own to shed into
    # and sheds only through host vessels at its margin: ten times fewer CTCs
    # than a vascular lesion of the same size.
    vascular_shedding: float = Field(10.0, ge=1,
                                     description="CTC shedding of a vascular lesion relative to an "
                                                 "avascular one of the same size (dimensionless)",
                                     json_schema_extra={"source": "assumption"})
    # Hypoxia induces VEGF, the main angiogenic signal (Shweiki et al. 1992,
    # Nature 359:843) [READ abstract; the authors RECALLED].  ASSUMPTION: a fully hypoxic
    # lesion (hypoxia = 1) switches five times faster (gain 4).
    hypoxia_gain: float = Field(4.0, ge=0,
                                description="switch rate multiplier 1 + gain * hypoxia "
                                            "(dimensionless)",
                                json_schema_extra={"source": "assumption; hypoxia induces VEGF "
                                                             "(Shweiki et al. 1992, Nature "
                                                             "359:843)"})


@hookimpl
def paget_config_tables():
    return {"angiogenesis": AngiogenesisTable}


@hookimpl
def paget_state_variables():
    return [StateVariable("vascular", "lesion", dtype="bool", default=False, units="1",
                          long_name="the lesion has passed its angiogenic switch", inherit=False,
                          output=True)]


@hookimpl
def paget_state_reads():
    # genetics' trait of this step; microenvironment's hypoxia of the previous step
    return [StateRead("angiogenic_drive", required=False),
            StateRead("hypoxia", required=False, previous_step=True)]


def share_vessels(lesions, vascular: np.ndarray) -> None:
    """Make every row of a lesion with a vascular row vascular (in place):
    ``vascular |= lesions.lesion_sum(vascular) > 0``, compiled (lesions' rows
    are on one rank, so this needs no other rank's rows)."""
    plugin_math.share_vessels(lesions.lesion, vascular)


def switch_probability(cfg: AngiogenesisTable, share: np.ndarray, drive, hypoxia,
                       dt: float) -> np.ndarray:
    """Per-row probability of switching this step (``share``: the row's share of
    its lesion's cells; ``drive``, ``hypoxia``: arrays or scalars)."""
    hazard = cfg.switch_rate * drive * (1.0 + cfg.hypoxia_gain * hypoxia) * share
    return -np.expm1(-hazard * dt)


@hookimpl
def paget_update_state(lesions, state, config, t, dt, draws):
    cfg = config.angiogenesis
    vascular = state.lesion["vascular"]
    if len(lesions) == 0:
        return
    if t == 0:
        vascular |= lesions.primary & (lesions.cells >= cfg.avascular_cap)
    share_vessels(lesions, vascular)  # clones founded last step in vascular lesions
    # the candidates, growing rows not yet vascular, compiled; only they draw (a
    # row's keyed uniform does not depend on which other rows draw): most rows of
    # a late table are vascular or dormant
    rows = plugin_math.avascular_rows(lesions.dormant, lesions.cells, vascular)
    if cfg.switch_rate <= 0 or not rows.size:
        return
    total = lesions.lesion_cells[rows]
    share = np.divide(lesions.cells[rows], total, out=np.zeros(rows.size), where=total > 0)

    def at_rows(name, default):
        a = state.lesion.get(name)
        return default if a is None else a[rows]
    p = switch_probability(cfg, share, at_rows("angiogenic_drive", 1.0),
                           at_rows("hypoxia", 0.0), dt)
    switched = rows[draws.uniform(lesions, "angiogenesis:switch", rows=rows) < p]
    if switched.size:
        vascular[switched] = True
        share_vessels(lesions, vascular)


@hookimpl
def paget_intravasation(lesions, rates, state, config):
    # the avascular rows' shedding divided by the ratio, compiled
    ratio = config.angiogenesis.vascular_shedding
    if ratio != 1.0:
        plugin_math.divide_where_not(state.lesion["vascular"], ratio, rates.shed)


@hookimpl(trylast=True)
def paget_growth(lesions, rates, state, config, dt):
    # the avascular cap on the growing rows' net rate, compiled
    plugin_math.avascular_cap(lesions.dormant, lesions.cells, lesions.lesion_cells,
                              state.lesion["vascular"], config.angiogenesis.avascular_cap,
                              float(dt), rates.birth, rates.death)
