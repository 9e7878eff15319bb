"""Analysis of a result: survival, the metastatic pattern, molecular concordance.

Every function takes the Dataset that :meth:`paget.Simulation.run` returns (or
that ``paget run -o OUT.nc`` wrote) and reads only the variables it names in its
docstring.  Times are in days, as in the Dataset.

Arms
----
A configuration with several trial arms gives a Dataset with a dimension
``arm`` (a string coordinate) that comes first in every variable with a
``patient`` dimension, e.g. ``death_time(arm, patient)``; the lesion and clone
tables then carry ``lesion_arm`` and ``clone_arm`` instead.  Every function
here works on a Dataset with or without ``arm``; those that take ``arm=`` select
one arm (a :class:`ValueError` names the arms when the one asked for is absent).

Missing variables raise a :class:`ValueError` naming the variable, so an
analysis of a file made by an older paget (or with a plugin switched off) fails
with a message rather than a ``KeyError``.
"""
from __future__ import annotations

import json
import warnings
from typing import Any, Literal, NamedTuple

import numpy as np
import xarray as xr
from scipy import stats

__all__ = [
    "KaplanMeier", "Concordance", "survival", "kaplan_meier", "median_survival",
    "metastatic_pattern", "concordance", "arms", "config", "primary_organ",
    "metastasis_variable",
]

#: Event-time variables of a metastasis, most clinical first: the imaging
#: readout when the run has one, else the omniscient size-based time.  Any
#: metastasis, the regional lymph nodes (N in TNM) included.
METASTASIS_VARIABLES = ("first_detected_metastasis_time", "first_detectable_metastasis_time")
#: The same for a distant metastasis (M1): one outside the regional lymph nodes.
DISTANT_METASTASIS_VARIABLES = ("first_detected_distant_metastasis_time",
                                "first_detectable_distant_metastasis_time")


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def _require(ds: xr.Dataset, *names: str, purpose: str) -> None:
    for name in names:
        if name not in ds.variables:
            raise ValueError(f"{purpose} needs the variable {name!r}, which the dataset lacks")


def config(ds: xr.Dataset) -> dict[str, Any]:
    """The resolved configuration the run was made with (``ds.attrs["config_json"]``).

    Raises
    ------
    ValueError
        If the Dataset has no ``config_json`` attribute or it is not JSON.
    """
    raw = ds.attrs.get("config_json")
    if raw is None:
        raise ValueError("the dataset has no attribute 'config_json' (the run's configuration); "
                         "was it written by paget?")
    try:
        return json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the dataset's attribute 'config_json' is not JSON: {exc}") from None


def primary_organ(ds: xr.Dataset) -> str:
    """Organ of the primary tumour (``primary.organ`` of the run's configuration)."""
    try:
        return str(config(ds)["primary"]["organ"])
    except (KeyError, TypeError):
        raise ValueError("the dataset's configuration (attribute 'config_json') has no "
                         "primary.organ") from None


def arms(ds: xr.Dataset) -> list[str] | None:
    """The trial arms of a Dataset with an ``arm`` dimension, else ``None``."""
    if "arm" not in ds.dims:
        return None
    return [str(a) for a in ds["arm"].values]


def _select_arm(ds: xr.Dataset, arm: str | None) -> xr.Dataset:
    if arm is None:
        return ds
    names = arms(ds)
    if names is None:
        raise ValueError(f"arm={arm!r}: the dataset has no arm dimension (a single-arm run)")
    if arm not in names:
        raise ValueError(f"arm={arm!r}: no such arm; the dataset's arms: {', '.join(names)}")
    return ds.sel(arm=arm)


