"""Colonization and growth: growth laws, the fates of disseminated cells, dormancy.

Growth laws (N cells, rate r per day, capacity K cells)::

    exponential  dN/dt = r N                 N(t) = N0 e^{rt}
    logistic     dN/dt = r N (1 - N/K)       N(t) = K N0 e^{rt} / (K + N0 (e^{rt} - 1))
    gompertz     dN/dt = r N ln(K/N)         N(t) = K exp(ln(N0/K) e^{-rt})

Each step the plugin hands the kernel per-cell rates held over the step,
``b = d0 + max(g, 0)`` and ``d = d0 + max(-g, 0)``, where ``d0`` is the cells'
turnover (death rate at small size) and ``g`` the law's *step-averaged* net rate
``ln(N(t + dt) / N(t)) / dt`` from its closed form.  The mean of the exact
birth-death step is then ``N e^{g dt}``, the closed-form solution itself, so
neither mode drifts from the law however long the step; deterministic mode takes
that mean, stochastic mode draws around it (and so lets young colonies die out).
Rejected: evaluating the law's instantaneous rate at the start of the step,
which biases growth by O(dt) near capacity.

The primary and the metastases may grow by different laws and rates.
``[colonization.growth]`` sets the primary's, and the metastases' too unless
``[colonization.metastasis_growth]`` sets a key of its own: each of its keys
(``law``, ``rate``, ``capacity``, ``death``, ``mode``) left unset takes the
value of ``[colonization.growth]``, so ``metastasis_growth = {rate = 1e-3}``
changes the metastases' rate alone (``rate_factor = 2``: twice the primary's
net growth rate at 1 cm^3, whatever the primary's is; under one law for both,
twice its rate constant).  A row is the primary's when it belongs to
the primary lesion (its clones included, ``lesions.primary``); every other
growing row, the reactivated ones and the cells of ``primary.injection`` too,
is a metastasis.
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import Field, model_serializer, model_validator

from paget.config import Table, organ_map, resolve_organ_map
from paget.errors import ConfigError
from paget.ext import plugin_math
from paget.manager import hookimpl
from paget.plugins._memo import once
from paget.plugins.extravasation import soil_times_tropism


class GrowthTable(Table):
    law: Literal["exponential", "logistic", "gompertz"] = Field(
        "gompertz", description="growth law of the primary, and of the metastases unless "
                               "colonization.metastasis_growth sets one",
        json_schema_extra={"source": "Gompertz growth fits human breast cancer (Norton 1988, "
                                     "Cancer Res 48:7067)"})
    # Gompertz growth fits human breast cancer (Norton 1988, Cancer Res
    # 48:7067) [READ].  ASSUMPTION: r = 6e-4/day, chosen so that the volume
    # doubling time at 1 cm^3 (1e9 cells) is ln2 / (r ln(K/1e9)) = 144 days,
    # inside the 52-212 day range of breast cancer doubling times (Coumans et
    # al. 2013: 1.7 +- 0.9 months; SEER-fitted model of Szczurek et al.: 212 d).
    rate: float = Field(6e-4, ge=0,
                        description="rate constant r of the law, 1/day",
                        json_schema_extra={"source": "assumption: a volume doubling time of 144 "
                                                     "days at 1 cm^3, within the 52-212 days of "
                                                     "breast cancer (Coumans et al. 2013, BMC "
                                                     "Cancer 13:283)"})
    # N_inf ~ 3e12 cells for Gompertzian breast cancer (Norton 1988) [RECALLED].
    capacity: organ_map(lo=1.0, hi=2.0**52) = Field(  # type: ignore[valid-type]
        3e12, description="carrying capacity K, cells (per organ allowed)",
        json_schema_extra={"source": "Norton 1988 (Cancer Res 48:7067)"})
    # ASSUMPTION: cells die at 0.02/day at small size, so a one-cell colony of
    # the default law dies out with probability d0 / (d0 + r ln K) = 0.54.
    death: float = Field(0.02, ge=0,
                         description="turnover d0: per-cell death rate at small size, 1/day",
                         json_schema_extra={"source": "assumption"})
    mode: Literal["stochastic", "deterministic"] = Field(
        "stochastic", description="exact birth-death draws, or the mean of the law")


# Metastatic inefficiency, [DERIVED]: human breast cancer forms one metastasis
# per ~6e7 disseminated cells, 1.7e-8 per cell (range 1.3-4.2e-8; Coumans,
# Siesling & Terstappen 2013, BMC Cancer 13:283) [READ].  Of the cells shed
# under the default circulation ~0.8 arrest and, weighted by where they
# arrest, ~0.25 of those extravasate, so ~0.2 of shed cells become DTCs.  A
# growing one-cell colony of the default law survives with probability
# 1 - 0.54 = 0.46.  ASSUMPTION: the remaining inefficiency is split about
# evenly between direct growth and reactivation from dormancy:
#   grow: 0.2 * 1e-7 * 0.46 ~ 0.9e-8 per shed cell;
#   dormancy: 0.2 * 0.05 * (1e-9 / (1e-9 + 1e-3)) * 0.46 ~ 0.5e-8 per shed cell;
# total ~1.4e-8, within Coumans' range.  For contrast, in mouse liver 1 in 40
# extravasated B16F1 cells began dividing and ~45 % stayed solitary and dormant
# (Luzzi et al. 1998, Am J Pathol 153:865) [READ-2]: experimental metastasis
# in mice is ~1e4 times more efficient (Coumans 2013: murine median 1/14,000).
# The cancer scenarios share a fitted grow and a long-lived dormancy instead
# [DERIVED] (their shared block; docs/validation/calibrate.py --joint: shedding
# pinned by the CTC anchor, the autopsy spread from colonization, dormancy's
# share of it from the timing of late relapses; docs/explanation/validation.md).


class FateTable(Table):
    """Fates of a cell that has just extravasated (probabilities summing to 1)."""

    die: float = Field(1.0 - 0.05 - 1e-7, ge=0, le=1,
                       description="probability the cell dies",
                       json_schema_extra={"source": "the remainder: 1 - dormant - grow"})
    dormant: float = Field(0.05, ge=0, le=1,
                           description="probability the cell becomes a solitary dormant cell",
                           json_schema_extra={"source": "derived: a metastatic inefficiency of "
                                                        "1.7e-8 per disseminated cell (Coumans "
                                                        "et al. 2013, BMC Cancer 13:283), split "
                                                        "between growth and dormancy by "
                                                        "assumption"})
    grow: float = Field(1e-7, ge=0, le=1,
                        description="probability the cell founds a growing colony",
                        json_schema_extra={"source": "derived: a metastatic inefficiency of "
                                                     "1.7e-8 per disseminated cell (Coumans et "
                                                     "al. 2013, BMC Cancer 13:283), split "
                                                     "between growth and dormancy by assumption"})

    # Organ-specific colonization ("soil"): extravasation is efficient in most
    # organs (>80 % of arrested cells extravasate in mouse liver, Luzzi et al.
    # 1998, Am J Pathol 153:865 [READ-2]) while growth after it is the
    # inefficient, organ-dependent step (Chambers, Groom & MacDonald 2002, Nat
    # Rev Cancer 2:563-572 [READ abstract]), so an organ's soil can exceed what an
    # extravasation probability (at most 1) expresses; the cancer scenarios'
    # values are fitted (docs/validation/calibrate.py).
    efficiency: organ_map(lo=0.0, hi=1e6) = Field(  # type: ignore[valid-type]
        1.0,
        description="relative colonization efficiency per organ: the probability that an "
                    "extravasated cell founds a growing colony there is grow x efficiency "
                    "(die takes the difference; dimensionless; one number or "
                    "{default = x, organ = y})",
        json_schema_extra={"source": "1 (no organ preference) by default; the cancer "
                                     "scenarios' fitted to DiSibio & French 2008 (Arch Pathol "
                                     "Lab Med 132:931)"})

    @model_validator(mode="after")
    def _sums_to_one(self):
        total = self.die + self.dormant + self.grow
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"die + dormant + grow must be 1, got {total:.10g}")
        eff = self.efficiency
        top = max(eff.values()) if isinstance(eff, dict) else eff
        if self.grow * top > self.die + self.grow + 1e-12:
            raise ValueError(f"grow x efficiency must leave die >= 0: grow {self.grow:g} x "
                             f"efficiency {top:g} = {self.grow * top:g} is more than "
                             f"die + grow = {self.die + self.grow:g}")
        return self


class DormancyTable(Table):
    """Solitary dormant cells: competing reactivation and death."""

    # ASSUMPTIONS: dormant cells die after ~3 years on average (1e-3/day) and
    # reactivate rarely enough (1e-9/day) to fit the inefficiency above.  The
    # cancer scenarios keep them ~27 years (1e-4/day): tumour cells circulated in
    # 13 of 36 patients 7-22 years after mastectomy without evident disease (Meng
    # et al. 2004, Clin Cancer Res 10:8152) [READ abstract].
    # Luzzi et al. 1998 saw ~2 % Ki-67+ and ~3 % apoptotic solitary cells at
    # day 13 in mice [READ-2].
    reactivation: float = Field(1e-9, ge=0,
                                description="per-cell reactivation rate, 1/day",
                                json_schema_extra={"source": "assumption, fitted to the "
                                                             "inefficiency of Coumans et al. "
                                                             "2013 (BMC Cancer 13:283)"})
    death: float = Field(1e-3, ge=0,
                         description="per-cell death rate of dormant cells, 1/day",
                         json_schema_extra={"source": "assumption"})


_AS_GROWTH = "; unset: the value of colonization.growth"


class MetastasisGrowthTable(Table):
    """Growth of the metastases where it differs from the primary's: each key left
    unset takes the value of ``[colonization.growth]``."""

    law: Literal["exponential", "logistic", "gompertz"] | None = Field(
        None, description="growth law of the metastases" + _AS_GROWTH)
    rate: float | None = Field(None, ge=0, description="rate constant r of the metastases' "
                                                        "law, 1/day" + _AS_GROWTH)
    rate_factor: float | None = Field(
        None, gt=0, description="the metastases' net growth rate at 1 cm^3 (1e9 cells) as a "
                                "multiple of the primary's there; under one law for both, the "
                                "multiple of colonization.growth.rate; dimensionless; not "
                                "together with rate")
    capacity: organ_map(lo=1.0, hi=2.0**52) | None = Field(  # type: ignore[valid-type]
        None, description="carrying capacity K of a metastasis, cells (per organ allowed)"
                          + _AS_GROWTH)
    death: float | None = Field(None, ge=0, description="turnover d0 of the metastases' cells "
                                                         "at small size, 1/day" + _AS_GROWTH)
    mode: Literal["stochastic", "deterministic"] | None = Field(
        None, description="exact birth-death draws, or the mean of the law, for the "
                          "metastases" + _AS_GROWTH)

    @model_validator(mode="after")
    def _one_rate(self):
        if self.rate is not None and self.rate_factor is not None:
            raise ValueError("give rate or rate_factor, not both")
        return self


class ColonizationTable(Table):
    growth: GrowthTable = Field(default_factory=GrowthTable)
    metastasis_growth: MetastasisGrowthTable = Field(default_factory=MetastasisGrowthTable)
    fate: FateTable = Field(default_factory=FateTable)
    dormancy: DormancyTable = Field(default_factory=DormancyTable)

    @model_validator(mode="after")
    def _factor_across_laws(self):
        met, factor = self._metastasis_keys()
        if factor is None or met.law == self.growth.law:
            return self
        primary = net_rate(self.growth, REFERENCE_CELLS)
        per_unit = law_shape(met, REFERENCE_CELLS)
        if not (primary > 0.0 and per_unit > 0.0):
            raise ValueError(
                f"metastasis_growth.rate_factor across two laws ({self.growth.law} primary, "
                f"{met.law} metastases) compares their net growth rates at "
                f"{REFERENCE_CELLS:g} cells, where both must grow: the primary's is "
                f"{primary:g}/day and the metastases' law gives {per_unit:g}/day per unit "
                f"rate (a capacity above {REFERENCE_CELLS:g} cells and a positive rate are "
                f"needed)")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        # a metastasis_growth that sets nothing is left out, so that the stored
        # configuration (config_json) of a run that does not use it is the one
        # it was before the table existed
        out = handler(self)
        if not self.metastasis_growth.model_dump(exclude_none=True):
            out.pop("metastasis_growth", None)
        return out

    def _metastasis_keys(self) -> tuple[GrowthTable, float | None]:
        """``growth`` with the keys ``metastasis_growth`` sets but ``rate_factor``,
        and ``rate_factor`` (None where unset)."""
        update = self.metastasis_growth.model_dump(exclude_none=True)
        factor = update.pop("rate_factor", None)
        return self.growth.model_copy(update=update), factor

    def metastasis_law(self) -> GrowthTable:
        """The metastases' growth: ``growth`` with the keys ``metastasis_growth`` sets.

        ``rate_factor``, where it is set, makes the metastases' net growth rate at
        :data:`REFERENCE_CELLS` (1 cm^3, the size at which doubling times are
        quoted) ``rate_factor`` times the primary's there.  Under one law for
        both (and one capacity) that is ``rate_factor`` times the primary's rate
        constant, which is what it is taken as; under two laws, e.g. an
        exponential primary and Gompertzian metastases, the rate constant is
        ``rate_factor * g_p(1e9) / h_m(1e9)``, ``g_p`` the primary's net rate
        (:func:`net_rate`) and ``h_m`` the metastases' law per unit rate constant
        (:func:`law_shape`), each at its law's default capacity."""
        law, factor = self._metastasis_keys()
        if factor is None:
            return law
        rate = self.growth.rate * factor
        if law.law != self.growth.law:
            rate = factor * net_rate(self.growth, REFERENCE_CELLS) / law_shape(
                law, REFERENCE_CELLS)
        return law.model_copy(update={"rate": rate})


