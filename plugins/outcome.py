"""Outcomes: death at a lethal tumour burden, and when a metastasis becomes detectable.

Model
-----
* **Death** (``[outcome] lethal_cells``): a patient dies at the end of the first
  step at which the total burden of growing tumour cells (every lesion, every
  organ; dormant cells excluded) reaches ``lethal_cells``.  A burden of about
  10^12 cells, about 1 kg of tumour, is taken as lethal (Coumans, Siesling &
  Terstappen 2013, BMC Cancer 13:283, supplement) [READ].
* **Detectable lesions** (``[outcome] detectable_cells``): a lesion (all its
  clones together) counts as detectable from ``detectable_cells`` cells on.
  ``detectable_lesions`` counts them per organ at each recorded time (the
  primary included while it is in the body); ``first_detectable_metastasis_time``
  is the end of the first step at which a metastasis (a lesion other than the
  primary) reached that size.  This is what the model knows whether or not
  anyone looks; the imaging plugin's ``first_detected_metastasis_time`` is what
  a scan schedule finds.
* **Regional and distant** (TNM): a metastasis in the regional lymph nodes
  (the body's ``lymph_node`` organ, ``lymph_nodes`` in the shipped bodies) is
  nodal disease, N, not distant metastasis, M1; non-regional nodes
  (``distant_nodes``) and every other organ are M1 (AJCC Cancer Staging Manual,
  8th ed., Amin et al. 2017, Springer [READ-2]).
  ``first_detectable_metastasis_time`` counts any metastasis, regional nodes
  included; ``first_detectable_distant_metastasis_time`` only one outside the
  regional nodes, so it is never earlier.  ASSUMPTION: a metastasis in the primary's
  own organ counts as distant (the body has one compartment per organ, so it
  cannot tell a satellite nodule from a haematogenous metastasis there).

A dead patient's readouts stay as they were at death.
"""
from __future__ import annotations

import numpy as np
from pydantic import Field

from paget.config import Table
from paget.errors import ConfigError
from paget.ext import plugin_math
from paget.manager import hookimpl
from paget.plugins._memo import once
from paget.state import StateVariable

_DETECTABLE_COMMENT = (
    "Detectable and detected metastasis differ: first_detectable_metastasis_time is when "
    "the model first had a metastasis at or above outcome.detectable_cells, known to the "
    "simulation whether or not anyone looks; first_detected_metastasis_time (imaging "
    "plugin) is the first scheduled imaging scan, from diagnosis on, that showed a "
    "metastasis at or above the scan's diameter threshold (imaging.threshold), so it "
    "depends on the scan schedule and is NaN for a patient never scanned.")

#: regional against distant, for the comments of every metastasis time
REGIONAL_COMMENT = (
    "Regional and distant metastasis differ (TNM, AJCC Cancer Staging Manual, 8th ed., "
    "2017): first_detectable_metastasis_time and first_detected_metastasis_time count any "
    "metastasis, the regional lymph nodes (body lymph_node organ, N) included; "
    "first_detectable_distant_metastasis_time and first_detected_distant_metastasis_time "
    "count only one outside the regional nodes (M1: distant nodes and every other organ, "
    "the primary's own organ included). The first_detectable times are "
    "detectable (outcome.detectable_cells, known to the model); the first_detected times "
    "are found by scheduled imaging scans (imaging plugin).")


class OutcomeTable(Table):
    """Thresholds that turn cell counts into clinical events."""

    # Lethal tumour burden ~1e12 cells, ~1 kg (Coumans, Siesling & Terstappen
    # 2013, BMC Cancer 13:283, supplement) [READ].
    lethal_cells: float = Field(1e12, gt=0,
                                description="total tumour cells at which a patient dies",
                                json_schema_extra={"source": "a lethal burden of ~1e12 cells, ~1 "
                                                             "kg (Coumans, Siesling & Terstappen "
                                                             "2013, BMC Cancer 13:283, "
                                                             "supplement)"})
    # CT detects lesions of ~3-5 mm (plugins/imaging.py cites it); a 5 mm sphere holds
    # (pi/6) 5^3 1e6 = 6.5e7 cells at 1e6 cells/mm^3, the conventional density
    # (an ASSUMPTION: Del Monte 2009, Cell Cycle 8:505, argues that carcinomas
    # hold about ten times fewer).
    detectable_cells: float = Field(6.5e7, gt=0,
                                    description="cells at which a lesion counts as detectable",
                                    json_schema_extra={"source": "assumption: a 5 mm lesion, "
                                                                 "CT's limit of ~3-5 mm, at the "
                                                                 "conventional 1e6 cells/mm^3 "
                                                                 "(Del Monte 2009, Cell Cycle "
                                                                 "8:505, argues for ~10 times "
                                                                 "fewer in carcinomas)"})


