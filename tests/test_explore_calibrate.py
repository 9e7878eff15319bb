"""``paget calibrate``: ABC-SMC recovers a known shedding rate; bad input; resume; MPI ranks.

The known answer.  A breast primary of N0 = 1000 cells grows as a pure birth
process (exponential law, rate lambda = 0.2 per day, no turnover) and the
patient dies when the burden reaches M = 1e5 cells.  It sheds q cells per cell
per day (``intravasation.exponent = 1``), all into blood; every shed cell
arrests in the first bed, the lung (``circulation.arrest = 1``, no death per
pass), extravasates (soil 1) and founds a colony (``grow = 1``) that, without
turnover, never dies out: the rho of P(metastasis) = 1 - exp(-q rho M / lambda)
is 1.  Until death the primary spends on average 1/(lambda n) days at each size
n, so the expected number of shed cells is q (M - N0) / lambda and a patient
has a lung metastasis (of >= 1 cell, ``involved_cells = 1``) with probability

    P(q) = 1 - exp(-q (M - N0) / lambda).

(The engine sheds at each step's starting size; with N0/M = 1 % the step
changes the mean count by under 1 %, far inside the posterior's width.)  The
data are P(q_true) for q_true = 7e-7 per cell per day; the prior is
log-uniform over three decades.
"""
from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from paget.cli import main
from paget.explore import calibrate as C

N0, M, LAM = 1000.0, 1e5, 0.2
Q_TRUE = 7e-7
P_TRUE = 1.0 - math.exp(-Q_TRUE * (M - N0) / LAM)     # 0.293
PRIOR = (1e-8, 1e-5)

SPEC = """\
scenario = "default"
seed = {seed}

[base]
cohort = {{years = 0.085, dt = 1.0}}
output = {{interval = 31.0}}
primary = {{organ = "breast", cells = 1000}}
outcome = {{lethal_cells = 1e5}}
plugins = {{disable = ["genetics", "microenvironment", "angiogenesis", "immune"]}}
intravasation = {{exponent = 1.0, lymph_fraction = 0.0, metastases_shed = false}}
circulation = {{arrest = 1.0, death_per_pass = 0.0}}
extravasation = {{probability = 1.0}}
colonization = {{growth = {{law = "exponential", rate = 0.2, death = 0.0}}, fate = {{die = 0.0, dormant = 0.0, grow = 1.0}}}}

[parameters."intravasation.rate"]
prior = "loguniform"
low = 1e-8
high = 1e-5

[abc]
populations = {populations}
population_size = {size}
patients = {patients}
involved_cells = 1
"""


def write(tmp_path: Path, *, seed=5, populations=3, size=20, patients=30,
          data=f"lung\n{P_TRUE:.4f}\n") -> tuple[Path, Path]:
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(seed=seed, populations=populations, size=size,
                                patients=patients))
    table = tmp_path / "data.csv"
    table.write_text("# P(q) = 1 - exp(-q (M - N0) / lambda) at q = 7e-7\n" + data)
    return spec, table


def calibrate(*argv) -> int:
    return main(["calibrate", *map(str, argv), "--no-progress"])


def interval(ds: xr.Dataset, key: str, level: float) -> tuple[float, float]:
    x = ds[key].isel(population=-1).values
    w = ds.weight.isel(population=-1).values
    lo, hi = C.weighted_quantile(np.log10(x), w, [(1 - level) / 2, (1 + level) / 2])
    return 10 ** lo, 10 ** hi


def assert_recovers(ds, level):
    lo, hi = interval(ds, "intravasation.rate", level)
    assert lo <= Q_TRUE <= hi, (lo, hi)
    # and the data taught something: the interval is under a third of the prior's
    # three decades (the likelihood of a share of 30 patients, sd ~0.08, pins q
    # to a factor ~2 either way)
    assert math.log10(hi / lo) < math.log10(PRIOR[1] / PRIOR[0]) / 3, (lo, hi)


