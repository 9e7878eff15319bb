"""Patient management: diagnosis, imaging, blood readouts, treatments, policies, arms.

Treatments are checked against closed forms on deterministic exponential growth
(the kernel then takes the mean ``N e^{(b - d) dt}`` exactly), with shedding
and every factor plugin off unless the test is about it.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import paget
import paget.plugins.imaging as imaging
import paget.plugins.liquid_biopsy as liquid_biopsy
import paget.plugins.supportive as supportive
import paget.plugins.treatment as treatment
from paget.config import deep_merge
from paget.random import Draws
from paget.state import LesionTable, Patients, State

from .factors import only
from .helpers import assert_same_result

R = 0.02          # 1/day, exponential growth of the primary
N0 = 1e6          # cells
BASE = {"seed": 5, "cohort": {"patients": 2, "years": 1}, "primary": {"cells": N0},
        "colonization": {"growth": {"law": "exponential", "rate": R, "death": 0.0,
                                    "mode": "deterministic"}},
        "intravasation": {"rate": 0.0}, "output": {"interval": 1.0}}


def run(*factors, **overrides):
    return paget.Simulation(only(deep_merge(BASE, overrides), *factors),
                            entry_points=False).run()


def primary(ds):
    return ds.tumor_cells.sel(organ="breast")


def first_day(cells: float, rate: float = R, n0: float = N0) -> int:
    """First whole day at whose start n0 e^{rate t} reaches ``cells``."""
    return math.ceil(math.log(cells / n0) / rate)


# ---------------------------------------------------------------- diagnosis

def test_diagnosis_when_the_primary_reaches_the_detection_diameter():
    ds = run(diagnosis={"diameter": 10.0})
    n_d = math.pi / 6 * 10.0 ** 3 * 1e6          # 1e6 cells/mm^3 (Coumans et al. 2013)
    assert imaging.cells_of_diameter(10.0) == pytest.approx(n_d)
    assert np.all(ds.diagnosis_time.values == first_day(n_d))
    assert ds.diagnosis_time.attrs["units"] == "days"


def test_the_diagnosis_size_kept_per_table_follows_each_run_in_one_process():
    """imaging keeps the cells of [diagnosis]'s fixed diameter per table: runs
    one after another in one process each see their own diameter."""
    for d in (10.0, 5.0, 10.0):
        ds = run(diagnosis={"diameter": d})
        assert np.all(ds.diagnosis_time.values == first_day(imaging.cells_of_diameter(d)))


def test_screening_finds_the_tumour_earlier_at_a_visit():
    ds = run(diagnosis={"diameter": 10.0, "screening_interval": 100.0,
                        "screening_diameter": 5.0})
    small = first_day(imaging.cells_of_diameter(5.0))       # day 210
    visit = 100 * math.ceil(small / 100)                     # the next visit: day 300
    assert visit < first_day(imaging.cells_of_diameter(10.0))
    assert np.all(ds.diagnosis_time.values == visit)


def test_visits_fall_on_their_schedule():
    on = imaging._on_schedule
    assert on(0.0, 0.0, 90.0, 1.0) and on(90.0, 0.0, 90.0, 1.0) and not on(45.0, 0.0, 90.0, 1.0)
    assert not on(5.0, 10.0, 90.0, 1.0) and on(100.0, 10.0, 90.0, 1.0)
    assert not on(1.0, np.nan, 90.0, 1.0)
    assert on(14.0, 0.0, 7.0, 7.0) and not on(7.0, 0.0, 10.0, 2.0)   # coarse steps


# ---------------------------------------------------------------- imaging

def lesion_table(cells, organ, lesion=None, genotype=None, primary=None, patient=None):
    n = len(cells)
    tab = LesionTable()
    uid = np.arange(1, n + 1, dtype=np.uint64)
    flags = np.zeros(n, np.uint8) if primary is None else \
        np.where(primary, paget.state.FLAG_PRIMARY, 0).astype(np.uint8)
    tab.append(uid=uid, parent=np.zeros(n, np.uint64),
               lesion=uid if lesion is None else np.asarray(lesion, np.uint64), clone=uid,
               genotype=np.zeros(n, np.uint64) if genotype is None else
               np.asarray(genotype, np.uint64),
               cells=np.asarray(cells, np.float64),
               patient=np.zeros(n, np.int64) if patient is None else np.asarray(patient, np.int64),
               birth_step=np.zeros(n, np.int32), organ=np.asarray(organ, np.int16), flags=flags)
    return tab


@pytest.fixture(scope="module")
def sim():
    return paget.Simulation({"treatment": {"lines": ["chemotherapy", "immunotherapy"]}},
                            entry_points=False)


def patient_state(sim, P: int) -> dict[str, np.ndarray]:
    return {v.name: np.full(P if v.level == "patient" else (P, sim.body.n_organs), v.default,
                            dtype=v.dtype)
            for v in sim.variables if v.level != "lesion"}


def test_a_scan_sees_lesions_above_the_organ_threshold(sim):
    body = sim.body
    liver, lung, breast = (body.organ_index(o) for o in ("liver", "lung", "breast"))
    ct = imaging.cells_of_diameter(5.0)                        # CT: 5 mm
    cells = [1e9, ct * 1.01, ct * 0.99, ct * 2, ct * 0.6, ct * 0.6]
    organ = [breast, liver, liver, lung, lung, lung]
    lesion = [1, 2, 3, 4, 5, 5]                                # rows 5, 6: one lesion
    tab = lesion_table(cells, organ, lesion=lesion, primary=[True] + [False] * 5)
    ps = patient_state(sim, 1)
    ps["diagnosis_time"][:] = 0.0
    imaging.paget_update_state(lesions=tab.view(1.0, n_patients=1, n_organs=body.n_organs),
                               state=State({}, ps),
                               patients=Patients(np.arange(1), np.ones(1, bool), np.zeros(1)),
                               config=sim.config, body=body, t=90.0, dt=1.0)
    seen = ps["imaged_lesions"][0]
    assert seen[breast] == 1 and seen[liver] == 1 and seen[lung] == 2
    assert seen.sum() == 4
    d = imaging.diameter_of_cells(np.array([1e9, ct * 1.01, ct * 2, ct * 1.2]))
    assert ps["imaged_diameter_sum"][0] == pytest.approx(d.sum())
    assert ps["first_detected_metastasis_time"][0] == 90.0 and ps["last_scan_time"][0] == 90.0
    # PET sees less: 10 mm
    pet = paget.Simulation({"imaging": {"modality": "PET"}}, entry_points=False)
    assert imaging.thresholds(pet.config, body)[liver] == pytest.approx(
        imaging.cells_of_diameter(10.0))
    per_organ = paget.Simulation({"imaging": {"threshold": {"default": 5.0, "brain": 2.0}}},
                                 entry_points=False)
    th = imaging.thresholds(per_organ.config, body)
    assert th[body.organ_index("brain")] == pytest.approx(imaging.cells_of_diameter(2.0))


# ---------------------------------------------------------------- surgery

def test_surgery_removes_the_primary_and_counts_the_cells():
    ds = run(diagnosis={"diameter": 10.0}, surgery={"enabled": True, "delay": 10.0})
    t_s = first_day(imaging.cells_of_diameter(10.0)) + 10
    assert np.all(ds.surgery_time.values == t_s)
    p = primary(ds)
    assert np.all(p.sel(time=t_s).values == pytest.approx(N0 * np.exp(R * t_s), rel=1e-9))
    assert np.all(p.sel(time=slice(t_s + 1, None)).values == 0)
    removed = ds.cells_removed.sum(("time", "organ")).values
    assert np.all(np.abs(removed - N0 * np.exp(R * t_s)) <= 1.0)


def test_surgery_at_diagnosis_is_the_default():
    """``[surgery] enabled = true`` alone: resected in the step of diagnosis, so
    the primary is gone one step later and every cell it had then is removed."""
    ds = run(diagnosis={"diameter": 10.0}, surgery={"enabled": True})
    t_d = first_day(imaging.cells_of_diameter(10.0))
    assert np.all(ds.diagnosis_time.values == t_d)
    assert np.all(ds.surgery_time.values == ds.diagnosis_time.values)
    at_diagnosis = N0 * np.exp(R * t_d)
    assert np.all(primary(ds).sel(time=t_d).values == pytest.approx(at_diagnosis, rel=1e-9))
    assert np.all(primary(ds).sel(time=slice(t_d + 1, None)).values == 0)
    removed = ds.cells_removed.sum("organ")
    assert np.all(np.abs(removed.sel(time=t_d + 1).values - at_diagnosis) <= 1.0)
    assert np.all(removed.sum("time").values == removed.sel(time=t_d + 1).values)


def test_a_residual_fraction_is_left_behind():
    ds = run(diagnosis={"diameter": 10.0}, surgery={"enabled": True, "delay": 0.0,
                                                     "residual": 0.25})
    t_s = first_day(imaging.cells_of_diameter(10.0))
    kept = primary(ds).sel(time=t_s + 1).values
    expected = np.floor(0.25 * N0 * np.exp(R * t_s)) * np.exp(R)  # rounded, then a day's growth
    assert np.all(np.abs(kept - expected) <= 1.0 * np.exp(R) + 1e-6 * expected)


# ---------------------------------------------------------------- chemotherapy

def test_each_dose_kills_log_kill_logs_under_exponential_growth():
    """Exponential growth: the net rate is the same at every size, so each dose
    kills ``log_kill`` logs whatever the reference size (classic log-kill)."""
    cycles, interval = 3, 21.0
    ds = run(diagnosis={"diameter": 10.0}, treatment={"lines": ["chemotherapy"], "start": 0.0},
             chemotherapy={"cycles": cycles, "interval": interval, "log_kill": 1.0,
                           "reference_cells": 1e3, "toxicity": 0.0})
    t_d = first_day(imaging.cells_of_diameter(10.0))
    last_dose = t_d + (cycles - 1) * interval
    t = ds.time.values
    expected = N0 * np.exp(R * t) / 10.0 ** np.clip(np.floor((t - t_d - 1) / interval) + 1,
                                                     0, cycles)
    expected[t <= t_d] = N0 * np.exp(R * t[t <= t_d])
    np.testing.assert_allclose(primary(ds).values[0], expected, rtol=1e-9)
    assert np.all(ds.doses_given.sel(time=last_dose + 1).values == cycles)
    line = ds.therapy_line.values[0]
    assert np.all(line[(t > t_d) & (t <= last_dose)] == 1) and line[-1] == 0


# Norton-Simon on the default Gompertz law (K = 3e12 cells, r = 6e-4/day, turnover
# 0.02/day), one dose at day 0: diagnosed at once (1 mm; 1e6 cells are 1.24 mm).
GOMPERTZ = {"colonization": {"growth": {"law": "gompertz", "rate": 6e-4, "capacity": 3e12,
                                        "death": 0.02}},
            "cohort": {"years": 3 / 365.25}, "diagnosis": {"diameter": 1.0},
            "treatment": {"lines": ["chemotherapy"], "start": 0.0},
            "chemotherapy": {"cycles": 1, "log_kill": 1.0, "toxicity": 0.0}}


def gompertz_day(n0, dose, mode="deterministic", patients=2, log_kill=1.0) -> np.ndarray:
    """Cells of the primary after day 0, from ``n0``, with or without a dose that day."""
    cfg = deep_merge(GOMPERTZ, {"primary": {"cells": n0}, "cohort": {"patients": patients},
                                "colonization": {"growth": {"mode": mode}},
                                "chemotherapy": {"log_kill": log_kill}})
    if not dose:
        cfg["treatment"] = {"lines": []}
    return primary(run(**cfg)).sel(time=1.0).values


def test_a_dose_kills_exactly_log_kill_logs_at_the_reference_size():
    untreated = gompertz_day(1e9, False)              # reference_cells: 1e9 by default
    for log_kill in (1.0, 2.0):
        treated = gompertz_day(1e9, True, log_kill=log_kill)
        np.testing.assert_allclose(np.log10(untreated / treated), log_kill, rtol=1e-9)


def birth_death_log10_se(n0: float, b: float, d: float) -> float:
    """SD of log10 N(1 day) of a linear birth-death process from ``n0`` (delta method):
    Var N = n0 (b + d) / (b - d) m (m - 1), m = e^{b - d} (Bailey 1964)."""
    m = np.exp(b - d)
    return float(np.sqrt(n0 * (b + d) / (b - d) * m * (m - 1.0)) / (n0 * m) / np.log(10.0))


def test_norton_simon_kill_is_proportional_to_the_net_growth_rate():
    """Logs killed per dose at 1e6 and 1e10 cells, stochastic birth-death: their
    ratio is the ratio of the law's net rates ln(K/N), 2.61 (the birth rate,
    turnover included, would give 1.23), within 3 SE of the draws."""
    from paget.plugins.colonization import step_net_rate
    K, r, d0, P = 3e12, 6e-4, 0.02, 5
    g = {n: float(step_net_rate("gompertz", np.array([n]), r, np.array([K]), 1.0)[0])
         for n in (1e6, 1e9, 1e10)}
    kills, ses = [], []
    for n0 in (1e6, 1e10):
        want = g[n0] / g[1e9]                         # logs a dose kills at n0
        treated = gompertz_day(n0, True, mode="stochastic", patients=P)
        kills.append(np.log10(n0 * np.exp(g[n0]) / treated).mean())   # vs the untreated mean
        ses.append(birth_death_log10_se(n0, d0 + g[n0], d0 + want * np.log(10.0)) / np.sqrt(P))
        assert abs(kills[-1] - want) < 3 * ses[-1]
    expected, ratio = np.log(K / 1e6) / np.log(K / 1e10), kills[0] / kills[1]
    assert g[1e6] / g[1e10] == pytest.approx(expected, rel=1e-12)
    se_ratio = ratio * np.hypot(ses[0] / kills[0], ses[1] / kills[1])
    assert abs(ratio - expected) < 3 * se_ratio
    assert abs(ratio - 1.23) > 100 * se_ratio          # the old, birth-rate scaling


def test_the_old_reference_birth_rate_is_refused_naming_its_replacement():
    with pytest.raises(paget.ConfigError, match="reference_birth_rate.*reference_cells"):
        paget.Simulation({"chemotherapy": {"reference_birth_rate": 0.037}}, entry_points=False)


def test_a_reference_the_law_cannot_grow_at_is_refused():
    cfg = deep_merge(GOMPERTZ, {"chemotherapy": {"reference_cells": 3e12}})
    with pytest.raises(paget.ConfigError, match=r"chemotherapy\.reference_cells = 3e\+12"):
        paget.Simulation(cfg, entry_points=False)


def test_poor_performance_status_holds_the_dose(sim):
    cfg = sim.config
    ps = patient_state(sim, 2)
    ps["diagnosis_time"][:] = 0.0
    ps["lines_started"][:] = 1
    ps["therapy_line"][:] = 1
    ps["next_dose_time"][:] = 5.0
    ps["performance_status"][:] = [0, 3]
    tab = lesion_table([], [])
    treatment.paget_update_state(lesions=tab.view(1.0), state=State({}, ps),
                                 patients=Patients(np.arange(2), np.ones(2, bool), np.zeros(2)),
                                 config=cfg, t=5.0, dt=1.0, draws=Draws(1, 5))
    assert ps["dose_today"].tolist() == [True, False]
    assert ps["doses_given"].tolist() == [1, 0]


# ---------------------------------------------------------------- targeted therapy

TARGETED = dict(diagnosis={"diameter": 10.0},
                treatment={"lines": ["targeted"], "start": 0.0},
                targeted={"targets": ["HER2"], "kill_rate": 0.1},
                genetics={"mutation_rate": 0.0})


def test_targeted_therapy_kills_carriers_only():
    carriers = run("genetics", **deep_merge(TARGETED, {"genetics": {"initial": ["HER2"]}}))
    # HER2 scales net growth by 1.3 (genetics' catalogue): b - d = 0.026
    g = 1.3 * R
    t_d = first_day(imaging.cells_of_diameter(10.0), rate=g)
    assert np.all(carriers.diagnosis_time.values == t_d)
    t = carriers.time.values
    expected = np.where(t <= t_d, N0 * np.exp(g * t),
                        N0 * np.exp(g * t_d) * np.exp((g - 0.1) * (t - t_d)))
    np.testing.assert_allclose(primary(carriers).values[0], expected, rtol=1e-9)
    her2 = list(paget.plugins.genetics.DEFAULT_ALTERATIONS).index("HER2")
    assert np.all(carriers.targeted_alteration.values == her2)
    # without the alteration a biopsy finds no target: the line is skipped
    spared = run("genetics", **TARGETED)
    np.testing.assert_allclose(primary(spared).values[0], N0 * np.exp(R * t), rtol=1e-9)
    assert np.all(spared.targeted_alteration.values == -1)
    assert np.all(spared.lines_started.values == 2) and np.all(spared.therapy_line.values == 0)
    # unverified (no biopsy): given, but it spares cells without the target
    blind = run("genetics", **deep_merge(TARGETED, {"targeted": {"biopsy": False}}))
    np.testing.assert_allclose(primary(blind).values[0], N0 * np.exp(R * t), rtol=1e-9)
    assert np.all(blind.targeted_alteration.values == her2)


def test_a_biopsy_of_the_largest_lesion_misses_subclones_elsewhere(sim):
    her2 = np.uint64(1) << np.uint64(list(sim.config.genetics.alterations).index("HER2"))
    # patient 0: largest lesion 4 % HER2 (below 5 %), a smaller all-HER2 lesion
    # patient 1: largest lesion 10 % HER2
    cells = [9.6e5, 4e4, 1e5, 9e5, 1e5]
    lesion = [1, 1, 2, 3, 3]
    genotype = [0, her2, her2, 0, her2]
    tab = lesion_table(cells, [0] * 5, lesion=lesion, genotype=genotype,
                       patient=[0, 0, 0, 1, 1])
    seen = treatment.biopsy(tab.view(1.0), sim.config, np.ones(2, bool))
    assert (seen & her2).tolist() == [0, her2]


# ---------------------------------------------------------------- immunotherapy

IMMUNO = dict(diagnosis={"diameter": 10.0}, treatment={"lines": ["immunotherapy"], "start": 0.0},
              immunotherapy={"kill_rate": 0.05}, immune={"lesion_kill": 0.0, "ctc_kill": 0.0},
              genetics={"mutation_rate": 0.0,
                        "alterations": {"PD-L1": {"traits": {"immune_evasion": 1.0}}}})


def test_immunotherapy_kills_visible_cells_and_spares_evading_clones():
    visible = run("immune", "genetics", **IMMUNO)
    t = visible.time.values
    t_d = first_day(imaging.cells_of_diameter(10.0))
    expected = np.where(t <= t_d, N0 * np.exp(R * t),
                        N0 * np.exp(R * t_d) * np.exp((R - 0.05) * (t - t_d)))
    np.testing.assert_allclose(primary(visible).values[0], expected, rtol=1e-9)
    evading = run("immune", "genetics", **deep_merge(IMMUNO, {"genetics": {"initial": ["PD-L1"]}}))
    np.testing.assert_allclose(primary(evading).values[0], N0 * np.exp(R * t), rtol=1e-9)


# ---------------------------------------------------------------- adaptive policy

def decide(sim, ps, t=100.0, P=None):
    P = len(ps["diagnosis_time"]) if P is None else P
    treatment.paget_update_state(lesions=lesion_table([], []).view(1.0), state=State({}, ps),
                                 patients=Patients(np.arange(P), np.ones(P, bool), np.zeros(P)),
                                 config=sim.config, t=t, dt=1.0, draws=Draws(1, int(t)))


def test_radiological_progression_starts_the_next_line(sim):
    liver, lung = sim.body.organ_index("liver"), sim.body.organ_index("lung")
    ps = patient_state(sim, 4)
    ps["diagnosis_time"][:] = 0.0
    ps["lines_started"][:] = 1          # chemotherapy given; the course is over
    ps["nadir_diameter_sum"][:] = 20.0
    ps["nadir_organs"][:] = 1
    ps["imaged_lesions"][:, liver] = 1
    ps["last_scan_time"][:] = 100.0
    # 0: +50 % and +10 mm; 1: +10 % (stable); 2: a new organ; 3: +25 % but < 5 mm... of 20: 5 mm
    ps["imaged_diameter_sum"][:] = [30.0, 22.0, 20.0, 24.5]
    ps["imaged_lesions"][2, lung] = 1
    ps["nadir_diameter_sum"][3] = 19.0  # 24.5 >= 1.2 * 19 = 22.8 and 5.5 mm
    decide(sim, ps)
    assert ps["lines_started"].tolist() == [2, 1, 2, 2]
    assert ps["therapy_line"].tolist() == [2, 0, 2, 2]        # line 2: immunotherapy
    assert np.isnan(ps["first_progression_time"][1])
    assert ps["first_progression_time"][[0, 2, 3]].tolist() == [100.0] * 3
    assert ps["nadir_diameter_sum"][1] == 20.0                # no new nadir for 22 mm
    # no scan this step: no decision
    ps["imaged_diameter_sum"][1] = 40.0
    decide(sim, ps, t=101.0)
    assert ps["lines_started"][1] == 1


def test_a_ctdna_rise_starts_the_next_line():
    sim = paget.Simulation({"treatment": {"lines": ["chemotherapy", "immunotherapy"],
                                          "switch_on": ["ctdna"], "ctdna_rise": 2.0,
                                          "ctdna_floor": 1e-3}}, entry_points=False)
    ps = patient_state(sim, 3)
    ps["diagnosis_time"][:] = 0.0
    ps["lines_started"][:] = 1
    ps["nadir_ctdna"][:] = [1e-3, 1e-3, 1e-4]
    ps["ctdna_fraction"][:] = [2.5e-3, 1.5e-3, 5e-4]   # 2.5x; 1.5x; 5x but below the floor
    decide(sim, ps)
    assert ps["lines_started"].tolist() == [2, 1, 1]


def test_the_last_line_ends_the_plan(sim):
    ps = patient_state(sim, 1)
    ps["diagnosis_time"][:] = 0.0
    ps["lines_started"][:] = 2
    ps["therapy_line"][:] = 2
    ps["nadir_diameter_sum"][:] = 10.0
    ps["imaged_diameter_sum"][:] = 30.0
    ps["last_scan_time"][:] = 100.0
    decide(sim, ps)
    assert ps["lines_started"][0] == 3 and ps["therapy_line"][0] == 0


# ---------------------------------------------------------------- blood readouts

def test_ctc_counts_are_poisson_on_the_steady_state_concentration():
    sim = paget.Simulation({}, entry_points=False)
    cfg = sim.config.liquid_biopsy
    P = 20000
    shed = np.full(P, 2e5, np.int64)                       # CTC/day
    lam = 2e5 * (1.7 / 24) / math.log(2) / 5000.0 * 7.5   # steady state, per 7.5 mL
    assert liquid_biopsy.ctc_concentration(2e5, cfg) * 7.5 == pytest.approx(lam)
    ps = patient_state(sim, P)
    patients = Patients(np.arange(P), np.ones(P, bool), np.full(P, 1e9), ctc_shed=shed,
                        cell_death=np.full(P, 1e7))
    liquid_biopsy.paget_update_state(state=State({}, ps), patients=patients, config=sim.config,
                                     dt=1.0, draws=Draws(3, 7))
    n = ps["ctc_per_7_5ml"]
    assert abs(n.mean() - lam) < 5 * math.sqrt(lam / P)
    assert abs(n.var() - lam) < 5 * lam * math.sqrt(2 / P)
    assert np.array_equal(ps["ctc_positive"], n >= 5)
    # ctDNA: 1e7 deaths/day x 1.4e-4 GE x (114 min / ln 2) / 2750 mL against 1500 GE/mL
    tumour = 1e7 * 1.4e-4 * (114 / 1440) / math.log(2) / 2750.0
    assert ps["ctdna_fraction"][0] == pytest.approx(tumour / (tumour + 1500.0))
    # biomarker: lognormal noise with mean 1 around baseline + per_cell * burden
    b = sim.config.biomarker
    mean = b.baseline + b.per_cell * 1e9
    assert abs(ps["biomarker"].mean() - mean) < 5 * mean * b.cv / math.sqrt(P)
    # the same draws whatever patients a rank holds: keyed by patient
    ps2 = patient_state(sim, 10)
    sub = Patients(np.arange(100, 110), np.ones(10, bool), np.full(10, 1e9),
                   ctc_shed=shed[:10], cell_death=np.full(10, 1e7))
    liquid_biopsy.paget_update_state(state=State({}, ps2), patients=sub, config=sim.config,
                                     dt=1.0, draws=Draws(3, 7))
    assert np.array_equal(ps2["ctc_per_7_5ml"], n[100:110])


def test_shedding_patients_have_ctcs_in_the_run():
    ds = paget.Simulation({"seed": 2, "cohort": {"patients": 3, "years": 1},
                           "primary": {"cells": 1e9}}, entry_points=False).run()
    late = ds.isel(time=slice(-3, None))
    assert (late.ctc_blood > 0).all() and (late.ctdna_fraction > 0).all()
    assert ds.ctc_per_7_5ml.attrs["units"] == "1"


# ---------------------------------------------------------------- supportive care

def test_performance_status_follows_burden_and_organs(sim):
    body = sim.body
    brain, liver = body.organ_index("brain"), body.organ_index("liver")
    cells = [1e8, 2e9, 5e10]
    tab = lesion_table(cells, [brain, liver, liver], patient=[0, 1, 2])
    ps = patient_state(sim, 3)
    burden = np.bincount([0, 1, 2], weights=cells)
    supportive.paget_update_state(lesions=tab.view(1.0, n_patients=3, n_organs=body.n_organs),
                                  state=State({}, ps),
                                  patients=Patients(np.arange(3), np.ones(3, bool), burden),
                                  config=sim.config, body=body, dt=1.0, draws=Draws(1, 0))
    # 0: small brain lesion, below organ_cells: 0; 1: liver 2e9: 1;
    # 2: liver 5e10 (1) + load log10(5e10 / 1e10) = 0.7: 1.7 -> ECOG 1
    assert ps["performance_status"].tolist() == [0, 1, 1]
    assert ps["symptom_burden"][2] == pytest.approx(1.0 + math.log10(5.0))


def test_a_bone_agent_lowers_skeletal_events():
    def events(agent):
        sim = paget.Simulation({"supportive": {"bone_agent": agent}}, entry_points=False)
        P = 4000
        tab = lesion_table([1e10] * P, [sim.body.organ_index("bone")] * P,
                           patient=np.arange(P))
        ps = patient_state(sim, P)
        for step in range(30):
            supportive.paget_update_state(
                lesions=tab.view(1.0, n_patients=P, n_organs=sim.body.n_organs),
                state=State({}, ps),
                patients=Patients(np.arange(P), np.ones(P, bool), np.full(P, 1e10)),
                config=sim.config, body=sim.body, dt=1.0, draws=Draws(1, step))
        return ps["skeletal_events"].mean()

    lam = 10 / 365.25 * 30          # per patient over 30 days at 1e10 cells in bone
    none, agent = events(False), events(True)
    assert abs(none - lam) < 5 * math.sqrt(lam / 4000)
    assert abs(agent - 0.59 * lam) < 5 * math.sqrt(0.59 * lam / 4000)


def test_no_skeletal_event_is_drawn_without_bone_lesions():
    """Without a bone lesion every mean is 0: no keyed draw is made (the counts
    would be 0 whatever it gave), and the other readouts are still written."""
    class NoDraws:
        def uniform_patients(self, patients, purpose):
            raise AssertionError(f"drew {purpose!r}")

    sim = paget.Simulation({}, entry_points=False)
    P = 3
    tab = lesion_table([2e9] * P, [sim.body.organ_index("liver")] * P, patient=np.arange(P))
    ps = patient_state(sim, P)
    supportive.paget_update_state(
        lesions=tab.view(1.0, n_patients=P, n_organs=sim.body.n_organs), state=State({}, ps),
        patients=Patients(np.arange(P), np.ones(P, bool), np.full(P, 2e9)),
        config=sim.config, body=sim.body, dt=1.0, draws=NoDraws())
    assert ps["skeletal_events"].tolist() == [0, 0, 0]
    assert ps["performance_status"].tolist() == [1, 1, 1]


# ---------------------------------------------------------------- trial arms

ARMS = {"seed": 4, "cohort": {"patients": 3, "years": 0.3}, "primary": {"cells": 6e8},
        "arms": [{"name": "control"},
                 {"name": "surgery", "surgery": {"enabled": True, "delay": 30.0}}]}


@pytest.fixture(scope="module")
def trial():
    return paget.Simulation(ARMS, entry_points=False).run()


def test_arms_share_their_patients_until_treatment_differs(trial):
    assert trial.arm.values.tolist() == ["control", "surgery"]
    assert trial.tumor_cells.dims == ("arm", "patient", "time", "organ")
    assert np.all(trial.diagnosis_time.values == 0.0)
    before = trial.sel(time=slice(None, 30.0))
    for name in ("tumor_cells", "ctc_shed", "lesions", "ctc_per_7_5ml", "biomarker"):
        a = before[name].sel(arm="control").values
        b = before[name].sel(arm="surgery").values
        assert np.array_equal(a, b), name
    after = trial.tumor_cells.sel(organ="breast").isel(time=-1)
    assert np.all(after.sel(arm="surgery").values == 0)
    assert np.all(after.sel(arm="control").values > 0)
    assert set(np.unique(trial.lesion_arm.values)) == {"control", "surgery"}
    assert trial.lesion_arm.sizes["lesion"] == trial.lesion_cells.sizes["lesion"]


def test_an_arm_run_alone_equals_its_slice_of_the_trial(trial):
    alone = paget.Simulation({k: v for k, v in ARMS.items() if k != "arms"} |
                             {"surgery": {"enabled": True, "delay": 30.0}},
                             entry_points=False).run()
    arm = trial.sel(arm="surgery")
    for name in ("tumor_cells", "death_time", "surgery_time", "ctc_per_7_5ml"):
        assert np.array_equal(arm[name].values, alone[name].values, equal_nan=True), name
    mine = trial.lesion_arm.values == "surgery"
    assert np.array_equal(trial.lesion_cells.values[mine], alone.lesion_cells.values)


@pytest.mark.parametrize("arms, message", [
    ([], "non-empty array of tables"),
    ([{"surgery": {"enabled": True}}], "every arm needs a name"),
    ([{"name": "a"}, {"name": "a"}], "arm names must be unique"),
    ([{"name": "a", "seed": 3}], "the arms of a trial share"),
    ([{"name": "a", "cohort": {"patients": 3}}], "the arms of a trial share"),
    ([{"name": "b", "chemotherapy": {"cycles": -1}}], "arms[0] ('b'): chemotherapy.cycles"),
    ([{"name": "c", "treatment": {"lines": ["radiotherapy"]}}], "arms[0] ('c'): treatment.lines"),
])
def test_bad_arms_are_refused_with_the_arm_named(arms, message):
    with pytest.raises(paget.ConfigError) as exc:
        paget.Simulation({"arms": arms}, entry_points=False)
    assert message in str(exc.value)


def test_arms_are_refused_with_checkpoints(tmp_path):
    from paget.checkpoint import Checkpoints
    sim = paget.Simulation(ARMS, entry_points=False)
    with pytest.raises(paget.ConfigError, match="checkpoints of a multi-arm trial"):
        sim.run(checkpoint=Checkpoints(tmp_path / "ck", every=10.0))
    for out in ("t.zarr", "t.nc"):      # written by every rank, or gathered
        with pytest.raises(paget.ConfigError, match="checkpoints of a multi-arm trial"):
            sim.write(tmp_path / out, checkpoint=Checkpoints(tmp_path / "ck", every=10.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# ---------------------------------------------------------------- extension points, ranks

def test_immunotherapy_lowers_ctc_survival_of_visible_rows_only(sim):
    from paget.state import Rates
    tab = lesion_table([1e6, 1e6], [0, 0], patient=[0, 1])
    ps = patient_state(sim, 2)
    ps["therapy_line"][:] = [2, 1]           # line 2 is immunotherapy, line 1 chemotherapy
    lesion_state = {"immune_evasion": np.zeros(2)}
    rates = Rates.neutral(2)
    treatment.paget_circulation(lesions=tab.view(1.0), rates=rates,
                                state=State(lesion_state, ps), config=sim.config)
    assert rates.ctc_survival.tolist() == [1.0 - sim.config.immunotherapy.ctc_kill, 1.0]


class HalveEverything:
    """A third-party removal: half of every row's cells, once, on day 10."""

    @paget.hookimpl
    def paget_removal(self, lesions, fraction, t):
        if t == 10.0:
            fraction[:] = 0.5


