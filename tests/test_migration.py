"""The seeding log and migration histories (issue 25): classes, conservation, restarts."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import paget
from paget import migration
from paget.checkpoint import Checkpoints
from paget.config import deep_merge

from .conftest import busy
from .helpers import assert_same_result

P, LUNG, LIVER, BONE = "breast", "lung", "liver", "bone"

#: hand-built histories, (source site, target site, clone) per migration, one per class
CASES = {
    # every metastasis from the primary, one clone per pair of sites
    "mPS": [(P, LUNG, 1), (P, LIVER, 1), (P, LUNG, 1)],
    "pPS": [(P, LUNG, 1), (P, LUNG, 2), (P, LIVER, 1)],
    # a metastasis seeds another: each site from one site only
    "mS": [(P, LUNG, 1), (LUNG, LIVER, 1)],
    "pS": [(P, LUNG, 1), (LUNG, LIVER, 1), (LUNG, LIVER, 2)],
    # the liver is seeded from the breast and the lung
    "mM": [(P, LUNG, 1), (P, LIVER, 1), (LUNG, LIVER, 3)],
    "pM": [(P, LUNG, 1), (P, LIVER, 1), (P, LIVER, 2), (LUNG, LIVER, 3)],
    # the lung seeds the primary's organ back
    "mR": [(P, LUNG, 1), (LUNG, P, 4), (P, BONE, 1)],
    "pR": [(P, LUNG, 1), (P, LUNG, 2), (LUNG, LIVER, 1), (LIVER, LUNG, 5)],
}


@pytest.mark.parametrize("expected", sorted(CASES))
def test_each_machina_class_from_hand_built_migrations(expected):
    assert migration.classify(CASES[expected], primary=P) == expected


def test_no_metastasis_and_seeding_within_one_organ_is_none():
    assert migration.classify([], primary=P) == "none"
    assert migration.classify([(P, P, 1), (LUNG, LUNG, 2)], primary=P) == "none"


def _hand_dataset(edges, lesions):
    """A dataset with the seeding log ``edges`` (source lesion, source organ, clone,
    target lesion, target organ) and the final lesions (id, organ, cells) of patient 0."""
    organs = sorted({e[1] for e in edges} | {e[4] for e in edges} | {x[1] for x in lesions})
    n = len(edges)
    col = lambda i, dt: np.array([e[i] for e in edges], dt)  # noqa: E731
    ds = xr.Dataset({
        "seeding_patient": ("seeding_edge", np.zeros(n, np.int64)),
        "seeding_time": ("seeding_edge", np.arange(n, dtype=float)),
        "seeding_kind": ("seeding_edge", np.zeros(n, np.int8)),
        "seeding_source_lesion": ("seeding_edge", col(0, np.uint64)),
        "seeding_source_organ": ("seeding_edge", col(1, str)),
        "seeding_source_clone": ("seeding_edge", col(2, np.uint64)),
        "seeding_target_lesion": ("seeding_edge", col(3, np.uint64)),
        "seeding_target_organ": ("seeding_edge", col(4, str)),
        "seeding_cells": ("seeding_edge", np.ones(n, np.int64)),
        "lesion_patient": ("lesion", np.zeros(len(lesions), np.int64)),
        "lesion_id": ("lesion", np.array([x[0] for x in lesions], np.uint64)),
        "lesion_organ": ("lesion", np.array([x[1] for x in lesions], str)),
        "lesion_cells": ("lesion", np.array([x[2] for x in lesions], float)),
        "lesion_dormant": ("lesion", np.zeros(len(lesions), bool)),
    }, coords={"patient": [0], "organ": organs})
    return ds


def test_the_graph_keeps_the_history_of_present_lesions_only():
    """The liver lesion 4 was seeded by lung lesion 2, which died: the edge into 2
    stays (an ancestor); lesion 3 died and left nothing: its edge goes."""
    edges = [(1, P, 1, 2, LUNG), (1, P, 1, 3, BONE), (2, LUNG, 1, 4, LIVER)]
    ds = _hand_dataset(edges, [(1, P, 1e9), (4, LIVER, 100.0)])
    graph = migration.seeding_graph(ds, 0)
    assert sorted(graph["target_lesion"]) == [2, 4]
    assert migration.migration_pattern(ds, 0) == "mS"
    # below a detection size of 1000 cells the liver lesion is not there: no metastasis
    assert migration.migration_pattern(ds, 0, min_cells=1000) == "none"
    assert len(migration.seeding_graph(ds, 0, history=False)) == 3
    mg = migration.migration_graph(graph)
    assert list(zip(mg.source_organ, mg.target_organ, mg.clones)) == [(P, LUNG, 1),
                                                                       (LUNG, LIVER, 1)]


def test_site_clonality_counts_the_distinct_clones_seeding_each_organ():
    edges = [(1, P, 1, 2, LUNG), (1, P, 7, 3, LUNG), (1, P, 7, 5, LUNG), (1, P, 1, 4, LIVER)]
    ds = _hand_dataset(edges, [(1, P, 1e9), (2, LUNG, 5), (3, LUNG, 5), (5, LUNG, 5),
                               (4, LIVER, 5)])
    clones = migration.site_clones(migration.seeding_graph(ds, 0))
    assert clones.to_dict() == {LIVER: 1, LUNG: 2}
    assert migration.migration_pattern(ds, 0) == "pPS"


@pytest.fixture(scope="module")
def busy_run():
    cfg = busy(cohort={"patients": 3, "years": 0.3})
    return cfg, paget.Simulation(cfg, entry_points=False).run()


def test_founding_cells_in_the_log_equal_the_counters(busy_run):
    """Conservation: every colony founded and every reactivated cell is one edge."""
    _, ds = busy_run
    kind = ds.seeding_kind.values
    assert (kind == 0).any() and (kind == 1).any(), "the test needs both kinds"
    for p in ds.patient.values:
        mine = ds.seeding_patient.values == p
        for k, counter in ((0, "colonies_founded"), (1, "dtc_reactivated")):
            logged = int(ds.seeding_cells.values[mine & (kind == k)].sum())
            assert logged == int(ds[counter].sel(patient=p).sum()), (p, counter)


def test_the_log_is_sorted_and_agrees_with_the_lesion_table(busy_run):
    _, ds = busy_run
    key = pd.DataFrame({"p": ds.seeding_patient.values, "t": ds.seeding_time.values,
                        "u": ds.seeding_target_lesion.values})
    assert key.equals(key.sort_values(["p", "t", "u"]).reset_index(drop=True))
    assert key["u"].is_unique
    # a target still in the lesion table was born when the log says, in the organ it says
    lt = pd.DataFrame({"u": ds.lesion_uid.values, "t": ds.lesion_birth_time.values,
                       "organ": ds.lesion_organ.values, "clone": ds.lesion_clone.values})
    both = key.assign(organ=ds.seeding_target_organ.values,
                      clone=ds.seeding_source_clone.values).merge(lt, on="u")
    assert len(both) > 0
    assert (both.t_x == both.t_y).all() and (both.organ_x == both.organ_y).all()
    assert (both.clone_x == both.clone_y).all()
    for name in ("seeding_time", "seeding_cells", "seeding_kind", "seeding_target_organ"):
        assert ds[name].attrs["long_name"]
    assert ds.seeding_time.attrs["units"] == "days"
    assert set(ds.migration_pattern.values) <= set(migration.PATTERNS)


def test_the_log_survives_a_checkpoint_and_restart(tmp_path):
    cfg = busy(cohort={"patients": 2, "years": 0.2})
    d = tmp_path / "ck"
    ds = paget.Simulation(cfg, entry_points=False).run(checkpoint=Checkpoints(d, every=30,
                                                                               keep=9))
    assert ds.sizes["seeding_edge"] > 0
    step = d / "step-000000060"
    sim = paget.Simulation.from_checkpoint(step, entry_points=False)
    assert_same_result(sim.run(resume=step), ds)


def test_the_log_can_be_switched_off(busy_run):
    cfg, ds = busy_run
    off = paget.Simulation(deep_merge(cfg, {"output": {"seeding_graph": False}}),
                           entry_points=False).run()
    assert off.sizes["seeding_edge"] == 0 and "migration_pattern" not in off
    kept = [v for v in ds.data_vars if not v.startswith("seeding_")
            and v not in ("migration_pattern", "site_seeding_clones")]
    for v in kept:
        np.testing.assert_array_equal(off[v].values, ds[v].values, err_msg=v)


def test_a_run_without_founding_events_has_no_pattern(busy_run):
    """No edge in the log (a short run): every pattern "none", no clone, the
    variables as a busy run's (dtype, dims, attributes)."""
    _, busy = busy_run
    ds = paget.Simulation.from_scenario("default", {"cohort": {"patients": 3, "years": 0.05},
                                                    "seed": 1}).run()
    assert ds.sizes["seeding_edge"] == 0
    assert ds.migration_pattern.values.tolist() == ["none"] * 3
    assert not ds.site_seeding_clones.values.any()
    for v in ("migration_pattern", "site_seeding_clones"):
        assert ds[v].dtype == busy[v].dtype and ds[v].dims == busy[v].dims, v
        assert ds[v].attrs == busy[v].attrs, v


def test_pattern_shares_add_up():
    shares = migration.pattern_shares(["mPS", "mPS", "pR", "none"])
    assert shares["mPS"] == 0.5 and shares["pR"] == 0.25 and sum(shares.values()) == 1.0


def test_the_migration_figures(busy_run, tmp_path):
    from paget import plot_migration as pm
    _, ds = busy_run
    pairs = {int(p): len(migration.migration_graph(migration.seeding_graph(ds, int(p))))
             for p in ds.patient.values}
    assert pairs[pm.graph_patient(ds)] == max(pairs.values())
    for draw, name in zip((pm.plot_migration_graph, pm.plot_migration_patterns),
                          pm.MIGRATION_FIGURES):
        path = draw(ds, tmp_path / name)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a result without a seeding log (an older file): a figure saying so
    old = ds.drop_vars([v for v in ds.variables if v.startswith("seeding_")
                        or v in ("migration_pattern", "site_seeding_clones")])
    assert pm.plot_migration_graph(old, tmp_path / "old.png").stat().st_size > 0
