"""docs/validation/calibrate.py: the pieces of a full-model round that do not run cohorts."""
from __future__ import annotations

import re

import numpy as np
import pytest

from tests.helpers import validation_module

calibrate = validation_module("calibrate")


def test_a_rate_that_realised_the_shared_residual_leaves_the_lymph_fraction():
    # both routes wanted x1.2 and the rate moved x1.2: nothing left for the split
    lf = calibrate.split_lymph(0.3, 1.2, np.log(1.2), np.log(1.2), 10.0, 1.0)
    assert lf == pytest.approx(0.3, abs=2e-3)


def test_with_no_blood_weight_the_nodes_get_their_whole_residual():
    lf = calibrate.split_lymph(0.3, 1.0, 0.0, 0.5, 0.0, 1.0)
    assert lf == pytest.approx(0.3 * np.exp(0.5), abs=2e-3)


def test_a_capped_rate_with_blood_sites_under_seeded_lowers_the_lymph_fraction():
    """Lung's case: the rate at its cap (rho 1), the blood-borne sites wanting
    e^1.5 more and the nodes e^0.6: the split gives the blood (eleven sites'
    weight against one) most of what it wants, at the nodes' small expense."""
    lf = calibrate.split_lymph(0.95, 1.0, 1.5, 0.6, 10.0, 1.0)
    assert lf < 0.95
    blood, nodes = np.log((1 - lf) / 0.05), np.log(lf / 0.95)
    assert 1.0 < blood <= 1.5 and nodes < 0
    # the minimum: a small move either way costs more
    cost = lambda f: 10 * (np.log((1 - f) / 0.05) - 1.5) ** 2 + (np.log(f / 0.95) - 0.6) ** 2
    assert cost(lf) <= min(cost(lf - 0.005), cost(lf + 0.005))


def test_the_split_stays_within_its_bounds_and_two_logits_of_where_it_was():
    lo = calibrate.split_lymph(0.5, 1.0, 10.0, -10.0, 1.0, 1.0)
    hi = calibrate.split_lymph(0.9, 1.0, -10.0, 10.0, 1.0, 1.0)
    assert lo == pytest.approx(1 / (1 + np.exp(2)), abs=2e-3)
    assert hi == pytest.approx(0.95, abs=1e-9)


def test_the_rounds_fit_the_vertebral_route_on_the_bone_of_breast_and_prostate():
    """The vertebral share is fitted on the bone of the rows whose organ lies in
    the route's territory; no row keeps a tropism of its own."""
    names, sites = list(calibrate.PRIMARIES), list(calibrate.SITES)
    cells = calibrate.vertebral_cells(names, sites)
    assert sorted((names[i], calibrate.SITES[sites[j]]) for i, j in cells) == \
        [("breast", "bone"), ("prostate", "bone")]
    assert calibrate.tropism_cells(names, sites) == []
    # a fold without breast fits it on prostate alone
    training = [n for n in names if n != "breast"]
    assert [(training[i], calibrate.SITES[sites[j]])
            for i, j in calibrate.vertebral_cells(training, sites)] == [("prostate", "bone")]


@pytest.fixture
def scenario_copies(tmp_path, monkeypatch):
    """A repository root in ``tmp_path`` holding copies of two scenarios with
    the shared block (breast, carcinoma), which calibrate writes instead."""
    import shutil
    (tmp_path / "core" / "scenarios").mkdir(parents=True)
    for name in ("breast", "carcinoma"):
        shutil.copy(calibrate.ROOT / "core" / "scenarios" / f"{name}.toml",
                    tmp_path / "core" / "scenarios" / f"{name}.toml")
    monkeypatch.setattr(calibrate, "ROOT", tmp_path)
    return tmp_path


def test_the_shared_block_writes_the_vertebral_share(scenario_copies):
    """write_defaults rewrites body.vertebral_share in every file holding the
    shared block (and nothing when it is None)."""
    root = scenario_copies
    _, _, soil = calibrate.scenario_values("breast")
    arrest, node = calibrate.scenario_arrest()
    for v, want in ((0.123, "vertebral_share = 0.123\n"), (None, "vertebral_share = 0.123\n")):
        calibrate.write_defaults({o: soil.get(o, 0.1) for o in calibrate.FIT_ORGANS},
                                 arrest["default"], node, vertebral=v)
        for name in ("breast", "carcinoma"):
            assert want in (root / "core" / "scenarios" / f"{name}.toml").read_text()


