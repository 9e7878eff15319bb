"""Diagnosis and imaging: when a tumour is found, and which lesions scans see.

Model
-----
A lesion of ``N`` cells is taken as a sphere of ``10^6`` cells per mm^3, so its
diameter is ``D = (6 N / (pi 10^6))^(1/3)`` mm (1 mm^3 ~ 10^6 cells, 1 cm^3 ~
10^9 cells, as used by Coumans et al. 2013, BMC Cancer 13:283 [READ]).  A scan
sees a lesion whose diameter reaches the modality's threshold in its organ.

* **Diagnosis** (``[diagnosis]``): the first step at which the primary (all its
  clones) reaches the patient's ``diagnosis_diameter`` mm, or, at a screening
  visit (every ``screening_interval`` days from ``screening_start``),
  ``screening_diameter`` mm.  ``diagnosis_time`` is then set once; treatment
  plans count from it.  ``diagnosis_diameter`` is ``diameter`` for every
  patient, or, where ``diameter_distribution`` is given, drawn once per patient
  from a registry's size categories (uniform within a category; keyed per
  patient, so the same on any number of ranks and after a restart).
* **Imaging** (``[imaging]``): a staging scan at diagnosis and follow-up scans
  every ``interval`` days after it.  Each scan records, per organ, the lesions
  at or above the threshold (the primary included while it is in the body),
  the sum of their diameters (the RECIST 1.1 measure, Eisenhauer et al. 2009,
  Eur J Cancer 45:228 [READ-2]; here all detected lesions, not only five
  targets: an ASSUMPTION) and the first time a metastasis was seen:
  ``first_detected_metastasis_time`` any metastasis, the regional lymph nodes
  (the body's ``lymph_node`` organ: N in TNM) included;
  ``first_detected_distant_metastasis_time`` one outside them (M1; AJCC
  Cancer Staging Manual, 8th ed., Amin et al. 2017, Springer [READ-2]),
  the primary's own organ counting as distant (an ASSUMPTION, as in the
  outcome plugin).

Every readout is per patient; a patient who has died is not scanned again.
"""
from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from pydantic import Field, model_serializer, model_validator

from paget.config import Table, organ_map, resolve_organ_map
from paget.errors import ConfigWarning, plural
from paget.ext import plugin_math
from paget.manager import hookimpl
from paget.plugins._memo import once
from paget.random import Draws
from paget.state import StateVariable

#: cells per mm^3 of tumour (as used by Coumans et al. 2013, BMC Cancer 13:283) [READ]
CELLS_PER_MM3 = 1e6

#: Detection limits by modality, lesion diameter in mm: CT ~3-5 mm (helical CT
#: found 69 % of lung nodules under 6 mm and 95 % of larger ones, Diederich et
#: al. 1999, AJR Am J Roentgenol 172:353 [READ abstract]); FDG-PET ~7-10 mm (a
#: resolution limit of 4 mm, tumours of 7 mm at a 5:1 uptake ratio, Erdi 2012,
#: Mol Imaging Radionucl Ther 21:23 [READ abstract]; all 20 lung nodules under
#: 1 cm were PET-negative, Nomori et al. 2004, Lung Cancer 45:19 [READ
#: abstract]).  ASSUMPTION: the upper end of each range, as a routine scan (not
#: a dedicated study) would see.
MODALITY_DIAMETER_MM = {"CT": 5.0, "PET": 10.0}


def cells_of_diameter(d_mm):
    """Cells of a spherical lesion of diameter ``d_mm`` mm."""
    return np.pi / 6.0 * np.asarray(d_mm, dtype=np.float64) ** 3 * CELLS_PER_MM3


def diameter_of_cells(cells):
    """Diameter, mm, of a spherical lesion of ``cells`` cells."""
    return np.cbrt(6.0 * np.asarray(cells, dtype=np.float64) / (np.pi * CELLS_PER_MM3))


