"""The transcoelomic route (paget.plugins.transcoelomic) and the engine's
generic direct route under it (rates.direct_fraction, FateMatrix.direct).

Two patients, a few months of the busy cascade (tests/conftest.py), metastases
not shedding, so that every shed cell of the primary's organ is the primary's.
"""
from __future__ import annotations

import types
import warnings

import numpy as np
import pytest

import paget
from paget.body import ORGANS
from paget.errors import PluginError
from paget.ext import kernels
from paget.plugins.transcoelomic import ADJACENT, CAVITIES, direct_fates

from .conftest import busy
from .helpers import assert_same_result

PERITONEUM, PLEURA = ORGANS.index("peritoneum"), ORGANS.index("pleura")
SKIN = ORGANS.index("skin")


def cfg(organ, **transcoelomic):
    c = busy(cohort={"patients": 2, "years": 0.25}, primary={"organ": organ},
             intravasation={"metastases_shed": False},
             # blood-borne cells never arrest on the linings, so what arrests
             # there came by the cavity
             circulation={"arrest": {"default": 0.2, "peritoneum": 0.0, "pleura": 0.0}})
    if transcoelomic:
        c["transcoelomic"] = transcoelomic
    return c


def run(c, plugins=()):
    return paget.Simulation(c, plugins=list(plugins), entry_points=False).run()


def totals(ds):
    return ds.ctc_shed.sum(("patient", "time")), ds.ctc_arrested.sum(("patient", "time"))


@pytest.mark.parametrize("organ, cavity, inside", [
    ("colon", PERITONEUM, 1.0), ("lung", PLEURA, 1.0), ("rectum", PERITONEUM, 1 / 3)],
    ids=["colon", "lung", "rectum"])
def test_the_cavity_receives_the_expected_share(organ, cavity, inside):
    """Arrested on the lining = Binomial(shed, exfoliation x inside x
    attachment): within 4 binomial standard errors (fixed seed)."""
    ex, att = 0.2, 0.6
    shed, arrested = totals(run(cfg(organ, exfoliation=ex, attachment=att)))
    n = int(shed.sel(organ=organ))
    got = int(arrested.isel(organ=cavity))
    p = ex * inside * att
    assert n > 10_000
    assert abs(got - n * p) < 4 * np.sqrt(n * p * (1 - p)), (got, n * p)


def test_an_organ_outside_any_cavity_is_unchanged_by_the_route():
    """A breast primary exfoliates nothing: the run is the same to the bit with
    the plugin on, off, or at exfoliation 0."""
    on = run(cfg("breast"))
    off = run({**cfg("breast"), "plugins": {"disable": ["transcoelomic"]}})
    assert_same_result(on.drop_attrs(), off.drop_attrs())
    assert int(on.ctc_arrested.sel(organ="peritoneum").sum()) == 0


def test_exfoliation_zero_is_the_route_off():
    """At exfoliation 0 a colon primary's run is the run without the plugin,
    to the bit; with it, the peritoneum is seeded."""
    zero = run(cfg("colon", exfoliation=0.0))
    off = run({**cfg("colon"), "plugins": {"disable": ["transcoelomic"]}})
    assert_same_result(zero.drop_attrs(), off.drop_attrs())
    assert int(zero.ctc_arrested.sel(organ="peritoneum").sum()) == 0
    on = run(cfg("colon"))
    assert int(on.ctc_arrested.sel(organ="peritoneum").sum()) > 0


def test_cells_conserved_and_the_blood_readout_leaves_the_cavity_out():
    """Every shed cell arrests or dies, by any route; patients.ctc_shed, what
    the blood readouts see, is the shed count less the cells that went into the
    cavity (attachment 1: each of them arrests on the lining)."""
    seen = {}

    class Spy:
        @paget.hookimpl
        def paget_update_state(self, patients, t):
            seen[round(t)] = np.asarray(patients.ctc_shed).copy()

    c = cfg("colon", exfoliation=0.3, attachment=1.0)
    c["output"] = {"interval": c["cohort"]["dt"]}
    ds = run(c, [("spy", Spy())])
    np.testing.assert_array_equal(ds.ctc_shed.sum("organ"),
                                  ds.ctc_arrested.sum("organ") + ds.ctc_died)
    into_cavity = ds.ctc_arrested.sel(organ="peritoneum")
    assert int(into_cavity.sum()) > 0
    blood = ds.ctc_shed.sum("organ") - into_cavity       # per output interval = per step
    times = [round(float(t)) for t in ds.time.values]
    checked = 0
    for k in range(1, len(times) - 1):
        # the step ending at times[k] is seen by the next step's update
        np.testing.assert_array_equal(seen[times[k]], blood.isel(time=k).values)
        checked += 1
    assert checked > 10