#: the size at which ``metastasis_growth.rate_factor`` compares two laws' net
#: rates: 1 cm^3, 1e9 cells at the conventional density (an ASSUMPTION: Del
#: Monte 2009, Cell Cycle 8:505, argues that carcinomas hold about ten times
#: fewer), where volume
#: doubling times are quoted (e.g. the SEER-fitted ones of the cancer scenarios)
REFERENCE_CELLS = 1e9


def law_shape(law: GrowthTable, n: float) -> float:
    """The net growth rate of ``law`` at ``n`` cells per unit rate constant:
    1 (exponential), ``1 - n/K`` (logistic), ``ln(K/n)`` (Gompertz), at the
    law's default capacity ``K`` (a per-organ capacity's ``default``, else 3e12
    cells)."""
    cap = law.capacity
    k = float(cap.get("default", 3e12)) if isinstance(cap, dict) else float(cap)
    return {"exponential": 1.0, "logistic": 1.0 - n / k, "gompertz": math.log(k / n)}[law.law]


def net_rate(law: GrowthTable, n: float) -> float:
    """The instantaneous net growth rate ``(dN/dt) / N`` of ``law`` at ``n`` cells,
    1/day: its rate constant times :func:`law_shape`."""
    return law.rate * law_shape(law, n)


@hookimpl
def paget_config_tables():
    return {"colonization": ColonizationTable}


