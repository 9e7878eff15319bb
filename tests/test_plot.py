"""paget plot: four PNG figures of a result file, on today's output and on a
trial with arms and treatment readouts; bad input exits with status 2."""
from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

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


def test_plot_writes_every_figure_next_to_the_file(result_file, capsys):
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


# --------------------------------------------------------------------------
# what the figures show: the matplotlib objects, caught as they are saved
# --------------------------------------------------------------------------

LONG_ARMS = ("surgery alone", "adjuvant chemotherapy",
             "chemotherapy, then immunotherapy at progression")


@pytest.fixture
def figures(monkeypatch):
    """Every Figure saved while the test runs, after it was drawn and saved."""
    from matplotlib.figure import Figure
    saved = []
    real_savefig = Figure.savefig

    def spy(fig, *args, **kw):
        out = real_savefig(fig, *args, **kw)
        saved.append(fig)
        return out

    monkeypatch.setattr(Figure, "savefig", spy)
    return saved


def _outside(fig) -> list[str]:
    """The legends and axes (with their labels, titles and texts) that stick
    out of ``fig``, as drawn."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    artists = [(f"legend {i}", leg.get_window_extent(renderer))
               for i, leg in enumerate(fig.legends)]
    artists += [(f"legend of {ax.get_title()!r}", ax.get_legend().get_window_extent(renderer))
                for ax in fig.axes if ax.get_legend()]
    artists += [(f"axes {ax.get_title()!r}", ax.get_tightbbox(renderer)) for ax in fig.axes]
    return [name for name, e in artists
            if e.x0 < box.x0 - 1 or e.y0 < box.y0 - 1 or e.x1 > box.x1 + 1 or e.y1 > box.y1 + 1]


def _survival_axes(fig):
    """The two Kaplan-Meier panels (OS, MFS) and their number-at-risk tables."""
    km = [ax for ax in fig.axes if ax.get_title()]
    tables = [ax for ax in fig.axes if ax.get_title(loc="left") == "number at risk"]
    assert len(km) == 2 and len(tables) == 2
    return km, tables


def test_the_trial_survival_figure_keeps_its_layout_and_legends_inside(tmp_path, figures):
    """Three arms with long names: no constrained-layout warning, panels of a
    real width, every legend and label inside the figure."""
    from paget import plot
    ds = trial_dataset(patients=8, arms=LONG_ARMS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plot.plot_survival(ds, tmp_path / "s.png")
        (fig,) = figures
        assert _outside(fig) == []
    km, tables = _survival_axes(fig)
    for ax in km + tables:
        assert ax.get_position().width > 0.25        # not collapsed
    # the arms, each named once (in the figure's legend), in their colours
    (legend,) = fig.legends
    assert [t.get_text().replace("\n", " ") for t in legend.get_texts()] == list(LONG_ARMS)


def test_each_survival_panel_says_what_its_event_is(result_file, tmp_path, figures):
    from paget import plot
    plot.plot_survival(read_result(result_file), tmp_path / "s.png")
    (os_ax, mfs_ax), _ = _survival_axes(figures[0])
    assert os_ax.get_title() == "Overall survival\n(event: death)"
    assert mfs_ax.get_title() == ("Metastasis-free survival\n"
                                  "(event: first detected metastasis or death)")


def _diagnosed(patients: int, never: list[int]):
    """A two-arm trial whose patients in ``never`` were not diagnosed, the
    others at day 60 + 10 * patient or halfway to death, whichever is first."""
    ds = trial_dataset(patients=patients)
    diag = np.fmin(60.0 + 10.0 * np.arange(patients), 0.5 * ds.death_time.values)
    diag[:, never] = np.nan
    return ds.assign(diagnosis_time=(("arm", "patient"), diag, {"units": "days"}))


def test_survival_from_diagnosis(tmp_path, figures, capsys):
    from paget import analysis
    ds = _diagnosed(6, never=[1, 4])
    path = write_dataset(ds, tmp_path / "trial.nc")
    assert main(["plot", str(path), "-o", str(tmp_path / "diag"), "--origin", "diagnosis"]) == 0
    fig = figures[0]
    (os_ax, _), tables = _survival_axes(fig)
    assert all(t.get_xlabel() == "years since diagnosis" for t in tables)
    assert fig._suptitle.get_text() == ("Time from each patient's diagnosis; 2 of 6 patients "
                                        "per arm never diagnosed during follow-up, left out")
    # the numbers at risk start from the 4 diagnosed patients of each arm
    texts = [t.get_text() for t in tables[0].texts]
    assert texts[0] == "4" and texts.count("4") >= 2
    # each curve steps at (death - diagnosis) of a diagnosed patient
    end = float(ds.time[-1])
    control = ds.sel(arm="control")
    death = control.death_time.values
    keep = np.isfinite(death) & (death <= end) & np.isfinite(control.diagnosis_time.values)
    steps = (death - control.diagnosis_time.values)[keep] / 365.25
    x = os_ax.lines[0].get_xdata()
    assert np.allclose(np.sort(steps), np.intersect1d(x, steps))
    s = analysis.survival(ds, "os", arm="control", origin="diagnosis")
    assert int(s.included.sum()) == 4

    # the default: from the start of the run, everyone counted, no note
    from paget import plot
    figures.clear()
    plot.plot_survival(read_result(path), tmp_path / "start.png")
    _, tables = _survival_axes(figures[0])
    assert tables[0].get_xlabel() == "years since the start of the run"
    assert tables[0].texts[0].get_text() == "6"
    assert figures[0]._suptitle is None


def test_origin_diagnosis_without_diagnosis_time_is_one_line(tmp_path, capsys):
    path = write_dataset(trial_dataset(patients=3).drop_vars("diagnosis_time"),
                         tmp_path / "old.nc")
    err = _plot_error([path, "--origin", "diagnosis"], capsys)
    assert "--origin diagnosis" in err and "old.nc" in err and "'diagnosis_time'" in err
    assert not (tmp_path / "old_plots").exists()
    # a file whose patients were never diagnosed
    path = write_dataset(_diagnosed(3, never=[0, 1, 2]), tmp_path / "none.nc")
    err = _plot_error([path, "--origin", "diagnosis"], capsys)
    assert "no patient was diagnosed" in err
    assert not (tmp_path / "none_plots").exists()


@pytest.mark.parametrize("args, words", [
    (["--origin", "birth"], ["--origin", "'birth'", "start", "diagnosis"]),
    (["--patients", "many"], ["--patients", "'many'"]),
    ([], ["OUT"]),
])
def test_bad_plot_arguments_are_one_line_with_status_2(tmp_path, capsys, args, words):
    path = [str(tmp_path / "x.nc")] if args else []
    with pytest.raises(SystemExit) as stop:
        main(["plot", *path, *args])
    assert stop.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert captured.err.startswith("paget: error: plot: ")
    assert all(w in captured.err for w in words)


def test_the_site_colours_scale_to_the_data(tmp_path, figures):
    """Shares of 5 and 10 %: the colour bar ends at 10 %, not at 100 %."""
    from paget import plot
    ds = trial_dataset(patients=20, arms=("only",)).squeeze("arm", drop=True)
    ds = ds.drop_vars(["lesion_arm", "clone_arm"])
    lesions = xr.zeros_like(ds.detectable_lesions)
    lesions.loc[{"patient": 0, "organ": "lung"}] = 1
    lesions.loc[{"patient": [1, 2], "organ": "liver"}] = 1
    plot.plot_sites(ds.assign(detectable_lesions=lesions), tmp_path / "sites.png")
    fig = figures[0]
    ax, bar = fig.axes
    (image,) = ax.get_images()
    assert (image.norm.vmin, image.norm.vmax) == (0.0, 10.0)
    assert "(%)" in bar.get_ylabel()
    cells = {t.get_text() for t in ax.texts}
    assert cells == {"0", "5", "10"}


def _ranked_trial():
    """Ten patients whose deaths in the control arm rank them
    1, 5 (alive at the end), 3, 8, 6, 9, 0, 4, 7, 2 (longest first)."""
    ds = trial_dataset(patients=10)
    death = ds.death_time.values.copy()
    death[0] = [500, np.nan, 100, 900, 300, np.nan, 700, 200, 800, 600]
    none = np.full_like(death, np.nan)
    return ds.assign(death_time=(("arm", "patient"), death),
                     first_detected_metastasis_time=(("arm", "patient"), none))


def test_the_swimmer_patients_are_chosen_by_a_stated_rule():
    from paget.plot import swimmer_patients
    ds = _ranked_trial()
    ids, rule = swimmer_patients(ds, 4)
    assert ids == [1, 8, 0, 2]                       # ranks 0, 3, 6, 9 of 10
    assert rule == ("4 of 10 patients, evenly spaced in the ranking by overall survival "
                    "(ties: metastasis-free survival) in the arm 'control'; the same patients "
                    "in every arm")
    assert swimmer_patients(ds, 1)[0] == [6]          # the middle of the ranking
    assert swimmer_patients(ds, 50) == ([1, 5, 3, 8, 6, 9, 0, 4, 7, 2],
                                        "all 10 patients; the same patients in every arm")
    single = ds.sel(arm="control").drop_vars(["lesion_arm", "clone_arm"])
    assert swimmer_patients(single, 4) == ([1, 8, 0, 2], rule.split(" in the arm")[0])


def test_a_trial_swimmer_shows_the_same_patients_in_every_arm(tmp_path, figures):
    from paget import plot
    ds = _ranked_trial()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plot.plot_swimmer(ds, tmp_path / "swimmer.png", patients=4)
        fig = figures[0]
        assert _outside(fig) == []
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["control", "treatment"]
    rows = [[int(t.get_text()) for t in panels[0].get_yticklabels()]]
    assert rows == [[1, 8, 0, 2]]
    assert panels[1].get_shared_y_axes().joined(panels[0], panels[1])
    assert "evenly spaced in the ranking by overall survival" in \
        fig._suptitle.get_text().replace("\n", " ")


def test_the_trial_burden_legend_covers_no_panel(tmp_path, figures):
    """Long arm names: the arms' legend goes under the panels, not over a curve."""
    from paget import plot
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plot.plot_burden(trial_dataset(patients=4, arms=LONG_ARMS), tmp_path / "burden.png")
        fig = figures[0]
        assert _outside(fig) == []
    renderer = fig.canvas.get_renderer()
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    assert len(legends) == 1
    box = legends[0].get_window_extent(renderer)
    assert not any(box.overlaps(ax.get_window_extent(renderer)) for ax in fig.axes
                   if ax.get_visible())
    assert [t.get_text().replace("\n", " ") for t in legends[0].get_texts()] == list(LONG_ARMS)
