"""Tumour microenvironment: hypoxia, systemic inflammation, the pre-metastatic niche.

Model
-----
**Hypoxia** (lesion-level ``hypoxia``, in [0, 1]).  Oxygen reaches tumour
cells only within a diffusion distance ``L`` of a perfused vessel: Thomlinson &
Gray (1955, Br J Cancer 9:539) calculated an effective diffusion distance of
about 150 um, close to the radii of the viable tumour cords they saw [READ-2]
(the range ~100-200 um RECALLED).  An
avascular lesion of ``N`` cells is taken as a sphere at 10^6 cells/mm^3
(as used by Coumans et al. 2013, BMC Cancer 13:283 [READ]) of radius ``R``,
fed from its surface; the index is its hypoxic (core) volume fraction::

    hypoxia = max(0, 1 - L / R)^3,    R = (3 N / (4 pi 10^6))^(1/3) mm

zero below ~1.4e4 cells (R = 0.15 mm), 0.43 at 10^6 cells (the avascular cap),
approaching 1 for large avascular lesions.  A vascular lesion keeps a lower,
chronic level: ``vascular_hypoxia`` times the same fraction.  Without the
angiogenesis plugin every lesion counts as vascular (the core model has no
avascular limit, so its lesions are implicitly perfused); dormant pools are 0.
A lesion's clones share its value (the size is the lesion's, all clones).

Hypoxia raises the invasive fraction (HIF-1 drives EMT, e.g. through TWIST;
Yang et al. 2008, Nat Cell Biol 10:295 [READ abstract])::

    invasive <- min(1, invasive * (1 + hypoxia_invasion * hypoxia))

and, read through the ``hypoxia`` state by the angiogenesis plugin, the
angiogenic switch.  Note that with ``[invasion] fraction = 1`` (its default)
the clip leaves nothing to raise.

**Inflammation** (patient-level ``inflammation``, in [0, 1]): a saturating
function of the patient's total tumour burden ``B`` (growing cells)::

    inflammation = B / (B + inflammation_half_burden)

It raises extravasation in every organ (activated endothelium)::

    p <- min(1, p * (1 + inflammation_extravasation * inflammation))

**Pre-metastatic niche** (``niche[patient, organ]``, in [0, 1]).  Factors
secreted by the primary condition distant organs before cells arrive
(Kaplan et al. 2005, Nature 438:820: lung; Costa-Silva et al. 2015, Nat Cell
Biol 17:816: liver; organotropism set by the primary's exosomes, Hoshino et
al. 2015, Nature 527:329) [all READ abstract].  With ``w`` the
organ's ``tropism`` weight and ``S = N_p / (N_p + niche_half_size)`` the
saturating signal of the primary's ``N_p`` cells::

    dn/dt = niche_build * S * w * (1 - n) - niche_decay * n

taken exactly over each step with ``S`` held (a linear equation): ``n``
relaxes towards ``a / (a + niche_decay)``, ``a = niche_build * S * w``, at rate
``a + niche_decay``; without a primary it decays.  The niche raises
extravasation and shifts fate probability from death to growth::

    p    <- min(1, p * (1 + niche_extravasation * n))
    grow <- min(grow + die, grow * (1 + niche_colonization * n)),  die <- die - (grow' - grow)

so the three fates still sum to 1.  With every tropism weight 0 the niche
stays 0 and has no effect.  That is the default: which organs a primary
conditions is specific to the cancer type, so the weights belong in a cancer
scenario (issue 6: a cancer type contributes its primary organ, growth
kinetics, shedding, lymphatic spread and a small, cited set of tropism
factors), not in this plugin's defaults.

Hooks
-----
State is advanced in ``paget_update_state`` from the lesions at the start of
the step: inflammation from all growing cells (counted from the table, since
``patients.burden`` is still 0 in the first step), the niche from the
primary's cells.  The angiogenesis plugin's ``vascular`` is read as it stands,
so the two plugins may see each other's state one step late (with the built-in
order, angiogenesis updates first: its switch reads the previous step's
hypoxia, and this plugin's hypoxia this step's ``vascular``).

The invasive fraction is raised in ``paget_invasion`` (:func:`apply_invasion`),
so intravasation, called next, sheds from the raised fraction.  That hook and
``paget_extravasation`` are marked ``trylast``: they come after the other
factors on the same value (genetics' ``invasiveness``, ``extravasation_factor``
and ``bone_tropism``), and since this plugin's multipliers are at least 1,
clipping last gives the product clipped once, e.g.
``min(1, f * invasiveness * (1 + hypoxia_invasion * hypoxia))``, whatever the
other factors are (applied first, its clip at 1 could be undone by a factor
below 1 applied after it).
"""
from __future__ import annotations

