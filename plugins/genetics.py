"""Genetics: driver alterations, clonal evolution and the traits they confer.

Model
-----
A clone's **genotype** (the engine's uint64 column) holds one bit per driver
alteration of a catalogue (``[genetics.alterations]``).  Each alteration scales
named **traits**; the traits of a row are recomputed from its genotype every
step in ``paget_update_state`` and kept as lesion-level state (see the shared
names below), where this plugin's hooks and the other factor plugins read them.

Traits and how alterations combine (neutral value in brackets):

* multipliers [1]: ``proliferation``, ``invasiveness``, ``circulation_survival``,
  ``extravasation_factor``, ``angiogenic_drive``, ``bone_tropism``.  A row's
  value is the **product** of the factors of the alterations it carries.
* fractions in [0, 1] [0]: ``immune_evasion`` (0 fully visible .. 1 fully
  evading) and ``drug_resistance``.  An alteration's value is the fraction it
  confers on its own; alterations act as independent escape routes, so a row's
  value is ``1 - prod(1 - v_k)``.

**Initial alterations.**  The genotype is an engine column that plugins cannot
write, so the primary cannot be *given* a genotype at t = 0.  Instead
``initial`` lists alterations that every clone of every patient is taken to
carry on top of its genotype bits: the **effective genotype** is
``genotype | initial_mask``.  Traits and the choice of new alterations use the
effective genotype; the output's ``lesion_genotype`` / ``clone_genotype`` hold
the alterations acquired during the run (add ``initial_mask(config)`` to read
the effective ones).

**Mutation.**  Growing rows get ``rates.mutation = mutation_rate`` (per
division, the probability that a daughter acquires a new driver; the kernel
draws the mutants, see ``paget.ext.kernels.step_rows``).  Each new clone gets
one alteration its parent does not (effectively) carry, chosen with
probability proportional to the catalogue's ``weight`` from the keyed uniform
the engine hands to ``paget_mutation``; a parent carrying every alteration of
positive weight keeps its genotype (the new clone is then a neutral copy).

How the traits act (each hook runs after the stage plugins, which set the base
values, and scales them in place; it reads the row's traits from the state,
which ``paget_update_state`` brought up to date at the start of the step):

* ``paget_growth``: ``proliferation`` scales the *net* growth and keeps the
  cells' turnover: ``b' = d + (b - d) * proliferation`` where ``b > d``
  (rejected: scaling ``b`` itself, which would also change the extinction
  probability ``d / b`` of young colonies and the noise of every lesion, and
  would turn a lesion that the law holds at its capacity into a growing or
  shrinking one).  Lesions that shrink (``b <= d``) are left alone.  The
  angiogenic cap and the immune kill of small lesions (both ``trylast``) act
  on the scaled rates.
* ``paget_invasion``: ``invasive = min(1, invasive * invasiveness)``.  With the
  default ``[invasion] fraction = 1`` an invasiveness above 1 therefore has no
  effect; below 1 it lowers shedding.  Microenvironment's hypoxia raises the
  fraction after it (``trylast``).
* ``paget_circulation``: ``ctc_survival *= circulation_survival``.
* ``paget_extravasation``: the source row's ``extravasation_factor`` scales the
  probability in every organ and ``bone_tropism`` scales it in bone, clipped to
  [0, 1].  Microenvironment's inflammation and niche raise it after that
  (``trylast``).
* ``immune_evasion``, ``angiogenic_drive`` and ``drug_resistance`` are read by
  other plugins (immune, angiogenesis, treatments).

Configuration
-------------
``[genetics.alterations.NAME]`` with ``traits = {trait = value, ...}`` and
``weight``: for a built-in NAME the keys given replace that entry's keys
(``traits`` as a whole; a ``weight`` not given is kept); a new NAME adds an
alteration.  ``weight = 0`` keeps an alteration out of mutation (it can still
be ``initial``).  Unknown trait names, unknown names in ``initial``, values out
of range and more than 64 alterations are refused, naming the key.

Output
------
The traits are state (``output = False``): they follow from ``lesion_genotype``
and the configuration, :func:`traits_of` recomputes them.

Notes
-----
The catalogue's factors are ASSUMPTIONS labelled one by one below: they give
each alteration the direction of effect reported for it and a moderate size,
to be calibrated.  Bit ``k`` of the genotype is the ``k``-th alteration of the
catalogue: the built-in ones in the order of :data:`DEFAULT_ALTERATIONS`, then
any new names in the order the configuration gives them.
"""
from __future__ import annotations

