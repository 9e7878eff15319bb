"""Transcoelomic spread and local extension: routes from a primary that bypass blood and lymph.

Transcoelomic spread: cells a primary sheds inside a serosal cavity seed its lining.

A primary of an organ that lies in a serosal cavity sheds part of its cells
(``exfoliation``) into the cavity's fluid instead of its blood or lymph; the
fluid carries them to the lining, where each attaches with probability
``attachment`` (the others die, detached, in the fluid) and then meets the
lining's soil like any arrested cell (``paget_extravasation``,
``paget_dtc_fate`` of the organ ``peritoneum`` or ``pleura``).  The mechanism,
exfoliation, transport by the peritoneal fluid and attachment to the
mesothelium, is reviewed by Tan, Agarwal & Kaye (2006, Lancet Oncol 7:925-934)
and Lengyel (2010, Am J Pathol 177:1053-1064) for ovarian cancer [both READ
abstract], and by Sugarbaker (1996, Cancer Treat Res 82:79-100, 'Observations
concerning cancer spread within the peritoneal cavity') for gastrointestinal
cancers [READ abstract; the pages READ-2].

The route is generic for the engine: this plugin sets ``rates.direct_fraction``
(``paget_intravasation``) and adds the cavity's fates to the fate matrix as
``FateMatrix.direct`` (a wrapper of ``paget_fate_matrix``).  Cells that take it
never enter the blood, so the blood readouts (``patients.ctc_shed``) leave
them out.  By default only primaries exfoliate (a metastasis on the lining
seeds it by growing; ASSUMPTION); ``metastases = true`` lets metastases in an
organ of a cavity exfoliate too.  Pleural implants "fundamentally" arise from
tumour emboli to the lungs and the visceral pleura, with secondary seeding of
the parietal pleura: the visceral pleura was involved in all 24 lung cancers
and 27 of 31 other cancers with pleural metastases at autopsy
(Rodriguez-Panadero, Borderas Naranjo & Lopez Mejias 1989, Eur Respir J
2:366) [READ abstract].  Measured on the shared body fitted without it
(2026-12-06): even at 38 times its fitted exfoliation, a breast cohort's pleura
went from 6 to 7 % of patients (published 36.6 %, DiSibio & French 2008), as
its lung metastases shed far fewer cells than a primary; so it stays off.

Local extension (``extension``, off by default): a primary whose organ has
neighbouring structures in ``ADJACENT`` sends the share ``extension[s]`` of its
shed cells to each such structure ``s`` directly, neither by blood nor by the
lymph-node chain; there each meets the structure's soil like any arrested cell
(no attachment step).  Breast carcinoma reaches the overlying skin by
direct extension and through the dermal lymphatics (skin involvement is its own
T category, T4b-d: Amin et al., eds. (2017) AJCC Cancer Staging Manual, 8th ed.
[RECALLED]) and the thorax mainly through its lymphatics: in 26 necropsies of
disseminated breast carcinoma, tumour in lymphatics predominated over tumour in
blood vessels in both lung and pleura, with the visceral pleura involved in
75 % (Thomas, Redding & Sloane 1979, Br J Cancer 40:540) [READ abstract].  The
autopsy table says the same: breast involves the pleura in 36.6 % and the skin
in 28.7 % of patients, against 16.6 % and 4.9 % for lung cancer, whose cells
all enter the arterial blood (DiSibio & French 2008, Arch Pathol Lab Med
132:931), so blood alone cannot give both rows.
"""
from __future__ import annotations

import warnings

import numpy as np
from pydantic import Field, field_validator

from paget.body import Body
from paget.config import Table
from paget.errors import ConfigWarning
from paget.ext import plugin_math
from paget.manager import hookimpl
from paget.plugins._memo import once