import numpy as np
from pydantic import Field

from paget.config import Table, organ_map, resolve_organ_map
from paget.ext import plugin_math
from paget.manager import hookimpl
from paget.plugins._memo import once
from paget.state import StateRead, StateVariable

#: Cells per mm^3 of tumour (as used by Coumans et al. 2013, BMC Cancer 13:283) [READ].
CELLS_PER_MM3 = 1e6


class MicroenvironmentTable(Table):
    # Thomlinson & Gray 1955 (Br J Cancer 9:539): an effective oxygen diffusion
    # distance of about 150 um, matching the radii of viable tumour cords [READ-2]
    # (~100-200 um from a capillary [RECALLED]; 150 um is also its midpoint).
    diffusion_limit_mm: float = Field(0.15, gt=0,
                                      description="oxygen diffusion distance L, mm",
                                      json_schema_extra={"source": "Thomlinson & Gray 1955 (Br J "
                                                                   "Cancer 9:539): viable cords "
                                                                   "~100-200 um from a capillary"})
    # ASSUMPTION: perfusion of a vascular tumour is chaotic; a fifth of the
    # hypoxia an avascular lesion of that size would have.
    vascular_hypoxia: float = Field(0.2, ge=0, le=1,
                                    description="hypoxia of a vascular lesion relative to an "
                                                "avascular one of the same size",
                                    json_schema_extra={"source": "assumption"})
    # ASSUMPTION: a fully hypoxic lesion has up to three times the invasive
    # fraction of a normoxic one (gain 2), clipped at 1.
    hypoxia_invasion: float = Field(2.0, ge=0,
                                    description="invasive fraction multiplier 1 + gain * hypoxia",
                                    json_schema_extra={"source": "assumption"})
    # ASSUMPTION: systemic inflammation is half-maximal at 1e10 tumour cells
    # (~10 cm^3 of tumour at 1e6 cells/mm^3).
    inflammation_half_burden: float = Field(1e10, gt=0,
                                            description="burden of half-maximal "
                                                        "inflammation, cells",
                                            json_schema_extra={"source": "assumption"})
    # ASSUMPTION: "modest": full inflammation raises extravasation by half.
    inflammation_extravasation: float = Field(0.5, ge=0,
                                              description="extravasation multiplier "
                                                          "1 + gain * inflammation",
                                              json_schema_extra={"source": "assumption"})
    # Zero everywhere: tropism is cancer-specific and set by a cancer scenario
    # (issue 6), e.g. lung and liver for the niche studies cited above.
    tropism: organ_map(probability=True) = Field(  # type: ignore[valid-type]
        0.0,
        description="weight of each organ in niche formation (0: never conditioned); "
                    "cancer-specific, so 0 for every organ by default: a cancer scenario "
                    "sets it")
    # ASSUMPTION: a niche forms within weeks of a large primary (~10 days at
    # full signal); in mice, bone-marrow-derived clusters preceded tumour cells
    # in the lung within about two weeks (Kaplan et al. 2005, Nature 438:820: the
    # clusters before the tumour cells READ in the abstract; the two weeks
    # RECALLED).
    niche_build: float = Field(0.1, ge=0,
                               description="niche formation rate at full signal, 1/day",
                               json_schema_extra={"source": "assumption: a niche within weeks, "
                                                            "as in mice (Kaplan et al. 2005, "
                                                            "Nature 438:820)"})
    # ASSUMPTION: a niche lasts ~2 months (1/0.015 days) once its signal stops.
    niche_decay: float = Field(0.015, ge=0,
                               description="niche decay rate, 1/day",
                               json_schema_extra={"source": "assumption"})
    # ASSUMPTION: the signal is half-maximal at a 1 cm^3 primary (1e9 cells).
    niche_half_size: float = Field(1e9, gt=0,
                                   description="primary size of half-maximal niche signal, cells",
                                   json_schema_extra={"source": "assumption"})
    # ASSUMPTIONS: a full niche doubles extravasation and colonization.
    niche_extravasation: float = Field(1.0, ge=0,
                                       description="extravasation multiplier 1 + gain * niche",
                                       json_schema_extra={"source": "assumption"})
    niche_colonization: float = Field(1.0, ge=0,
                                      description="growth-fate multiplier 1 + gain * niche",
                                      json_schema_extra={"source": "assumption"})


