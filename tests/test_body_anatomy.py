"""The default body's organs, flows and fractional drainage; the node stations'
own arrest (paget.body, the circulation plugin's lymph row)."""
from __future__ import annotations

import numpy as np
import pytest

import paget
from paget.body import (DRAINS, ORGANS, VERTEBRAL_TERRITORY, Body, _HUMAN_DRAINS,
                        _HUMAN_FLOW_PERCENT, absorbing_fates, human_adult, mouse,
                        vertebral_drains)

BODY = human_adult()
N = BODY.n_organs
ARREST, DEATH = np.full(N, 0.2), np.full(N, 0.05)

#: sites and primaries of DiSibio & French 2008 the body must hold (paget names)
AUTOPSY_SITES = ("lymph_nodes", "distant_nodes", "liver", "lung", "bone", "adrenal", "brain",
                 "pleura", "peritoneum", "kidney", "spleen", "pancreas", "heart", "skin")
PRIMARIES = ("stomach", "small_intestine", "colon", "rectum", "esophagus", "pancreas", "liver",
             "spleen", "kidney", "bladder", "prostate", "uterus", "cervix", "ovary", "testis",
             "thyroid", "breast", "skin", "lung", "brain", "bone", "adrenal", "heart", "muscle")


def test_default_body_has_every_autopsy_site_and_primary():
    assert len(ORGANS) == 29 and len(set(ORGANS)) == 29
    assert set(AUTOPSY_SITES) | set(PRIMARIES) <= set(ORGANS)
    assert "gut" not in ORGANS
    assert BODY.organs == ORGANS and mouse().organs == ORGANS