def test_the_distant_nodes_excess_opens_the_regional_station():
    """A distant-node soil wanted above the cap multiplies the regional
    station's pass-through by the excess, down to the floor; a regional excess
    raises its arrest (to 0.95 at most, never lowering one above it)."""
    cap = calibrate.SOIL_CAP
    assert calibrate.regional_node_arrest(0.99, 1.0, 2 * cap) == pytest.approx(0.98)
    assert calibrate.regional_node_arrest(0.99, 1.0, cap) == 0.99
    assert calibrate.regional_node_arrest(0.9, 1.0, 1e6) == calibrate.REGIONAL_NODE_ARREST_MIN
    assert calibrate.regional_node_arrest(0.5, 1.5 * cap, 1.0) == pytest.approx(0.75)
    assert calibrate.regional_node_arrest(0.8, 2 * cap, 1.0) == 0.95
    assert calibrate.regional_node_arrest(0.998, 2 * cap, 1.0) == 0.998


def test_the_shared_block_writes_a_node_arrest_per_station(scenario_copies, monkeypatch):
    """write_defaults writes one number where both node stations agree and an
    inline table where they differ; scenario_arrest reads either back per
    station, and the scenarios load."""
    import paget
    root = scenario_copies
    _, _, soil = calibrate.scenario_values("breast")
    arrest, _ = calibrate.scenario_arrest()
    soil = {o: soil.get(o, 0.1) for o in calibrate.FIT_ORGANS}
    for node, line in ((0.7, "lymph_node_arrest = 0.7\n"),
                       ({"lymph_nodes": 0.97, "distant_nodes": 0.998},
                        "lymph_node_arrest = { lymph_nodes = 0.97, distant_nodes = 0.998 }\n")):
        calibrate.write_defaults(soil, arrest["default"], node)
        text = (root / "core" / "scenarios" / "carcinoma.toml").read_text()
        assert line in text
        monkeypatch.setattr(calibrate, "shared_config", lambda: paget.Simulation.from_toml(
            root / "core" / "scenarios" / "carcinoma.toml").config, raising=True)
        want = node if isinstance(node, dict) else {"lymph_nodes": node, "distant_nodes": node}
        assert calibrate.scenario_arrest()[1] == want


def test_the_surrogates_fates_are_the_circulation_plugins():
    """The stage-1 surrogate routes by the circulation plugin's own fate matrix,
    on the body with the committed vertebral share."""
    import paget
    body, fm = calibrate.fates(0.3, 0.7)
    share = calibrate.scenario_vertebral()
    assert share > 0
    sim = paget.Simulation({"circulation": {"arrest": 0.3, "lymph_node_arrest": 0.7},
                            "body": {"vertebral_share": share}}, entry_points=False)
    assert body.organs == sim.body.organs
    np.testing.assert_array_equal(fm.blood, sim.fates.blood)
    np.testing.assert_array_equal(fm.lymph, sim.fates.lymph)


def test_the_rate_cap_follows_the_shedding_exponent():
    """The drain m N0^alpha against DRAIN_CAP of the net growth: the cap scales as
    N0^(1 - alpha), so at N0 = 1e6 cells it is 100 times higher at alpha 1/3
    than at 2/3 (it assumed 2/3 before)."""
    at = {a: calibrate.rate_cap("breast", {"intravasation": {"exponent": a}})
          for a in (2.0 / 3.0, 1.0 / 3.0)}
    n0 = 1e6
    assert at[1.0 / 3.0] / at[2.0 / 3.0] == pytest.approx(n0 ** (1.0 / 3.0), rel=1e-12)
    assert calibrate.rate_cap("breast") == pytest.approx(at[2.0 / 3.0], rel=1e-12)


def test_the_rounds_fit_the_local_extension_on_breasts_skin_and_pleura():
    """The extension's term sits on the cells of the structures a primary's
    organ reaches by local extension: breast's skin and pleura, no other row's;
    a fold without breast has none."""
    names, sites = list(calibrate.PRIMARIES), list(calibrate.SITES)
    cells = calibrate.adjacent_cells(names, sites)
    assert sorted((names[i], calibrate.SITES[sites[j]]) for i, j in cells) == \
        [("breast", "pleura"), ("breast", "skin")]
    assert calibrate.adjacent_cells([n for n in names if n != "breast"], sites) == []


