"""Organ failure: a patient dies when tumour replaces a lethal share of a vital organ, or
when the primary reaches a size whose local complications kill; the cause is recorded.

Load it with ``[plugins] load = ["paget.plugins.organ_failure"]`` (the shipped
cancer scenarios do); it works beside the built-in ``outcome`` plugin, whose
total-burden threshold ``outcome.lethal_cells`` still kills (a scenario in which
only organs should fail sets it above any reachable burden, e.g. ``1e15``).

Model
-----
At the end of every step, for each living patient:

* **Organ failure** (``[organ_failure] lethal_share``): the growing tumour cells
  in organ *o* (every lesion there, dormant cells excluded), converted to
  grams at ``cells_per_gram``, reach ``lethal_share[o]`` of the organ's
  reference mass ``organ_grams[o]``.  The organ's own tissue is taken at its
  reference mass whatever the tumour does (the tumour *replaces* it).
* **Primary's local complications** (``[organ_failure] primary_lethal_diameter``):
  the primary tumour (while it is in the body, i.e. before surgery) reaches the
  cells of a sphere of that diameter, at ``cells_per_gram`` and 1 g/cm^3.

Reference masses, reference adult man (ICRP Publication 89, 2002, Ann ICRP
32(3-4), as tabulated in J Nucl Med reference-mass tables) [READ]: liver
1,800 g, lungs 1,200 g (right 642 + left 558), brain 1,450 g; reference woman
1,400, 950 and 1,300 g.  Red (active) bone marrow 1,170 g (man; ICRP 89)
[RECALLED]; it stands for the ``bone`` organ, whose metastases are marrow
metastases first.  Lethal shares (every one an ASSUMPTION, none fitted):

* liver 0.75: by analogy with the smallest future liver remnant a normal liver
  survives after major hepatectomy, ~20-30 % of its volume (Clavien et al.
  2007, N Engl J Med 356:1545) [RECALLED];
* lung 0.5: half the lung replaced, ASSUMPTION;
* bone (marrow) 0.5: half the active marrow replaced (myelophthisis), ASSUMPTION;
* brain 0.03 (about 44 g, ~44 cm^3): a mass of a few tens of cm^3 in the fixed
  skull causes herniation, ASSUMPTION.

Cell density 1e9 cells/g (1e6 cells/mm^3 at 1 g/cm^3), the conventional figure
used by the rest of the model (ASSUMPTION: Del Monte 2009, Cell Cycle 8:505
[READ abstract], argues that carcinomas, whose stroma and cell size it counts,
hold about ten times fewer).

Cause of death (``death_cause``, per patient, written at death; the coding is
in the variable's ``flag_values``/``flag_meanings`` attributes):

* 0: alive, or killed by another plugin's criterion (then ``death_time`` is set);
* 1: total tumour burden (``outcome.lethal_cells``, the ``outcome`` plugin);
* 2: the primary's local complications (``primary_lethal_diameter``);
* 3 + k: failure of the organ with index k of the ``organ`` coordinate.

Where several criteria are met in the same step, the smallest code is recorded.
Read it where ``death_time`` is set (:func:`death_cause` does): with the
``outcome`` plugin switched off, a living patient past ``outcome.lethal_cells``
carries code 1 without dying.
A dead patient's ``death_cause`` stays as it was at death; a patient cannot die
twice (the engine ignores ``dying`` for the dead).
"""
from __future__ import annotations

import math

import numpy as np
from pydantic import Field, field_validator

from paget.config import Table
from paget.errors import ConfigError
from paget.manager import hookimpl
from paget.plugins._memo import once
from paget.state import StateVariable

#: cause codes below the organ codes
ALIVE, BURDEN, PRIMARY_LOCAL, FIRST_ORGAN = 0, 1, 2, 3
#: no criterion met this step (np.iinfo made once: ~3 us a call)
_NONE = np.iinfo(np.int64).max