import operator
import re
from typing import Any, Literal

import numpy as np
from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from paget.config import Table
from paget.ext import plugin_math
from paget.manager import hookimpl
from paget.plugins._memo import once
from paget.state import StateVariable

#: Traits that multiply a stage's value (neutral 1), and those that are a
#: fraction in [0, 1] (neutral 0).
MULTIPLIER_TRAITS = ("proliferation", "invasiveness", "circulation_survival",
                     "extravasation_factor", "angiogenic_drive", "bone_tropism")
FRACTION_TRAITS = ("immune_evasion", "drug_resistance")
TRAITS = MULTIPLIER_TRAITS + FRACTION_TRAITS
TraitName = Literal[TRAITS]  # type: ignore[valid-type]

#: The built-in catalogue: name -> (traits, weight).  Every factor is an
#: ASSUMPTION of direction (as reported) and size (moderate, to be calibrated);
#: equal weights (ASSUMPTION: no alteration is favoured a priori).
DEFAULT_ALTERATIONS: dict[str, dict[str, Any]] = {
    # An EMT program (e.g. Twist1): cells leave more readily but divide less.
    # Sustained EMT hinders colonization: distant metastases in 3/13 mice with
    # sustained vs 12/14 with reversible Twist1 induction (Tsai et al. 2012,
    # Cancer Cell 22:725) [READ-2].  ASSUMPTION: invasiveness x2, net growth x0.5.
    "EMT": {"traits": {"invasiveness": 2.0, "proliferation": 0.5}, "weight": 1.0},
    # TP53 loss: ASSUMPTION: net growth x1.2 and survival of a CTC per
    # capillary bed x1.05 (loss of p53-dependent apoptosis, e.g. anoikis).
    "TP53": {"traits": {"proliferation": 1.2, "circulation_survival": 1.05}, "weight": 1.0},
    # KRAS activation: ASSUMPTION: net growth x1.5.
    "KRAS": {"traits": {"proliferation": 1.5}, "weight": 1.0},
    # MET amplification: ASSUMPTION: invasiveness x1.5, extravasation x1.5.
    "MET": {"traits": {"invasiveness": 1.5, "extravasation_factor": 1.5}, "weight": 1.0},
    # HER2 (ERBB2) amplification: ASSUMPTION: net growth x1.3 (the target of
    # an anti-HER2 targeted therapy in a later issue).
    "HER2": {"traits": {"proliferation": 1.3}, "weight": 1.0},
    # VEGF up-regulation: ASSUMPTION: angiogenic drive x3 (read by angiogenesis).
    "VEGF": {"traits": {"angiogenic_drive": 3.0}, "weight": 1.0},
    # PD-L1 up-regulation: ASSUMPTION: evades 80 % of immune kill (read by immune).
    "PD-L1": {"traits": {"immune_evasion": 0.8}, "weight": 1.0},
    # A drug-resistance alteration (e.g. an efflux pump): ASSUMPTION: resists
    # 90 % of a drug's kill (read by treatments).
    "RESIST": {"traits": {"drug_resistance": 0.9}, "weight": 1.0},
    # CXCR4-like bone tropism (receptor for CXCL12, expressed in bone marrow;
    # Mueller et al. 2001, Nature 410:50 [READ abstract]): ASSUMPTION: extravasation
    # in bone x3.
    "CXCR4": {"traits": {"bone_tropism": 3.0}, "weight": 1.0},
}

MAX_ALTERATIONS = 64  # bits of the uint64 genotype


class Alteration(Table):
    """One driver alteration: the traits it scales and its weight when chosen."""

    traits: dict[TraitName, float] = Field(  # type: ignore[valid-type]
        default_factory=dict,
        description="trait -> factor (multipliers, >= 0) or own fraction (immune_evasion, "
                    "drug_resistance, in [0, 1]); traits not named are neutral")
    weight: float = Field(1.0, ge=0,
                          description="relative probability of being the alteration a new clone "
                                      "acquires (0: never acquired by mutation)")

    @field_validator("traits")
    @classmethod
    def _ranges(cls, v: dict[str, float]) -> dict[str, float]:
        for name, value in v.items():
            if not np.isfinite(value):
                raise ValueError(f"{name} = {value!r}: must be finite")
            if name in FRACTION_TRAITS and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} = {value!r}: a fraction, must lie in [0, 1]")
            if name in MULTIPLIER_TRAITS and value < 0.0:
                raise ValueError(f"{name} = {value!r}: a multiplier, must be >= 0")
        return v