def metastasis_variable(ds: xr.Dataset, distant: bool = False) -> str:
    """The variable that dates a patient's first metastasis.

    ``distant=False``: any metastasis, the regional lymph nodes included:
    ``first_detected_metastasis_time`` (found by scheduled imaging, a readout)
    when the Dataset has it, else ``first_detectable_metastasis_time`` (the
    first time any metastasis reached ``outcome.detectable_cells``, known to the
    simulation whether or not anyone looked).

    ``distant=True``: a distant metastasis (M1), outside the regional lymph
    nodes: ``first_detected_distant_metastasis_time`` (imaging) when the
    Dataset has it, else ``first_detectable_distant_metastasis_time`` (size-based).
    """
    names = DISTANT_METASTASIS_VARIABLES if distant else METASTASIS_VARIABLES
    for name in names:
        if name in ds.variables:
            return name
    what = "distant-metastasis-free" if distant else "metastasis-free"
    raise ValueError(f"{what} survival needs the variable {names[0]!r} or {names[1]!r}, which "
                     f"the dataset lacks" + (" (made by paget before distant metastases were "
                                             "told from regional ones?)" if distant else ""))


# --------------------------------------------------------------------------
# survival
# --------------------------------------------------------------------------

def survival(ds: xr.Dataset, endpoint: Literal["os", "mfs", "dmfs"] = "os",
             arm: str | None = None,
             origin: Literal["start", "diagnosis"] = "start") -> xr.Dataset:
    """Time to an endpoint and whether it was observed, per patient.

    Parameters
    ----------
    ds
        A result Dataset.
    endpoint
        ``"os"``, overall survival: the event is death (``death_time``).
        ``"mfs"``, metastasis-free survival: the event is the first of a
        metastasis and death, where a metastasis is dated by
        ``first_detected_metastasis_time`` if the Dataset has it (imaging),
        else by ``first_detectable_metastasis_time`` (size-based); see
        :func:`metastasis_variable`.  Any metastasis counts, one in the
        regional lymph nodes included.
        ``"dmfs"``, distant-metastasis-free survival: the same with a distant
        metastasis (outside the regional lymph nodes, M1 in TNM):
        ``first_detected_distant_metastasis_time`` if the Dataset has it,
        else ``first_detectable_distant_metastasis_time``.  Use it to compare with
        trials: their "metastasis-free survival" and "distant relapse" count
        distant metastasis (and death), not nodal recurrence (e.g. the STEEP
        definitions of breast cancer trials, Hudis et al. 2007, J Clin Oncol
        25:2127 [READ abstract; what its distant end points count READ-2]).
    arm
        Select this arm of a Dataset with an ``arm`` dimension; ``None`` keeps
        every arm (the result then has dims ``(arm, patient)``).
    origin
        ``"start"``: time counts from the start of the run.  ``"diagnosis"``:
        from each patient's ``diagnosis_time`` (the imaging plugin's), as in a
        clinical trial; a patient never diagnosed is left out (``included``
        False, ``time`` NaN): select ``s.where(s.included, drop=True)`` (per
        arm) before :func:`kaplan_meier`.

    Returns
    -------
    xarray.Dataset
        With the patient dims of ``death_time``: ``time`` (float, days since
        the start of the run) and ``event`` (bool).  A patient whose event did
        not happen by the end of follow-up (``ds.time[-1]``, days) is censored
        there: ``time`` is the end of follow-up and ``event`` False.  An event
        time is NaN in the Dataset when it did not happen; one after the end
        of follow-up (not made by paget) is censored too.  Attributes:
        ``endpoint``, ``event_variables`` and ``end_of_followup`` (days).

    Notes
    -----
    With ``origin="start"`` every patient starts at time 0 (the start of the
    run): a virtual cohort is followed from the same point of its natural
    history, which no clinical study can do.
    A metastasis present at time 0 (not made by the default scenarios) would
    be an event at time 0.
    ``"mfs"`` keeps its meaning of earlier versions (any metastasis, nodes
    included), so an analysis reads a file the same as before; ``"dmfs"`` is
    the endpoint to compare with published metastasis-free survival.
    """
    if endpoint not in _ENDPOINTS:
        raise ValueError(f"endpoint={endpoint!r}: choose 'os' (overall survival), 'mfs' "
                         f"(metastasis-free survival: any metastasis) or 'dmfs' "
                         f"(distant-metastasis-free survival)")
    if "time" not in ds.coords or ds.sizes.get("time", 0) == 0:
        raise ValueError("survival needs the coordinate 'time' (end of follow-up), which the "
                         "dataset lacks")
    _require(ds, "death_time", purpose="survival")
    ds = _select_arm(ds, arm)
    end = float(ds["time"].values[-1])
    names = ["death_time"] if endpoint == "os" else \
        [metastasis_variable(ds, distant=endpoint == "dmfs"), "death_time"]
    first = ds[names[0]].astype(np.float64)
    for name in names[1:]:
        first = np.fmin(first, ds[name].astype(np.float64))   # fmin: NaN = never
    happened = np.isfinite(first) & (first <= end)
    time = first.where(happened, end)
    data = {}
    if origin == "diagnosis":
        _require(ds, "diagnosis_time", purpose="survival from diagnosis")
        diag = ds["diagnosis_time"].astype(np.float64)
        included = np.isfinite(diag) & (diag <= end)
        time = (time - diag).where(included)
        happened = happened & included
        data["included"] = included.assign_attrs(
            units="1", long_name="patient diagnosed during follow-up (counted)")
    elif origin != "start":
        raise ValueError(f"origin={origin!r}: choose 'start' (the start of the run) or "
                         f"'diagnosis' (each patient's diagnosis_time)")
    since = "the start of the run" if origin == "start" else "diagnosis"
    data["time"] = time.assign_attrs(
        units="days", long_name=f"time from {since} to {_ENDPOINTS[endpoint]} or censoring")
    data["event"] = happened.assign_attrs(
        units="1", long_name=f"{_ENDPOINTS[endpoint]} observed (False: censored)")
    out = xr.Dataset(data, attrs={"endpoint": endpoint, "event_variables": ", ".join(names),
                                  "end_of_followup": end, "origin": origin})
    return out.drop_vars([c for c in out.coords if c not in out.dims])