class SizeDistribution(Table):
    """Diameter at diagnosis by size category, as a registry reports it.

    ``shares[i]`` of the patients are found between ``edges[i]`` and
    ``edges[i + 1]`` mm, uniformly within the category: a registry gives a
    count per category only, and the uniform density is the least informative
    one on a bounded interval that matches it (an ASSUMPTION; it also allows a
    lower edge of 0 mm, which a log-uniform density would not).  The draw is the
    inverse of the piecewise-linear cumulative distribution (:meth:`quantile`);
    a category of share 0 is never drawn.
    """

    edges: list[float] = Field(min_length=2,
                               description="category edges, mm, strictly increasing, the "
                                           "first at least 0")
    shares: list[float] = Field(min_length=1,
                                description="share of patients in each category (one fewer "
                                            "than edges; non-negative, summing to 1)")

    @model_validator(mode="after")
    def _categories(self):
        e, s = self.edges, self.shares
        if e[0] < 0:
            raise ValueError(f"edges must be at least 0 mm, got {e[0]:g} mm first")
        bad = [i for i in range(1, len(e)) if not e[i] > e[i - 1]]
        if bad:
            i = bad[0]
            raise ValueError(f"edges must be strictly increasing, got {e[i - 1]:g} mm then "
                             f"{e[i]:g} mm")
        if len(s) != len(e) - 1:
            k = len(e) - 1
            raise ValueError(f"{len(e)} edges make {plural(k, 'category', 'categories')}, so "
                             f"shares must have {plural(k, 'value')}, got {len(s)}")
        if min(s) < 0:
            raise ValueError(f"shares must be non-negative, got {min(s):g}")
        if abs(sum(s) - 1.0) > 1e-6:
            raise ValueError(f"shares must sum to 1 (within 1e-6), got {sum(s):.10g}")
        return self

    def quantile(self, u) -> np.ndarray:
        """Diameters, mm, at cumulative probabilities ``u`` in [0, 1)."""
        u = np.asarray(u, dtype=np.float64)
        shares = np.asarray(self.shares, dtype=np.float64)
        edges = np.asarray(self.edges, dtype=np.float64)
        cdf = np.concatenate(([0.0], np.cumsum(shares / shares.sum())))
        cdf[-1] = 1.0
        # the category with cdf[i] <= u < cdf[i + 1]: never an empty one
        i = np.clip(np.searchsorted(cdf, u, side="right") - 1, 0, len(shares) - 1)
        within = np.clip((u - cdf[i]) / (cdf[i + 1] - cdf[i]), 0.0, 1.0)
        return edges[i] + within * (edges[i + 1] - edges[i])


class DiagnosisTable(Table):
    # ASSUMPTION: without screening a tumour is found at 10 mm, the upper end
    # of the mammography limit of ~5-10 mm (the 10 mm RECALLED: a standard
    # clinical figure, not found in one source).
    diameter: float = Field(10.0, gt=0,
                            description="primary diameter at which the tumour is found "
                                        "without screening, mm",
                            json_schema_extra={"source": "assumption: the upper end of "
                                                         "mammography's ~5-10 mm"})
    screening_interval: float = Field(0.0, ge=0,
                                      description="days between screening visits (0: no "
                                                  "screening)")
    screening_start: float = Field(0.0, ge=0,
                                   description="day of the first screening visit")
    # mammography ~5-10 mm: "masses smaller than 5 mm are rarely visible in
    # mammograms" (Karssemeijer N, 'Detection of masses in mammograms', book
    # chapter, doi 10.1201/9780203909355-14) [READ abstract]: the lower end.
    screening_diameter: float = Field(5.0, gt=0,
                                      description="primary diameter a screening visit "
                                                  "finds, mm",
                                      json_schema_extra={"source": "mammography finds ~5-10 mm: "
                                                                   "the lower end"})
    diameter_distribution: SizeDistribution | None = Field(
        None, description="diameter at which the tumour is found without screening, drawn "
                          "once per patient: {edges = [...] mm, shares = [...]} (instead of "
                          "one diameter for every patient)")

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        # with a distribution, the unused default diameter is left out, so that a
        # stored configuration (a checkpoint's, config_json) reads back as given
        out = handler(self)
        if self.diameter_distribution is not None and "diameter" not in self.model_fields_set:
            out.pop("diameter", None)
        return out


class ImagingTable(Table):
    # ASSUMPTION: follow-up scans every 3 months, a common schedule in trials.
    interval: float = Field(90.0, ge=0,
                            description="days between follow-up scans after diagnosis (0: "
                                        "the staging scan only)",
                            json_schema_extra={"source": "assumption: every 3 months, a common "
                                                         "schedule in trials"})
    modality: Literal["CT", "PET"] = Field("CT", description="imaging modality: sets the "
                                                              "default detection threshold")
    threshold: organ_map(lo=0.0) | None = Field(  # type: ignore[valid-type]
        None, description="smallest detected lesion diameter, mm (per organ allowed); "
                          "default: the modality's (CT 5 mm, PET 10 mm)")


@hookimpl
def paget_config_tables():
    return {"diagnosis": DiagnosisTable, "imaging": ImagingTable}


