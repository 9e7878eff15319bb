"""Blood readouts: CTCs per 7.5 mL draw, ctDNA fraction, a serum biomarker.

Model
-----
Every value is what a blood draw at the start of the step would give; it is
drawn each step for living patients and recorded at the output times.

* **CTCs**: cells enter the blood at the rate the patient's lesions shed them
  (``patients.ctc_shed`` over the previous step, CTC/day) and are cleared with
  half-life ``t_c``.  Transit and clearance take hours and a step is a day, so
  the blood holds the steady state ``S t_c / ln 2`` cells; a draw of ``v`` mL
  of a blood volume ``V`` mL holds ``Poisson(S t_c v / (V ln 2))`` CTCs.  All
  shed cells are counted as entering the blood (the lymph share reaches the
  venous blood after the nodes within hours: an ASSUMPTION), except those a
  direct route takes into a serosal cavity (transcoelomic spread), which never
  enter the blood (``patients.ctc_shed`` leaves them out).
  ``ctc_positive`` flags the CellSearch threshold.
* **ctDNA**: dying tumour cells (``patients.cell_death``, cells/day) release
  ``r`` genome equivalents (GE) each into plasma, cleared with half-life
  ``t_d``; the fraction is tumour GE over tumour + normal cfDNA GE.
* **Biomarker** (``[biomarker]``, e.g. CEA): ``(baseline + per_cell x
  burden) x exp(cv Z - cv^2 / 2)``, ``Z`` standard normal (a lognormal
  measurement error with mean 1).

Draws are keyed by (seed, patient, step, purpose): the same on any number of ranks.
"""
from __future__ import annotations

import numpy as np
from pydantic import Field

from paget.config import Table
from paget.ext import plugin_math
from paget.manager import hookimpl
from paget.plugins._memo import once
from paget.state import StateVariable

MINUTES_PER_DAY = 1440.0


class LiquidBiopsyTable(Table):
    # blood volume ~5-5.6 L, reference adult (ICRP 2002, Publication 89) [READ].
    blood_volume: float = Field(5000.0, gt=0,
                                description="blood volume, mL",
                                json_schema_extra={"source": "reference adult, ~5-5.6 L (ICRP "
                                                             "2002, Publication 89)"})
    # CellSearch draws 7.5 mL (Cristofanilli et al. 2004, NEJM 351:781) [READ].
    draw_volume: float = Field(7.5, gt=0, description="volume drawn, mL",
                               json_schema_extra={"source": "CellSearch (Cristofanilli et al. "
                                                            "2004, N Engl J Med 351:781)"})
    # CTC half-life in patients' blood 1-2.4 h (Meng et al. 2004, Clin Cancer
    # Res 10:8152) [READ].  ASSUMPTION: the middle of the range.
    ctc_half_life: float = Field(1.7, gt=0,
                                 description="half-life of a CTC in the blood, hours",
                                 json_schema_extra={"source": "the middle of 1-2.4 h (Meng et "
                                                              "al. 2004, Clin Cancer Res "
                                                              "10:8152)"})
    # >= 5 CTC per 7.5 mL predicts shorter PFS and OS (Cristofanilli 2004) [READ].
    positive_threshold: int = Field(5, ge=1, description="CTCs per draw at or above which "
                                                         "a draw is positive",
                                    json_schema_extra={"source": "Cristofanilli et al. 2004 (N "
                                                                 "Engl J Med 351:781)"})
    # ctDNA half-life ~114 min (Diehl et al. 2008, Nat Med 14:985) [RECALLED: the
    # paper's title and cohort READ, the figure not found; the ctDNA model of
    # Avanzini et al. 2020 takes 30 min, READ in its figure 1 legend].
    ctdna_half_life: float = Field(114.0, gt=0,
                                   description="half-life of ctDNA in plasma, minutes",
                                   json_schema_extra={"source": "Diehl et al. 2008 (Nat Med "
                                                                "14:985)"})
    # ASSUMPTION: 1.4e-4 GE per dying tumour cell reach the plasma, the
    # shedding probability per cell death of the ctDNA model of Avanzini et
    # al. 2020 (Sci Adv 6:eabc4308: 0.014 % of a tumour cell's DNA per cell
    # death) [READ abstract].
    ctdna_release: float = Field(1.4e-4, ge=0,
                                 description="genome equivalents released into plasma per "
                                             "dying tumour cell",
                                 json_schema_extra={"source": "assumption, from the ctDNA model "
                                                              "of Avanzini et al. 2020 (Sci Adv "
                                                              "6:eabc4308)"})
    # ASSUMPTION: plasma ~55 % of the 5 L blood volume; normal cfDNA ~1500 GE
    # per mL of plasma (order of magnitude of healthy plasma, 5-10 ng/mL at
    # 6.6 pg per genome, the usual rule of thumb [RECALLED]; the diploid genome
    # weighs 6.41 pg (male) and 6.51 pg (female), Piovesan et al. 2019, BMC Res
    # Notes 12:106 [READ abstract], within the precision of this ASSUMPTION).
    plasma_volume: float = Field(2750.0, gt=0,
                                 description="plasma volume, mL",
                                 json_schema_extra={"source": "assumption: 55 % of the blood "
                                                              "volume"})
    normal_cfdna: float = Field(1500.0, gt=0,
                                description="normal cell-free DNA, genome equivalents per mL "
                                            "of plasma",
                                json_schema_extra={"source": "assumption: 5-10 ng/mL of healthy "
                                                             "plasma at 6.6 pg per genome"})


