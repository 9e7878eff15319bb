"""Issue 6: built-in cancer scenarios, patient heterogeneity, the mouse body and
the experimental-metastasis assay.  Tiny cohorts; the calibration itself runs
in docs/validation/, not here."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

import paget
from paget.body import human_adult, injection_entry, mouse
from paget.cli import main
from paget.errors import ConfigError
from paget.simulation import list_scenarios, scenario_sources

CANCERS = ["breast", "colorectal", "lung", "prostate", "pancreas", "melanoma", "carcinoma"]


def test_every_cancer_scenario_is_built_in_with_sources():
    names = list_scenarios()
    for name in CANCERS + ["assay_luzzi"]:
        assert name in names and names[name]
        assert scenario_sources(name), name


def test_paget_scenarios_lists_descriptions_and_sources(capsys):
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    for name in CANCERS:
        assert name in out
    assert out.count("sources:") >= len(CANCERS)


@pytest.mark.parametrize("name", CANCERS)
def test_scenario_runs_two_patients_one_year(name):
    ds = paget.Simulation.from_scenario(name, {"cohort": {"patients": 2, "years": 1}}).run()
    assert ds.sizes["patient"] == 2
    # the drawn patient parameters are in the dataset: constants, one value per
    # patient; immune_competence (state another plugin may change) over time,
    # drawn from time 0 on
    for var in ("growth_multiplier", "shedding_multiplier", "age_at_onset"):
        assert ds[var].dims == ("patient",), var
        assert np.all(np.isfinite(ds[var]) & (ds[var] > 0)), var
    competence = ds.immune_competence
    assert competence.dims == ("patient", "time")
    first = competence.values[:, :1]
    assert np.all(competence.values == first) and not np.all(first == 1.0)


#: A citation: author and year ("Norton 1988", "Luzzi et al. 1998", "DiSibio &
#: French 2008", "Chambers, Groom & MacDonald 2002"), an ASSUMPTION, a value
#: [DERIVED] from cited ones, or a default "cited there" (where it is defined).
CITATION = re.compile(
    r"\b[A-Z][\w'-]+(?: et al\.?|(?:,? [A-Z][\w'-]+)*,? (?:&|and) [A-Z][\w'-]+)?"
    r",? \(?(?:1[89]|20)\d\d\b"
    r"|\bASSUMPTION|\bassumption|\[DERIVED\]|\b[Dd]erived from\b|\bcited there\b")
#: Run settings, not biological numbers: they need no source.
RUN_SETTINGS = {"seed", "cohort.patients", "cohort.years", "cohort.dt", "output.interval"}
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d[\d_]*(?:\.\d*)?(?:[eE][-+]?\d+)?|inf|nan)(?![\w.])")
_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=(.*)$")
_HEADER = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+\s*(#.*)?$")


def _code_and_comment(value: str) -> tuple[str, str]:
    """A TOML value line split at its first ``#`` outside a string; strings blanked."""
    code, quote = [], None
    for i, ch in enumerate(value):
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
            code.append('""')
        elif ch == "#":
            return "".join(code), value[i + 1:]
        else:
            code.append(ch)
    return "".join(code), ""


def uncited_numbers(text: str) -> list[str]:
    """The lines of a scenario file setting a number without a citation.

    A key line with a number is cited by its own trailing comment; else by the
    comment block directly above it (contiguous comment lines) if it is the
    first key below that block; a key that follows other keys with no blank or
    comment line between (a group: the files' ``age_mean``/``age_sd``) is
    covered by the group's comment only if that comment names the key, and so
    is a key under a table header whose comment block is above the header
    (``# [DERIVED] die, dormant and grow ...`` over ``[colonization.fate]``).
    So a number inserted anywhere but directly under a citing comment is
    reported."""
    problems, pending, group, header_comment, table = [], [], None, None, ""
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped:
            pending, group, header_comment = [], None, None
            continue
        if stripped.startswith("#"):
            pending.append(stripped)
            group, header_comment = None, None
            continue
        if (m := _HEADER.match(line)) and "=" not in stripped.split("#")[0]:
            table, header_comment, pending, group = m.group(1), " ".join(pending), [], None
            continue
        m = _KEY.match(line)
        assert m, f"line {n}: {line!r} is neither a comment, a table header nor a key"
        key, (code, trailing) = m.group(1), _code_and_comment(m.group(2))
        first = group is None and not header_comment
        if group is None:
            group = " ".join(pending) if pending else (header_comment or "")
        pending, header_comment = [], None
        full = f"{table}.{key}" if table else key
        if full in RUN_SETTINGS or not _NUMBER.search(code) or CITATION.search(trailing):
            continue
        named = re.search(rf"(?<![\w.]){re.escape(key)}(?![\w])", group)
        if CITATION.search(group) and (first or named):
            continue
        problems.append(f"line {n}: {stripped!r} ({full}) has no citation")
    return problems