class BadRemoval:
    @paget.hookimpl
    def paget_removal(self, fraction):
        fraction[:] = 1.5


def test_removal_keeps_the_expected_count_by_keyed_rounding():
    sim = paget.Simulation(only(deep_merge(BASE, {"cohort": {"patients": 200}})),
                           plugins=[("halve", HalveEverything())], entry_points=False)
    ds = sim.run()
    before = N0 * np.exp(R * 10)
    kept = primary(ds).sel(time=11.0).values / np.exp(R)
    assert np.all(np.abs(kept - before / 2) <= 1.0 + 1e-9 * before)
    removed = ds.cells_removed.sel(time=11.0).sum("organ").values
    # floor(x + u) is x rounded down or up, with E = x: both occur over patients
    half = before / 2
    assert set(np.round(kept, 6)) == {np.floor(half), np.ceil(half)}
    p = half - np.floor(half)
    assert abs(kept.mean() - half) < 5 * np.sqrt(p * (1 - p) / kept.size)
    # the counter is whole cells: the fraction deterministic growth leaves is dropped
    assert np.array_equal(removed, np.floor(before - np.round(kept, 6)))


def test_a_removal_fraction_outside_0_1_names_the_plugin():
    sim = paget.Simulation(only(BASE), plugins=[("bad_removal", BadRemoval())],
                           entry_points=False)
    with pytest.raises(paget.PluginError, match="bad_removal.*paget_removal"):
        sim.run()