_ENDPOINTS = {"os": "death", "mfs": "metastasis or death",
              "dmfs": "distant metastasis or death"}


class KaplanMeier(NamedTuple):
    """The product-limit estimate at every distinct observed time.

    ``t`` (days, ascending) holds every distinct time at which an event or a
    censoring was observed, as :func:`scipy.stats.ecdf` does.  ``survival[i]``
    is S(t) for ``t[i] <= t < t[i+1]`` (right-continuous; S = 1 before
    ``t[0]``).  ``at_risk[i]``: patients whose time is ``>= t[i]``;
    ``events[i]``, ``censored[i]``: events and censorings at exactly ``t[i]``
    (a censoring at an event time counts as at risk for that event).
    ``variance[i]``: Greenwood's variance of ``survival[i]``, NaN from the first
    time every patient at risk has the event (the formula divides by zero
    there), as in SciPy.
    """

    t: np.ndarray
    survival: np.ndarray
    at_risk: np.ndarray
    events: np.ndarray
    censored: np.ndarray
    variance: np.ndarray

    def evaluate(self, times) -> np.ndarray:
        """S at ``times`` (days): 1 before the first observed time."""
        i = np.searchsorted(self.t, np.asarray(times, dtype=np.float64), side="right") - 1
        s = np.concatenate([[1.0], self.survival])
        return s[i + 1]

    def number_at_risk(self, times) -> np.ndarray:
        """Patients still followed and event-free just before ``times`` (time >= each)."""
        i = np.searchsorted(self.t, np.asarray(times, dtype=np.float64), side="left")
        n = np.concatenate([self.at_risk, [0]])
        return n[i]

    def confidence_interval(self, level: float = 0.95,
                            method: Literal["linear", "log-log"] = "log-log"
                            ) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise (low, high) bounds of S at ``t``, from Greenwood's variance.

        ``"linear"``: S +- z sd, clipped to [0, 1].  ``"log-log"`` (the
        default; stays inside [0, 1] and is better where S is near 0 or 1):
        S ** exp(+-z sd / (S log S)) (Kalbfleisch & Prentice 2002, s.4.3).
        Computed by SciPy: ``scipy.stats.ecdf(...).sf.confidence_interval(level,
        method=method)`` on the same data; NaN where the variance is.
        """
        if not 0 < level < 1:
            raise ValueError(f"level={level!r}: must be between 0 and 1")
        if method not in ("linear", "log-log"):
            raise ValueError(f"method={method!r}: choose 'linear' or 'log-log'")
        # the tuple holds every patient: d_i events and c_i censorings at t_i
        sf = _scipy_sf(np.repeat(self.t, self.events), np.repeat(self.t, self.censored))
        with warnings.catch_warnings():
            # SciPy warns where the bound is undefined (S = 0); those are NaN, as documented
            warnings.filterwarnings("ignore", "The confidence interval is undefined",
                                    RuntimeWarning)
            ci = sf.confidence_interval(level, method=method)
        return ci.low.probabilities, ci.high.probabilities


def _scipy_sf(event_times, censoring_times):
    """SciPy's product-limit survival function (``scipy.stats.ecdf``)."""
    data = stats.CensoredData(uncensored=event_times, right=censoring_times)
    return stats.ecdf(data).sf