def step_net_rate(law: str, n: np.ndarray, r: float, k: np.ndarray, dt: float) -> np.ndarray:
    """Step-averaged net growth rate ``ln(N(t+dt)/N(t)) / dt`` of a law, 1/day.

    ``n`` and ``k`` are arrays of cells and capacities (``n >= 1``).
    """
    if law == "exponential":
        return np.full_like(n, r)
    if law == "logistic":
        x = r * dt
        if x <= 30.0:
            return r - np.log1p(n * np.expm1(x) / k) / dt
        # n e^x / k could overflow (r of 30 or more per step: a doubling every
        # half hour at dt = 1 day): the same solution written with e^-x,
        # ln(N(t+dt)/N) = ln(k/n) - ln(1 + (k/n - 1) e^-x), which tends to the
        # jump to capacity as r -> infinity
        ratio = k / n
        return (np.log(ratio) - np.log1p((ratio - 1.0) * np.exp(-x))) / dt
    if law == "gompertz":
        return np.log(k / n) * (-np.expm1(-r * dt)) / dt
    raise ValueError(f"unknown growth law {law!r}")


#: growth law -> its number in paget.ext.plugin_math.growth_rates
LAW_CODES = {"exponential": 0, "logistic": 1, "gompertz": 2}

#: per (colonization table, body): the arguments of growth_rates they set
_GROWTH_ARGS: dict = {}