def test_a_treated_trial_is_identical_on_1_and_2_ranks(tmp_path):
    from .test_cli import write_toml
    from .test_decomposition import datasets_on_ranks
    cfg = deep_merge(ARMS, {"cohort": {"patients": 3, "years": 0.4},
                            "treatment": {"lines": ["chemotherapy", "immunotherapy"],
                                          "start": 5.0, "switch_on": ["progression", "ctdna"]},
                            "imaging": {"interval": 30.0}})
    one, two = datasets_on_ranks(write_toml(tmp_path / "t.toml", cfg), (1, 2), tmp_path)
    assert_same_result(one, two)
    assert (one.doses_given.max() > 0).item()


def test_poisson_quantile_inverts_like_scipy():
    from scipy import stats

    from paget.random import poisson_quantile
    rng = np.random.default_rng(8)
    u = rng.random(50000)
    lam = np.exp(rng.uniform(-10, np.log(200), u.size))
    lam[:50] = 0.0
    expected = np.where(lam > 0, stats.poisson.ppf(u, np.where(lam > 0, lam, 1.0)), 0)
    np.testing.assert_array_equal(poisson_quantile(u, lam), expected.astype(np.int64))
    assert poisson_quantile(np.zeros(3), 2.0).tolist() == [0, 0, 0]
    from paget.ext import kernels
    with pytest.raises(ValueError, match="one length"):
        kernels.poisson_invert_many(np.zeros(3), np.ones(3), np.ones(2))