@hookimpl
def paget_check_config(config):
    """One size rule at diagnosis: a ``diameter`` given explicitly wins over a
    ``diameter_distribution`` (e.g. the breast scenario's registry mix, which a
    TOML file cannot unset), and a note says so."""
    cfg = config.diagnosis
    if cfg.diameter_distribution is not None and "diameter" in cfg.model_fields_set:
        warnings.warn(f"diagnosis.diameter = {cfg.diameter:g} mm is given: every patient is "
                      f"diagnosed at it, and diagnosis.diameter_distribution is not used",
                      ConfigWarning, stacklevel=2)


def size_distribution(cfg):
    """The ``[diagnosis]`` table's distribution in use: None where a fixed
    ``diameter`` is given explicitly, or none is given."""
    return None if "diameter" in cfg.model_fields_set else cfg.diameter_distribution


_DETECTED_COMMENT = (
    "Detected and detectable metastasis differ: first_detected_metastasis_time is the "
    "first scheduled imaging scan, from diagnosis on, that showed a metastasis at or "
    "above the scan's diameter threshold (imaging.threshold), so it depends on the scan "
    "schedule and is NaN for a patient never scanned; first_detectable_metastasis_time "
    "is when the model first had a metastasis at or above outcome.detectable_cells, "
    "known to the simulation whether or not anyone looks.")


@hookimpl
def paget_output_attrs():
    from paget.plugins.outcome import REGIONAL_COMMENT
    return {"first_detected_metastasis_time": {
                "comment": f"{_DETECTED_COMMENT} {REGIONAL_COMMENT}"},
            "first_detected_distant_metastasis_time": {
                "comment": f"{_DETECTED_COMMENT} {REGIONAL_COMMENT}"}}


@hookimpl
def paget_state_variables():
    nan = float("nan")
    return [
        StateVariable("diagnosis_time", "patient", "float64", nan, "days",
                      "time the primary was diagnosed, days since the start of the run "
                      "(NaN: not diagnosed)", over_time=False),
        StateVariable("diagnosis_diameter", "patient", "float64", nan, "mm",
                      "primary diameter at which this patient's tumour is found without "
                      "screening (diagnosis.diameter, or drawn from "
                      "diagnosis.diameter_distribution)", over_time=False),
        StateVariable("first_detected_metastasis_time", "patient", "float64", nan, "days",
                      "first scheduled imaging scan that showed a metastasis, regional lymph "
                      "nodes included (detected), days since the start of the run (NaN: "
                      "none)", over_time=False),
        StateVariable("first_detected_distant_metastasis_time", "patient", "float64", nan,
                      "days", "first scheduled imaging scan that showed a distant metastasis "
                      "(outside the regional lymph nodes; detected), days since the start "
                      "of the run (NaN: none)", over_time=False),
        StateVariable("last_scan_time", "patient", "float64", nan, "days",
                      "time of the latest scan, days since the start of the run (NaN: none "
                      "yet)", output=False),
        StateVariable("imaged_lesions", "patient_organ", "int64", 0, "1",
                      "lesions seen at the latest scan"),
        StateVariable("imaged_diameter_sum", "patient", "float64", 0.0, "mm",
                      "sum of the diameters of the lesions seen at the latest scan"),
    ]


def diagnosis_diameters(seed: int, patients, cfg) -> np.ndarray:
    """Per patient of ``patients`` (a :class:`paget.state.Patients`): the primary
    diameter, mm, at which its tumour is found without screening.

    ``cfg`` is the ``[diagnosis]`` table: ``diameter`` for every patient, or a
    draw from ``diameter_distribution`` by the keyed uniform of purpose
    ``"diagnosis.diameter"`` (``Draws(seed, 0).uniform_patients``), which
    depends on the seed and the patient's cohort index alone.
    """
    dist = size_distribution(cfg)
    if dist is None:
        return np.full(len(patients), float(cfg.diameter))
    u = Draws(seed, 0).uniform_patients(patients, "diagnosis.diameter")
    return dist.quantile(u)


def thresholds(config, body) -> np.ndarray:
    """Per organ: the smallest lesion (cells) the configured imaging sees."""
    cfg = config.imaging
    default = MODALITY_DIAMETER_MM[cfg.modality]
    d = resolve_organ_map(default if cfg.threshold is None else cfg.threshold, body, default)
    return cells_of_diameter(d)


def lesion_totals(lesions):
    """Per lesion (growing rows grouped by lesion id): first row and total cells."""
    rows = np.flatnonzero(~lesions.dormant & (lesions.cells > 0))
    _, first, inverse = np.unique(lesions.lesion[rows], return_index=True, return_inverse=True)
    return rows[first], np.bincount(inverse.ravel(), weights=lesions.cells[rows])