def _law_args(law: GrowthTable, body) -> tuple:
    """(law code, rate, turnover, capacity per organ, deterministic) of a law."""
    return (LAW_CODES[law.law], float(law.rate), float(law.death),
            resolve_organ_map(law.capacity, body, 3e12), law.mode == "deterministic")


def _growth_args(col: ColonizationTable, body) -> tuple:
    """``(split, *primary law, *metastasis law)`` for growth_rates, once per
    (table, body): the metastases' law is a ``model_copy`` of the primary's,
    which costs more than the step's arithmetic."""
    def make():
        primary_law, metastasis_law = col.growth, col.metastasis_law()
        return (metastasis_law != primary_law, *_law_args(primary_law, body),
                *_law_args(metastasis_law, body))
    return once(_GROWTH_ARGS, (col, body), make)


@hookimpl(tryfirst=True)
def paget_growth(lesions, rates, config, body, dt):
    # growing rows only (not dormant, cells > 0): step_net_rate of the row's law
    # (the primary's or the metastases'), compiled; dormant pools (most rows of
    # a late table) and empty rows get 0
    plugin_math.growth_rates(lesions.dormant, lesions.cells, lesions.organ, lesions.primary,
                             *_growth_args(config.colonization, body), float(dt),
                             rates.birth, rates.death, rates.deterministic)


