"""Sensitivity analysis: Sobol' indices and Morris screening (``paget sensitivity``).

The analysis is checked on the Ishigami function, whose indices are known in
closed form, through the same path paget's runs take
(:func:`paget.explore.sensitivity.sensitivity` with a vectorised model); then
paget itself end to end through the command line, bad input, and a resume
after a kill.
"""
from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from paget.errors import ConfigError
from paget.explore.sensitivity import draw_design, make_problem, plot_indices, sensitivity

# ------------------------------------------------------------------ Ishigami

#: The Ishigami function's usual constants (Ishigami & Homma 1990, Proc. First
#: Int. Symp. Uncertainty Modeling and Analysis, IEEE, 398-403), with
#: x1, x2, x3 uniform on [-pi, pi].
A, B = 7.0, 0.1
PI = math.pi
ISHIGAMI = {f"x{i}": (-PI, PI) for i in (1, 2, 3)}


def ishigami(p, a=A, b=B):
    """f = sin x1 + a sin^2 x2 + b x3^4 sin x1, vectorised over the design."""
    x1, x2, x3 = p["x1"], p["x2"], p["x3"]
    return {"y": np.sin(x1) + a * np.sin(x2) ** 2 + b * x3 ** 4 * np.sin(x1)}


def ishigami_indices(a=A, b=B):
    """First- and total-order indices from the analytic variance decomposition
    (Homma & Saltelli 1996, Reliab. Eng. Syst. Saf. 52:1-17):
    V1 = (1 + b pi^4 / 5)^2 / 2, V2 = a^2 / 8, V3 = 0,
    V13 = b^2 pi^8 (1/18 - 1/50), the other interactions 0, V their sum."""
    v1 = 0.5 * (1 + b * PI ** 4 / 5) ** 2
    v2 = a ** 2 / 8
    v13 = b ** 2 * PI ** 8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return np.array([v1, v2, 0.0]) / v, np.array([v1 + v13, v2, v13]) / v


def test_the_analytic_ishigami_indices_are_the_published_ones():
    """The formulas give the values quoted for a = 7, b = 0.1 (S1 0.314, 0.442, 0;
    ST 0.558, 0.442, 0.244), so a slip in them cannot pass the test below."""
    s1, st = ishigami_indices()
    assert np.round(s1, 3).tolist() == [0.314, 0.442, 0.0]
    assert np.round(st, 3).tolist() == [0.558, 0.442, 0.244]


def test_sobol_indices_of_ishigami_match_the_analytic_ones_within_their_intervals():
    """Each index lies within its 95 % bootstrap interval of the true value.  The
    intervals treat the quasi-random design as independent draws and so are wide
    for it (over seeds 1-20 the worst error was half a half-width): the test
    also asks them to be narrow enough to tell the indices apart."""
    ds = sensitivity(ishigami, ISHIGAMI, method="sobol", samples=4096, seed=3)
    s1, st = ishigami_indices()
    out = ds.sel(output="y")
    assert ds.attrs["evaluations"] == 4096 * (3 + 2)
    for name, truth in (("S1", s1), ("ST", st)):
        est, conf = out[name].values, out[f"{name}_conf"].values
        assert np.all(conf < 0.05), (name, conf)
        assert np.all(np.abs(est - truth) <= conf), (name, est, truth, conf)


def _morris_mu_star(a=A, b=B):
    """The expected mu* of Ishigami on Morris' 4-level grid (levels -pi, -pi/3,
    pi/3, pi; every jump 2/3 of the range, each level equally likely):
    x1: |sin(x+D) - sin x| = sqrt(3)/2 at every jump, times E(1 + b x3^4) =
    1 + b pi^4 (1 + 3^-4) / 2; x2: a (3/4 - 0); x3: b E|sin x1| pi^4 (1 - 3^-4)
    with E|sin x1| = sqrt(3)/4; each divided by the jump, 2/3."""
    jump = 2 / 3
    return np.array([math.sqrt(3) / 2 * (1 + b * PI ** 4 * (1 + 3 ** -4) / 2),
                     a * 0.75,
                     b * math.sqrt(3) / 4 * PI ** 4 * (1 - 3 ** -4),
                     0.0]) / jump