def test_fate_rows_and_lymph_share():
    """The direct rows: attach to the cavity or die; organs outside a cavity
    die (they send no cell); and the plugin keeps lymph_fraction + direct_fraction
    <= 1 by taking the cavity's share out of both blood and lymph."""
    sim = paget.Simulation(cfg("colon", attachment=0.25), entry_points=False)
    fm = sim.fates
    n = len(ORGANS)
    assert fm.direct is not None and fm.direct.shape == (n, n + 1)
    np.testing.assert_allclose(fm.direct.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    for organ, (cavity, _) in CAVITIES.items():
        i = ORGANS.index(organ)
        assert fm.direct[i, ORGANS.index(cavity)] == 0.25 and fm.direct[i, n] == 0.75
    assert fm.direct[ORGANS.index("breast"), n] == 1.0
    np.testing.assert_array_equal(fm.direct, direct_fates(sim.body, sim.config.transcoelomic))


def test_local_extension_reaches_each_neighbour_by_its_share():
    """A breast primary with extension {skin: 0.15, pleura: 0.05}: arrested in
    each neighbouring structure = Binomial(shed, its share) (no attachment
    step; blood-borne cells kept off skin and pleura), within 4 binomial
    standard errors; the peritoneum gets nothing."""
    ex = {"skin": 0.15, "pleura": 0.05}
    c = cfg("breast", extension=ex, attachment=0.3)
    c["circulation"]["arrest"]["skin"] = 0.0
    shed, arrested = totals(run(c))
    n = int(shed.sel(organ="breast"))
    assert n > 10_000
    assert set(ADJACENT["breast"]) == set(ex)
    for target, p in ex.items():
        got = int(arrested.sel(organ=target))
        assert abs(got - n * p) < 4 * np.sqrt(n * p * (1 - p)), (target, got, n * p)
    assert int(arrested.sel(organ="peritoneum").sum()) == 0


def test_extension_fate_rows():
    """With both routes on, the cavities' rows are as before and breast's row
    sends every extending cell to skin and pleura by their shares (none dies on
    the way); no extension leaves breast's row all death."""
    c = cfg("colon", attachment=0.25, extension={"skin": 0.03, "pleura": 0.01})
    sim = paget.Simulation(c, entry_points=False)
    fm, n = sim.fates, len(ORGANS)
    b = ORGANS.index("breast")
    np.testing.assert_allclose(fm.direct.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    assert fm.direct[b, SKIN] == pytest.approx(0.75, rel=1e-15)
    assert fm.direct[b, PLEURA] == pytest.approx(0.25, rel=1e-15) and fm.direct[b, n] == 0
    assert fm.direct[ORGANS.index("colon"), PERITONEUM] == 0.25
    off = direct_fates(sim.body, sim.config.transcoelomic.model_copy(update={"extension": {}}))
    assert off[b, n] == 1.0 and off[b, :n].sum() == 0


@pytest.mark.parametrize("extension, match", [
    ({"liver": 0.1}, "'liver' is no organ's neighbouring structure"),
    ({"skin": 1.5}, "must lie in \\[0, 1\\]"),
    ({"skin": 0.6, "pleura": 0.5}, "sum to 1.1")])
def test_bad_extension_is_refused(extension, match):
    with pytest.raises(paget.ConfigError, match=match):
        paget.Simulation(cfg("breast", extension=extension), entry_points=False)


def test_a_direct_share_without_direct_fates_is_refused():
    """The engine stays ignorant of the route: a plugin that sets
    direct_fraction with no plugin supplying FateMatrix.direct is an error
    naming the hook, not a silent loss of cells."""
    rogue = types.SimpleNamespace(paget_intravasation=paget.hookimpl(trylast=True)(
        lambda rates: rates.direct_fraction.__setitem__(slice(None), 0.1)))
    c = {**cfg("breast"), "plugins": {"disable": ["transcoelomic"]}}
    with pytest.raises(PluginError, match="FateMatrix.direct is None"):
        run(c, [("rogue", rogue)])


def test_kernel_without_the_route_draws_as_before():
    """Passing the direct arguments with d = 0 for every row gives the draws of
    the call without them, to the bit; a row's exfoliated count with d > 0 is
    Binomial(n, d)."""
    m, n_org = 200, len(ORGANS)
    rng = np.random.default_rng(3)
    uid = np.arange(1, m + 1, dtype=np.uint64)
    organ = np.full(m, ORGANS.index("colon"), np.int16)
    shed = rng.integers(1, 2000, m).astype(np.int64)
    lymph = np.full(m, 0.1)
    fb = rng.dirichlet(np.ones(n_org + 1), n_org)[None]
    fl = np.ascontiguousarray(np.broadcast_to(rng.dirichlet(np.ones(n_org + 1)), (1, n_org, n_org + 1)))
    fd = np.zeros((1, n_org, n_org + 1))
    fd[0, :, PERITONEUM] = 1.0
    p_ext = np.full((m, n_org), 0.5)
    fates = np.tile([0.2, 0.3, 0.5], (m, n_org, 1))

    def call(*direct):
        out = [np.empty((m, n_org), np.int64) for _ in range(5)]
        died = np.empty(m, np.int64)
        kernels.disseminate(uid, np.zeros(m, np.int64), organ, np.zeros(m, np.int64), shed,
                            lymph, fb, fl, p_ext, fates, 11, 5, out[0], died, *out[1:],
                            *direct)
        return out, died

    base = call()
    ex = np.full(m, -1, np.int64)
    zero = call(np.zeros(m), fd, ex)
    for a, b in zip(base[0] + [base[1]], zero[0] + [zero[1]]):
        np.testing.assert_array_equal(a, b)
    assert (ex == 0).all()
    d = 0.3
    ex = np.zeros(m, np.int64)
    (arrested, *_), died = call(np.full(m, d), fd, ex)
    total, mean = shed.sum(), d * shed.sum()
    assert abs(ex.sum() - mean) < 4 * np.sqrt(total * d * (1 - d))
    np.testing.assert_array_equal(arrested.sum(axis=1) + died, shed)
    assert (arrested[:, PERITONEUM] >= ex).all()


def test_metastases_exfoliate_only_when_asked():
    """A breast primary's metastases shed into blood alone by default; with
    ``metastases`` those in an organ of a cavity exfoliate into it as a primary
    there would: arrested on each lining = the sum over its organs of
    Binomial(shed by the organ's rows, exfoliation x inside x attachment),
    within 4 standard errors (fixed seed).  The breast primary lies in no
    cavity, and blood-borne cells never arrest on the linings here, so every
    arrest on a lining came from a metastasis."""
    ex, att = 0.2, 0.6
    c = {**cfg("breast", exfoliation=ex, attachment=att),
         "intravasation": {"metastases_shed": True}, "cohort": {"patients": 2, "years": 1.0}}
    off = run(c)
    assert int(off.ctc_shed.sel(organ="lung").sum()) > 0
    assert int(off.ctc_arrested.isel(organ=[PLEURA, PERITONEUM]).sum()) == 0
    c["transcoelomic"]["metastases"] = True
    shed, arrested = totals(run(c))
    for cavity, index in (("pleura", PLEURA), ("peritoneum", PERITONEUM)):
        mean = var = 0.0
        for organ, (where, inside) in CAVITIES.items():
            if where == cavity:
                n, p = int(shed.sel(organ=organ)), ex * inside * att
                mean, var = mean + n * p, var + n * p * (1 - p)
        assert mean > 200, cavity
        got = int(arrested.isel(organ=index))
        assert abs(got - mean) < 4 * np.sqrt(var), (cavity, got, mean)


def test_metastases_option_without_shedding_metastases_is_said():
    """``metastases = true`` with ``intravasation.metastases_shed = false``
    changes nothing, and says so; with shedding metastases it is silent."""
    c = cfg("breast", metastases=True)
    with pytest.warns(paget.ConfigWarning, match="metastases_shed = false"):
        paget.Simulation(c, entry_points=False)
    c["intravasation"] = {"metastases_shed": True}
    with warnings.catch_warnings():
        warnings.simplefilter("error", paget.ConfigWarning)
        paget.Simulation(c, entry_points=False)
