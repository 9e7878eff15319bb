"""End-to-end behaviour of a run: conservation, reproducibility, limiting cases."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import paget
from paget.output import VARIABLES

from .conftest import busy
from .factors import only
from .helpers import assert_same_result


def run(cfg):
    return paget.Simulation(cfg, entry_points=False).run()


def stages(cfg):
    """``cfg`` with the factor plugins off: the five stages, whose limiting cases
    and expectations the tests below compute."""
    return only(cfg)


def test_every_variable_has_units_and_long_name(busy_dataset):
    # strings (organ names) have no units in CF
    for name in [*VARIABLES, "patient", "time", "organ", "lesion", "clone"]:
        assert name in busy_dataset.variables, name
        var = busy_dataset[name]
        assert var.attrs["long_name"], name
        assert bool(var.attrs.get("units")) == (var.dtype.kind != "U"), name


def test_attributes_record_config_seed_version_plugins(busy_dataset):
    import json
    attrs = busy_dataset.attrs
    cfg = json.loads(attrs["config_json"])
    assert cfg["seed"] == 11 and int(attrs["seed"]) == 11
    assert cfg["intravasation"]["rate"] == 0.01
    assert attrs["paget_version"]
    assert attrs["plugins"].split(", ") == ["invasion", "intravasation", "circulation",
                                            "transcoelomic",
                                            "extravasation", "colonization", "genetics",
                                            "microenvironment", "angiogenesis", "immune",
                                            "heterogeneity", "imaging", "liquid_biopsy",
                                            "supportive", "treatment", "outcome"]


def test_busy_run_exercises_every_stage(busy_dataset):
    ds = busy_dataset
    for name in ("ctc_shed", "ctc_arrested", "ctc_died", "dtc_extravasated", "dtc_died",
                 "dtc_dormant", "colonies_founded", "dtc_reactivated", "dormant_died"):
        assert int(ds[name].sum()) > 0, name
    assert (ds.lesions.isel(time=-1).drop_sel(organ="breast").sum("organ") > 0).all()


def test_every_shed_ctc_is_accounted_for(busy_dataset):
    """shed = arrested + died in circulation, per patient and interval."""
    ds = busy_dataset
    shed = ds.ctc_shed.sum("organ")
    xr.testing.assert_equal(shed, ds.ctc_arrested.sum("organ") + ds.ctc_died)


def test_every_arrested_ctc_extravasates_or_dies_in_the_bed(busy_dataset):
    ds = busy_dataset
    assert (ds.dtc_extravasated <= ds.ctc_arrested).all()


def test_every_extravasated_cell_dies_sleeps_or_founds(busy_dataset):
    ds = busy_dataset
    xr.testing.assert_equal(ds.dtc_extravasated,
                            ds.dtc_died + ds.dtc_dormant + ds.colonies_founded)


def test_dormant_pool_balance(busy_dataset):
    """Dormant cells now = entered - reactivated - died, summed over time."""
    ds = busy_dataset
    flow = (ds.dtc_dormant - ds.dtc_reactivated - ds.dormant_died).cumsum("time")
    np.testing.assert_array_equal(ds.dormant_cells.values, flow.values)


def test_lesion_table_matches_the_final_state(busy_dataset):
    ds = busy_dataset
    last = ds.isel(time=-1)
    for p in range(ds.sizes["patient"]):
        mine = (ds.lesion_patient == p).values
        growing = mine & ~ds.lesion_dormant.values
        for organ in ds.organ.values:
            in_organ = ds.lesion_organ.values == organ
            cells = ds.lesion_cells.values[growing & in_organ].sum()
            assert cells == float(last.tumor_cells.sel(patient=p, organ=organ))
            # a lesion may hold several clones' rows (a mutant clone in the primary)
            assert np.unique(ds.lesion_id.values[growing & in_organ]).size == \
                int(last.lesions.sel(patient=p, organ=organ))
    assert len(np.unique(ds.lesion_uid.values)) == ds.sizes["lesion"]
    # every non-primary lesion names a parent
    primary = ds.lesion_parent.values == 0
    assert primary.sum() <= ds.sizes["patient"]


def test_cell_counts_are_whole_numbers_in_stochastic_mode(busy_dataset):
    for name in ("tumor_cells", "dormant_cells", "lesion_cells"):
        v = busy_dataset[name].values
        np.testing.assert_array_equal(v, np.floor(v))


def test_same_seed_same_dataset_other_seed_other_dataset():
    a, b = run(busy()), run(busy())
    assert_same_result(a, b)
    c = run(busy(seed=12))
    assert not c.ctc_shed.equals(a.ctc_shed)


def test_a_patient_does_not_depend_on_the_cohort_around_it():
    """Patient 1 of a 4-patient cohort equals patient 1 of a 2-patient cohort."""
    big = run(busy(cohort={"patients": 4}))
    small = run(busy(cohort={"patients": 2}))
    for name in ("tumor_cells", "dormant_cells", "ctc_shed", "colonies_founded"):
        np.testing.assert_array_equal(big[name].sel(patient=1).values,
                                      small[name].sel(patient=1).values)
    # the lesion table too: the table is compacted at times that depend on the
    # whole cohort's rows, which must not show in any patient's result
    mine_big = big.lesion_patient.values == 1
    mine_small = small.lesion_patient.values == 1
    for name in ("lesion_uid", "lesion_parent", "lesion_birth_time", "lesion_cells", "lesion_organ"):
        np.testing.assert_array_equal(big[name].values[mine_big], small[name].values[mine_small])


# ---------------------------------------------------------------- limits

def test_no_shedding_means_no_metastasis():
    ds = run(busy(intravasation={"rate": 0.0}))
    assert int(ds.ctc_shed.sum()) == 0
    assert int(ds.lesions.drop_sel(organ="breast").sum()) == 0
    assert np.isnan(ds.first_seeding_time).all()


def test_metastases_that_do_not_shed():
    on = run(busy(intravasation={"metastases_shed": True}))
    off = run(busy(intravasation={"metastases_shed": False}))
    assert int(off.ctc_shed.drop_sel(organ="breast").sum()) == 0
    assert int(on.ctc_shed.drop_sel(organ="breast").sum()) > 0


def test_no_death_in_circulation():
    ds = run(stages(busy(circulation={"death_per_pass": 0.0})))  # no NK kill either
    assert int(ds.ctc_died.sum()) == 0
    assert int(ds.ctc_shed.sum()) > 0


def test_certain_arrest_in_the_first_bed():
    """A breast primary drains to the lungs: with certain arrest every blood-borne
    CTC stops there; lymph-borne ones stop in the nodes (lymph_node_arrest = 1)."""
    ds = run(stages(busy(circulation={"arrest": 1.0, "death_per_pass": 0.0,
                                      "lymph_node_arrest": 1.0},
                         intravasation={"metastases_shed": False})))
    arrested = ds.ctc_arrested.sum(("patient", "time"))
    assert int(arrested.drop_sel(organ=["lung", "lymph_nodes"]).sum()) == 0
    assert int(arrested.sum()) == int(ds.ctc_shed.sum())


def test_certain_extravasation_and_colonization():
    ds = run(busy(extravasation={"probability": 1.0},
                  colonization={"fate": {"die": 0.0, "dormant": 0.0, "grow": 1.0}},
                  cohort={"years": 0.1}))
    xr.testing.assert_equal(ds.dtc_extravasated, ds.ctc_arrested)
    xr.testing.assert_equal(ds.colonies_founded, ds.dtc_extravasated)


def test_primary_of_one_cell_can_go_extinct():
    """A one-cell primary with b = d0 + r ln K and d = d0 dies out with probability
    close to d/b; over 200 patients the count of extinctions is binomial."""
    cfg = busy(primary={"cells": 1}, cohort={"patients": 200, "years": 0.5},
               intravasation={"rate": 0.0},
               colonization={"growth": {"law": "exponential", "rate": 0.02, "death": 0.03}})
    ds = run(stages(cfg))
    extinct = float((ds.tumor_cells.sel(organ="breast").isel(time=-1) == 0).mean())
    # after 0.5 y the extinction probability is alpha(T) = d(e^{rT}-1)/(b e^{rT}-d)
    b, d, T = 0.05, 0.03, ds.time.values[-1]
    e = np.exp((b - d) * T)
    p = d * (e - 1) / (b * e - d)
    assert abs(extinct - p) < 5 * np.sqrt(p * (1 - p) / 200)


def test_fractional_time_step():
    ds = run(busy(cohort={"dt": 0.25, "years": 0.1}, output={"interval": 1.0}))
    assert np.allclose(np.diff(ds.time.values)[:-1], 1.0)
    assert int(ds.ctc_shed.sum()) > 0


def test_lethal_burden_ends_a_patient_and_freezes_the_record():
    cfg = busy(primary={"cells": 1e9}, outcome={"lethal_cells": 2e9},
               colonization={"growth": {"law": "exponential", "rate": 0.05, "death": 0.0}},
               intravasation={"rate": 0.0})
    ds = run(stages(cfg))
    t = ds.death_time.values
    assert np.all(np.isfinite(t))
    # exponential at 0.05/day doubles in ln2/0.05 = 13.9 days
    assert np.all(np.abs(t - np.log(2) / 0.05) <= 2.0)
    after = ds.time > t[0]
    assert not ds.alive.sel(patient=0).where(after, drop=True).any()
    frozen = ds.tumor_cells.sel(patient=0, organ="breast").where(after, drop=True)
    assert (frozen == frozen[0]).all()


def test_disabling_a_stage_changes_the_model_not_the_engine():
    ds = paget.Simulation(busy(plugins={"disable": ["intravasation"]}), entry_points=False).run()
    assert int(ds.ctc_shed.sum()) == 0
    assert "intravasation" not in ds.attrs["plugins"]


def test_shedding_without_circulation_is_refused():
    with pytest.raises(paget.PluginError, match="paget_fate_matrix"):
        paget.Simulation(busy(plugins={"disable": ["circulation"]}), entry_points=False).run()


def test_growth_is_not_biased_by_the_time_step():
    """Exact birth-death steps: the mean primary size after 60 days agrees for
    dt = 1 and dt = 0.1 within sampling error (the binomial leap would not)."""
    means, sems = [], []
    for dt in (1.0, 0.1):
        cfg = busy(primary={"cells": 10}, cohort={"patients": 300, "years": 60 / 365.25, "dt": dt},
                   intravasation={"rate": 0.0}, output={"interval": 1.0 if dt == 1.0 else 0.1 * 10},
                   colonization={"growth": {"law": "exponential", "rate": 0.01, "death": 0.04}})
        final = run(stages(cfg)).tumor_cells.sel(organ="breast").isel(time=-1).values
        means.append(final.mean())
        sems.append(final.std(ddof=1) / np.sqrt(final.size))
    expected = 10 * np.exp(0.01 * 60)
    for m, s in zip(means, sems):
        assert abs(m - expected) < 5 * s
    assert abs(means[0] - means[1]) < 5 * np.hypot(*sems)


def test_a_lesion_sheds_by_its_size_not_by_its_number_of_clones():
    """Shedding m (f N)^alpha applies to a lesion, shared among its clone rows."""
    import paget.plugins.intravasation as intra
    from paget.state import LesionTable, Rates

    table = LesionTable()
    uid = np.array([1, 2, 3], np.uint64)
    table.append(uid=uid, parent=np.zeros(3, np.uint64), lesion=np.array([1, 1, 3], np.uint64),
                 clone=uid, genotype=np.zeros(3, np.uint64), cells=np.array([600.0, 400.0, 1000.0]),
                 patient=np.zeros(3, np.int64), birth_step=np.zeros(3, np.int32),
                 organ=np.zeros(3, np.int16), flags=np.zeros(3, np.uint8))
    sim = paget.Simulation({}, entry_points=False)
    rates = Rates.neutral(3)
    intra.paget_intravasation(table.view(1.0), rates, sim.config)
    m, a = sim.config.intravasation.rate, sim.config.intravasation.exponent
    # lesion 1 (two clones, 1000 cells) sheds what lesion 3 (one clone, 1000 cells) does
    assert rates.shed[0] + rates.shed[1] == pytest.approx(rates.shed[2], rel=1e-12)
    assert rates.shed[2] == pytest.approx(m * 1000.0 ** a, rel=1e-12)
    assert rates.shed[0] / rates.shed[1] == pytest.approx(600 / 400, rel=1e-12)


def _clonal_table(m: int, seed: int = 4):
    """A table of m rows: most lesions one row, some of several clones (a clone's
    lesion id is an earlier row's uid, its founder; some founders gone)."""
    from paget.state import LesionTable
    rng = np.random.default_rng(seed)
    uid = rng.permutation(np.arange(1, m + 1, dtype=np.uint64) * np.uint64(7919))
    lesion = uid.copy()
    clones = np.flatnonzero(rng.random(m) < 0.2)
    clones = clones[clones > 0]
    lesion[clones] = uid[rng.integers(0, clones)]      # an earlier row's uid
    lesion[clones[::7]] = np.uint64(3)                 # a founder no longer in the table
    table = LesionTable()
    table.append(uid=uid, parent=np.zeros(m, np.uint64), lesion=lesion, clone=uid,
                 genotype=np.zeros(m, np.uint64), cells=rng.integers(0, 50, m).astype(float),
                 patient=np.zeros(m, np.int64), birth_step=np.zeros(m, np.int32),
                 organ=np.zeros(m, np.int16), flags=np.zeros(m, np.uint8))
    return table


def test_lesion_sum_equals_the_sorted_grouping_bit_for_bit():
    """Lesions.lesion_sum groups only the lesions of several rows (no sort of the
    table) and adds in row order: the bits of bincount over np.unique's inverse."""
    les = _clonal_table(5000).view(1.0)
    assert not les.single_clone
    index = np.unique(les.lesion, return_inverse=True)[1].ravel()
    values = np.random.default_rng(1).random(les.uid.size) * 1e3   # not whole numbers
    np.testing.assert_array_equal(les.lesion_sum(values),
                                  np.bincount(index, weights=values)[index])
    mask = np.zeros(les.uid.size, bool)
    mask[::97] = True
    np.testing.assert_array_equal(les.lesion_sum(mask) > 0,
                                  np.isin(les.lesion, np.unique(les.lesion[mask])))
    np.testing.assert_array_equal(les.lesion_cells,
                                  np.bincount(index, weights=les.cells)[index])
    with pytest.raises(ValueError, match="one entry per row"):
        les.lesion_sum(values[:-1])


def test_lesion_sum_of_single_row_lesions_is_the_values():
    from paget.state import LesionTable
    table = LesionTable()
    uid = np.array([5, 9, 2], np.uint64)
    table.append(uid=uid, parent=np.zeros(3, np.uint64), lesion=uid, clone=uid,
                 genotype=np.zeros(3, np.uint64), cells=np.array([1.0, 2.0, 3.0]),
                 patient=np.zeros(3, np.int64), birth_step=np.zeros(3, np.int32),
                 organ=np.zeros(3, np.int16), flags=np.zeros(3, np.uint8))
    values = np.array([0.5, 0.25, 4.0])
    got = table.view(1.0).lesion_sum(values)
    np.testing.assert_array_equal(got, values)
    assert got is not values


@pytest.mark.parametrize("size", [1, 7, 2048, 2049, 50_000])
@pytest.mark.parametrize("shape", ["flat", "2-D", "strided", "big-endian"])
def test_out_of_bounds_finds_nan_inf_and_range_at_every_size(size, shape):
    """The engine's check of hook outputs: a compiled pass (four doubles at a
    time, then one at a time) for contiguous native float64 arrays, NumPy's
    reductions otherwise; both must flag the same values, wherever they are."""
    from paget.ext.kernels import bounds_check
    from paget.state import out_of_bounds

    def make(v=None, at=0):
        a = np.linspace(0.0, 1.0, 2 * size)[::2] if shape == "strided" \
            else np.linspace(0.0, 1.0, size)
        if v is not None:
            a[at] = v
        if shape == "big-endian":
            return a.astype(">f8")
        return a.reshape(1, size) if shape == "2-D" else a

    # the compiled pass takes what it can read directly, and only that (a
    # strided view of one element is contiguous)
    direct = shape in ("flat", "2-D") or (shape == "strided" and size == 1)
    assert (bounds_check(make(), 0.0, 1.0) >= 0) == direct

    assert not out_of_bounds(make(), 0.0, 1.0)
    # every lane of the four-wide loop, the middle and the scalar tail
    places = sorted({0, 1, 2, 3, size // 2, size - 1} & set(range(size)))
    for v in (np.nan, np.inf, -np.inf, -1e-300, 1.0 + 1e-15):
        for at in places:
            assert out_of_bounds(make(v, at=at), 0.0, 1.0), (v, at)
    assert out_of_bounds(make(np.inf), 0.0, np.inf)          # +inf is never allowed
    assert out_of_bounds(make(-np.inf, at=size - 1), -np.inf, np.inf)
    assert not out_of_bounds(make(), -np.inf, np.inf)
    assert not out_of_bounds(make(np.nan)[:0], 0.0, 1.0)
    assert not out_of_bounds(np.zeros(size, bool), 0.0, 1.0)


def test_bounds_check_is_the_definition_at_the_extremes():
    """The compiled check compares each value with the bounds clamped to
    [-DBL_MAX, DBL_MAX] (two comparisons, not three): it must still say what
    the definition says (lo <= x <= hi and x finite) for the largest finite
    values, the infinities and NaN, as values and as bounds, in every lane of
    its eight-wide loop and its scalar tail."""
    from paget.ext.kernels import bounds_check

    big = np.finfo(np.float64).max
    values = [0.0, -0.0, 1.0, -1.0, big, -big, np.inf, -np.inf, np.nan, 5e-324, -5e-324]
    bounds = [0.0, -0.0, 1.0, -1.0, big, -big, np.inf, -np.inf, np.nan]
    for size, at in ((1, 0), (8, 3), (8, 7), (19, 9), (19, 18)):
        for v in values:
            a = np.full(size, 0.5)
            a[at] = v
            for lo in bounds:
                for hi in bounds:
                    with np.errstate(invalid="ignore"):
                        want = not bool(np.all((a >= lo) & (a <= hi) & np.isfinite(a)))
                    assert bounds_check(a, lo, hi) == want, (size, at, v, lo, hi)


def test_lesion_counts_group_clones_as_the_lesion_table_does():
    """The per-organ ``lesions`` and ``detectable_lesions`` count lesions, not rows:
    a lesion of several clones (rows sharing a ``lesion_id``) counts once, at its
    total size.  Checked at the last time against the lesion table itself, in a
    run whose lesions gather many clones."""
    cfg = busy(cohort={"patients": 1, "years": 0.4},
               genetics={"mutation_rate": 1e-5},
               outcome={"detectable_cells": 1e3})
    ds = paget.Simulation(cfg, entry_points=False).run()
    live = ~ds.lesion_dormant.values.astype(bool) & (ds.lesion_cells.values > 0)
    assert (ds.lesion_id.values[live] != ds.lesion_uid.values[live]).sum() > 1000
    organs = list(ds.organ.values)
    counts = np.zeros((ds.sizes["patient"], len(organs)))
    detectable = np.zeros_like(counts)
    key = [(int(p), organs.index(o), int(i)) for p, o, i in
           zip(ds.lesion_patient.values[live], ds.lesion_organ.values[live],
               ds.lesion_id.values[live])]
    sizes: dict = {}
    for k, cells in zip(key, ds.lesion_cells.values[live]):
        sizes[k] = sizes.get(k, 0.0) + cells
    for (p, o, _), size in sizes.items():
        counts[p, o] += 1
        detectable[p, o] += size >= 1e3
    last = ds.isel(time=-1)
    np.testing.assert_array_equal(last.lesions.values, counts)
    np.testing.assert_array_equal(last.detectable_lesions.values, detectable)
    assert detectable.sum() > 5