# ------------------------------------------------------------- known answer
def test_posterior_covers_the_true_shedding_rate(tmp_path):
    spec, data = write(tmp_path)
    out, fig = tmp_path / "post.nc", tmp_path / "fig.png"
    assert calibrate(spec, "--data", data, "-o", out, "--figure", fig) == 0
    ds = xr.open_dataset(out)
    assert_recovers(ds, 0.95)
    # the dataset: particles x parameters per population, weights, epsilon, units
    assert ds["intravasation.rate"].dims == ("population", "particle")
    assert ds.sizes == {"population": 3, "particle": 20, "statistic": 1, "draw": 20}
    np.testing.assert_allclose(ds.weight.sum("particle"), 1.0, rtol=1e-12)
    assert np.all(np.diff(ds.epsilon.values) < 0)
    assert np.all(ds.distance.isel(population=-1) <= ds.epsilon.isel(population=-1))
    for name in ("intravasation.rate", "weight", "distance", "epsilon", "observed"):
        assert ds[name].attrs["long_name"] and ds[name].attrs["units"], name
    assert ds["intravasation.rate"].attrs["prior"] == "loguniform"
    assert "CTC per day" in ds["intravasation.rate"].attrs["units"]
    assert ds.attrs["spec"] == spec.read_text()
    assert float(ds.observed.sel(statistic="lung")) == pytest.approx(P_TRUE, abs=1e-4)
    # posterior predictive: fresh cohorts at posterior draws reproduce the data
    pred = ds.predictive.sel(statistic="lung").values
    lo, hi = np.quantile(pred, [0.05, 0.95])
    assert lo <= P_TRUE <= hi and np.all((pred >= 0) & (pred <= 1))
    assert not np.array_equal(np.sort(pred), np.sort(ds.simulated.sel(statistic="lung")))
    assert fig.stat().st_size > 1000 and fig.read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "post.db").exists()


@pytest.mark.slow
def test_posterior_covers_the_true_shedding_rate_many_particles(tmp_path):
    """More particles, generations and patients: the 90 % interval still covers
    q_true and is narrower (a factor ~1.5 either way at 100 patients)."""
    spec, data = write(tmp_path, populations=4, size=100, patients=100)
    out = tmp_path / "post.nc"
    assert calibrate(spec, "--data", data, "-o", out) == 0
    ds = xr.open_dataset(out)
    assert_recovers(ds, 0.90)
    lo, hi = interval(ds, "intravasation.rate", 0.90)
    assert hi / lo < 4.0


# ---------------------------------------------------------------- bad input
BAD_DATA = {
    "unknown organ": ("lung,livr,brian\n0.3,0.2,0.1\n",
                      ["'livr', 'brian'", "liver", "sites"]),
    "share above 1": ("lung\n1.5\n", ["lung = 1.5", "[0, 1]"]),
    "share below 0": ("lung,liver\n0.3,-0.1\n", ["liver = -0.1", "[0, 1]"]),
    "not a number": ("lung\nlots\n", ["'lots'", "not a number"]),
    "two rows": ("lung\n0.3\n0.4\n", ["exactly one row", "2 rows"]),
}


def assert_refused(tmp_path, capsys, spec, data, words) -> None:
    """The command exits 2 with one line holding ``words``, and writes nothing."""
    before = set(tmp_path.iterdir())
    assert calibrate(spec, "--data", data, "-o", tmp_path / "post.nc") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    for w in words:
        assert w in err, (w, err)
    assert set(tmp_path.iterdir()) == before


@pytest.mark.parametrize("case", BAD_DATA, ids=list(BAD_DATA))
def test_bad_data_table_one_line_exit_2_nothing_written(tmp_path, capsys, case):
    text, words = BAD_DATA[case]
    spec, data = write(tmp_path, data=text)
    assert_refused(tmp_path, capsys, spec, data, words)


BAD_SPEC = {
    "prior outside the allowed range": (("high = 1e-5", "high = 20"),
                                        ["intravasation.rate", "high = 20", "[0, 10]"]),
    "negative prior bound": (("low = 1e-8", "low = -1"), ["low = -1", "[0, 10]"]),
    "unknown parameter key": (('"intravasation.rate"', '"intravasation.rat"'),
                              ["intravasation.rat", "did you mean 'intravasation.rate'"]),
    "unknown prior": (('prior = "loguniform"', 'prior = "normal"'),
                      ["'normal'", "uniform, loguniform"]),
    "unknown abc key": (("involved_cells = 1", "involved_cells = 1\nepsilonn = 0.1"),
                        ["abc.epsilonn", "did you mean 'epsilon'"]),
    "population of one": (("population_size = 20", "population_size = 1"),
                          ["abc.population_size = 1", ">= 2"]),
    "unknown top-level key": (('scenario = "default"', 'scenario = "default"\nrounds = 3'),
                              ["rounds: unknown key", "abc"]),
    "bad base value": (("lethal_cells = 1e5", "lethal_cells = -1"),
                       ["[base]", "lethal_cells"]),
}