class GeneticsTable(Table):
    # ASSUMPTION: 1e-11 per division for the whole catalogue, so that the
    # default ten-year run founds ~100 clones per patient (measured: 87) and
    # takes 1.7x the time of the run without genetics, its only factor (clones
    # and the metastases they seed are rows of their own; 1e-9: ~1e4 clones
    # per patient, 6x slower).  Bozic et al. 2010 (PNAS 107:18545) [READ
    # abstract] estimate 3.4e-5 per division for a driver mutation anywhere in
    # the genome [the figure RECALLED: not in the abstract]; the catalogue is a
    # small subset of those drivers, and the engine makes one row per mutant
    # cell, so a rate near 3.4e-5 would found ~1e4 clones a day in a 1e10-cell
    # primary.
    mutation_rate: float = Field(1e-11, ge=0, le=1,
                                 description="probability per division that a daughter acquires "
                                             "a new driver alteration",
                                 json_schema_extra={"source": "assumption: ~100 clones per "
                                                              "patient in ten years (a driver "
                                                              "anywhere in the genome: 3.4e-5 "
                                                              "per division, Bozic et al. 2010, "
                                                              "PNAS 107:18545)"})
    alterations: dict[str, Alteration] = Field(
        default_factory=lambda: {k: Alteration(**v) for k, v in DEFAULT_ALTERATIONS.items()},
        description="the catalogue: name -> {traits, weight}; entries given here replace the "
                    "built-in entry's keys or add a new alteration",
                        json_schema_extra={"source": "assumption: the direction of each trait as "
                                                     "reported (see paget.plugins.genetics), its "
                                                     "size moderate"})
    # validated after the catalogue, whose names it must use
    initial: list[str] = Field(default_factory=list,
                               description="alterations every clone is taken to carry from the "
                                           "start (in addition to its genotype)")

    @model_validator(mode="before")
    @classmethod
    def _merge_catalogue(cls, data: Any) -> Any:
        """Entries given in the config override built-in ones key by key."""
        if not isinstance(data, dict) or "alterations" not in data:
            return data
        given = data["alterations"]
        if not isinstance(given, dict):
            return data
        merged: dict[str, Any] = {k: dict(v) for k, v in DEFAULT_ALTERATIONS.items()}
        for name, entry in given.items():
            if isinstance(entry, Alteration):
                entry = entry.model_dump()
            if isinstance(entry, dict) and name in merged:
                merged[name] = {**merged[name], **entry}
            else:
                merged[name] = entry
        return {**data, "alterations": merged}

    @field_validator("alterations")
    @classmethod
    def _fits_genotype(cls, v: dict[str, Alteration]) -> dict[str, Alteration]:
        if len(v) > MAX_ALTERATIONS:
            raise ValueError(f"{len(v)} alterations: the genotype holds at most {MAX_ALTERATIONS}")
        return v

    # derived from the fields once, after validation (the table is frozen)
    _arrays: tuple = PrivateAttr()
    _initial_mask: np.uint64 = PrivateAttr()
    _effects: tuple = PrivateAttr()

    def model_post_init(self, __context: Any) -> None:
        names = tuple(self.alterations)
        values = np.empty((len(names), len(TRAITS)))
        for k, name in enumerate(names):
            given = self.alterations[name].traits
            values[k] = [given.get(t, 1.0 if t in MULTIPLIER_TRAITS else 0.0) for t in TRAITS]
        weights = np.array([self.alterations[n].weight for n in names], dtype=np.float64)
        values.flags.writeable = False
        weights.flags.writeable = False
        self._arrays = (names, values, weights)
        # per alteration that changes something: its bit and, per trait it
        # changes, the factor it multiplies (fractions: their complements)
        neutral = np.array([0.0 if t in FRACTION_TRAITS else 1.0 for t in TRAITS])
        effects = []
        for k in range(len(names)):
            changed = np.flatnonzero(values[k] != neutral)
            if changed.size:
                factors = [1.0 - values[k, j] if TRAITS[j] in FRACTION_TRAITS else values[k, j]
                           for j in changed]
                effects.append((np.uint64(1) << np.uint64(k), tuple(zip(changed.tolist(), factors))))
        self._effects = tuple(effects)
        mask = np.uint64(0)
        for name in self.initial:
            mask |= np.uint64(1) << np.uint64(names.index(name))
        self._initial_mask = mask

    @field_validator("initial")
    @classmethod
    def _initial_known(cls, v: list[str], info: ValidationInfo) -> list[str]:
        alterations = info.data.get("alterations")
        if alterations is None:  # the catalogue itself is invalid (reported on its own)
            return v
        unknown = [name for name in v if name not in alterations]
        if unknown:
            raise ValueError(f"unknown alterations {unknown}; known: {', '.join(alterations)}")
        return v


