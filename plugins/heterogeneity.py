"""Heterogeneity between patients: per-patient draws of growth, shedding, immune
competence and age at onset.

Model
-----
Patients differ.  Each patient gets, once, before its first step:

* ``growth_multiplier`` ~ LogNormal(0, ``growth_sigma``): scales the net growth
  rate ``b - d`` of every growing lesion of the patient (the turnover is kept,
  as genetics' ``proliferation`` does), i.e. the Gompertz rate constant:
  Norton's kinetic heterogeneity (Norton 1988, Cancer Res 48:7067 [READ]:
  Gompertzian growth with growth rates varying between patients);
* ``shedding_multiplier`` ~ LogNormal(0, ``shedding_sigma``): scales the CTC
  shedding ``m (f N)^alpha`` of every lesion of the patient;
* the immune plugin's ``immune_competence`` ~ LogNormal(0, ``immune_sigma``)
  (where the immune plugin is loaded and ``immune_sigma > 0``; otherwise left
  as it is);
* ``age_at_onset`` ~ Normal(``age_mean``, ``age_sd``) truncated to
  [``age_min``, ``age_max``] years: recorded for analysis (no rate depends on
  it yet).

Multipliers have median 1, so the "typical" patient has a scenario's
calibrated values.  Every sigma is 0 by default (a homogeneous cohort, as
before this plugin existed); a cancer scenario sets them.

Reproducibility
---------------
Draws are inverse CDFs of keyed uniforms, ``Draws(seed, 0).uniform_patients``
(one purpose name per parameter), so a patient's values depend on the seed and
its cohort index alone: the same on any number of ranks and in any subset of
the cohort.  They are written in ``paget_update_state`` at t = 0 (the first
step) and never change, so the output holds one value per patient (dimension
``patient`` only).
"""
from __future__ import annotations

from statistics import NormalDist

import numpy as np
from pydantic import Field

from paget.config import Table
from paget.ext import plugin_math
from paget.manager import hookimpl
from paget.random import Draws
from paget.state import StateRead, StateVariable

#: patient-level variables this plugin owns (name, units, long_name)
VARIABLES = (
    ("growth_multiplier", "1", "patient's multiplier of net growth rates (Norton heterogeneity)"),
    ("shedding_multiplier", "1", "patient's multiplier of CTC shedding"),
    ("age_at_onset", "years", "patient's age when the simulation starts"),
)

_STD_NORMAL = NormalDist()
_EPS = 1e-12


class HeterogeneityTable(Table):
    # Coumans, Siesling & Terstappen 2013 (BMC Cancer 13:283) [READ]: breast
    # cancer doubling time 1.7 +- 0.9 months across patients, a coefficient of
    # variation of 0.53, i.e. a log-normal sigma sqrt(ln(1 + 0.53^2)) = 0.50
    # [DERIVED].  Default 0 (homogeneous); cancer scenarios set it.
    growth_sigma: float = Field(0.0, ge=0, le=3,
                                description="log-sd of the patient's growth-rate multiplier "
                                            "(log-normal, median 1)",
                                json_schema_extra={"source": "homogeneous by default; breast cancer: "
                                                             "0.50, from Coumans et al. 2013 (BMC "
                                                             "Cancer 13:283)"})
    shedding_sigma: float = Field(0.0, ge=0, le=5,
                                  description="log-sd of the patient's shedding multiplier "
                                              "(log-normal, median 1)")
    immune_sigma: float = Field(0.0, ge=0, le=3,
                                description="log-sd of the patient's immune competence "
                                            "(log-normal, median 1)")
    # ASSUMPTION: onset at 60 +- 12 years; scenarios cite their own.
    age_mean: float = Field(60.0, ge=0, le=120,
                            description="mean age at onset, years (normal, truncated)",
                            json_schema_extra={"source": "assumption"})
    age_sd: float = Field(0.0, ge=0, le=50,
                          description="sd of age at onset, years (0: everyone age_mean)")
    age_min: float = Field(18.0, ge=0, le=120,
                           description="lower truncation of age at onset, years")
    age_max: float = Field(100.0, ge=0, le=120,
                           description="upper truncation of age at onset, years")


@hookimpl
def paget_config_tables():
    return {"heterogeneity": HeterogeneityTable}


@hookimpl
def paget_state_variables():
    # drawn once, at time 0, and never changed: one value per patient
    return [StateVariable(name, "patient", "float64", 0.0 if name == "age_at_onset" else 1.0,
                          units, long_name, over_time=False)
            for name, units, long_name in VARIABLES]


@hookimpl
def paget_state_reads():
    # sets the immune plugin's variable where that plugin is loaded
    return [StateRead("immune_competence", required=False)]


def _inv_normal(u: np.ndarray) -> np.ndarray:
    u = np.clip(np.asarray(u, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.array([_STD_NORMAL.inv_cdf(float(x)) for x in u], dtype=np.float64)


def draw(seed: int, patients, config) -> dict[str, np.ndarray]:
    """Every drawn parameter for ``patients`` (a :class:`paget.state.Patients`):
    name -> array over the patients.  Depends on (seed, patient index) only."""
    cfg = config.heterogeneity
    draws = Draws(seed, 0)
    out = {}
    for name, sigma in (("growth_multiplier", cfg.growth_sigma),
                        ("shedding_multiplier", cfg.shedding_sigma),
                        ("immune_competence", cfg.immune_sigma)):
        z = _inv_normal(draws.uniform_patients(patients, f"heterogeneity.{name}")) \
            if sigma > 0 else np.zeros(len(patients.index))
        out[name] = np.exp(sigma * z)
    u = draws.uniform_patients(patients, "heterogeneity.age_at_onset")
    if cfg.age_sd > 0:
        # truncated normal by inverse CDF on the truncated range
        a, b = sorted((cfg.age_min, cfg.age_max))
        lo = _STD_NORMAL.cdf((a - cfg.age_mean) / cfg.age_sd)
        hi = _STD_NORMAL.cdf((b - cfg.age_mean) / cfg.age_sd)
        out["age_at_onset"] = cfg.age_mean + cfg.age_sd * _inv_normal(lo + u * (hi - lo))
    else:
        out["age_at_onset"] = np.full(len(patients.index), cfg.age_mean)
    # truncation bounds given the wrong way round are read as an interval
    lo_age, hi_age = sorted((cfg.age_min, cfg.age_max))
    out["age_at_onset"] = np.clip(out["age_at_onset"], lo_age, hi_age)
    return out


@hookimpl
def paget_update_state(state, patients, config, t):
    if t != 0.0:
        return
    todo = slice(None)
    values = draw(config.seed, patients, config)
    for name in ("growth_multiplier", "shedding_multiplier", "age_at_onset"):
        state.patient[name][todo] = values[name][todo]
    competence = state.patient.get("immune_competence")
    if competence is not None and config.heterogeneity.immune_sigma > 0:
        competence[todo] = values["immune_competence"][todo]


@hookimpl
def paget_growth(lesions, rates, state):
    if len(lesions) == 0:
        return
    # net growth times the patient's multiplier (birth > death, not dormant), compiled
    plugin_math.heterogeneity_growth(lesions.dormant, lesions.pidx,
                                     state.patient["growth_multiplier"], rates.birth, rates.death)


@hookimpl
def paget_intravasation(lesions, rates, state):
    if len(lesions) == 0:
        return
    plugin_math.scale_by_patient(lesions.pidx, state.patient["shedding_multiplier"], rates.shed)