@pytest.mark.parametrize("case", BAD_SPEC, ids=list(BAD_SPEC))
def test_bad_spec_one_line_exit_2_nothing_written(tmp_path, capsys, case):
    (old, new), words = BAD_SPEC[case]
    spec, data = write(tmp_path)
    text = spec.read_text()
    assert old in text
    spec.write_text(text.replace(old, new, 1))
    assert_refused(tmp_path, capsys, spec, data, words)


def test_weights_of_unknown_columns_and_existing_output_refused(tmp_path, capsys):
    spec, data = write(tmp_path)
    spec.write_text(spec.read_text() + "weights = {liver = 2.0}\n")
    assert calibrate(spec, "--data", data, "-o", tmp_path / "post.nc") == 2
    assert "abc.weights: 'liver' not a column" in capsys.readouterr().err
    spec, data = write(tmp_path)
    (tmp_path / "post.nc").write_text("keep me")
    assert calibrate(spec, "--data", data, "-o", tmp_path / "post.nc") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "post.nc").read_text() == "keep me"
    assert not (tmp_path / "post.db").exists()


ANCHOR_SPEC = """\
seed = 2
[base]
cohort = {{years = 0.2}}
output = {{interval = 73}}
primary = {{cells = 1e8}}
plugins = {{disable = [{disable}]}}
[parameters."intravasation.rate"]
low = 0.1
high = 1.0
"""


def test_anchor_columns_are_computed_from_the_run(tmp_path):
    """sites, ctc_positive and ctc_per_7_5ml: the mean involved organs, the share of
    positive last draws and their median count, from the run's own dataset."""
    from paget.explore import simulate, summaries
    spec = tmp_path / "spec.toml"
    spec.write_text(ANCHOR_SPEC.format(disable=""))
    data = tmp_path / "data.csv"
    data.write_text("lung,sites,ctc_positive,ctc_per_7_5ml\n0.3,1,0.5,2\n")
    problem = C.Calibration(C.read_calibration(spec), C.read_data(data))
    ds = simulate({"intravasation.rate": 1.0}, seed=3, base=problem.base)
    stats = problem.statistics(ds)
    assert set(stats) == {"lung", "sites", "ctc_positive", "ctc_per_7_5ml"}
    assert stats["sites"] == float(summaries.sites(ds))
    last = ds.ctc_per_7_5ml.isel(time=-1).values
    assert last.size == 20 and last.max() > 0
    assert stats["ctc_per_7_5ml"] == float(np.median(last))
    assert stats["ctc_positive"] == float(ds.ctc_positive.isel(time=-1).mean())
    # without the liquid-biopsy plugin the CTC columns are refused up front
    spec.write_text(ANCHOR_SPEC.format(disable='"liquid_biopsy"'))
    with pytest.raises(C.ConfigError, match="ctc_positive.*liquid_biopsy"):
        C.Calibration(C.read_calibration(spec), C.read_data(data))


# --------------------------------------------------- several scenarios at once
SCENARIO = """\
[colonization.growth]
law = "exponential"
rate = {rate}
death = 0.0
"""


def joint(tmp_path: Path, extra: str = "") -> tuple[Path, Path]:
    """The known-answer problem on two primaries growing at lambda = 0.2 and 0.1 per
    day, each its own scenario file and row of the data table, sharing q."""
    for name, rate in (("fast", 0.2), ("slow", 0.1)):
        (tmp_path / f"{name}.toml").write_text(SCENARIO.format(rate=rate))
    text = SPEC.format(seed=5, populations=3, size=20, patients=30)
    text = text.replace('colonization = {growth = {law = "exponential", rate = 0.2, death = '
                        '0.0}, fate', "colonization = {fate")
    text = text.replace("years = 0.085", "years = 0.15").replace("interval = 31.0",
                                                                 "interval = 54.0")
    spec = tmp_path / "spec.toml"
    spec.write_text(text + extra)
    p = {lam: 1.0 - math.exp(-Q_TRUE * (M - N0) / lam) for lam in (0.2, 0.1)}
    data = tmp_path / "data.csv"
    data.write_text(f"scenario,lung\nfast.toml,{p[0.2]:.4f}\nslow.toml,{p[0.1]:.4f}\n")
    return spec, data