@pytest.mark.parametrize("low, high", [(30.0, 1e4), (1e4, 1e9), (1e9, 1e13)])
def test_poisson_quantile_of_large_means_is_the_exact_quantile(low, high):
    """P(X <= k - 1) < u <= P(X <= k), by SciPy's Poisson cdf, for every draw
    (SciPy's own quantile misses this past ~10^7 and fails past ~10^9)."""
    from scipy import special

    from paget.random import poisson_quantile
    rng = np.random.default_rng(9)
    u = rng.random(20000)
    u[:3] = [0.0, 1e-300, 1.0 - 2.0 ** -53]
    lam = np.exp(rng.uniform(np.log(low), np.log(high), u.size))
    k = poisson_quantile(u, lam)
    assert k[0] == 0 and (k >= 0).all()
    assert (special.pdtr(k, lam) >= u).all()
    assert (special.pdtr(k - 1, lam)[k > 0] < u[k > 0]).all()


def test_treatment_without_imaging_is_refused_only_when_a_treatment_is_planned():
    """Refused when the model is assembled (paget_state_reads), before any step,
    naming both plugins."""
    cfg = deep_merge(BASE, {"plugins": {"disable": ["imaging"]}, "cohort": {"years": 0.05}})
    paget.Simulation(cfg, entry_points=False).run()      # nothing planned: runs
    for plan in ({"surgery": {"enabled": True}}, {"treatment": {"lines": ["chemotherapy"]}}):
        with pytest.raises(paget.PluginError) as err:
            paget.Simulation(deep_merge(cfg, plan), entry_points=False)
        assert err.value.plugin == "treatment"
        assert ("plugin 'treatment' needs state variable 'diagnosis_time', declared by plugin "
                "'imaging', which is disabled ([plugins] disable): surgery and lines of "
                "therapy start from the diagnosis") == str(err.value)