def test_flows_sum_to_one_and_keep_the_source_table_ratios():
    np.testing.assert_allclose(BODY.flow.sum(), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(mouse().flow.sum(), 1.0, rtol=0, atol=1e-12)
    # the source table's systemic 100.05 % plus the bronchial 2.5 %, as before
    np.testing.assert_allclose(sum(_HUMAN_FLOW_PERCENT.values()), 102.55, rtol=0, atol=1e-9)
    f = dict(zip(ORGANS, BODY.flow))
    # Williams & Leggett 1989: stomach 1.0, small intestine 10.0, large intestine
    # 2.0 + 2.0 (colon and rectum), thyroid 1.5, testes 0.05 (% of cardiac output)
    np.testing.assert_allclose(f["small_intestine"] / f["stomach"], 10.0, rtol=1e-12)
    np.testing.assert_allclose((f["colon"] + f["rectum"]) / f["stomach"], 4.0, rtol=1e-12)
    np.testing.assert_allclose(f["thyroid"] / f["testis"], 30.0, rtol=1e-12)
    assert all(v > 0 for v in f.values())


def test_drain_fractions_of_the_default_body():
    frac = dict(zip(ORGANS, BODY.drain_fraction))
    portal, caval = DRAINS.index("portal"), DRAINS.index("caval")
    for organ in ("stomach", "small_intestine", "colon", "spleen", "pancreas"):
        assert frac[organ][portal] == 1.0, organ
    for organ in ("rectum", "esophagus"):   # upper third / lower third portal
        np.testing.assert_allclose(frac[organ][[portal, caval]], [1 / 3, 2 / 3], rtol=1e-15)
    np.testing.assert_allclose(BODY.drain_fraction.sum(axis=1), 1.0, rtol=0, atol=1e-15)


def test_a_portal_organ_sends_more_to_the_liver_than_a_caval_one():
    F = absorbing_fates(BODY, ARREST, DEATH)
    liver, lung = BODY.index["liver"], BODY.index["lung"]
    stomach, kidney, rectum = (BODY.index[o] for o in ("stomach", "kidney", "rectum"))
    assert F[stomach, liver] > F[rectum, liver] > F[kidney, liver]
    assert F[stomach, lung] < F[rectum, lung] < F[kidney, lung]


def test_a_fractional_drain_is_exactly_the_mixture_of_the_pure_rows():
    """The rectum's venous blood goes 1/3 to the liver bed, 2/3 to the lung bed:
    its row is 1/3 of a purely portal organ's row (the stomach's) plus 2/3 of a
    purely caval one's (the kidney's), whatever the per-bed probabilities."""
    rng = np.random.default_rng(7)
    arrest, death = rng.uniform(0.1, 0.5, N), rng.uniform(0.01, 0.1, N)
    F = absorbing_fates(BODY, arrest, death)
    i = BODY.index
    np.testing.assert_allclose(F[i["rectum"]], F[i["stomach"]] / 3 + 2 * F[i["kidney"]] / 3,
                               rtol=0, atol=1e-14)
    # pleura: half with the lung (pulmonary veins), half caval
    np.testing.assert_allclose(F[i["pleura"]], F[i["lung"]] / 2 + F[i["kidney"]] / 2,
                               rtol=0, atol=1e-14)


def _small_body(drain_of_b):
    return Body("three", ("lung", "liver", "b"), np.array([0.2, 0.3, 0.5]),
                ("pulmonary", "caval", drain_of_b), lymph_node="b")


def test_body_accepts_a_plain_drain_or_a_fraction_map():
    pure = _small_body("portal")
    assert pure.drains[2] == "portal"
    np.testing.assert_array_equal(pure.drain_fraction[2], [0.0, 1.0, 0.0, 0.0])
    mixed = _small_body({"portal": 0.25, "caval": 0.75})
    np.testing.assert_array_equal(mixed.drain_fraction[2], [0.75, 0.25, 0.0, 0.0])
    a, d = np.full(3, 0.3), np.full(3, 0.1)
    Fp = absorbing_fates(_small_body("portal"), a, d)
    Fc = absorbing_fates(_small_body("caval"), a, d)
    Fm = absorbing_fates(mixed, a, d)
    # b's row: a quarter of the cells start in the liver bed, the rest in the lung bed
    start = absorbing_fates(mixed, a, d, entry=np.array([[0, 1.0, 0, 0], [1.0, 0, 0, 0]]))
    np.testing.assert_allclose(Fm[2], 0.25 * start[0] + 0.75 * start[1], rtol=0, atol=1e-14)
    assert Fp[2, 1] > Fm[2, 1] > Fc[2, 1]


@pytest.mark.parametrize("drain, words", [
    ({"portal": 0.5, "caval": 0.4}, "sum to 0.9, expected 1"),
    ({"renal": 1.0}, "drain 'renal' is not one of caval, portal, pulmonary, vertebral"),
    ("venous", "drain 'venous' is not one of caval, portal, pulmonary, vertebral"),
    ({"portal": 1.5, "caval": -0.5}, "must be in [0, 1]"),
])
def test_bad_drains_are_refused_naming_the_organ(drain, words):
    with pytest.raises(ValueError) as info:
        _small_body(drain)
    assert "organ 'b'" in str(info.value) and words in str(info.value)


# ------------------------------------------------------------------ the vertebral route

def test_the_vertebral_route_is_closed_by_default():
    assert vertebral_drains(0.0) == tuple(_HUMAN_DRAINS[o] for o in ORGANS)
    assert not BODY.drain_fraction[:, DRAINS.index("vertebral")].any()
    assert paget.Simulation({}, entry_points=False).body.drain_fraction[
        :, DRAINS.index("vertebral")].sum() == 0.0


def test_the_vertebral_share_moves_the_territory_caval_blood_only():
    v = 0.6
    body = human_adult(vertebral_share=v)
    frac = dict(zip(ORGANS, body.drain_fraction))
    caval, portal, vert = (DRAINS.index(k) for k in ("caval", "portal", "vertebral"))
    for organ in ("prostate", "bladder", "uterus", "cervix"):
        np.testing.assert_allclose(frac[organ][[caval, vert]], [1 - v, v], rtol=1e-15)
    # the breast: a third of its veins (the intercostal ones) join the plexus
    np.testing.assert_allclose(frac["breast"][[caval, vert]], [1 - v / 3, v / 3], rtol=1e-15)
    # the rectum: its portal third unchanged, its caval two thirds split
    np.testing.assert_allclose(frac["rectum"][[portal, caval, vert]],
                               [1 / 3, 2 / 3 * (1 - v), 2 / 3 * v], rtol=1e-15)
    for organ in set(ORGANS) - set(VERTEBRAL_TERRITORY):
        assert frac[organ][vert] == 0.0, organ
        np.testing.assert_array_equal(frac[organ], BODY.drain_fraction[ORGANS.index(organ)])


def test_a_vertebral_share_is_the_mixture_of_the_bone_bed_and_the_caval_return():
    """Of the prostate's venous blood a share v starts in the bone bed (the
    vertebral marrow), whose survivors leave with bone's caval blood; the rest
    starts in the lung bed: its row is exactly that mixture."""
    rng = np.random.default_rng(11)
    arrest, death = rng.uniform(0.1, 0.5, N), rng.uniform(0.01, 0.1, N)
    v = 0.35
    body = human_adult(vertebral_share=v)
    F = absorbing_fates(body, arrest, death)
    start = np.zeros((2, N + 1))
    start[0, body.index["bone"]] = start[1, body.index["lung"]] = 1.0
    bone_first, lung_first = absorbing_fates(body, arrest, death, entry=start)
    np.testing.assert_allclose(F[body.index["prostate"]], v * bone_first + (1 - v) * lung_first,
                               rtol=0, atol=1e-14)
    # and the bone bed keeps (1 - death) x arrest of the cells entering it, at least
    bone = body.index["bone"]
    assert bone_first[bone] >= (1 - death[bone]) * arrest[bone]
    # more of the prostate's cells arrest in bone than with the route closed
    closed = absorbing_fates(BODY, arrest, death)
    assert F[body.index["prostate"], bone] > 2 * closed[BODY.index["prostate"], bone]


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_a_vertebral_share_outside_0_1_is_refused(share):
    with pytest.raises(ValueError, match="vertebral_share must be in"):
        vertebral_drains(share)
    with pytest.raises(paget.ConfigError) as info:
        paget.Simulation({"body": {"vertebral_share": share}}, entry_points=False)
    assert "body.vertebral_share" in str(info.value) and "\n" not in str(info.value)


def test_vertebral_drainage_needs_a_bone():
    with pytest.raises(ValueError, match="vertebral drainage needs a bone"):
        _small_body({"vertebral": 0.5, "caval": 0.5})


def test_the_vertebral_share_reaches_the_run_body():
    sim = paget.Simulation({"body": {"vertebral_share": 0.4}}, entry_points=False)
    np.testing.assert_array_equal(sim.body.drain_fraction,
                                  human_adult(vertebral_share=0.4).drain_fraction)


# ------------------------------------------------------------------ the removed gut

GUT_HINT = ("'gut' is no longer one organ: it was split into stomach, small_intestine, "
            "colon and rectum; name those")


@pytest.mark.parametrize("cfg", [
    {"primary": {"organ": "gut"}},
    {"extravasation": {"probability": {"gut": 0.5}}},
    {"circulation": {"arrest": {"default": 0.2, "gut": 0.3}}},
], ids=["primary", "soil", "arrest"])
def test_a_config_naming_gut_gets_one_line_naming_the_new_organs(cfg):
    with pytest.raises(paget.ConfigError) as info:
        paget.Simulation(cfg, entry_points=False)
    msg = str(info.value)
    assert GUT_HINT in msg and "\n" not in msg


# ------------------------------------------------------------------ node stations

def test_each_node_station_has_its_own_arrest():
    """Lymph: regional nodes (arrest a), distant nodes (arrest b), then the
    thoracic duct into the venous return, whose fates are a caval organ's blood
    row; 5 % of the cells die in each node bed (death_per_pass)."""
    a, b = 0.7, 0.2
    fates = paget.Simulation({"circulation": {"lymph_node_arrest": {
        "lymph_nodes": a, "distant_nodes": b}}}, entry_points=False).fates
    ln, dn = BODY.index["lymph_nodes"], BODY.index["distant_nodes"]
    s = 1.0 - 0.05
    venous = fates.blood[BODY.index["kidney"]]          # caval: the lung bed first
    expected = s * (1 - a) * s * (1 - b) * venous
    expected[ln] += s * a
    expected[dn] += s * (1 - a) * s * b
    expected[-1] += 0.05 + s * (1 - a) * 0.05
    np.testing.assert_allclose(fates.lymph, expected, rtol=1e-12, atol=1e-15)
    # swapping the stations' arrests moves cells between them
    swapped = paget.Simulation({"circulation": {"lymph_node_arrest": {
        "lymph_nodes": b, "distant_nodes": a}}}, entry_points=False).fates
    assert swapped.lymph[ln] < fates.lymph[ln] and swapped.lymph[dn] > fates.lymph[dn]


def test_one_arrest_for_both_stations_is_the_map_of_equal_values():
    one = paget.Simulation({"circulation": {"lymph_node_arrest": 0.37}},
                           entry_points=False).fates
    both = paget.Simulation({"circulation": {"lymph_node_arrest": {
        "lymph_nodes": 0.37, "distant_nodes": 0.37}}}, entry_points=False).fates
    np.testing.assert_array_equal(one.lymph, both.lymph)


def test_a_station_map_must_name_both_stations():
    with pytest.raises(paget.ConfigError) as info:
        paget.Simulation({"circulation": {"lymph_node_arrest": {"lymph_nodes": 0.4}}},
                         entry_points=False)
    msg = str(info.value)
    assert "circulation.lymph_node_arrest" in msg and "missing distant_nodes" in msg
    assert "\n" not in msg
