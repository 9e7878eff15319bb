"""docs/validation/regenerate.py: one command runs every results script, then renders the page."""
from __future__ import annotations

import pytest

from tests.helpers import VALIDATION, validation_module

regenerate = validation_module("regenerate")


def test_every_step_names_a_script_of_the_folder_and_the_page_is_rendered_last(capsys):
    assert regenerate.main(["--patients", "200", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "last:   python docs/validation/report.py --reuse"
    scripts = {ln.split("docs/validation/")[1].split()[0] for ln in lines}
    assert scripts == {"level.py", "crossval.py", "report.py", "clinical.py",
                       "migration_shares.py"}
    assert all((VALIDATION / s).is_file() for s in scripts)
    # the cohorts of the autopsy comparison, the three cross-validations and the
    # migration shares are the --patients given
    sized = [ln for ln in lines if "--patients 200" in ln]
    assert len(sized) == 5 + len(regenerate.REPLICATE_SEEDS)
    # the full-model folds rewrite the scenario files: run alone, after the lanes,
    # the main run first, then its seed replicates, each from a seed of its own
    alone = [ln for ln in lines if ln.startswith("alone:")]
    assert lines[-1 - len(alone):-1] == alone and all("--body full" in ln for ln in alone)
    assert "--replicate" not in alone[0] and "--seed" not in alone[0]
    seeds = [ln.split("--seed ")[1].split()[0] for ln in alone[1:]]
    assert all(ln.endswith("--replicate") for ln in alone[1:])
    assert len(set(seeds)) == len(seeds) >= 2
    logs = {regenerate._log_name(ln.split("docs/validation/")[1].split()) for ln in alone}
    assert len(logs) == len(alone)
    # the committed body's prediction reads the level relation: same lane, after it
    lane1 = [ln for ln in lines if ln.startswith("lane 1")]
    assert "level.py" in lane1[0] and "--body committed" in lane1[1]


def test_a_failing_step_stops_its_lane_and_the_page_is_not_rendered(tmp_path, monkeypatch, capsys):
    ran = []
    monkeypatch.setattr(regenerate, "lanes", lambda n: [[["no_such_script.py"], ["level.py"]],
                                                         [["also_missing.py"]]])
    real = regenerate.run_step

    def spy(cmd, logs):
        ran.append(cmd[0])
        return real(cmd, logs)
    monkeypatch.setattr(regenerate, "run_step", spy)
    assert regenerate.main(["--logs", str(tmp_path)]) == 1
    # level.py, the full-model folds and --reuse not run
    assert sorted(ran) == ["also_missing.py", "no_such_script.py"]
    err = capsys.readouterr().err
    assert "2 steps failed: " in err and "no_such_script.py" in err and "not rendered" in err
    assert (tmp_path / "no_such_script.log").read_text()   # the interpreter's complaint is kept


def test_patients_below_one_is_refused(capsys):
    with pytest.raises(SystemExit) as e:
        regenerate.main(["--patients", "0", "--dry-run"])
    assert e.value.code == 2
    assert "--patients must be at least 1 (got 0)" in capsys.readouterr().err


def test_the_migration_table_names_each_class_once():
    """migration_shares.py's table: one column per class of paget.migration.PATTERNS,
    'none' (no metastasis) once and last (it was listed twice)."""
    from paget.migration import PATTERNS
    shares = validation_module("migration_shares")
    header = shares.table({"x": {k: 1.0 for k in shares.KEYS}}, 3).splitlines()[0]
    cols = [c.strip() for c in header.strip("|").split("|")][2:]
    assert cols == list(dict.fromkeys(PATTERNS)) and cols[-1] == "none"
    assert len(cols) == len(set(cols))