def test_a_ctdna_policy_without_liquid_biopsy_is_refused_before_step_0():
    cfg = deep_merge(BASE, {"plugins": {"disable": ["liquid_biopsy"]},
                            "treatment": {"lines": ["chemotherapy"], "switch_on": ["ctdna"]}})
    with pytest.raises(paget.PluginError, match="'treatment' needs state variable "
                       "'ctdna_fraction', declared by plugin 'liquid_biopsy', which is disabled"):
        paget.Simulation(cfg, entry_points=False)
    paget.Simulation(deep_merge(cfg, {"treatment": {"switch_on": ["progression"]}}),
                     entry_points=False)      # the scans alone: no ctDNA needed


def test_a_real_trial_is_analysed_and_plotted(trial, tmp_path, capsys):
    """The engine's trial dataset meets paget.analysis and paget plot (through netCDF)."""
    from paget import analysis
    from paget.cli import main
    from paget.output import write_dataset
    from paget.plot import FIGURES
    path = write_dataset(trial, tmp_path / "trial.nc")
    assert main(["plot", str(path), "-o", str(tmp_path / "figs")]) == 0
    for name in FIGURES:
        assert (tmp_path / "figs" / name).stat().st_size > 5000
    s = analysis.survival(trial, "mfs")
    assert s.time.dims == ("arm", "patient")
    end = float(trial.time[-1])
    assert ((s.time <= end) & (s.time >= 0)).all()
    conc = analysis.concordance(trial)
    assert set(conc.patients.dims) >= {"patient"}
    # the control arm keeps its primary, the resected arm does not
    present = conc.patients.primary_present
    assert present.sel(arm="control").all() and not present.sel(arm="surgery").any()


def test_survival_from_diagnosis():
    from paget import analysis
    ds = run(diagnosis={"diameter": 10.0}, cohort={"patients": 2, "years": 1})
    t_d = first_day(imaging.cells_of_diameter(10.0))
    end = float(ds.time[-1])
    s = analysis.survival(ds, "os", origin="diagnosis")
    assert s.included.all() and (s.time == end - t_d).all() and not s.event.any()
    assert s.attrs["origin"] == "diagnosis"
    # never diagnosed: left out
    late = run(diagnosis={"diameter": 100.0})
    s = analysis.survival(late, "os", origin="diagnosis")
    assert not s.included.any() and s.time.isnull().all()
    with pytest.raises(ValueError, match="origin='birth'"):
        analysis.survival(ds, "os", origin="birth")