def _scenario_text(name: str) -> str:
    from importlib import resources
    return (resources.files("paget.scenarios") / f"{name}.toml").read_text()


def test_citation_pattern():
    for cited in ("Norton 1988", "Luzzi et al. 1998", "DiSibio & French 2008 (Arch Pathol)",
                  "Chambers, Groom & MacDonald 2002", "Coumans et al. 2013, BMC Cancer",
                  "ASSUMPTION: x", "r = 0.0866 / T [DERIVED]", "defaults, cited there"):
        assert CITATION.search(cited), cited
    for bare in ("fit:rate", "mice", "13 days (13 / 365.25)", "see the block's head",
                 "calibrate.py --joint", "record every day", "1e6 cells in 2008"):
        assert not CITATION.search(bare), bare


def test_scenario_numbers_cite_a_source():
    """Every number in a scenario file cites its source (see uncited_numbers)."""
    for name in CANCERS + ["assay_luzzi", "default"]:
        assert uncited_numbers(_scenario_text(name)) == [], name


@pytest.mark.parametrize("name", CANCERS + ["assay_luzzi"])
def test_the_citation_check_reports_an_uncited_number_anywhere(name):
    """An uncited number inserted after any line (but a comment line, whose block
    would be its citation) of a copy of the file is reported, in each table,
    inside and after groups of keys, after a blank line, at the end."""
    lines = _scenario_text(name).splitlines()
    positions = [i for i, ln in enumerate(lines, 1) if not ln.strip().startswith("#")]
    assert len(positions) > 20
    for i in positions:
        for probe in ("uncited_probe = 0.123", "uncited_probe = [1, 2]  # fit:probe",
                      "uncited_probe = { liver = 2e-3 }"):
            copy = "\n".join(lines[:i] + [probe] + lines[i:])
            found = uncited_numbers(copy)
            assert [p for p in found if "uncited_probe" in p] and len(found) == 1, \
                (name, i, probe, found)


# ------------------------------------------------------------ heterogeneity

def _draws(patients, seed=11, **het):
    from paget.plugins.heterogeneity import draw
    from paget.state import Patients
    sim = paget.Simulation({"seed": seed, "heterogeneity": {
        "growth_sigma": 0.5, "shedding_sigma": 1.0, "immune_sigma": 0.3, "age_sd": 12.0, **het}})
    idx = np.asarray(patients, dtype=np.int64)
    return draw(seed, Patients(index=idx, alive=np.ones(idx.size, bool),
                               burden=np.zeros(idx.size)), sim.config)


def test_draws_depend_on_seed_and_patient_only():
    full = _draws(np.arange(1000))
    subset = np.array([999, 3, 500, 7])
    part = _draws(subset)
    for k in full:
        np.testing.assert_array_equal(part[k], full[k][subset])
    other = _draws(np.arange(1000), seed=12)
    assert not np.allclose(other["growth_multiplier"], full["growth_multiplier"])


def test_draw_moments_match_the_distributions():
    n = 4000
    d = _draws(np.arange(n))
    for name, sigma in (("growth_multiplier", 0.5), ("shedding_multiplier", 1.0),
                        ("immune_competence", 0.3)):
        z = np.log(d[name])
        # mean of n normals: sd sigma/sqrt(n); sample variance: sd sigma^2 sqrt(2/(n-1))
        assert abs(z.mean()) < 4 * sigma / np.sqrt(n), name
        assert abs(z.var(ddof=1) - sigma**2) < 4 * sigma**2 * np.sqrt(2 / (n - 1)), name
    age = d["age_at_onset"]
    assert age.min() >= 18 and age.max() <= 100
    # truncation at +-3.5 sd barely moves the mean
    assert abs(age.mean() - 60.0) < 4 * 12.0 / np.sqrt(n)