class BiomarkerTable(Table):
    # ASSUMPTION (CEA-like marker): 2.5 ng/mL without tumour, half the usual
    # 5 ng/mL clinical cut-off (e.g. Pu et al. 2021, Cancer Manag Res 13:2643)
    # [READ-2]; 1 ng/mL more per 1e9 tumour cells.
    baseline: float = Field(2.5, ge=0,
                            description="level without tumour, ng/mL",
                            json_schema_extra={"source": "assumption: half the usual 5 ng/mL "
                                                         "upper limit of normal of CEA"})
    per_cell: float = Field(1e-9, ge=0,
                            description="level added per tumour cell, ng/mL",
                            json_schema_extra={"source": "assumption"})
    # ASSUMPTION: 10 % combined analytical and biological variation.
    cv: float = Field(0.1, ge=0, le=2,
                      description="coefficient of variation of a measurement (lognormal)",
                      json_schema_extra={"source": "assumption"})


@hookimpl
def paget_config_tables():
    return {"liquid_biopsy": LiquidBiopsyTable, "biomarker": BiomarkerTable}


@hookimpl
def paget_state_variables():
    return [
        StateVariable("ctc_per_7_5ml", "patient", "int64", 0, "1",
                      "number of CTCs counted in a blood draw of liquid_biopsy.draw_volume mL"),
        StateVariable("ctc_positive", "patient", "bool", False, "1",
                      "the draw reached liquid_biopsy.positive_threshold CTCs"),
        StateVariable("ctc_blood", "patient", "float64", 0.0, "mL-1",
                      "expected number of CTCs per mL of blood"),
        StateVariable("ctdna_fraction", "patient", "float64", 0.0, "1",
                      "tumour share of cell-free DNA in plasma"),
        StateVariable("biomarker", "patient", "float64", 0.0, "ng/mL",
                      "serum tumour marker (measured, with noise)"),
    ]


def ctc_concentration(shed_per_day, cfg) -> np.ndarray:
    """Expected CTCs per mL of blood for a shedding rate (CTC/day)."""
    half_life_days = cfg.ctc_half_life / 24.0
    return np.asarray(shed_per_day, dtype=np.float64) * half_life_days / np.log(2.0) \
        / cfg.blood_volume


def ctdna_fraction(cell_death_per_day, cfg) -> np.ndarray:
    """Tumour fraction of cfDNA for a tumour-cell death rate (cells/day)."""
    half_life_days = cfg.ctdna_half_life / MINUTES_PER_DAY
    tumour = np.asarray(cell_death_per_day, dtype=np.float64) * cfg.ctdna_release \
        * half_life_days / np.log(2.0) / cfg.plasma_volume
    return tumour / (tumour + cfg.normal_cfdna)


@hookimpl
def paget_update_state(state, patients, config, dt, draws):
    ps = state.patient
    # dt = 0 (time 0, before any step): no CTC shed yet, the CTC defaults hold;
    # the marker is measured at time 0 too (its baseline, with the noise of
    # step 0's draw).  Keyed uniforms: the same whatever is drawn before them
    u = draws.uniform_patients(patients, "liquid_biopsy.ctc") if dt > 0 else None
    # every readout of the alive patients, compiled: ctc_concentration and the
    # draw's Poisson count, ctdna_fraction, the marker's level
    plugin_math.liquid_biopsy_update(
        patients.alive, patients.ctc_shed, patients.cell_death, patients.burden, u,
        draws.uniform_patients(patients, "biomarker.noise"), dt,
        constants(config.liquid_biopsy, config.biomarker), ps["ctc_blood"],
        ps["ctc_per_7_5ml"], ps["ctc_positive"], ps["ctdna_fraction"], ps["biomarker"])


def constants(cfg, b) -> np.ndarray:
    """The ``[liquid_biopsy]`` and ``[biomarker]`` tables' values and those derived
    from them, as ``plugin_math.liquid_biopsy_update`` reads them
    (``plugin_math.LIQUID_BIOPSY_CONSTANTS``), once per pair of tables."""
    def make():
        values = {"ctc_half_life_days": cfg.ctc_half_life / 24.0, "ln2": _LN2,
                  "blood_volume": cfg.blood_volume, "draw_volume": cfg.draw_volume,
                  "positive_threshold": cfg.positive_threshold,
                  "ctdna_release": cfg.ctdna_release,
                  "ctdna_half_life_days": cfg.ctdna_half_life / MINUTES_PER_DAY,
                  "plasma_volume": cfg.plasma_volume, "normal_cfdna": cfg.normal_cfdna,
                  "baseline": b.baseline, "per_cell": b.per_cell, "cv": b.cv,
                  "half_cv2": 0.5 * b.cv ** 2}
        return np.array([values[k] for k in plugin_math.LIQUID_BIOPSY_CONSTANTS], np.float64)
    return once(_CONSTANTS, (cfg, b), make)


#: per ([liquid_biopsy], [biomarker]) tables: constants()
_CONSTANTS: dict = {}

#: ln 2 as ``np.log(2.0)`` gives it (the functions above divide by it)
_LN2 = float(np.log(2.0))