def test_rows_of_several_scenarios_share_the_parameter(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec, data = joint(tmp_path)
    assert calibrate(spec, "--data", data, "-o", "post.nc") == 0
    ds = xr.open_dataset(tmp_path / "post.nc")
    assert list(ds.statistic.values) == ["fast.toml:lung", "slow.toml:lung"]
    assert_recovers(ds, 0.95)
    # the slow primary sheds twice as long: its share is the larger, in the data and
    # in the posterior-predictive runs
    pred = ds.predictive.mean("draw")
    assert float(pred.sel(statistic="slow.toml:lung")) > float(pred.sel(
        statistic="fast.toml:lung"))


def test_parameter_of_a_scenario_not_in_the_table_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    extra = '[parameters."other.toml:intravasation.lymph_fraction"]\nlow = 0.1\nhigh = 0.5\n'
    spec, data = joint(tmp_path)
    (tmp_path / "other.toml").write_text(SCENARIO.format(rate=0.3))
    spec.write_text(spec.read_text().replace("[abc]", extra + "\n[abc]"))
    before = set(tmp_path.iterdir())
    assert calibrate(spec, "--data", data, "-o", "post.nc") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'other.toml'" in err and "fast.toml, slow.toml" in err
    assert set(tmp_path.iterdir()) == before


def test_a_scenario_parameter_goes_to_its_scenario_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    extra = '[parameters."slow.toml:intravasation.lymph_fraction"]\nlow = 0.1\nhigh = 0.5\n'
    spec, data = joint(tmp_path)
    spec.write_text(spec.read_text().replace("[abc]", extra + "\n[abc]"))
    problem = C.Calibration(C.read_calibration(spec), C.read_data(data))
    calls = []

    def fake(params, *, seed, scenario, base):
        calls.append((scenario, dict(params), seed))
        return scenario

    monkeypatch.setattr(sys.modules["paget.explore.simulate"], "simulate", fake)
    monkeypatch.setattr(problem, "statistics", lambda ds, cols: {c: len(ds) for c in cols})
    np.random.seed(0)
    out = problem({"p0": -6.0, "p1": 0.25})
    assert out == {"fast.toml:lung": 9, "slow.toml:lung": 9}
    assert [c[:2] for c in calls] == [
        ("fast.toml", {"intravasation.rate": pytest.approx(1e-6)}),
        ("slow.toml", {"intravasation.rate": pytest.approx(1e-6),
                       "intravasation.lymph_fraction": 0.25})]
    assert calls[0][2] != calls[1][2]     # each cohort its own seed


# ------------------------------------------------------- resume, ranks, seeds
SMALL = {"populations": 2, "size": 8, "patients": 10}


def _same_posterior(a: Path, b: Path) -> None:
    x, y = xr.open_dataset(a), xr.open_dataset(b)
    for name in ("intravasation.rate", "weight", "distance", "epsilon", "simulations",
                 "simulated"):
        np.testing.assert_array_equal(x[name].values, y[name].values, err_msg=name)


def _populations_stored(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1) as con:
            return int(con.execute("select count(*) from populations where t >= 0")
                       .fetchone()[0])
    except sqlite3.Error:
        return 0


def test_resume_after_kill_continues_and_gives_the_same_posterior(tmp_path):
    ref = tmp_path / "ref"
    ref.mkdir()
    spec, data = write(ref, **SMALL)
    assert calibrate(spec, "--data", data, "-o", ref / "post.nc") == 0
    assert not (ref / ".post.nc.part").exists()

    run = tmp_path / "killed"
    run.mkdir()
    spec, data = write(run, **SMALL)
    db = run / "post.db"
    cmd = [sys.executable, "-m", "paget", "calibrate", str(spec), "--data", str(data),
           "-o", str(run / "post.nc"), "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=run, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while _populations_stored(db) < 1 and proc.poll() is None:
            assert time.monotonic() < deadline, "no population stored in 120 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "finished before it could be killed"
    assert _populations_stored(db) == 1 and not (run / "post.nc").exists()
    # the same command continues from population 1 and completes
    assert calibrate(spec, "--data", data, "-o", run / "post.nc") == 0
    _same_posterior(ref / "post.nc", run / "post.nc")
    # once complete, the same command (with --overwrite) runs nothing more
    sims = int(xr.open_dataset(run / "post.nc").attrs["total_simulations"])
    assert calibrate(spec, "--data", data, "-o", run / "post.nc", "--overwrite") == 0
    assert int(xr.open_dataset(run / "post.nc").attrs["total_simulations"]) == sims
    _same_posterior(ref / "post.nc", run / "post.nc")


def test_database_of_another_spec_refused(tmp_path, capsys):
    spec, data = write(tmp_path, populations=1, size=4, patients=4)
    assert calibrate(spec, "--data", data, "-o", tmp_path / "a.nc", "--db",
                     tmp_path / "h.db") == 0
    db_bytes = (tmp_path / "h.db").read_bytes()
    spec, data = write(tmp_path, seed=6, populations=1, size=4, patients=4)
    assert calibrate(spec, "--data", data, "-o", tmp_path / "b.nc", "--db",
                     tmp_path / "h.db") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "another spec" in err and "h.db" in err
    assert not (tmp_path / "b.nc").exists()
    assert (tmp_path / "h.db").read_bytes() == db_bytes
    # a file that is no pyABC database at all
    (tmp_path / "junk.db").write_text("not a database")
    assert calibrate(spec, "--data", data, "-o", tmp_path / "b.nc", "--db",
                     tmp_path / "junk.db") == 2
    assert "is not a pyABC history database" in capsys.readouterr().err
    assert (tmp_path / "junk.db").read_text() == "not a database"
    assert not (tmp_path / "b.nc").exists()


def test_more_populations_continue_a_finished_calibration(tmp_path):
    spec, data = write(tmp_path, populations=1, size=4, patients=4)
    out = tmp_path / "post.nc"
    assert calibrate(spec, "--data", data, "-o", out) == 0
    first = xr.open_dataset(out).load()
    spec, data = write(tmp_path, populations=2, size=4, patients=4)
    assert calibrate(spec, "--data", data, "-o", out, "--overwrite") == 0
    both = xr.open_dataset(out)
    assert both.sizes["population"] == 2
    np.testing.assert_array_equal(both["intravasation.rate"].isel(population=0),
                                  first["intravasation.rate"].isel(population=0))
    assert int(both.simulations[0]) == int(first.simulations[0])


def test_seeded_sampler_ignores_timing_and_worker_count(tmp_path):
    """The sampler over a thread pool (evaluations finishing out of order) keeps
    the evaluations a serial run keeps: the posterior depends on the seed only."""
    from concurrent.futures import ThreadPoolExecutor
    from paget.explore.abc_sampler import SeededSampler, evaluation_seed

    def simulate_one():
        x = np.random.random()
        time.sleep(0.002 * (1 - x))           # later draws finish first
        return type("R", (), {"accepted": x < 0.3, "x": x, "preliminary": False})()

    serial = SeededSampler(3)
    a = serial.sample_until_n_accepted(5, simulate_one, 0)
    with ThreadPoolExecutor(4) as pool:
        pooled = SeededSampler(3, pool, workers=4)
        b = pooled.sample_until_n_accepted(5, simulate_one, 0)
    assert a.n_accepted == b.n_accepted == 5
    assert [p.x for p in a.accepted_particles] == [p.x for p in b.accepted_particles]
    assert serial.nr_evaluations_ == pooled.nr_evaluations_ > 5
    # another population draws other values
    c = SeededSampler(3).sample_until_n_accepted(5, simulate_one, 1)
    assert [p.x for p in c.accepted_particles] != [p.x for p in a.accepted_particles]
    assert not np.array_equal(evaluation_seed(3, 0, 1), evaluation_seed(3, 1, 0))


def _mpiexec() -> str:
    local = Path(sys.executable).parent / "mpiexec"
    return str(local) if local.exists() else "mpiexec"


def test_two_ranks_give_the_serial_posterior(tmp_path):
    serial = tmp_path / "serial"
    serial.mkdir()
    spec, data = write(serial, **SMALL)
    assert calibrate(spec, "--data", data, "-o", serial / "post.nc") == 0
    par = tmp_path / "mpi"
    par.mkdir()
    spec, data = write(par, **SMALL)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "MPI"))}
    r = subprocess.run([_mpiexec(), "-n", "2", sys.executable, "-m", "paget", "calibrate",
                        str(spec), "--data", str(data), "-o", str(par / "post.nc"),
                        "--no-progress"], cwd=par, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    _same_posterior(serial / "post.nc", par / "post.nc")


def test_without_pyabc_one_line_names_the_extra(tmp_path, capsys, monkeypatch):
    """pyABC is optional (``paget[calibrate]``): without it the command says how to
    get it, in one line, before anything is written."""
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pyabc" else real(name, *a))
    spec, data = write(tmp_path)
    out = tmp_path / "post.nc"
    assert calibrate(str(spec), "--data", str(data), "-o", str(out)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["paget: error: paget calibrate needs pyABC, an optional dependency: "
                   "pip install 'paget[calibrate]'"]
    assert not out.exists() and not list(tmp_path.glob("*.db"))