@hookimpl(tryfirst=True)
def paget_dormancy(lesions, rates, config):
    d_cfg = config.colonization.dormancy
    plugin_math.dormancy_rates(lesions.dormant, d_cfg.reactivation, d_cfg.death,
                               rates.reactivation, rates.dormant_death)


def tropism_excess(config, body) -> np.ndarray | None:
    """Per organ, the part of the cancer's soil x tropism above 1 that an
    extravasation probability cannot hold (``[extravasation]``: ``p = min(1,
    probability x tropism)``): max(1, probability x tropism).  A cancer's organ
    preference scales its soil as a whole, so what extravasation cannot take
    multiplies the colonization efficiency; the product extravasation x
    colonization is then probability x tropism x efficiency.  None where no
    organ has an excess (every scenario without a tropism)."""
    ex = getattr(config, "extravasation", None)
    trop = getattr(ex, "tropism", 1.0)
    if not isinstance(trop, dict) and trop == 1.0:
        return None
    raw = soil_times_tropism(ex, body)
    return np.maximum(raw, 1.0) if (raw > 1.0).any() else None


def _grow_per_organ(config, body, excess: np.ndarray | None) -> np.ndarray | None:
    """grow x efficiency (x the tropism's ``excess``) per organ; None where it
    is grow in every organ."""
    f = config.colonization.fate
    if excess is None and not isinstance(f.efficiency, dict) and f.efficiency == 1.0:
        return None
    grow = f.grow * resolve_organ_map(f.efficiency, body, 1.0)
    return grow if excess is None else grow * excess


@hookimpl
def paget_check_config(config, body):
    """The tropism's excess over 1 must still leave ``die`` >= 0 in every organ
    (``FateTable`` checks the efficiency alone)."""
    f = config.colonization.fate
    excess = tropism_excess(config, body)
    if excess is not None:
        grow = _grow_per_organ(config, body, excess)
        k = int(np.argmax(grow))
        if grow[k] > f.die + f.grow + 1e-12:
            raise ConfigError(
                f"extravasation.tropism.{body.organs[k]}: probability x tropism above 1 "
                f"multiplies the colonization efficiency, and grow x efficiency x that excess "
                f"= {grow[k]:g} is more than die + grow = {f.die + f.grow:g}; lower the tropism")


#: per (fate table, extravasation table, body): _grow_per_organ's array and the
#: fates per organ
_GROW: dict = {}


def _grow_cached(config, body) -> tuple[np.ndarray | None, tuple]:
    """:func:`_grow_per_organ` with the tropism's excess, and ``(die per organ,
    dormant, grow per organ)``, once per (fate table, extravasation table,
    body): the tables are frozen, so they never change."""
    f, ex = config.colonization.fate, getattr(config, "extravasation", None)

    def make():
        grow = _grow_per_organ(config, body, tropism_excess(config, body))
        if grow is None:
            return None, (np.full(body.n_organs, float(f.die)), float(f.dormant),
                          np.full(body.n_organs, float(f.grow)))
        # grow x efficiency (x the tropism's excess), die the rest
        return grow, (np.ascontiguousarray((f.die + f.grow) - grow, dtype=np.float64),
                      float(f.dormant), np.ascontiguousarray(grow, dtype=np.float64))
    return once(_GROW, (f, ex, body), make)


@hookimpl(tryfirst=True)
def paget_dtc_fate(fates, config, body):
    # per target organ (the fates' middle axis): die, dormant, grow, compiled
    plugin_math.fill_fates(fates, *_grow_cached(config, body)[1])