#: ICRP Publication 89 (2002) reference adult man, grams [READ] (bone: red
#: marrow [RECALLED]); see the module docstring
ICRP89_MAN_GRAMS = {"liver": 1800.0, "lung": 1200.0, "brain": 1450.0, "bone": 1170.0}
#: ICRP Publication 89 (2002) reference adult woman, grams [READ] (bone: red
#: marrow, 900 g [RECALLED])
ICRP89_WOMAN_GRAMS = {"liver": 1400.0, "lung": 950.0, "brain": 1300.0, "bone": 900.0}


class OrganFailureTable(Table):
    """Organ-specific lethal tumour loads and the primary's lethal local size."""

    organ_grams: dict[str, float] = Field(
        default_factory=lambda: dict(ICRP89_MAN_GRAMS),
        description="reference mass of each organ that can fail, g (the organs given "
                    "replace these defaults, the others keep them)",
        json_schema_extra={"source": "ICRP Publication 89 (2002), reference adult man: "
                                     "liver 1800 g, lungs 1200 g, brain 1450 g; red marrow "
                                     "1170 g [RECALLED]"})
    lethal_share: dict[str, float] = Field(
        default_factory=lambda: {"liver": 0.75, "lung": 0.5, "bone": 0.5, "brain": 0.03},
        description="share of an organ's reference mass replaced by tumour at which the "
                    "organ fails and the patient dies (0-1]; only the organs listed can fail "
                    "(a table given replaces the default one)",
        json_schema_extra={"source": "assumption; liver by analogy with the ~20-30 % minimal "
                                     "liver remnant after hepatectomy (Clavien et al. 2007, "
                                     "N Engl J Med 356:1545) [RECALLED]"})
    primary_lethal_diameter: float | None = Field(
        None, gt=0,
        description="diameter of the primary at which its local complications kill, mm "
                    "(none: they do not)",
        json_schema_extra={"source": "assumption, set per scenario"})
    cells_per_gram: float = Field(
        1e9, gt=0, description="tumour cells per gram",
        json_schema_extra={"source": "assumption: the conventional 1e6 cells/mm^3 at 1 "
                                     "g/cm^3 (Del Monte 2009, Cell Cycle 8:505, argues for "
                                     "~10 times fewer in carcinomas)"})

    @field_validator("organ_grams", mode="before")
    @classmethod
    def _over_the_defaults(cls, v):
        return {**ICRP89_MAN_GRAMS, **v} if isinstance(v, dict) else v


@hookimpl
def paget_config_tables():
    return {"organ_failure": OrganFailureTable}


@hookimpl
def paget_check_config(config, body):
    """Every organ named exists in the body, has a mass, and a share in (0, 1]."""
    cfg = config.organ_failure
    for key, table in (("lethal_share", cfg.lethal_share), ("organ_grams", cfg.organ_grams)):
        for organ in table:
            if organ not in body.organs:
                raise ConfigError(f"organ_failure.{key}.{organ}: unknown organ {organ!r}; the "
                                  f"body's organs are {', '.join(body.organs)}")
    for organ, grams in cfg.organ_grams.items():
        if not (grams > 0.0) or math.isinf(grams):
            raise ConfigError(f"organ_failure.organ_grams.{organ} = {grams!r} g: must be a "
                              f"positive, finite mass in grams")
    for organ, share in cfg.lethal_share.items():
        if not (0.0 < share <= 1.0) or math.isnan(share):
            raise ConfigError(f"organ_failure.lethal_share.{organ} = {share!r}: must be a "
                              f"share of the organ's mass in (0, 1]")
        if organ not in cfg.organ_grams:
            raise ConfigError(f"organ_failure.lethal_share.{organ}: the organ has no mass in "
                              f"organ_failure.organ_grams (g); give one")


@hookimpl
def paget_state_variables():
    return [StateVariable("death_cause", "patient", "int64", ALIVE, "1",
                          "cause of death: 0 alive or another plugin's criterion, 1 total "
                          "tumour burden, 2 the primary's local complications, 3 + k failure "
                          "of organ k of the organ coordinate", over_time=False)]