def test_the_shared_block_writes_the_extension_on_its_own_line(scenario_copies):
    """write_defaults rewrites transcoelomic.extension where the shared block has
    its line (after the exfoliation), and refuses a block without one rather
    than dropping the fitted value."""
    import paget
    root = scenario_copies
    _, _, soil = calibrate.scenario_values("breast")
    arrest, node = calibrate.scenario_arrest()
    soil = {o: soil.get(o, 0.1) for o in calibrate.FIT_ORGANS}
    ex = f"exfoliation = {calibrate._fmt(calibrate.scenario_exfoliation())}\n"
    paths = [root / "core" / "scenarios" / f"{name}.toml" for name in ("breast", "carcinoma")]
    texts = {path: re.sub(r"\nextension = .*\n", "\n", path.read_text()) for path in paths}
    for path, text in texts.items():        # a block without the line
        assert text.count("[transcoelomic]\n" + ex) == 1
        path.write_text(text)
    with pytest.raises(ValueError, match="no 'extension' line"):
        calibrate.write_defaults(soil, arrest["default"], node, extension={"skin": 0.002})
    for path, text in texts.items():        # and with it
        path.write_text(text.replace("[transcoelomic]\n" + ex,
                                     "[transcoelomic]\n" + ex + "extension = { skin = 0.001 }\n"))
    calibrate.write_defaults(soil, arrest["default"], node,
                             extension={"skin": 0.00234, "pleura": 0.0005})
    for name in ("breast", "carcinoma"):
        path = root / "core" / "scenarios" / f"{name}.toml"
        assert "\nextension = { skin = 0.00234, pleura = 0.0005 }\n" in path.read_text()
        assert paget.Simulation.from_toml(path).config.transcoelomic.extension == \
            {"skin": 0.00234, "pleura": 0.0005}


def test_a_round_moves_each_structures_extension_by_its_own_residual(monkeypatch):
    """One joint round over breast alone, on a mocked cohort that shows breast's
    skin at half its published share and its pleura at twice it: the skin's
    extension rises and the pleura's falls (each structure has its own term),
    a structure without a share (none given) stays without one."""
    import paget
    table = calibrate.read_table()
    start = {"skin": 0.01, "pleura": 0.01}
    cfg = paget.Simulation.from_scenario("breast", {"transcoelomic": {"extension": start}}).config
    monkeypatch.setattr(calibrate, "shared_config", lambda: cfg)
    scale = {"skin": 0.5, "pleura": 2.0}
    monkeypatch.setattr(calibrate, "pool_map", lambda func, jobs, processes=None: [
        {"share": {s: min(0.99, scale.get(s, 1.0) * table["breast"][s] / 100)
                   for s in calibrate.SITES},
         "patients": 200, "dead": 200, "mets_mean": 4.0} for _ in jobs])
    written = {}
    monkeypatch.setattr(calibrate, "write_defaults",
                        lambda *a, **k: written.update(extension=a[7] if len(a) > 7 else k.get(
                            "extension")))
    monkeypatch.setattr(calibrate, "write_scenario", lambda *a, **k: None)
    log = calibrate.full_model_round(200, 1, 0.6, joint=True, rows=["breast"])
    ext = written["extension"]
    assert set(ext) == {"skin", "pleura"}
    assert ext["skin"] > start["skin"] and ext["pleura"] < start["pleura"]
    assert log["extension_log_excess"]["skin"] > 0 > log["extension_log_excess"]["pleura"]
    assert log["extension_after"] == ext


def _dormancy_share(cfg) -> float:
    f, d = cfg.colonization.fate, cfg.colonization.dormancy
    back = f.dormant * d.reactivation / (d.reactivation + d.death)
    return back / (back + f.grow)