@hookimpl
def paget_config_tables():
    return {"microenvironment": MicroenvironmentTable}


@hookimpl
def paget_state_variables():
    return [
        StateVariable("hypoxia", "lesion", default=0.0, units="1",
                      long_name="hypoxia index of the lesion (0 normoxic .. 1 fully hypoxic)"),
        StateVariable("inflammation", "patient", default=0.0, units="1",
                      long_name="systemic inflammation (0 .. 1), saturating in tumour burden"),
        StateVariable("niche", "patient_organ", default=0.0, units="1",
                      long_name="pre-metastatic niche conditioning of the organ (0 .. 1)"),
    ]


@hookimpl
def paget_state_reads():
    return [StateRead("vascular", required=False)]   # angiogenesis' switch of this step


def hypoxic_fraction(cells: np.ndarray, diffusion_limit_mm: float) -> np.ndarray:
    """Hypoxic core volume fraction of a sphere of ``cells`` fed from its surface."""
    radius = np.cbrt(3.0 * np.asarray(cells, dtype=np.float64) / (4.0 * np.pi * CELLS_PER_MM3))
    rim = np.divide(diffusion_limit_mm, radius, out=np.ones_like(radius), where=radius > 0)
    core = np.clip(1.0 - rim, 0.0, 1.0)
    # the cube only where there is a hypoxic core: most rows are colonies smaller
    # than the diffusion limit, whose 0 ** 3 is 0 (pow is ~70 % of this function)
    return np.power(core, 3.0, out=np.zeros_like(core), where=core > 0)


def hypoxia_index(lesions, vascular, cfg: MicroenvironmentTable) -> np.ndarray:
    """Hypoxia per row; ``vascular`` is a bool array or None (all vascular)."""
    out = np.zeros(len(lesions))
    # growing rows only: dormant pools (most rows of a late table) are 0
    grows = np.flatnonzero(~lesions.dormant)
    frac = hypoxic_fraction(lesions.lesion_cells[grows], cfg.diffusion_limit_mm)
    level = cfg.vascular_hypoxia if vascular is None else \
        np.where(vascular[grows], cfg.vascular_hypoxia, 1.0)
    out[grows] = frac * level
    return out


def niche_step(niche: np.ndarray, signal: np.ndarray, weight: np.ndarray,
               cfg: MicroenvironmentTable, dt: float) -> np.ndarray:
    """Exact solution of dn/dt = build S w (1 - n) - decay n over ``dt``.

    ``niche`` (P, n_organs), ``signal`` (P,), ``weight`` (n_organs,)."""
    a = cfg.niche_build * signal[:, None] * weight[None, :]
    k = a + cfg.niche_decay
    target = np.divide(a, k, out=np.zeros_like(a), where=k > 0)
    return target + (niche - target) * np.exp(-k * dt)


#: 4 pi x cells per mm^3: a sphere of ``cells`` has radius cbrt(3 cells / SPHERE) mm
SPHERE = 4.0 * np.pi * CELLS_PER_MM3