@hookimpl
def paget_config_tables():
    return {"outcome": OutcomeTable}


@hookimpl
def paget_check_config(config):
    """The lethal burden is above the primary's initial size: else every patient
    dies in the first step.  (``detectable_cells`` is a lesion's size: at or
    above ``lethal_cells`` no lesion is ever detected before its patient dies,
    a legitimate choice where detection does not matter, so it is not refused.)"""
    primary, lethal = config.primary, config.outcome.lethal_cells
    if primary.injection == "none" and lethal <= primary.cells:
        raise ConfigError(f"outcome.lethal_cells = {lethal:g}: must be more than "
                          f"primary.cells = {primary.cells:g}, the primary's size at time zero "
                          f"(else every patient dies in the first step)")


@hookimpl
def paget_state_variables():
    return [
        StateVariable("detectable_lesions", "patient_organ", "int64", 0, "1",
                      "number of lesions at or above outcome.detectable_cells"),
        StateVariable("first_detectable_metastasis_time", "patient", "float64", np.nan, "days",
                      "first time a metastasis, regional lymph nodes included, reached "
                      "outcome.detectable_cells (detectable, known to the model), days since "
                      "the start of the run (NaN: never)", over_time=False),
        StateVariable("first_detectable_distant_metastasis_time", "patient", "float64", np.nan,
                      "days",
                      "first time a distant metastasis (outside the regional lymph nodes) "
                      "reached outcome.detectable_cells (detectable, known to the model), "
                      "days since the start of the run (NaN: never)", over_time=False),
    ]


@hookimpl
def paget_output_attrs():
    return {"first_detectable_metastasis_time": {
                "comment": f"{_DETECTABLE_COMMENT} {REGIONAL_COMMENT}"},
            "first_detectable_distant_metastasis_time": {"comment": REGIONAL_COMMENT}}


def detectable(lesions, cells: float) -> np.ndarray:
    """Rows, one per lesion (its first growing row), of the lesions of at least
    ``cells`` cells (all their growing clones together), in row order."""
    rows = np.flatnonzero(~lesions.dormant & (lesions.cells > 0))
    big = rows[lesions.lesion_cells[rows] >= cells]
    if big.size > 1:     # several rows of one lesion (clones): keep its first
        _, first = np.unique(lesions.lesion[big], return_index=True)
        big = big[np.sort(first)]
    return big


@hookimpl
def paget_outcome(lesions, patients, state, config, body, t_end, dying):
    cfg = config.outcome
    ps = state.patient
    if lesions.serial:
        # each patient's rows on this rank alone: the whole body in one
        # compiled call, the per-(patient, organ) counts taken in its pass
        plugin_math.outcome_serial(
            lesions.dormant, lesions.cells, lesions.lesion_cells, lesions.lesion, lesions.primary,
            lesions.pidx, lesions.organ, cfg.detectable_cells, _lymph(body), patients.alive,
            ps["detectable_lesions"], ps["first_detectable_metastasis_time"],
            ps["first_detectable_distant_metastasis_time"], patients.burden, cfg.lethal_cells,
            t_end, dying)
        return
    # the lesions' first rows (detectable), compiled; then per patient over the
    # ranks holding it (collective: every rank): all detectable lesions, and
    # the metastases among them, per organ (two collective sums a step)
    first, ones, metastasis = plugin_math.detectable_rows(
        lesions.dormant, lesions.cells, lesions.lesion_cells, lesions.lesion, lesions.primary,
        float(cfg.detectable_cells))
    counts = lesions.patient_sum(ones, rows=first, by_organ=True)
    by_organ = lesions.patient_sum(metastasis, rows=first, by_organ=True)
    # per alive patient, compiled: the counts, the first (distant) metastasis
    # times, death at the lethal burden
    plugin_math.outcome_update(counts, by_organ, _lymph(body), np.asarray(patients.alive),
                               ps["detectable_lesions"], ps["first_detectable_metastasis_time"],
                               ps["first_detectable_distant_metastasis_time"],
                               np.asarray(patients.burden), float(cfg.lethal_cells),
                               float(t_end), dying)


#: per body: the regional lymph nodes' organ index
_LYMPH: dict = {}


def _lymph(body) -> int:
    return once(_LYMPH, (body,), lambda: body.organ_index(body.lymph_node))