def test_homogeneous_by_default():
    ds = paget.Simulation({"cohort": {"patients": 3, "years": 0.1}}).run()
    np.testing.assert_array_equal(ds.growth_multiplier.values, 1.0)


def test_growth_multiplier_scales_growth():
    """Deterministic exponential growth: a patient's growth multiplier m makes
    the net rate m r."""
    cfg = {"cohort": {"patients": 6, "years": 0.5}, "seed": 5,
           "colonization": {"growth": {"law": "exponential", "rate": 0.01, "mode": "deterministic",
                                       "death": 0.0}},
           "intravasation": {"rate": 0.0}, "heterogeneity": {"growth_sigma": 0.5},
           "plugins": {"disable": ["immune", "angiogenesis"]}}
    ds = paget.Simulation(cfg).run()
    m = ds.growth_multiplier.values
    cells = ds.tumor_cells.sel(organ="breast")
    t = float(ds.time[-1])
    growth = np.log(cells.isel(time=-1).values / cells.isel(time=0).values) / t
    np.testing.assert_allclose(growth, 0.01 * m, rtol=1e-6)


# ------------------------------------------------------------ anatomy

def _first_organs(organ):
    sim = paget.Simulation.from_scenario("carcinoma", {"primary": {"organ": organ}})
    fm = sim.fates
    row = fm.blood[sim.body.organ_index(organ), :-1]
    return {o: row[sim.body.organ_index(o)] for o in ("liver", "lung")}


def test_generic_carcinoma_routing_colon_towards_liver_breast_towards_lung():
    """Routing's signature (derived from DiSibio & French 2008): a
    portal-drained primary's CTCs arrest relatively more in the liver, a caval
    one's in the lung.  At the
    shared arrest of ~0.2 per bed the lung, which every circuit passes, still
    takes more arrests than the liver even from the colon; only the ratio and the
    differences between the primaries carry the anatomy."""
    colon, breast = _first_organs("colon"), _first_organs("breast")
    assert colon["liver"] > breast["liver"]
    assert breast["lung"] > colon["lung"]
    assert colon["liver"] / colon["lung"] > 2 * breast["liver"] / breast["lung"]


def test_lymph_reaches_regional_then_distant_nodes():
    sim = paget.Simulation({})
    lymph = sim.fates.lymph
    regional = lymph[sim.body.organ_index("lymph_nodes")]
    distant = lymph[sim.body.organ_index("distant_nodes")]
    assert regional > distant > 0
    a = sim.config.circulation.lymph_node_arrest
    np.testing.assert_allclose(distant, regional * (1 - a) * (1 - 0.05), rtol=1e-3)


def test_mouse_body_is_valid_and_selectable():
    body = mouse()
    assert body.organs == human_adult().organs
    np.testing.assert_allclose(body.flow.sum(), 1.0)
    assert body.blood_volume_ml < 5 < human_adult().blood_volume_ml
    assert paget.Simulation({"body": {"model": "mouse"}}).body.name == "mouse"
    with pytest.raises(ConfigError, match="body.model"):
        paget.Simulation({"body": {"model": "rat"}})
    with pytest.raises(ConfigError, match="primary.injection"):
        paget.Simulation({"primary": {"injection": "jugular"}})


@pytest.mark.parametrize("vessel,kind", [("portal", "portal"), ("tail_vein", "caval"),
                                         ("left_ventricle", "pulmonary")])
def test_injection_entry(vessel, kind):
    body = mouse()
    assert body.drains[injection_entry(body, vessel)] == kind


# ------------------------------------------------------------ the assay

N_CELLS, MICE = 10_000, 4


@pytest.fixture(scope="module")
def assay():
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs" / "validation"))
    import assay as luzzi
    return luzzi.run(MICE, N_CELLS, seed=7)


def test_assay_conserves_injected_cells(assay):
    r, ds = assay
    n = MICE * N_CELLS
    assert r["injected"] == n
    # the injection is the time-0 record's flux (colonies shed later on)
    first = float(ds.ctc_arrested.isel(time=0).sum() + ds.ctc_died.isel(time=0).sum())
    assert first == n
    ext = float(ds.dtc_extravasated.sum())
    fates = float(ds.dtc_died.sum() + ds.dtc_dormant.sum() + ds.colonies_founded.sum())
    assert fates == ext