@hookimpl
def paget_config_tables():
    return {"genetics": GeneticsTable}


@hookimpl
def paget_state_variables():
    def trait(name, default, long_name):
        return StateVariable(name, "lesion", "float64", default, "1", long_name, output=False)

    return [
        trait("proliferation", 1.0, "multiplier of net growth (genetics)"),
        trait("invasiveness", 1.0, "multiplier of the invasive fraction (genetics)"),
        trait("circulation_survival", 1.0, "multiplier of per-bed CTC survival (genetics)"),
        trait("extravasation_factor", 1.0, "multiplier of extravasation probability (genetics)"),
        trait("angiogenic_drive", 1.0, "multiplier of the angiogenic switch rate (genetics)"),
        trait("bone_tropism", 1.0, "multiplier of extravasation in bone (genetics)"),
        trait("immune_evasion", 0.0, "fraction of immune kill evaded (genetics)"),
        trait("drug_resistance", 0.0, "fraction of drug kill resisted (genetics)"),
    ]


@hookimpl
def paget_output_attrs(config):
    """CF bit-mask flags of the output's genotypes: bit k is the k-th alteration."""
    names = tuple(config.genetics.alterations)
    if not names:
        return {}
    masks = np.uint64(1) << np.arange(len(names), dtype=np.uint64)
    # CF: flag meanings are blank-separated words of letters, digits and _-.+@
    meanings = " ".join(re.sub(r"[^A-Za-z0-9_.+@-]", "_", name) for name in names)
    comment = ("bit k is set when the clone acquired the k-th driver alteration of the "
               "genetics catalogue (flag_masks, flag_meanings) during the run")
    if config.genetics.initial:
        comment += (f"; every clone also carries the initial alterations "
                    f"{', '.join(config.genetics.initial)} (genetics.initial), whose bits are "
                    f"not set here")
    return {name: {"flag_masks": masks, "flag_meanings": meanings, "comment": comment}
            for name in ("lesion_genotype", "clone_genotype")}


# --------------------------------------------------------------------------
# The catalogue as arrays
# --------------------------------------------------------------------------