def test_morris_ranks_ishigami_parameters_and_screens_out_a_dummy():
    """mu* matches its expectation on the grid within 1.5 half-widths of its
    95 % interval (~3 sd; over seeds 1-30 the worst was 1.37), and ranks
    the parameters as the total-order indices do where the grid can tell them
    apart: x3 below x1 and x2, and x4 (which f ignores) last with mu* = 0.  On
    the 4-level grid x1 and x2 are within 2 % of each other (7.70, 7.875), so
    their order is not asserted."""
    ranges = dict(ISHIGAMI, x4=(0.0, 1.0))
    ds = sensitivity(ishigami, ranges, method="morris", samples=400, seed=5)
    mu = ds.mu_star.sel(output="y").values
    conf = ds.mu_star_conf.sel(output="y").values
    expected = _morris_mu_star()
    assert np.all(np.abs(mu - expected) <= 1.5 * conf + 1e-9), (mu, expected, conf)
    assert mu[3] == 0.0 and ds.sigma.sel(output="y").values[3] == 0.0
    order = [str(p) for p in ds.parameter.values[np.argsort(-mu)]]
    assert set(order[:2]) == {"x1", "x2"} and order[2:] == ["x3", "x4"]
    assert ds.attrs["evaluations"] == 400 * (4 + 1) and ds.attrs["levels"] == 4


def test_the_same_seed_gives_the_same_indices_and_another_seed_other_ones():
    a = sensitivity(ishigami, ISHIGAMI, samples=64, seed=11)
    b = sensitivity(ishigami, ISHIGAMI, samples=64, seed=11)
    c = sensitivity(ishigami, ISHIGAMI, samples=64, seed=12)
    xr.testing.assert_identical(a, b)
    assert not np.array_equal(a.design.values, c.design.values)
    assert not np.array_equal(a.S1_conf.values, c.S1_conf.values)


def test_a_seed_of_zero_still_gives_reproducible_intervals():
    """SALib takes a bootstrap seed of 0 for "none"; seed 0 of a spec must not."""
    a = sensitivity(ishigami, ISHIGAMI, samples=64, seed=0)
    b = sensitivity(ishigami, ISHIGAMI, samples=64, seed=0)
    xr.testing.assert_identical(a, b)


def test_log_parameters_are_sampled_uniformly_in_log10_within_their_range():
    problem = make_problem({"k": (1e-4, 1e-1, True), "x": (2.0, 3.0)})
    x = draw_design(problem, "sobol", 256, seed=1)
    values = problem.values(x)
    k = values["k"]
    assert k.min() >= 1e-4 and k.max() <= 1e-1
    # a quarter of log10's range per decade-and-a-bit: uniform in log10, not in k
    assert abs(np.mean(np.log10(k)) - (-2.5)) < 0.05
    assert np.mean(k < 1e-2) > 0.6          # uniform in k would put ~9 % below 1e-2
    assert values["x"].min() >= 2.0 and values["x"].max() <= 3.0


def test_whole_number_parameters_are_rounded_within_their_range():
    problem = make_problem({"n": (1.0, 6.0), "x": (0.0, 1.0)}, integer=("n",))
    n = problem.values(draw_design(problem, "sobol", 64, seed=1))["n"]
    assert set(np.unique(n)) == {1.0, 2.0, 3.0, 4.0, 5.0, 6.0}
    with pytest.raises(ConfigError, match="takes whole numbers: low = 1.2, high = 1.8"):
        make_problem({"n": (1.2, 1.8)}, integer=("n",))


