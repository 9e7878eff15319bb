"""Extravasation: an arrested CTC crosses the endothelium of its organ ("soil").

The probability is the product of two factors::

    p[organ] = min(1, probability[organ] * tropism[organ])

``probability`` is the organ's soil, shared by every cancer: it belongs to the
body; the value every cancer scenario shares is calibrated jointly on five primaries of an autopsy
table (DiSibio & French 2008, Arch Pathol Lab Med 132:931) by
``docs/validation/calibrate.py`` (see the validation report).  ``tropism`` is
the cancer's own, small, cited set of organ preferences (1 everywhere by
default); a cancer scenario sets it.  A preference scales the cancer's soil as a
whole: where ``probability x tropism`` exceeds 1, extravasation is certain and
the excess multiplies the organ's colonization efficiency
(``paget.plugins.colonization.tropism_excess``), so a tropism acts even on an
organ whose shared extravasation probability is already 1.
"""
from __future__ import annotations

import numpy as np
from pydantic import Field

from paget.config import Table, organ_map, resolve_organ_map
from paget.ext import plugin_math
from paget.manager import hookimpl
from paget.plugins._memo import once

# Defaults (not calibrated): 0.01 across the blood-brain barrier and 0.1
# elsewhere are ASSUMPTIONS (illustrative round values, no published source).
# The calibrated shared
# soil lives in the [extravasation] block every cancer scenario shares
# (core/scenarios/*.toml, "BEGIN SHARED ORGANS"); there liver 0.8 is read, not fitted: ~80 % of B16F1 cells
# injected into the mesenteric vein had extravasated in mouse liver by day 3
# (Luzzi et al. 1998, Am J Pathol 153:865) [READ-2]; it anchors the scale of the
# fit (soil and shedding trade off).  Every other value below is [DERIVED]:
# fitted by `python docs/validation/calibrate.py --fit` to DiSibio & French
# 2008 (five primaries jointly; docs/explanation/validation.md).  Organs absent
# from the autopsy table (muscle, gut, breast, prostate, other) keep 0.1, an
# ASSUMPTION (an illustrative round value, no published source).
# BEGIN CALIBRATED soil
DEFAULT_PROBABILITY = {"default": 0.1, "liver": 0.8, "brain": 0.01}
# END CALIBRATED soil


class ExtravasationTable(Table):
    probability: organ_map(probability=True) = Field(  # type: ignore[valid-type]
        default_factory=lambda: dict(DEFAULT_PROBABILITY),
        description="probability that an arrested CTC extravasates, per organ (the organ's "
                    "soil, shared by all cancers)",
                        json_schema_extra={"source": "liver: Luzzi et al. 1998 (Am J Pathol "
                                                     "153:865); other organs: assumption (the "
                                                     "cancer scenarios set values fitted to "
                                                     "DiSibio & French 2008, Arch Pathol Lab Med "
                                                     "132:931)"})
    tropism: organ_map(lo=0.0, hi=1e3) = Field(  # type: ignore[valid-type]
        1.0, description="the cancer's multiplier of the soil per organ (1: none); the "
                         "extravasation probability is the product clipped at 1, and the "
                         "excess over 1 multiplies the organ's colonization efficiency")


@hookimpl
def paget_config_tables():
    return {"extravasation": ExtravasationTable}


def soil_times_tropism(cfg, body) -> np.ndarray:
    """Per organ, the shared soil times the cancer's tropism (``cfg``: the
    ``[extravasation]`` table), before the clip at 1."""
    return resolve_organ_map(cfg.probability, body, 0.1) * resolve_organ_map(cfg.tropism, body, 1.0)


@hookimpl(tryfirst=True)
def paget_extravasation(probability, config, body):
    plugin_math.fill_rows(_clipped(config.extravasation, body), probability)


#: per (extravasation table, body): min(soil x tropism, 1) per organ
_CLIPPED: dict = {}


def _clipped(cfg, body) -> np.ndarray:
    """``min(soil_times_tropism(cfg, body), 1)``, once per (table, body) (frozen tables)."""
    return once(_CLIPPED, (cfg, body), lambda: np.ascontiguousarray(
        np.minimum(soil_times_tropism(cfg, body), 1.0), dtype=np.float64))
