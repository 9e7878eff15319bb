"""Supportive care: performance status, symptoms and skeletal events over time.

Model (every weight an ASSUMPTION: no published source paget cites gives a mapping
from tumour burden to performance status; to be calibrated)
-----
A patient's **symptom burden** adds what the disease does:

* tumour load: ``max(0, log10(burden / load_cells))`` (0 below ``load_cells``,
  1 at ten times it, ...);
* **neurological**: ``brain`` per brain lesion of ``organ_cells`` or more (at
  most one counted);
* **hepatic dysfunction**: ``liver`` once the liver holds ``organ_cells`` or
  more tumour cells;
* **skeletal**: ``bone`` once bone holds ``organ_cells`` or more, and skeletal
  events (fracture, cord compression, need for radiotherapy to bone) arrive at
  ``skeletal_event_rate`` per day per 1e9 tumour cells in bone (Poisson);
  a bone-targeted agent (``bone_agent = true``) multiplies that rate by
  ``bone_agent_factor``.

The ECOG **performance status** is ``min(4, floor(symptom burden))`` (0 fully
active, 4 bedbound; 5, dead, is left to ``alive``).  A treatment plan reads it
to hold back chemotherapy, as clinicians do at poor performance status.
"""
from __future__ import annotations

import numpy as np
from pydantic import Field

from paget.config import Table
from paget.ext import plugin_math
from paget.manager import hookimpl
from paget.plugins._memo import once
from paget.random import poisson_quantile
from paget.state import StateVariable


class SupportiveTable(Table):
    # ASSUMPTION: symptoms begin at 1e10 cells (~10 cm^3 at 1 cm^3 ~ 1e9 cells, as
    # used by Coumans et al. 2013, BMC Cancer 13:283 [READ]).
    load_cells: float = Field(1e10, gt=0,
                              description="total tumour cells at which the tumour load starts "
                                          "to add to the symptom burden",
                              json_schema_extra={"source": "assumption"})
    # ASSUMPTION: an organ counts as involved at 1e9 cells (~1 cm^3).
    organ_cells: float = Field(1e9, gt=0,
                               description="tumour cells in an organ at which its involvement "
                                           "adds to the symptom burden",
                               json_schema_extra={"source": "assumption"})
    brain: float = Field(2.0, ge=0,
                         description="symptom burden of brain involvement (neurological)")
    liver: float = Field(1.0, ge=0,
                         description="symptom burden of liver involvement (hepatic dysfunction)")
    bone: float = Field(1.0, ge=0,
                        description="symptom burden of bone involvement")
    # ASSUMPTION: one skeletal event a year per 1e9 tumour cells in bone.
    skeletal_event_rate: float = Field(1.0 / 365.25, ge=0,
                                       description="skeletal-related events per day per 1e9 "
                                                   "tumour cells in bone",
                                       json_schema_extra={"source": "assumption"})
    bone_agent: bool = Field(False, description="patients receive a bone-targeted agent "
                                                "(e.g. zoledronic acid) throughout")
    # Zoledronic acid lowered the risk of skeletal-related events by 41 % vs
    # placebo in breast cancer with bone metastases, a risk ratio of 0.59 in the
    # multiple-event analysis (the primary endpoint, the rate ratio at one year,
    # was 0.61; Kohno et al. 2005, J Clin Oncol 23:3314) [READ abstract]: factor
    # 0.59 (ASSUMPTION: the multiple-event ratio read as a rate multiplier).
    bone_agent_factor: float = Field(0.59, ge=0, le=1,
                                     description="multiplier of the skeletal-event rate under "
                                                 "the bone-targeted agent",
                                     json_schema_extra={"source": "zoledronic acid: 41 % fewer "
                                                                  "skeletal events than placebo "
                                                                  "(Kohno et al. 2005, J Clin "
                                                                  "Oncol 23:3314)"})


@hookimpl
def paget_config_tables():
    return {"supportive": SupportiveTable}


@hookimpl
def paget_output_attrs():
    # the ECOG grades 0-4 (Oken et al. 1982, Am J Clin Oncol 5:649); grade 5, dead,
    # is the output's alive = False
    return {"performance_status": {
        "flag_values": np.arange(5, dtype=np.int64),
        "flag_meanings": "fully_active restricted_in_strenuous_activity "
                         "ambulatory_capable_of_all_selfcare capable_of_only_limited_selfcare "
                         "completely_disabled"}}


@hookimpl
def paget_state_variables():
    return [
        StateVariable("performance_status", "patient", "int64", 0, "1",
                      "ECOG performance status (0 fully active to 4 bedbound)"),
        StateVariable("symptom_burden", "patient", "float64", 0.0, "1",
                      "symptom burden from tumour load and organ involvement"),
        StateVariable("skeletal_events", "patient", "int64", 0, "1",
                      "skeletal-related events so far"),
    ]


@hookimpl
def paget_update_state(lesions, state, patients, config, body, dt, draws):
    cfg, ps = config.supportive, state.patient
    # the symptom burden and performance status (written for the alive
    # patients) and the skeletal events' means, compiled: in one call where
    # each patient's rows are on this rank alone (the growing cells per organ
    # summed in it; None: no mean above 0), else after the collective sum
    args = (*_organs(body), patients.burden, patients.alive, cfg.load_cells, cfg.organ_cells,
            cfg.brain, cfg.liver, cfg.bone, cfg.skeletal_event_rate, dt, cfg.bone_agent,
            cfg.bone_agent_factor, ps["symptom_burden"], ps["performance_status"])
    rate = plugin_math.supportive_serial(lesions.dormant, lesions.cells, lesions.pidx,
                                         lesions.organ, body.n_organs, *args) \
        if lesions.serial else False
    if rate is False:
        per_organ = lesions.patient_sum(plugin_math.growing_cells(lesions.dormant, lesions.cells),
                                        by_organ=True)
        rate = plugin_math.supportive_update(per_organ, *args)
        if not np.count_nonzero(rate):
            rate = None
    if rate is not None:   # (no bone lesion anywhere, the usual: no event to draw)
        # keyed uniforms: the same whatever is drawn before them, or whether they are
        u = draws.uniform_patients(patients, "supportive.skeletal")
        plugin_math.add_where(patients.alive, poisson_quantile(u, rate), ps["skeletal_events"])


#: the brain's, liver's and bone's organ indices, per body
_ORGANS: dict = {}


def _organs(body) -> tuple[int, int, int]:
    return once(_ORGANS, (body,), lambda: tuple(body.organ_index(name)
                                                for name in ("brain", "liver", "bone")))
