"""One level per cancer: the shedding rate that gives a cancer its published sites per patient.

A cancer scenario on the shared body (the block ``BEGIN SHARED ORGANS`` of the
cancer scenarios) may give its level as ``primary.sites_per_patient``: the
mean number of metastatic sites per patient at autopsy, all sites counted, as
the autopsy table of DiSibio & French (2008, Arch Pathol Lab Med 132:931)
states it for each primary.  The intravasation plugin then sheds at the rate
:func:`rate_for_sites` gives instead of ``intravasation.rate``.

The relation ([DERIVED], ``docs/validation/level.py``, which rewrites the two
tuples below): the generic ``carcinoma`` scenario was run to death on the
shared body at each rate of ``RATES``, with its primary in each organ of the
five calibrated primaries, and the involved sites per patient over the sites
the body has were averaged over those organs; dividing by the share of the
table's all-site count that falls on those sites (in the five calibrated
rows) puts them on the table's scale, ``SITES_PER_PATIENT``.  The rate is
interpolated linearly in log(rate) against log(sites per patient) between the
points, which increase together (tested).

Outside the points: below the first, the rate is proportional to the sites
per patient (ASSUMPTION: at low shedding each site's involvement, and so
their sum, is proportional to the seeding); above the last, there is no rate:
shedding drains the primary, so past the last point the sites per patient
stop rising and then fall as the rate grows (docs/explanation/validation.md,
"Shedding drains the primary").  A level above the last point is clipped to it,
with a :class:`paget.ConfigWarning` naming both.

Which level parameter: the shedding rate ``m`` of ``m (f N)^alpha``.  It is
the one per-cancer multiplier of the seeding that leaves the body (routing,
soil, colonization efficiency) shared, and the one the calibration fits per
cancer (docs/validation/calibrate.py); rejected: the lymph fraction (it moves
the pattern, nodes against blood-borne sites, not only the level) and the
growth rate (it moves the time course the clinical targets check).
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from paget.errors import ConfigError, ConfigWarning

# The fit's cohorts (patients per organ and rate, seed) and raw curves are in
# docs/validation/results/level.json.
# BEGIN LEVEL RELATION (written by docs/validation/level.py)
#: shedding rates of the fit, CTC per day per cell^(2/3), increasing
RATES = (6e-07, 2.01e-06, 6.74e-06, 2.26e-05, 7.57e-05, 0.000254, 0.00085)
#: the table's all-site sites per patient the shared body gives at each rate
SITES_PER_PATIENT = (0.775, 1.4, 2.26, 3.52, 4.67, 6.37, 7.9)
#: the carcinoma scenario's growth the relation was fitted with: (law, rate constant
#: per day) of colonization.growth
GROWTH = ("gompertz", 0.0006)
# END LEVEL RELATION


def rate_for_sites(sites: float, *, relation=None) -> tuple[float, bool]:
    """The shedding rate for ``sites`` sites per patient, and whether it was clipped.

    Parameters
    ----------
    sites : float
        Mean metastatic sites per patient at autopsy, all sites counted (> 0).
    relation : (rates, sites) or None
        The relation's points, both increasing; None: the module's fitted one.

    Returns
    -------
    (float, bool)
        The rate (CTC per day per cell^(2/3)) and True where ``sites`` lay
        above the relation's last point and the last rate was used.
    """
    rates, spp = (RATES, SITES_PER_PATIENT) if relation is None else relation
    rates, spp = np.asarray(rates, float), np.asarray(spp, float)
    if sites <= spp[0]:
        return float(rates[0] * sites / spp[0]), False
    if sites > spp[-1]:
        return float(rates[-1]), True
    return float(np.exp(np.interp(np.log(sites), np.log(spp), np.log(rates)))), False


def sites_for_rate(rate: float, *, relation=None) -> float:
    """The inverse of :func:`rate_for_sites` on the relation's range (and below it)."""
    rates, spp = (RATES, SITES_PER_PATIENT) if relation is None else relation
    rates, spp = np.asarray(rates, float), np.asarray(spp, float)
    if rate <= rates[0]:
        return float(spp[0] * rate / rates[0])
    return float(np.exp(np.interp(np.log(rate), np.log(rates), np.log(spp))))


def check(config) -> None:
    """Refuse a level given twice; warn where it lies above the relation.

    ``primary.sites_per_patient`` and an explicit ``intravasation.rate`` set
    the same thing: given both, a :class:`paget.ConfigError` names both (rejected:
    a precedence with a warning, which would let a scenario's rate silently
    override, or be overridden by, the level a user asked for).
    """
    spp = config.primary.sites_per_patient
    if spp is None:
        return
    if config.primary.injection != "none":
        raise ConfigError(f"primary.sites_per_patient = {spp:g}: sets the level of a primary "
                          f"tumour, but primary.injection = {config.primary.injection!r} "
                          f"grows none; leave one of them out")
    if "rate" in config.intravasation.model_fields_set:
        raise ConfigError(f"primary.sites_per_patient = {spp:g} and intravasation.rate = "
                          f"{config.intravasation.rate:g} both set the shedding; give one "
                          f"(a scenario with its own rate, e.g. breast, takes no "
                          f"sites_per_patient: use carcinoma; to give carcinoma a rate, "
                          f"unset its level: sites_per_patient = None)")
    growth = getattr(getattr(config, "colonization", None), "growth", None)
    if growth is not None and (growth.law != GROWTH[0]
                               or not math.isclose(growth.rate, GROWTH[1], rel_tol=1e-9)):
        warnings.warn(f"primary.sites_per_patient = {spp:g}: the level relation was fitted on "
                      f"the carcinoma scenario's growth ({GROWTH[0]}, rate {GROWTH[1]:g} per "
                      f"day); this run's primary grows by {growth.law} at {growth.rate:g} per "
                      f"day, so its sites per patient will differ from {spp:g} (how long a "
                      f"primary sheds before death sets them too)", ConfigWarning, stacklevel=2)
    rate, clipped = rate_for_sites(spp)
    if clipped:
        warnings.warn(f"primary.sites_per_patient = {spp:g}: above {SITES_PER_PATIENT[-1]:g}, "
                      f"the most the shared body reaches by shedding (more shedding drains "
                      f"the primary); using {SITES_PER_PATIENT[-1]:g} (intravasation rate "
                      f"{rate:.3g} CTC per day per cell^(2/3))", ConfigWarning, stacklevel=2)


def shedding_rate(config) -> float:
    """The shedding rate a run uses: from ``primary.sites_per_patient`` where
    given, else ``intravasation.rate``."""
    spp = config.primary.sites_per_patient
    if spp is None:
        return config.intravasation.rate
    return rate_for_sites(spp)[0]