def catalogue(config) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Alteration names (bit order), their trait values (K, len(TRAITS)) and weights (K,).

    Trait values are the alteration's factor for multiplier traits (1 where
    not named) and its own fraction for fraction traits (0 where not named).
    Built once when the table is validated (read-only arrays).
    """
    return config.genetics._arrays


def bit(config, name: str) -> np.uint64:
    """The genotype bit of alteration ``name``."""
    names = tuple(config.genetics.alterations)
    if name not in names:
        raise KeyError(f"unknown alteration {name!r}; known: {', '.join(names)}")
    return np.uint64(1) << np.uint64(names.index(name))


def initial_mask(config) -> np.uint64:
    """Bits of the ``initial`` alterations, carried by every clone."""
    return config.genetics._initial_mask


def traits_of(genotype: np.ndarray, config) -> dict[str, np.ndarray]:
    """Trait values of effective genotypes (``genotype | initial_mask``), per row.

    Usable on the output's ``lesion_genotype`` or ``clone_genotype``.
    """
    eff = np.asarray(genotype, dtype=np.uint64) | initial_mask(config)
    out = {t: np.empty(eff.shape) for t in TRAITS}
    _fill_traits(eff, config.genetics._effects, out)
    return out


def _fill_traits(eff: np.ndarray, effects: tuple, out: dict[str, np.ndarray]) -> None:
    """Write the traits of effective genotypes ``eff`` into ``out``: for each
    alteration, multiply where its bit is set; fraction traits are held as
    complements until the end."""
    for t in TRAITS:
        out[t].fill(1.0)
    present = np.bitwise_or.reduce(eff) if eff.size else np.uint64(0)
    for bit_k, changes in effects:
        if not present & bit_k:  # no row carries it: skip the pass over the rows
            continue
        has = np.flatnonzero(eff & bit_k)
        if has.size == 0:
            continue
        for j, f in changes:
            out[TRAITS[j]][has] *= f
    for t in FRACTION_TRAITS:
        np.subtract(1.0, out[t], out=out[t])


# --------------------------------------------------------------------------
# Hooks
# --------------------------------------------------------------------------

@hookimpl(tryfirst=True)
def paget_update_state(lesions, state, config):
    """Recompute every row's traits from its effective genotype.

    ``tryfirst``: other plugins read the traits in their own state updates
    (angiogenesis' ``angiogenic_drive``), so rows founded in the last step
    must have theirs before those run.
    """
    if len(lesions) == 0:
        return
    # _fill_traits of the effective genotypes, compiled (one pass over the rows)
    table = config.genetics
    plugin_math.genetics_traits(lesions.genotype, _mask(table), *_flat_effects(table),
                                _trait_columns(state.lesion))


#: the trait columns of ``state.lesion``, a tuple in :data:`TRAITS`' order (one C
#: call, where a generator over the names cost ~1.5 us a step)
_trait_columns = operator.itemgetter(*TRAITS)

#: per genetics table: its effects flattened for genetics_traits; its initial mask
_FLAT: dict = {}
_MASK: dict = {}


def _mask(table) -> int:
    """``int(table._initial_mask)`` once per table (frozen; reading a private
    attribute of a pydantic model takes ~1.5 us, every step)."""
    return once(_MASK, (table,), lambda: int(table._initial_mask))


def _flat_effects(table) -> tuple:
    """``(bits, start, trait, factor, fraction)`` of ``table._effects``, the
    arguments of ``plugin_math.genetics_traits``; once per table (frozen)."""
    def make():
        effects = table._effects
        bits = np.array([b for b, _ in effects], dtype=np.uint64)
        start = np.cumsum([0] + [len(ch) for _, ch in effects]).astype(np.int64)
        trait = np.array([j for _, ch in effects for j, _ in ch], dtype=np.int64)
        factor = np.array([f for _, ch in effects for _, f in ch], dtype=np.float64)
        fraction = np.array([t in FRACTION_TRAITS for t in TRAITS], dtype=bool)
        return bits, start, trait, factor, fraction
    return once(_FLAT, (table,), make)


@hookimpl
def paget_growth(lesions, rates, state, config):
    """Mutation rate of growing rows; proliferation scales net growth, keeps turnover."""
    plugin_math.genetics_growth(lesions.dormant, lesions.cells, state.lesion["proliferation"],
                                config.genetics.mutation_rate, rates.mutation, rates.birth,
                                rates.death)


@hookimpl
def paget_invasion(rates, state):
    plugin_math.genetics_invasion(state.lesion["invasiveness"], rates.invasive)


@hookimpl
def paget_circulation(lesions, rates, state):
    plugin_math.multiply_at(state.lesion["circulation_survival"], lesions.row, rates.ctc_survival)


@hookimpl
def paget_extravasation(sources, probability, state, body):
    # times the source rows' extravasation factor (bone: and bone tropism),
    # clipped to [0, 1], compiled
    plugin_math.genetics_extravasation(sources.row, state.lesion["extravasation_factor"],
                                       state.lesion["bone_tropism"], body.organ_index("bone"),
                                       probability)


@hookimpl
def paget_mutation(parents, uniform, config):
    """One new alteration per new clone, not yet carried, chosen by weight."""
    names, _, weights = catalogue(config)
    genotype = np.asarray(parents.genotype, dtype=np.uint64)
    eff = genotype | initial_mask(config)
    k = len(names)
    if genotype.size == 0 or k == 0:
        return genotype.copy()
    bits = np.uint64(1) << np.arange(k, dtype=np.uint64)
    free = (eff[:, None] & bits[None, :]) == 0                 # (m, K)
    w = np.where(free, weights[None, :], 0.0)
    cum = np.cumsum(w, axis=1)
    total = cum[:, -1]
    target = np.asarray(uniform, dtype=np.float64) * total
    pick = np.minimum((cum <= target[:, None]).sum(axis=1), k - 1)
    # rounding can land on a trailing zero weight: take the last choosable one
    last = k - 1 - np.argmax(w[:, ::-1] > 0, axis=1)
    rows = np.arange(genotype.size)
    pick = np.where(w[rows, pick] > 0, pick, last)
    return np.where(total > 0, genotype | bits[pick], genotype)