#: The serosal cavity each organ lies in, and the share of the organ inside it
#: (anatomy: Standring S, ed. (2016) Gray's Anatomy, 41st ed. [RECALLED]):
#: stomach, small intestine, colon, uterus and ovary are covered by visceral
#: peritoneum; the pancreas is retroperitoneal but its cancer spreads into the
#: peritoneal cavity once it breaches the posterior peritoneum [RECALLED]; the
#: rectum's upper third is covered by peritoneum in front and at the sides, its
#: middle third in front only, its lower third not at all (ASSUMPTION: a third,
#: by length, the middle third's front left out); the lung is covered by
#: visceral pleura.
CAVITIES: dict[str, tuple[str, float]] = {
    "stomach": ("peritoneum", 1.0), "small_intestine": ("peritoneum", 1.0),
    "colon": ("peritoneum", 1.0), "rectum": ("peritoneum", 1.0 / 3.0),
    "pancreas": ("peritoneum", 1.0), "ovary": ("peritoneum", 1.0),
    "uterus": ("peritoneum", 1.0), "lung": ("pleura", 1.0),
}


#: The structures a primary of an organ reaches by local extension: breast ->
#: the overlying skin, and the pleura through the chest wall's and the
#: thorax's lymphatics (see the module's docstring).  The share of the shed
#: cells each receives is ``extension``'s, one per structure: the cells reach
#: skin and pleura by different paths, so one share split by a fixed weight
#: would be an assumption the autopsy table can test (it left breast's skin at
#: 17 % and its pleura at 42 %, published 28.7 and 36.6 %).
ADJACENT: dict[str, tuple[str, ...]] = {
    "breast": ("skin", "pleura"),
}


class TranscoelomicTable(Table):
    # ASSUMPTION (no published share of shed cells): a tenth of the cells a
    # primary inside a cavity sheds go into the cavity, as many as take the
    # lymphatic route by default (intravasation.lymph_fraction).
    exfoliation: float = Field(
        0.1, ge=0, le=1,
        description="share of the cells shed by a primary wholly inside a serosal cavity that "
                    "enter the cavity instead of blood or lymph (dimensionless; scaled by the "
                    "share of the organ inside the cavity; 0 switches the route off)",
        json_schema_extra={"source": "assumption"})
    # ASSUMPTION: half of the exfoliated cells attach to the mesothelium; the
    # rest die detached in the fluid (anoikis; Tan et al. 2006 review both).
    attachment: float = Field(
        0.5, ge=0, le=1,
        description="probability that an exfoliated cell attaches to the cavity's lining "
                    "(the others die in the fluid; dimensionless)",
        json_schema_extra={"source": "assumption"})
    # Off by default (empty): fitted on the autopsy table where a scenario sets it.
    extension: dict[str, float] = Field(
        default_factory=dict,
        description="per neighbouring structure (a structure of transcoelomic.ADJACENT: "
                    "breast -> skin, pleura), the share of the cells shed by a primary next "
                    "to it that reach it by local extension instead of blood or lymph "
                    "(dimensionless, each in [0, 1], their sum at most 1; a structure not "
                    "named gets none)")

    @field_validator("extension")
    @classmethod
    def _shares(cls, v: dict[str, float]) -> dict[str, float]:
        known = sorted({t for targets in ADJACENT.values() for t in targets})
        for target, share in v.items():
            if target not in known:
                raise ValueError(f"extension: {target!r} is no organ's neighbouring "
                                 f"structure (transcoelomic.ADJACENT names {known})")
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"extension: the share of {target!r} must lie in [0, 1] "
                                 f"(got {share})")
        if sum(v.values()) > 1.0:
            raise ValueError(f"extension: the shares sum to {sum(v.values())}, above 1")
        return v
    # ASSUMPTION by default (false): see the module's docstring for the
    # evidence for metastatic seeding of the pleura and why it stays off.
    metastases: bool = Field(
        False,
        description="metastases in an organ of a cavity exfoliate into it as the primary does "
                    "(their share of shed cells likewise); false: the primary alone")


@hookimpl
def paget_config_tables():
    return {"transcoelomic": TranscoelomicTable}