@hookimpl
def paget_update_state(lesions, state, patients, config, body, dt):
    cfg = config.microenvironment
    if len(lesions):
        # hypoxia_index, compiled
        plugin_math.hypoxia_rows(lesions.dormant, lesions.lesion_cells,
                                 state.lesion.get("vascular"), cfg.diffusion_limit_mm, SPHERE,
                                 cfg.vascular_hypoxia, state.lesion["hypoxia"])
    # the burden from the table (not patients.burden, which is 0 before the
    # first step ends): whole numbers, exact sums in any order; where each
    # patient's rows are on this rank alone, the sums, the inflammation and the
    # niche in one compiled call
    if lesions.serial and plugin_math.microenvironment_serial(
            lesions.dormant, lesions.cells, lesions.primary, lesions.pidx, patients.alive,
            cfg.inflammation_half_burden, state.patient["inflammation"], state.patient["niche"],
            _tropism(cfg, body), _weight(cfg, body) is not None, cfg.niche_half_size,
            cfg.niche_build, cfg.niche_decay, dt):
        return
    alive = np.asarray(patients.alive)
    burden = lesions.patient_sum(plugin_math.growing_cells(lesions.dormant, lesions.cells))
    plugin_math.inflammation_update(burden, cfg.inflammation_half_burden, alive,
                                    state.patient["inflammation"])
    weight = _weight(cfg, body)
    niche = state.patient["niche"]
    if weight is None and not np.count_nonzero(niche):
        return
    primary = lesions.patient_sum(plugin_math.growing_cells(lesions.dormant, lesions.cells,
                                                            lesions.primary))
    # niche_step for the alive patients, compiled
    plugin_math.niche_update(niche, primary, _tropism(cfg, body), cfg.niche_half_size,
                             cfg.niche_build, cfg.niche_decay, float(dt), alive)


#: per (microenvironment table, body): whether the tropism weights any organ;
#: the tropism's weights per organ
_WEIGHTS: dict = {}
_TROPISM: dict = {}


def _tropism(cfg: MicroenvironmentTable, body) -> np.ndarray:
    """``resolve_organ_map(cfg.tropism, body, 0.0)``, read-only, once per table
    and body (tables are frozen; hashing the body's organs every step cost ~1 us)."""
    def make():
        weights = resolve_organ_map(cfg.tropism, body, 0.0)
        weights.flags.writeable = False
        return weights
    return once(_TROPISM, (cfg, body), make)


def _weight(cfg: MicroenvironmentTable, body) -> bool | None:
    """True if ``cfg.tropism`` weights some organ of ``body``, else None (once
    per table and body: tables are frozen)."""
    return once(_WEIGHTS, (cfg, body), lambda: True if _tropism(cfg, body).any() else None)


def apply_invasion(rates, hypoxia: np.ndarray, cfg: MicroenvironmentTable) -> None:
    """Raise the invasive fraction with hypoxia, clipped at 1 (in place)."""
    if cfg.hypoxia_invasion == 0 or rates.invasive.size == 0:
        return  # no gain
    # min(1, invasive x (1 + gain x hypoxia)) unless every row is wholly invasive
    # already (the clip would leave nothing to raise), compiled
    plugin_math.hypoxia_invasion(hypoxia, float(cfg.hypoxia_invasion), rates.invasive)


@hookimpl(trylast=True)
def paget_invasion(rates, state, config):
    apply_invasion(rates, state.lesion["hypoxia"], config.microenvironment)


def extravasation_factor(sources, state, cfg: MicroenvironmentTable) -> np.ndarray:
    """(m, n_organs) multiplier of extravasation from inflammation and niche."""
    pidx = sources.pidx
    factor = 1.0 + cfg.niche_extravasation * state.patient["niche"][pidx]
    factor *= (1.0 + cfg.inflammation_extravasation * state.patient["inflammation"][pidx])[:, None]
    return factor


@hookimpl(trylast=True)
def paget_extravasation(sources, probability, state, config):
    cfg = config.microenvironment
    # min(probability x extravasation_factor, 1), compiled
    plugin_math.niche_extravasation(sources.pidx, state.patient["niche"],
                                    state.patient["inflammation"], cfg.niche_extravasation,
                                    cfg.inflammation_extravasation, probability)


@hookimpl
def paget_dtc_fate(sources, fates, state, config):
    cfg = config.microenvironment
    # where a source's patient has a niche: grow x (1 + gain niche), at most
    # grow + die, die the rest (its max with 0: rounding only), compiled
    plugin_math.niche_fates(sources.pidx, state.patient["niche"], cfg.niche_colonization, fates)