def test_replicates_are_averaged_and_their_noise_share_reported():
    """y = x + noise (sd s) over R replicates: the mean's noise variance is
    s^2 / R, so the noise share is (s^2/R) / (var x + s^2/R) with x uniform on
    [0, 1] (var 1/12)."""
    rng = np.random.default_rng(4)
    s, reps = 0.3, 4

    def noisy(p):
        n = p["x"].size
        return {"y": p["x"][:, None] + rng.normal(0.0, s, (n, reps))}

    ds = sensitivity(noisy, {"x": (0.0, 1.0), "z": (0.0, 1.0)}, samples=256, seed=2)
    expected = (s ** 2 / reps) / (1 / 12 + s ** 2 / reps)
    n = ds.sizes["sample"]
    # a ratio of two variance estimates: the noise's from n (R - 1) degrees of
    # freedom, the mean's from n - 1: relative sd ~ sqrt(2/(n) + 2/(n-1)); 4 sd
    rel = 4 * math.sqrt(2 / (n * (reps - 1)) + 2 / (n - 1))
    assert ds.noise_share.item() == pytest.approx(expected, rel=rel)
    assert ds.model_output.shape == (n, 1)


@pytest.mark.parametrize("y, note", [
    (lambda x: np.where(x > 0.5, np.nan, x), "not finite in"),
    (lambda x: np.zeros_like(x), "constant (0) in every evaluation"),
], ids=["nan", "constant"])
def test_an_output_without_indices_gets_nan_and_says_why(y, note):
    def model(p):
        return {"bad": y(p["x"]), "good": p["x"] + 0.1 * p["z"]}

    ds = sensitivity(model, {"x": (0.0, 1.0), "z": (0.0, 1.0)}, samples=16, seed=1)
    assert np.all(np.isnan(ds.S1.sel(output="bad"))) and note in str(ds.note.sel(output="bad").item())
    assert np.all(np.isfinite(ds.S1.sel(output="good"))) and ds.note.sel(output="good").item() == ""


def test_the_dataset_is_labelled_and_round_trips_through_netcdf(tmp_path):
    ds = sensitivity(ishigami, ISHIGAMI, samples=32, seed=1, units={"y": "m"})
    assert set(ds.dims) == {"parameter", "output", "sample"}
    for name in ("S1", "S1_conf", "ST", "ST_conf", "noise_share"):
        assert ds[name].attrs["units"] == "1" and ds[name].attrs["long_name"]
    assert "95 %" in ds.S1_conf.attrs["long_name"]
    assert ds.output_units.sel(output="y").item() == "m"
    path = tmp_path / "s.nc"
    ds.to_netcdf(path, engine="h5netcdf")
    back = xr.open_dataset(path, engine="h5netcdf").load()
    xr.testing.assert_identical(back, ds)