@hookimpl
def paget_check_config(config):
    """``metastases = true`` while metastases shed nothing
    (``intravasation.metastases_shed = false``) changes nothing: said once, as a
    :class:`paget.ConfigWarning`."""
    intravasation = getattr(config, "intravasation", None)
    if config.transcoelomic.metastases and intravasation is not None \
            and not intravasation.metastases_shed:
        warnings.warn("transcoelomic.metastases = true has no effect: "
                      "intravasation.metastases_shed = false, so no metastasis sheds cells "
                      "to exfoliate", ConfigWarning, stacklevel=2)


def _adjacent(body: Body, organ: str) -> tuple[str, ...]:
    """``ADJACENT[organ]``'s structures that this body has (none unless it has
    the organ)."""
    if organ not in body.index:
        return ()
    return tuple(t for t in ADJACENT.get(organ, ()) if t in body.index)


def exfoliation(body: Body, cfg: TranscoelomicTable) -> np.ndarray:
    """Per organ, the share of a primary's shed cells that take the direct
    route: into its cavity (``exfoliation``), or to its neighbouring structures
    (``extension``); 0 where the organ has neither in this body."""
    out = np.zeros(body.n_organs)
    for organ, (cavity, inside) in CAVITIES.items():
        if organ in body.index and cavity in body.index:
            out[body.index[organ]] = cfg.exfoliation * inside
    for organ in ADJACENT:
        for target in _adjacent(body, organ):
            out[body.index[organ]] += cfg.extension.get(target, 0.0)
    return out


def direct_fates(body: Body, cfg: TranscoelomicTable) -> np.ndarray:
    """The ``FateMatrix.direct`` rows: from an organ in a cavity, attached to
    its lining with probability ``attachment``, else dead; from an organ with
    neighbouring structures, each structure by its share of ``extension`` (the
    extending cells reach it; no attachment step); from any other organ (which
    sends no cell by this route), dead.  An organ both in a cavity and with
    neighbours (none in this body) splits its row by the two routes' shares."""
    n = body.n_organs
    fates = np.zeros((n, n + 1))
    share = exfoliation(body, cfg)
    for organ, (cavity, inside) in CAVITIES.items():
        if organ in body.index and cavity in body.index and share[body.index[organ]] > 0:
            i = body.index[organ]
            w = cfg.exfoliation * inside / share[i]
            fates[i, body.index[cavity]] += w * cfg.attachment
            fates[i, n] += w * (1.0 - cfg.attachment)
    for organ in ADJACENT:
        targets = _adjacent(body, organ)
        if targets and share[body.index[organ]] > 0:
            i = body.index[organ]
            for target in targets:
                fates[i, body.index[target]] += cfg.extension.get(target, 0.0) / share[i]
    fates[share == 0, n] = 1.0
    return fates


@hookimpl(trylast=True)
def paget_intravasation(lesions, rates, config, body):
    """The share ``exfoliation`` of a primary's shed cells goes into its cavity;
    the rest split over lymph and blood as intravasation set them (trylast:
    after ``lymph_fraction`` is set)."""
    share = _exfoliation(body, config.transcoelomic)
    if share is None:
        return
    cfg = config.transcoelomic
    plugin_math.direct_shares(lesions.primary, lesions.dormant, lesions.organ, share,
                              rates.direct_fraction, rates.lymph_fraction, cfg.metastases)


#: per (body, transcoelomic table): exfoliation(), None where it is 0 everywhere
_SHARES: dict = {}


def _exfoliation(body: Body, cfg: TranscoelomicTable) -> np.ndarray | None:
    """:func:`exfoliation` once per (body, table) (frozen tables); None where no
    organ exfoliates."""
    def make():
        share = exfoliation(body, cfg)
        return share if share.any() else None
    return once(_SHARES, (body, cfg), make)


@hookimpl(wrapper=True)
def paget_fate_matrix(config, body, survival, arrest):
    """Add the direct route's fates (``FateMatrix.direct``) to the circulation's."""
    fm = yield
    if fm is None or not exfoliation(body, config.transcoelomic).any():
        return fm
    return fm._replace(direct=direct_fates(body, config.transcoelomic))