def test_the_scenarios_dormancy_carries_the_share_calibrate_holds():
    """The committed shared block: dormancy carries DORMANT_SHARE of the lifetime
    colonization at the default soil, to the 3 digits the files write."""
    import paget
    for name in ("breast", "pancreas"):
        cfg = paget.Simulation.from_scenario(name).config
        assert _dormancy_share(cfg) == pytest.approx(calibrate.DORMANT_SHARE, abs=1e-3)
        assert calibrate.dormancy_share(cfg) == pytest.approx(_dormancy_share(cfg), rel=1e-12)
        assert cfg.colonization.dormancy.reactivation == pytest.approx(
            calibrate.dormancy_reactivation(cfg.colonization.fate.grow,
                                            cfg.colonization.dormancy.death), rel=5e-3)


def test_moving_grow_moves_reactivation_to_hold_the_dormant_share(scenario_copies):
    """write_defaults with a new grow writes the reactivation that keeps dormancy's
    share, leaves the dormant cells' death alone, and keeps the blocks identical."""
    import paget
    root = scenario_copies
    _, _, soil = calibrate.scenario_values("breast")
    arrest, node = calibrate.scenario_arrest()
    soil = {o: soil.get(o, 0.1) for o in calibrate.FIT_ORGANS}
    death = paget.Simulation.from_scenario("breast").config.colonization.dormancy.death
    calibrate.write_defaults(soil, arrest["default"], node, grow=1.23e-6)
    for name in ("breast", "carcinoma"):
        cfg = paget.Simulation.from_toml(root / "core" / "scenarios" / f"{name}.toml").config
        assert cfg.colonization.fate.grow == 1.23e-6
        assert cfg.colonization.dormancy.death == death
        assert _dormancy_share(cfg) == pytest.approx(calibrate.DORMANT_SHARE, abs=1e-3)
    blocks = {re.search(r"# BEGIN SHARED ORGANS.*# END SHARED ORGANS",
                        (root / "core" / "scenarios" / f"{name}.toml").read_text(),
                        re.S).group(0) for name in ("breast", "carcinoma")}
    assert len(blocks) == 1
    with pytest.raises(ValueError, match="too large for dormancy"):
        calibrate.dormancy_reactivation(1e-2, death)


def test_a_round_fits_the_tied_serosal_soils_as_one(monkeypatch):
    """One joint round over the five rows, on a mocked cohort that shows every
    site at its published share but the peritoneum at half of it, from a pleura
    and a peritoneum of unequal soil: both leave the round with one soil (each
    organ of a SOIL_TIES group shares the group's term), above the two's
    geometric mean, where the peritoneum's cells pulled it."""
    import paget
    assert calibrate.SOIL_TIES == {"peritoneum": "pleura"}
    table = calibrate.read_table()
    cfg = paget.Simulation.from_scenario("breast").config
    monkeypatch.setattr(calibrate, "shared_config", lambda: cfg)
    start = {"pleura": 8.0, "peritoneum": 2.0}
    real_values = calibrate.scenario_values

    def values(name):
        rate, lf, soil = real_values(name)
        return rate, lf, {**soil, **start}
    monkeypatch.setattr(calibrate, "scenario_values", values)
    monkeypatch.setattr(calibrate, "pool_map", lambda func, jobs, processes=None: [
        {"share": {s: (0.5 if s == "peritoneum" else 1.0) * max(0.005, table[p][s] / 100)
                   for s in calibrate.SITES},
         "patients": 200, "dead": 200, "mets_mean": 3.0}
        for p, _ in zip(calibrate.PRIMARIES, jobs)])
    written = {}
    monkeypatch.setattr(calibrate, "write_defaults",
                        lambda soil, *a, **k: written.update(soil))
    monkeypatch.setattr(calibrate, "write_scenario", lambda *a, **k: None)
    log = calibrate.full_model_round(200, 1, 0.6, joint=True)
    assert written["pleura"] == written["peritoneum"] > 4.0      # sqrt(8 x 2)
    assert log["soil_log_factor"]["pleura"] == log["soil_log_factor"]["peritoneum"] > 0


def test_the_scenarios_serosal_soils_are_tied():
    """The committed body holds what the rounds fit: one soil for the pleura
    and the peritoneum."""
    import paget
    cfg = paget.Simulation.from_scenario("breast").config
    prob = cfg.extravasation.probability
    eff = cfg.colonization.fate.efficiency
    for organ, group in calibrate.SOIL_TIES.items():
        assert prob[organ] == prob[group] and eff[organ] == eff[group]