def _binomial_ok(k, n, p):
    """k successes of n trials within 4 binomial sd of n p."""
    return abs(k - n * p) <= 4 * np.sqrt(n * p * (1 - p))


def test_assay_reproduces_luzzi_fractions(assay):
    r, _ = assay
    c, n = r["counts"], MICE * N_CELLS
    assert _binomial_ok(c["extravasated_day3"], n, 0.80)
    assert _binomial_ok(c["micro_day3"], c["extravasated_day3"], 1 / 40)
    # dormant at day 13: each injected cell is dormant then with probability 0.36
    assert _binomial_ok(c["dormant_day13"], n, 0.36)
    # macrometastases: 1 in 100 micrometastases (few events: Poisson-like bound)
    assert _binomial_ok(c["macro"], c["founded"], 1 / 100)
    # the attrition falls mainly after extravasation
    lost_before = 1 - r["extravasated_day3"]
    lost_after = r["extravasated_day3"] - r["dormant_day13"] - r["macro_per_injected"]
    assert lost_after > lost_before


# ------------------------------------------------------------ shared organs

def test_shared_organ_block_is_identical_and_plausible():
    """The calibrated body (docs/validation/calibrate.py) is one body: the block
    between BEGIN and END SHARED ORGANS is the same in every cancer scenario,
    every extravasation probability is in (0, 1] (a soil above 1 is the organ's
    colonization efficiency), and the arrest per bed stays near
    the ~0.2 derived from DiSibio & French 2008 (the old surrogate fit drifted
    to 0.869)."""
    from importlib import resources
    blocks = set()
    for name in CANCERS:
        text = (resources.files("paget.scenarios") / f"{name}.toml").read_text()
        start, end = text.index("# BEGIN SHARED ORGANS"), text.index("# END SHARED ORGANS")
        blocks.add(text[start:end])
    assert len(blocks) == 1
    for name in CANCERS:
        cfg = paget.Simulation.from_scenario(name).config
        soil = dict(cfg.extravasation.probability)
        assert all(0.0 < v <= 1.0 for v in soil.values()), soil
        assert soil["liver"] == 0.8          # read: Luzzi et al. 1998
        arrest = cfg.circulation.arrest
        arrest = dict(arrest) if isinstance(arrest, dict) else {"default": arrest}
        # the per-bed arrest near ~0.2; organs with their own arrest (bone and
        # adrenal: marrow and adrenal sinusoids) are probabilities
        assert 0.1 <= arrest["default"] <= 0.4
        assert all(0.0 < v <= 1.0 for v in arrest.values()), arrest
        fate = cfg.colonization.fate
        assert abs(fate.die + fate.dormant + fate.grow - 1.0) < 1e-9
        # the soil above 1 is the colonization efficiency: within the fitted cap
        # (calibrate.SOIL_CAP, 20), and only where extravasation is already certain
        eff = dict(fate.efficiency)
        assert eff.get("default", 1.0) == 1.0
        assert all(1.0 < v <= 20.0 and soil[o] == 1.0 for o, v in eff.items() if o != "default")
        # the transcoelomic route's share is fitted, a fraction of the shed cells
        assert 0.0 < cfg.transcoelomic.exfoliation <= 0.5


@pytest.mark.parametrize("name, doubling_days", [("lung", 166.0), ("pancreas", 144.0)])
def test_lung_and_pancreas_primaries_grow_exponentially_their_metastases_by_the_shared_law(
        name, doubling_days):
    """Lung and pancreas primaries are exponential at their SEER-fitted doubling
    time (Szczurek et al.; rounded to 3 figures), and their metastases keep the
    shared Gompertz kinetics: twice the primary's net growth rate at 1 cm^3."""
    from paget.plugins.colonization import REFERENCE_CELLS, net_rate
    col = paget.Simulation.from_scenario(name).config.colonization
    assert col.growth.law == "exponential"
    assert col.growth.rate == pytest.approx(math.log(2.0) / doubling_days, rel=2e-3)
    met = col.metastasis_law()
    assert met.law == "gompertz"
    assert net_rate(met, REFERENCE_CELLS) == pytest.approx(2.0 * col.growth.rate, rel=1e-12)