def _on_schedule(t: float, start, interval: float, dt: float) -> np.ndarray:
    """Per patient: a visit falls in the step [t, t + dt) (start + k * interval, k >= 0)."""
    start = np.asarray(start, dtype=np.float64)
    since = t - start
    if interval <= 0:
        return (since >= 0) & (since < dt)
    k = np.ceil(np.maximum(since, 0.0) / interval - 1e-9)
    visit = start + k * interval
    return (since >= -1e-9) & (visit < t + dt - 1e-9) & (visit >= t - 1e-9)


@hookimpl
def paget_update_state(lesions, state, patients, config, body, t, dt):
    ps = state.patient
    alive = np.asarray(patients.alive)
    n = len(patients)
    # ---- diagnosis: the primary (all its clones) against the threshold
    cfg = config.diagnosis
    size = ps["diagnosis_diameter"]
    if plugin_math.any_nan_where(size):   # set once, at the first step (kept by a restart)
        todo = np.isnan(size)
        size[todo] = diagnosis_diameters(config.seed, patients, cfg)[todo]
    diag = ps["diagnosis_time"]
    fixed = _fixed_need(cfg)
    if plugin_math.any_nan_where(diag, alive) and not (
            # the usual (a fixed diameter, no screening, each patient's rows on this
            # rank alone): the primaries' sums and the diagnosis in one compiled call
            fixed is not None and cfg.screening_interval <= 0 and lesions.serial
            and plugin_math.diagnose_serial(alive, lesions.primary, lesions.cells,
                                            lesions.pidx, fixed, t, diag)):
        primary_cells = lesions.patient_sum(np.where(lesions.primary, lesions.cells, 0.0))
        need = cells_of_diameter(size) if fixed is None else np.full(n, fixed)
        if cfg.screening_interval > 0:
            visit = _on_schedule(t, cfg.screening_start, cfg.screening_interval, dt)
            need[visit] = np.minimum(need[visit], cells_of_diameter(cfg.screening_diameter))
        # the alive, undiagnosed patients whose primary reached it: diagnosed now, compiled
        plugin_math.diagnose(alive, primary_cells, need, float(t), diag)
    # ---- scans: at diagnosis, then every interval days
    # alive & _on_schedule(...), compiled; False where diag is NaN; None: no scan
    scan = plugin_math.scan_due(float(t), diag, float(config.imaging.interval), float(dt), alive)
    if scan is None:
        return
    # per lesion (its rows are on one rank), compiled; then per patient over its
    # ranks (collective: four sums, in this order on every rank)
    first, seen, diameter, met, distant = plugin_math.imaging_scan_terms(
        lesions.dormant, lesions.cells, lesions.lesion_cells, lesions.lesion, lesions.primary,
        lesions.organ, lesions.pidx, _thresholds(config, body), scan,
        body.organ_index(body.lymph_node), DIAMETER_SCALE)
    counts = lesions.patient_sum(seen, rows=first, by_organ=True)
    dsum = lesions.patient_sum(diameter, rows=first)
    met_sum = lesions.patient_sum(met, rows=first)
    distant_sum = lesions.patient_sum(distant, rows=first)
    plugin_math.imaging_write(scan, counts, dsum, met_sum, distant_sum, float(t),
                              ps["imaged_lesions"], ps["imaged_diameter_sum"],
                              ps["last_scan_time"], ps["first_detected_metastasis_time"],
                              ps["first_detected_distant_metastasis_time"])


#: pi x cells per mm^3, as diameter_of_cells divides by it
DIAMETER_SCALE = np.pi * CELLS_PER_MM3

#: per (imaging table, body): thresholds(), which never changes (frozen tables)
_THRESHOLDS: dict = {}


#: per [diagnosis] table: _fixed_need(), which never changes (frozen tables)
_FIXED_NEED: dict = {}


def _fixed_need(cfg) -> float | None:
    """The cells of the ``[diagnosis]`` table ``cfg``'s fixed diameter (None: the
    diameter is drawn per patient, :func:`size_distribution`), once per table:
    every step of an undiagnosed patient compares the primary with it."""
    return once(_FIXED_NEED, (cfg,), lambda: None if size_distribution(cfg) is not None
                else float(cells_of_diameter(cfg.diameter)))


def _thresholds(config, body) -> np.ndarray:
    """:func:`thresholds` once per (imaging table, body)."""
    return once(_THRESHOLDS, (config.imaging, body), lambda: np.ascontiguousarray(
        thresholds(config, body), dtype=np.float64))