@pytest.mark.parametrize("method", ["sobol", "morris"])
def test_the_figure_is_a_png(tmp_path, method):
    ds = sensitivity(ishigami, ISHIGAMI, method=method, samples=16, seed=1)
    path = tmp_path / "f.png"
    plot_indices(ds, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("ranges, fragment", [
    ({}, "none given"),
    ({"x": (1.0, 1.0)}, "need finite low < high"),
    ({"x": (0.0, 1.0, True)}, "log = true needs low > 0"),
], ids=["empty", "empty-range", "log-zero"])
def test_bad_ranges_are_refused(ranges, fragment):
    with pytest.raises(ConfigError, match=fragment):
        make_problem(ranges)


def test_an_unknown_method_is_refused():
    with pytest.raises(ConfigError, match="unknown; allowed: 'sobol', 'morris'"):
        draw_design(make_problem({"x": (0, 1)}), "fast", 8, seed=1)


# ------------------------------------------------------------------ paget, through the CLI

SPEC = """\
scenario = "default"
seed = 3

[base]
cohort = {{patients = 2, years = 1}}

[parameters."intravasation.rate"]
low = 1e-3
high = 1e-1
log = true

[parameters."colonization.growth.rate"]
low = 0.01
high = 0.05

[sensitivity]
method = "{method}"
samples = {samples}
outputs = ["sites", "involvement.liver", "survival.0.5"]
"""


def paget_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "paget", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def _spec(directory: Path, method="sobol", samples=2, replace=None) -> Path:
    text = SPEC.format(method=method, samples=samples)
    for old, new in (replace or {}).items():
        assert old in text
        text = text.replace(old, new)
    path = directory / "spec.toml"
    path.write_text(text)
    return path


_FINISHED: dict[str, tuple] = {}


def _finish(method: str, tmp_path_factory) -> tuple:
    """An uninterrupted run of a tiny spec (2 parameters, 2 patients, 1 year):
    8 runs (Sobol') or 6 (Morris), made once per test session."""
    if method not in _FINISHED:
        directory = tmp_path_factory.mktemp(method)
        spec = _spec(directory, method=method)
        r = paget_cli("sensitivity", spec, "-o", "out.nc", "--no-progress", cwd=directory)
        _FINISHED[method] = (method, directory, spec, r)
    return _FINISHED[method]


@pytest.fixture(params=["sobol", "morris"])
def finished(request, tmp_path_factory):
    return _finish(request.param, tmp_path_factory)


@pytest.fixture
def finished_sobol(tmp_path_factory):
    return _finish("sobol", tmp_path_factory)


def test_a_paget_sensitivity_run_writes_a_readable_netcdf_and_a_figure(finished):
    method, directory, spec, r = finished
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in directory.iterdir()) == [
        "out.nc", "out.png", "out.runs.zarr", "spec.toml"]
    ds = xr.open_dataset(directory / "out.nc", engine="h5netcdf").load()
    assert ds.parameter.values.tolist() == ["intravasation.rate", "colonization.growth.rate"]
    assert ds.output.values.tolist() == ["sites", "involvement.liver", "survival.0.5"]
    runs = 2 * (2 + 2) if method == "sobol" else 2 * (2 + 1)
    assert ds.sizes["sample"] == runs and ds.attrs["runs"] == runs
    index = "ST" if method == "sobol" else "mu_star"
    assert ds[index].dims == ("output", "parameter") and ds[f"{index}_conf"].attrs["long_name"]
    assert ds.output_units.sel(output="survival.0.5").item() == "days"
    assert ds.attrs["spec_toml"] == spec.read_text() and ds.attrs["method"] == method
    assert int(ds.attrs["seed"]) == 3 and ds.attrs["paget_version"]
    # the design's values are within the ranges, intravasation.rate on a log scale
    rate = ds.design.sel(parameter="intravasation.rate").values
    assert rate.min() >= 1e-3 and rate.max() <= 1e-1 and ds.log.values.tolist() == [True, False]
    assert (directory / "out.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert ("Sobol' indices" if method == "sobol" else "Morris screening") in r.stdout
    assert "wrote out.nc and out.png (runs in out.runs.zarr)" in r.stdout


def test_the_runs_are_those_of_paget_simulate(finished):
    """The model outputs are what paget.simulate gives for each design point and
    the seed the store says it ran with."""
    import paget
    _, directory, _, r = finished
    assert r.returncode == 0, r.stderr
    ds = xr.open_dataset(directory / "out.nc", engine="h5netcdf")
    store = xr.open_zarr(directory / "out.runs.zarr", chunks=None, decode_times=False)
    s = ds.sizes["sample"] - 1
    params = {str(p): float(ds.design.sel(sample=s, parameter=p)) for p in ds.parameter.values}
    got = paget.explore.simulate(params, seed=int(store.seed.values[s, 0]),
                                 base={"cohort": {"patients": 2, "years": 1}},
                                 summary=["sites", "involvement"])
    assert ds.model_output.sel(sample=s, output="sites").item() == float(got.sites)
    assert ds.model_output.sel(sample=s, output="involvement.liver").item() == float(
        got.involvement.sel(organ="liver"))


def _done(store: Path) -> int:
    import zarr
    try:
        return int(np.asarray(zarr.open_group(store, mode="r", zarr_format=2,
                                              use_consolidated=False)["done"][:]).sum())
    except Exception:     # not created yet
        return 0


def _same_result(a: xr.Dataset, b: xr.Dataset) -> None:
    drop = ("date_created", "history")
    a, b = a.copy(), b.copy()
    for d in (a, b):
        d.attrs = {k: v for k, v in d.attrs.items() if k not in drop}
    xr.testing.assert_identical(a, b)


def test_a_killed_run_resumes_from_its_store_to_the_same_result(finished_sobol, tmp_path):
    _, directory, _, r = finished_sobol
    assert r.returncode == 0, r.stderr
    spec = _spec(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "paget", "sensitivity", spec, "-o", "out.nc",
                             "--no-progress"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    store = tmp_path / "out.runs.zarr"
    deadline = time.monotonic() + 240
    while _done(store) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    done = _done(store)
    assert 2 <= done < 8 and not (tmp_path / "out.nc").exists()
    # the runs written before the kill are kept, not run again: their chunks stay as they are
    import zarr
    mask = np.asarray(zarr.open_group(store, mode="r", zarr_format=2,
                                      use_consolidated=False)["done"][:])
    kept = {f"{s}.{r}": os.stat(store / "sites" / f"{s}.{r}").st_mtime_ns
            for s, r in zip(*np.nonzero(mask))}
    again = paget_cli("sensitivity", spec, "-o", "out.nc", "--no-progress", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert {k: os.stat(store / "sites" / k).st_mtime_ns for k in kept} == kept
    _same_result(xr.open_dataset(tmp_path / "out.nc", engine="h5netcdf").load(),
                 xr.open_dataset(directory / "out.nc", engine="h5netcdf").load())


def test_on_two_ranks_the_result_is_the_serial_one(finished_sobol, tmp_path):
    """The runs spread over 2 MPI ranks; the indices, the design and every run's
    output are those of the serial run, and only rank 0 prints."""
    from .test_decomposition import mpiexec
    _, directory, _, r = finished_sobol
    assert r.returncode == 0, r.stderr
    spec = _spec(tmp_path)
    two = subprocess.run([mpiexec(), "-n", "2", sys.executable, "-m", "paget", "sensitivity",
                          str(spec), "-o", "out.nc", "--no-progress"], capture_output=True,
                         text=True, cwd=tmp_path, timeout=300)
    assert two.returncode == 0, two.stderr
    assert two.stdout.count("wrote out.nc") == 1
    _same_result(xr.open_dataset(tmp_path / "out.nc", engine="h5netcdf").load(),
                 xr.open_dataset(directory / "out.nc", engine="h5netcdf").load())


@pytest.mark.parametrize("replace, fragment", [
    ({'"sites", ': '"sitez", '}, "sensitivity.outputs: 'sitez': unknown output (did you mean "
                                 "'sites'?)"),
    ({"involvement.liver": "involvement.moon"}, "unknown output"),
    ({"high = 1e-1": "high = 20"}, 'parameters."intravasation.rate".high = 20: outside the '
                                   "allowed values of intravasation.rate"),
    ({'method = "sobol"': 'method = "sobel"'}, "sensitivity.method = 'sobel': unknown method "
                                               "(did you mean 'sobol'?); allowed: 'sobol', "
                                               "'morris'"),
    ({"samples = 2": "samples = 6"}, "sensitivity.samples = 6: must be a power of two"),
    ({"samples = 2": "samples = 2\nreplicate = 2"}, "sensitivity.replicate: unknown key"),
    ({"intravasation.rate": "intravasation.rat"}, "unknown key"),
    ({"[sensitivity]": "[sensitivity]\nlevels = 3"}, "sensitivity.levels = 3: must be even"),
], ids=["output", "organ", "range", "method", "samples", "key", "parameter", "levels"])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, monkeypatch, capsys,
                                                          replace, fragment):
    import paget.cli
    spec = _spec(tmp_path, replace=replace)
    monkeypatch.chdir(tmp_path)
    assert paget.cli.main(["sensitivity", str(spec), "-o", "out.nc", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert fragment in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert [p.name for p in tmp_path.iterdir()] == ["spec.toml"]


def test_a_trial_scenario_is_refused_before_any_run(tmp_path, monkeypatch, capsys):
    import paget.cli
    (tmp_path / "trial.toml").write_text('[[arms]]\nname = "a"\n\n[[arms]]\nname = "b"\n')
    spec = _spec(tmp_path, replace={'scenario = "default"': 'scenario = "trial.toml"'})
    monkeypatch.chdir(tmp_path)
    assert paget.cli.main(["sensitivity", str(spec), "-o", "out.nc", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "arms" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.toml", "trial.toml"]


@pytest.mark.parametrize("args, fragment", [
    (["-o", "out.zarr"], "paget sensitivity writes netCDF"),
    (["-o", "out.nc", "--figure", "f.svg"], "--figure 'f.svg': must end in .png"),
    (["-o", "missing/out.nc"], "does not exist"),
], ids=["zarr", "figure", "directory"])
def test_bad_paths_are_refused_before_any_run(tmp_path, monkeypatch, capsys, args, fragment):
    import paget.cli
    spec = _spec(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert paget.cli.main(["sensitivity", str(spec), *args, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["spec.toml"]


def test_overwrite_replaces_the_result_but_reuses_the_runs_of_the_same_spec(finished_sobol,
                                                                            tmp_path):
    import shutil
    _, directory, _, r = finished_sobol
    assert r.returncode == 0, r.stderr
    for name in ("spec.toml", "out.nc", "out.png"):
        shutil.copy(directory / name, tmp_path / name)
    shutil.copytree(directory / "out.runs.zarr", tmp_path / "out.runs.zarr")
    chunks = {p: p.stat().st_mtime_ns for p in (tmp_path / "out.runs.zarr" / "sites").iterdir()}
    again = paget_cli("sensitivity", "spec.toml", "-o", "out.nc", "--overwrite", "--no-progress",
                      cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert {p: p.stat().st_mtime_ns for p in chunks} == chunks      # no run made again
    _same_result(xr.open_dataset(tmp_path / "out.nc", engine="h5netcdf").load(),
                 xr.open_dataset(directory / "out.nc", engine="h5netcdf").load())


def test_a_store_of_another_design_is_replaced_only_with_overwrite(monkeypatch):
    """PagetModel never asks run_design to overwrite a store at first (it would
    throw away the runs of this very design); only when the store is refused as
    another design's, and only with overwrite."""
    import paget.explore.sweep as sweep
    from paget.errors import PathError
    from paget.explore.sensitivity import PagetModel
    calls = []

    def run_design(design, *, overwrite, **kw):
        calls.append(overwrite)
        if not overwrite:
            raise PathError("-o 'x.runs.zarr': holds a sweep of another spec")
        n = len(design["k"])
        return xr.Dataset({"sites": (("sample", "replicate"), np.arange(n)[:, None] * 1.0,
                                     {"units": "1"})})

    monkeypatch.setattr(sweep, "run_design", run_design)
    with pytest.raises(PathError, match="^runs' store 'x.runs.zarr': holds a sweep of another"):
        PagetModel(["sites"])({"k": np.zeros(3)})
    assert calls == [False]
    calls.clear()
    out = PagetModel(["sites"], overwrite=True)({"k": np.zeros(3)})
    assert calls == [False, True] and out["sites"].tolist() == [[0.0], [1.0], [2.0]]


def test_an_existing_output_is_kept_and_a_store_of_another_spec_refused(finished_sobol,
                                                                        tmp_path):
    import shutil
    _, directory, _, r = finished_sobol
    assert r.returncode == 0, r.stderr
    spec = _spec(tmp_path, replace={"seed = 3": "seed = 4"})
    shutil.copytree(directory / "out.runs.zarr", tmp_path / "out.runs.zarr")
    (tmp_path / "old.nc").write_bytes(b"keep me")
    again = paget_cli("sensitivity", spec, "-o", "old.nc", "--no-progress", cwd=tmp_path)
    assert again.returncode == 2 and "'old.nc': exists; pass --overwrite" in again.stderr
    other = paget_cli("sensitivity", spec, "-o", "out.nc", "--no-progress", cwd=tmp_path)
    assert other.returncode == 2, other.stderr
    assert "runs' store 'out.runs.zarr': holds a sweep of another spec" in other.stderr
    assert len(other.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.nc", "out.runs.zarr", "spec.toml"]
    assert (tmp_path / "old.nc").read_bytes() == b"keep me"