def _as_survival_data(time, event) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event)
    if t.ndim != 1 or e.shape != t.shape:
        raise ValueError(f"time and event must be 1-D of one length, got shapes {t.shape} and "
                         f"{e.shape} (for a Dataset with arms, select one arm)")
    if t.size == 0:
        raise ValueError("no patients: time and event are empty")
    if not np.isfinite(t).all():
        raise ValueError("time must be finite: a censored patient has its time of censoring "
                         "(see paget.analysis.survival)")
    if e.dtype != bool:
        if not np.isin(e, (0, 1)).all():
            raise ValueError("event must be boolean (True: the event was observed)")
        e = e.astype(bool)
    return t, e


def kaplan_meier(time, event) -> KaplanMeier:
    """Kaplan–Meier (product-limit) estimate of the survival function.

    Parameters
    ----------
    time
        Per patient, the time of the event or of censoring (days; 1-D, finite),
        e.g. ``survival(ds).time``.
    event
        Per patient, True if the event was observed at ``time``, False if the
        patient was censored then, e.g. ``survival(ds).event``.

    Returns
    -------
    KaplanMeier
        ``(t, survival, at_risk, events, censored, variance)``.

    Notes
    -----
    With n_i patients at risk and d_i events at the distinct time t_i,
    S(t) = prod_{t_i <= t} (1 - d_i / n_i) (Kaplan & Meier 1958, JASA 53:457)
    and Greenwood's variance is
    Var S(t) = S(t)^2 sum_{t_i <= t} d_i / (n_i (n_i - d_i)).
    Patients censored at an event time are at risk for that event (the usual
    convention: censoring happens just after events at the same time).
    S(t) is :func:`scipy.stats.ecdf`'s on :class:`scipy.stats.CensoredData`
    (and so are the bounds of :meth:`KaplanMeier.confidence_interval`); the
    counts at risk and Greenwood's variance are tabulated here.
    """
    t, e = _as_survival_data(time, event)
    order = np.argsort(t, kind="stable")
    t, e = t[order], e[order]
    u, first, counts = np.unique(t, return_index=True, return_counts=True)
    at_risk = t.size - first
    events = np.add.reduceat(e.astype(np.int64), first)
    censored = counts - events
    sf = _scipy_sf(t[e], t[~e])
    if not np.array_equal(sf.quantiles, u):     # SciPy keeps every distinct observed time
        raise RuntimeError("scipy.stats.ecdf returned other times than the observed ones")
    surv = np.asarray(sf.probabilities, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = events / (at_risk * (at_risk - events).astype(np.float64))
    term[(events == 0)] = 0.0                  # no event: no contribution, even when n = d = 0
    term[(events > 0) & (at_risk == events)] = np.nan   # everyone at risk has the event
    variance = surv ** 2 * np.cumsum(term)
    return KaplanMeier(u, surv, at_risk.astype(np.int64), events.astype(np.int64),
                       censored.astype(np.int64), variance)


def median_survival(time, event) -> float:
    """Median time to the event (days): the first time the Kaplan–Meier S(t) <= 0.5.

    NaN when S stays above 0.5 to the last observed time (fewer than half the
    patients had the event before they were censored).  Where S equals 0.5
    exactly over an interval, this is its start (as in lifelines); R's
    ``survfit`` would take the midpoint to the next event time.
    """
    km = kaplan_meier(time, event)
    below = np.flatnonzero(km.survival <= 0.5)
    return float(km.t[below[0]]) if below.size else float("nan")


# --------------------------------------------------------------------------
# metastatic pattern
# --------------------------------------------------------------------------

def metastatic_pattern(ds: xr.Dataset) -> xr.DataArray:
    """Share of patients with a detectable metastasis in each organ, per arm.

    Parameters
    ----------
    ds
        A result Dataset with ``detectable_lesions(..., patient, time, organ)``
        and the configuration in its attributes.

    Returns
    -------
    xarray.DataArray
        ``metastatic_share`` with dims ``(organ,)`` or ``(arm, organ)``: the
        fraction (0 to 1) of the arm's patients (all of them, with or without
        metastases) in whom the organ was involved.  The primary's organ
        (``primary.organ`` of the configuration) is left out: its detectable
        lesions include the primary itself.  Attribute ``patients``: patients
        per arm.

    Notes
    -----
    Involvement = ``detectable_lesions > 0`` (a lesion of at least
    ``outcome.detectable_cells`` cells) at any recorded time (every
    ``output.interval`` days, and the end of follow-up).  That includes the
    state at death: the records after a patient's death hold the state at
    death.  A lesion that grew past the threshold and shrank again between two
    records (under treatment) is missed; the final lesion table would not show
    it either.
    """
    _require(ds, "detectable_lesions", purpose="metastatic_pattern")
    primary = primary_organ(ds)
    involved = (ds["detectable_lesions"] > 0).any("time")
    share = involved.mean("patient").astype(np.float64)
    keep = [o for o in ds["organ"].values if str(o) != primary]
    share = share.sel(organ=keep)
    share.name = "metastatic_share"
    share.attrs = {"units": "1", "patients": int(ds.sizes["patient"]), "primary_organ": primary,
                   "long_name": "share of patients with a detectable metastasis in the organ "
                                "at any recorded time"}
    return share


# --------------------------------------------------------------------------
# molecular profile
# --------------------------------------------------------------------------

class Concordance(NamedTuple):
    """Result of :func:`concordance`: ``patients`` (xarray) and ``clones`` (pandas)."""

    patients: xr.Dataset
    clones: Any   # pandas.DataFrame


_LESION_VARS = ("lesion_uid", "lesion_id", "lesion_patient", "lesion_organ", "lesion_genotype",
                "lesion_clone", "lesion_cells", "lesion_dormant")
_CLONE_VARS = ("clone_id", "clone_parent", "clone_patient", "clone_genotype", "clone_lesion")


def concordance(ds: xr.Dataset, min_cells: float = 1.0) -> Concordance:
    """Genotype concordance of metastases with the primary, and each lesion's clones.

    Parameters
    ----------
    ds
        A result Dataset with the lesion table (``lesion_*``) and the clone
        table (``clone_*``); with arms, also ``lesion_arm`` and ``clone_arm``.
    min_cells
        A metastasis counts if it holds at least this many cells (all its
        clones together) at the end of follow-up or at death; e.g.
        ``outcome.detectable_cells`` to profile only what imaging would find.

    Returns
    -------
    Concordance
        ``patients``: an xarray Dataset over the patient dims of the run
        (``(patient,)`` or ``(arm, patient)``) with ``metastases`` (int),
        ``concordant_metastases`` (int), ``concordance`` (their ratio, 0 to 1;
        NaN without metastases or without a primary), ``primary_genotype``
        (uint64, driver bits; meaningful where ``primary_present``) and
        ``primary_present`` (bool).

        ``clones``: a :class:`pandas.DataFrame`, one row per clone in a growing
        lesion (the rows of the lesion table, dormant pools left out), with
        columns ``arm`` (with arms), ``patient``, ``lesion`` (lesion id),
        ``organ``, ``primary`` (the row is in the primary), ``clone``,
        ``genotype``, ``cells``, ``fraction`` (of its lesion's cells),
        ``founding_genotype`` (of its lesion) and ``matches_primary``
        (``genotype`` equals the patient's primary dominant genotype).

    Notes
    -----
    The lesion table holds one row per clone per lesion at the end of the run
    or at the patient's death (rows with cells left).  The *primary* is the
    lesion in which the patient's founding clone arose (``clone_parent == 0``
    in the clone table); every other lesion that is not a dormant pool is a
    metastasis, wherever it lies (a metastasis in the primary's organ too).
    The primary's *dominant genotype* is the genotype holding the most of its
    cells (ties: the smaller bit pattern).  A metastasis's
    *founding genotype* is ``lesion_genotype`` of its founding row (the row
    whose uid is the lesion id); if that clone died out, the clone that seeded
    the lesion is found by walking ``clone_parent`` up the clone table to the
    first clone that arose in another lesion.  A patient whose primary has no
    cells left (resected, or extinct) has ``primary_present`` False and
    concordance NaN.
    """
    import pandas as pd
    _require(ds, *_LESION_VARS, *_CLONE_VARS, purpose="concordance")
    with_arms = arms(ds) is not None
    if with_arms:
        _require(ds, "lesion_arm", "clone_arm", purpose="concordance with arms")
    lt = pd.DataFrame({
        "arm": ds["lesion_arm"].values.astype(str) if with_arms else "",
        "patient": ds["lesion_patient"].values.astype(np.int64),
        "lesion": ds["lesion_id"].values.astype(np.uint64),
        "uid": ds["lesion_uid"].values.astype(np.uint64),
        "organ": ds["lesion_organ"].values.astype(str),
        "clone": ds["lesion_clone"].values.astype(np.uint64),
        "genotype": ds["lesion_genotype"].values.astype(np.uint64),
        "cells": ds["lesion_cells"].values.astype(np.float64),
        "dormant": ds["lesion_dormant"].values.astype(bool),
    })
    ct = pd.DataFrame({
        "arm": ds["clone_arm"].values.astype(str) if with_arms else "",
        "patient": ds["clone_patient"].values.astype(np.int64),
        "clone": ds["clone_id"].values.astype(np.uint64),
        "parent": ds["clone_parent"].values.astype(np.uint64),
        "genotype": ds["clone_genotype"].values.astype(np.uint64),
        "lesion": ds["clone_lesion"].values.astype(np.uint64),
    })
    lt = lt[~lt["dormant"] & (lt["cells"] > 0)].drop(columns="dormant")
    key = ["arm", "patient"]
    lesion_key = key + ["lesion"]
    # identities are unique within one patient of one arm only (arms share seeds)
    primary_ids = ct.loc[ct["parent"] == 0, lesion_key].drop_duplicates()
    lt = lt.merge(primary_ids, on=lesion_key, how="left", indicator="in_primary")
    lt["primary"] = (lt.pop("in_primary") == "both").to_numpy(bool)
    lt["fraction"] = lt["cells"] / lt.groupby(lesion_key)["cells"].transform("sum")

    # the primary's dominant genotype: most cells, ties to the smaller genotype
    dominant = (lt[lt["primary"]].groupby(key + ["genotype"], as_index=False)["cells"].sum()
                .sort_values(key + ["cells", "genotype"], ascending=[True, True, False, True])
                .drop_duplicates(key)[key + ["genotype"]]
                .rename(columns={"genotype": "primary_genotype"})
                .astype({"primary_genotype": "UInt64"}))   # nullable: no primary, no genotype
    # founding genotype of each lesion: its founding row's, else up the clone table
    founding = (lt.loc[lt["uid"] == lt["lesion"], lesion_key + ["genotype"]]
                .rename(columns={"genotype": "founding_genotype"}))
    orphans = lt[["arm", "patient", "lesion", "clone"]].drop_duplicates(lesion_key).merge(
        founding, on=lesion_key, how="left", indicator=True)
    orphans = orphans[orphans["_merge"] == "left_only"]
    if len(orphans):
        clones = {(a, p, c): (par, g, les) for a, p, c, par, g, les in
                  ct[key + ["clone", "parent", "genotype", "lesion"]].itertuples(index=False,
                                                                                name=None)}
        walked = orphans[lesion_key].assign(founding_genotype=np.array(
            [_seeding_genotype(clones, a, p, les, c) for a, p, les, c in
             orphans[lesion_key + ["clone"]].itertuples(index=False, name=None)],
            dtype=np.uint64))
        founding = pd.concat([founding, walked], ignore_index=True)
    lt = lt.merge(founding, on=lesion_key, how="left").merge(dominant, on=key, how="left")
    lt["matches_primary"] = (lt["genotype"] == lt["primary_genotype"]).fillna(False).to_numpy(bool)

    # per patient
    mets = lt[~lt["primary"]].groupby(lesion_key, as_index=False).agg(
        cells=("cells", "sum"), founding_genotype=("founding_genotype", "first"),
        primary_genotype=("primary_genotype", "first"))
    mets = mets[mets["cells"] >= min_cells]
    mets["concordant"] = (mets["founding_genotype"] == mets["primary_genotype"]).fillna(
        False).to_numpy(bool)
    counts = mets.groupby(key).agg(n=("concordant", "size"), k=("concordant", "sum"))
    dominant = {(a, p): g for a, p, g in dominant.itertuples(index=False, name=None)}

    arm_names = arms(ds) or [""]
    patients = ds["patient"].values
    n = np.zeros((len(arm_names), patients.size), np.int64)
    k = np.zeros_like(n)
    genotype = np.zeros(n.shape, np.uint64)
    present = np.zeros(n.shape, bool)
    where = {int(p): j for j, p in enumerate(patients)}
    for i, a in enumerate(arm_names):
        for p, j in where.items():
            if (a, p) in dominant:
                present[i, j], genotype[i, j] = True, dominant[(a, p)]
            if (a, p) in counts.index:
                n[i, j], k[i, j] = counts.loc[(a, p), "n"], counts.loc[(a, p), "k"]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where((n > 0) & present, k / n, np.nan)
    dims = ("arm", "patient") if with_arms else ("patient",)
    squeeze = (lambda x: x) if with_arms else (lambda x: x[0])
    coords = {"patient": patients} | ({"arm": ds["arm"].values} if with_arms else {})
    out = xr.Dataset({
        "metastases": (dims, squeeze(n), {"units": "1", "long_name":
                       f"metastases with at least {min_cells:g} cells"}),
        "concordant_metastases": (dims, squeeze(k), {"units": "1", "long_name":
                                  "metastases founded by the primary's dominant genotype"}),
        "concordance": (dims, squeeze(share), {"units": "1", "long_name":
                        "share of metastases founded by the primary's dominant genotype"}),
        "primary_genotype": (dims, squeeze(genotype), {"units": "1", "long_name":
                             "dominant genotype of the primary (driver bits)"}),
        "primary_present": (dims, squeeze(present), {"units": "1", "long_name":
                            "the primary has cells at the end of follow-up or at death"}),
    }, coords=coords)
    columns = (["arm"] if with_arms else []) + [
        "patient", "lesion", "organ", "primary", "clone", "genotype", "cells", "fraction",
        "founding_genotype", "matches_primary"]
    table = lt.sort_values(lesion_key + ["cells"], ascending=[True, True, True, False],
                           kind="stable")[columns].reset_index(drop=True)
    return Concordance(out, table)


def _seeding_genotype(clones: dict, arm: str, patient: int, lesion: int, clone: int) -> int:
    """Genotype of the clone that seeded ``lesion``: walk up from ``clone`` to the
    first ancestor that arose in another lesion (or the founding clone)."""
    c = clone
    for _ in range(len(clones) + 1):
        if (arm, patient, c) not in clones:
            raise ValueError(f"the clone table (clone_id) lacks clone {c} of patient {patient}"
                             + (f" in arm {arm!r}" if arm else "")
                             + f", found in lesion {lesion}")
        parent, genotype, born_in = clones[(arm, patient, c)]
        if born_in != lesion or parent == 0 or (arm, patient, parent) not in clones:
            return genotype
        c = parent
    raise AssertionError("cycle in the clone table")  # pragma: no cover
