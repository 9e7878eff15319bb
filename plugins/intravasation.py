"""Intravasation: circulating tumour cells shed at ``m (f N)^alpha`` per day.

``N`` is the lesion's cells, ``f`` its invasive fraction (set by invasion).  A
lesion holding several clones sheds ``m (sum_i f_i N_i)^alpha`` in all, shared
among its clones in proportion to ``f_i N_i``.

The rate is set from the size at the start of a step and integrated over the
step's growth: a row growing at ``g = b - d`` (its birth and death rates for the
step, set later in the step by ``paget_growth``) sheds on average ``m (f
N0)^alpha (e^{alpha g dt} - 1) / (alpha g)`` cells in a step of ``dt`` days,
``m integral of (f N(s))^alpha ds`` under ``N(s) = N0 e^{g s}``, and so the
continuous-time total whatever the step (the plugin sets ``rates.shed_exponent
= alpha``; the engine integrates, ``paget.engine.loop.step_shed_rate``).  In a
lesion of several clones each clone's share is integrated at its own rate:
exact where the clones grow alike, an approximation where they do not.
Rejected: the start-of-step rate held over the step, ``m (f N0)^alpha dt``,
which undercounts a growing lesion's CTCs by 13 % at g = 0.4/day and dt = 1 day.

Default shedding, [DERIVED] from three published values:
* 9 +- 6 CTC per litre of blood at a 2.7 mm breast primary (Coumans, Siesling
  & Terstappen 2013, BMC Cancer 13:283) [READ], i.e. (pi/6) 2.7^3 1e6 = 1.03e7
  cells at 1e6 cells/mm^3;
* blood volume 5 L (ICRP 2002, Publication 89) -> 45 CTC in the blood;
* CTC half-life 1-2.4 h in patients (Meng et al. 2004, Clin Cancer Res
  10:8152) [READ]; the midpoint 1.7 h is a mean residence of 1.7/ln 2 = 2.45 h
  = 0.102 day.
At steady state shedding = 45 / 0.102 = 441 CTC/day at 1.03e7 cells.  With the
ASSUMPTION alpha = 2/3 (shedding through the lesion's surface), m = 441 /
(1.03e7)^(2/3) = 9.3e-3 CTC/day per cell^(2/3).  Butler & Gullino (1975, Cancer
Res 35:512) measured 3.2e6 cells/g/day in rat mammary carcinoma, far more than
patient CTC counts allow, so the rate is treated as calibrated.

A cancer given as ``primary.sites_per_patient`` sheds at the rate the level
relation of :mod:`paget.plugins.level` gives for it instead of ``rate``.
"""
from __future__ import annotations

from pydantic import Field

from paget.config import Table
from paget.ext import plugin_math
from paget.manager import hookimpl
from paget.plugins import level


class IntravasationTable(Table):
    # At most 10: the 3.2e6 cells/g/day of Butler & Gullino (1975, Cancer Res
    # 35:512; 1 g ~ 1e9 cells), the highest shedding measured, is m = 3.2e6 /
    # (1e9)^(2/3) = 3.2 at alpha = 2/3; and 10 keeps a step's expected CTC count, m N^alpha dt <= 10 * 2**53
    # * 30, inside the kernel's 64-bit counts for any lesion, exponent and step
    # (the count integrated over the step's growth is capped at 2**60 by the engine).
    rate: float = Field(9.3e-3, ge=0, le=10,
                        description="m in m (f N)^alpha, CTC per day per cell^alpha",
                        json_schema_extra={"source": "derived from Coumans et al. 2013 (BMC "
                                                     "Cancer 13:283) and Meng et al. 2004 (Clin "
                                                     "Cancer Res 10:8152); exponent assumed"})
    exponent: float = Field(2.0 / 3.0, ge=0, le=1,
                            description="alpha in m (f N)^alpha (dimensionless)",
                            json_schema_extra={"source": "assumption: shedding through the "
                                                         "lesion's surface"})
    # ASSUMPTION: a tenth of the shed cells take the lymphatic route.
    lymph_fraction: float = Field(0.1, ge=0, le=1,
                                  description="share of shed cells entering lymph (dimensionless)",
                                  json_schema_extra={"source": "assumption"})
    metastases_shed: bool = Field(True, description="metastases shed CTCs too "
                                  "(metastasis from metastasis, self-seeding)")


@hookimpl
def paget_config_tables():
    return {"intravasation": IntravasationTable}


@hookimpl
def paget_check_config(config):
    level.check(config)


@hookimpl(tryfirst=True)
def paget_intravasation(lesions, rates, config):
    cfg = config.intravasation
    m = level.shedding_rate(config)
    # n = cells x invasive on the shedding rows, and m n^alpha, compiled
    n = plugin_math.shed_terms(lesions.dormant, lesions.primary, lesions.cells, rates.invasive,
                               cfg.metastases_shed, lesions.single_clone, m, cfg.exponent,
                               rates.shed)
    if n is not None:
        # A lesion of several clones spans several rows: the law applies to the
        # lesion, m (sum f N)^alpha, shared among its rows in proportion to
        # their invasive cells (rejected: the law per row, which would make a
        # lesion shed more merely for holding more clones, as sum N_i^alpha >=
        # (sum N_i)^alpha for alpha < 1).
        plugin_math.shed_scale(n, lesions.lesion_sum(n), m, cfg.exponent - 1.0, rates.shed)
    # the engine integrates the rate over the step's growth (N^alpha grows as
    # e^{alpha (b - d) s}; paget.engine.loop.step_shed_rate)
    rates.shed_exponent[:] = cfg.exponent
    rates.lymph_fraction[:] = cfg.lymph_fraction
