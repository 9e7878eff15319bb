"""paget plot: four PNG figures of a result file, on today's output and on a
trial with arms and treatment readouts; bad input exits with status 2."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import paget  # noqa: E402
from paget.cli import main  # noqa: E402
from paget.output import write_dataset  # noqa: E402
from paget.plot import FIGURES, read_result  # noqa: E402

from .trial_data import trial_dataset  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def result_file(tmp_path_factory) -> Path:
    """A small real run, written as `paget run -o` does."""
    ds = paget.Simulation.from_scenario("default", {"cohort": {"patients": 4, "years": 2}}).run()
    return write_dataset(ds, tmp_path_factory.mktemp("run") / "cohort.nc")


def _assert_pngs(directory: Path) -> None:
    for name in FIGURES:
        data = (directory / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 5000, name


def test_plot_writes_four_pngs_next_to_the_file(result_file, capsys):
    assert main(["plot", str(result_file)]) == 0
    directory = result_file.with_name("cohort_plots")
    _assert_pngs(directory)
    printed = capsys.readouterr().out.split()
    assert printed == [str(directory / name) for name in FIGURES]


def test_a_trial_with_arms_and_treatment_readouts_into_a_directory(tmp_path, capsys):
    """Arms, therapy lines and event markers, through netCDF, with -o and --patients."""
    path = write_dataset(trial_dataset(patients=15), tmp_path / "trial.nc")
    ds = read_result(path)
    assert ds["arm"].values.tolist() == ["control", "treatment"]
    assert ds["alive"].dtype == bool and np.issubdtype(ds["therapy_line"].dtype, np.integer)
    out = tmp_path / "figs" / "here"
    assert main(["plot", str(path), "-o", str(out), "--patients", "7"]) == 0
    _assert_pngs(out)
    assert capsys.readouterr().out.split() == [str(out / name) for name in FIGURES]
    assert not (tmp_path / "trial_plots").exists()


def _plot_error(args, capsys) -> str:
    assert main(["plot", *map(str, args)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert captured.err.startswith("paget: error: ")
    return captured.err


def test_a_missing_file_is_named_with_status_2(tmp_path, capsys):
    err = _plot_error([tmp_path / "nope.nc"], capsys)
    assert "nope.nc" in err and "no such file" in err
    assert list(tmp_path.iterdir()) == []


def test_an_unreadable_file_is_named_with_status_2(tmp_path, capsys):
    bad = tmp_path / "bad.nc"
    bad.write_text("not netCDF")
    err = _plot_error([bad], capsys)
    assert "bad.nc" in err and "cannot be read" in err
    assert not (tmp_path / "bad_plots").exists()


def test_a_file_without_a_needed_variable_is_named(tmp_path, capsys):
    ds = trial_dataset(patients=2).drop_vars("death_time")
    path = write_dataset(ds, tmp_path / "partial.nc")
    assert "'death_time'" in _plot_error([path], capsys)


def test_patients_must_be_positive(result_file, capsys):
    assert "--patients 0" in _plot_error([result_file, "--patients", 0], capsys)


def test_the_exit_status_of_the_command(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "paget", "plot", str(tmp_path / "x.nc")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "x.nc" in proc.stderr


def test_an_unwritable_directory_is_a_failure_not_a_traceback(result_file, tmp_path, capsys):
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a directory")
    assert main(["plot", str(result_file), "-o", str(blocker)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("paget: error: ") and "taken" in err


def test_numbers_at_risk_at_the_end_of_followup(result_file, tmp_path, monkeypatch):
    """Two years of whole days end on day 730 = 1.9986 y: the tick at 2 y counts
    the patients followed to the end, not 0."""
    from matplotlib.figure import Figure

    from paget import analysis, plot
    tables = []
    real_savefig = Figure.savefig

    def spy(fig, *args, **kw):
        tables.extend([t.get_text() for t in ax.texts] for ax in fig.axes if ax.texts)
        return real_savefig(fig, *args, **kw)

    monkeypatch.setattr(Figure, "savefig", spy)
    ds = read_result(result_file)
    plot.plot_survival(ds, tmp_path / "s.png")
    assert len(tables) == 2                       # OS and MFS, one arm each
    for texts, endpoint in zip(tables, ("os", "mfs")):
        s = analysis.survival(ds, endpoint)
        assert texts[0] == "4"
        assert texts[-1] == str(int((s.time >= float(ds.time[-1])).sum()))