def cause_codes(organs) -> dict[int, str]:
    """Code -> meaning (one word, CF ``flag_meanings`` style) for a body's ``organs``."""
    out = {ALIVE: "alive_or_other", BURDEN: "total_burden", PRIMARY_LOCAL: "primary_local"}
    out.update({FIRST_ORGAN + k: f"{name}_failure" for k, name in enumerate(organs)})
    return out


@hookimpl
def paget_output_attrs(config):
    from paget.body import make_body
    try:
        organs = make_body(config.body.model, config.body.flow_percent).organs
    except (TypeError, ValueError, KeyError):  # a body it cannot rebuild: long_name says it
        return {}
    codes = cause_codes(organs)
    return {"death_cause": {"flag_values": np.array(sorted(codes), dtype=np.int64),
                            "flag_meanings": " ".join(codes[k] for k in sorted(codes))}}


def death_cause(ds) -> "np.ndarray":
    """The cause of death of every patient of a dataset, as words (``flag_meanings``);
    ``"alive"`` for a patient alive at the end."""
    codes = dict(zip(np.asarray(ds.death_cause.attrs["flag_values"]).tolist(),
                     ds.death_cause.attrs["flag_meanings"].split()))
    dead = np.isfinite(np.asarray(ds.death_time.values))
    words = np.array([codes.get(int(c), str(int(c))) for c in np.ravel(ds.death_cause.values)],
                     dtype=object).reshape(np.shape(ds.death_cause.values))
    return np.where(dead, words, "alive")


def lethal_cells(config, body) -> np.ndarray:
    """Cells per organ (body order) at which it fails; inf where it cannot."""
    cfg = config.organ_failure
    out = np.full(len(body.organs), np.inf)
    for organ, share in cfg.lethal_share.items():
        out[body.organ_index(organ)] = share * cfg.organ_grams[organ] * cfg.cells_per_gram
    return out


def primary_lethal_cells(config) -> float:
    """Cells of a sphere of ``primary_lethal_diameter`` mm (inf: none)."""
    d = config.organ_failure.primary_lethal_diameter
    if d is None:
        return math.inf
    return math.pi / 6.0 * d ** 3 * 1e-3 * config.organ_failure.cells_per_gram


#: (organ_failure table, body) -> (lethal cells per organ, (1, organs); the
#: primary's lethal cells), made once a run (paget.plugins._memo)
_LIMITS: dict = {}


def _limits(config, body) -> tuple[np.ndarray, float]:
    return once(_LIMITS, (config.organ_failure, body),
                lambda: (lethal_cells(config, body)[None, :], primary_lethal_cells(config)))


@hookimpl
def paget_outcome(lesions, patients, state, config, body, t_end, dying):
    alive = np.asarray(patients.alive)
    growing = np.flatnonzero(~lesions.dormant & (lesions.cells > 0))
    # collective sums: every rank, every step, whatever its rows
    by_organ = lesions.patient_sum(lesions.cells[growing].astype(np.float64), rows=growing,
                                   by_organ=True)
    prim = growing[lesions.primary[growing]]
    primary = lesions.patient_sum(lesions.cells[prim].astype(np.float64), rows=prim)
    n = alive.size
    cause = np.full(n, _NONE, dtype=np.int64)
    organ_limit, primary_limit = _limits(config, body)
    failed = by_organ >= organ_limit
    if failed.any():
        first = np.argmax(failed, axis=1)
        hit = failed.any(axis=1)
        cause[hit] = FIRST_ORGAN + first[hit]
    cause[primary >= primary_limit] = PRIMARY_LOCAL
    outcome = getattr(config, "outcome", None)
    if outcome is not None:
        cause[np.asarray(patients.burden) >= outcome.lethal_cells] = BURDEN
    organ_death = cause >= PRIMARY_LOCAL
    now = alive & (cause != _NONE)
    state.patient["death_cause"][now] = cause[now]
    dying |= now & organ_death
