"""docs/validation/growth_factor_scan.py: the factor set in the shared block, the
choice with its leave-one-out check, and the scenario files restored even on error."""
from __future__ import annotations

import pytest

from tests.helpers import validation_module

scan_mod = validation_module("growth_factor_scan")

BLOCK = ("[colonization.fate]\ndie = 0.9\ndormant = 0.05\ngrow = 0.05\n"
         "efficiency = { default = 1.0 }\n\n# next\n")


def test_the_factor_is_added_after_the_fates_then_rewritten_in_place():
    once = scan_mod.set_factor(BLOCK, 2.0)
    assert "efficiency = { default = 1.0 }\n\n[colonization.metastasis_growth]\n" \
           "rate_factor = 2.0\n" in once
    twice = scan_mod.set_factor(once, 1.5)
    assert twice == once.replace("rate_factor = 2.0", "rate_factor = 1.5")
    # a comment between the table's head and the key is kept
    commented = once.replace("growth]\nrate_factor", "growth]\n# why\nrate_factor")
    assert "# why\nrate_factor = 3.0\n" in scan_mod.set_factor(commented, 3.0)


def test_the_choice_is_the_least_summed_error_and_each_row_left_out_chooses_too():
    scan = {"1.0": {"rows": {"a": {"mae_pp": 9.0}, "b": {"mae_pp": 2.0}, "c": {"mae_pp": 8.0}}},
            "2.0": {"rows": {"a": {"mae_pp": 4.0}, "b": {"mae_pp": 6.0}, "c": {"mae_pp": 4.0}}}}
    got = scan_mod.choose(scan)
    assert got["chosen"] == "2.0"
    assert got["summed_mae_pp"] == {"1.0": 19.0, "2.0": 14.0}
    # without c, 1.0 sums 11 and 2.0 sums 10; without a, 10 against 10: the first wins
    assert got["leave_one_out"] == {"a": "1.0", "b": "2.0", "c": "2.0"}


def test_the_scenario_files_are_restored_even_when_a_round_fails(monkeypatch, tmp_path):
    files = [tmp_path / "x.toml", tmp_path / "y.toml"]
    for p in files:
        p.write_text("# BEGIN SHARED ORGANS\n" + BLOCK)
    monkeypatch.setattr(scan_mod, "shared_block_files", lambda: files)
    monkeypatch.setattr(scan_mod, "start_texts", lambda commit: {p: p.read_text() + "# old\n"
                                                                 for p in files})

    def boom(*args, **kwargs):
        assert "rate_factor = 2.0" in files[0].read_text()    # set for the round
        raise RuntimeError("round failed")
    monkeypatch.setattr(scan_mod.calibrate_module(), "full_model_round", boom)
    with pytest.raises(RuntimeError, match="round failed"):
        scan_mod.main(["--factors", "2", "--out", str(tmp_path / "out.json")])
    assert all(p.read_text() == "# BEGIN SHARED ORGANS\n" + BLOCK for p in files)
    assert not (tmp_path / "out.json").exists()
