"""docs/validation/soil_cap_scan.py leaves calibrate.SOIL_CAP as it found it."""
from __future__ import annotations

import pytest

from tests.helpers import validation_module

scan_mod = validation_module("soil_cap_scan")


def test_the_cap_is_set_for_the_scan_and_restored_after_it_even_on_error(monkeypatch):
    calibrate = scan_mod.calibrate
    kept = calibrate.SOIL_CAP
    seen = []
    monkeypatch.setattr(scan_mod, "_scan", lambda cap: seen.append(calibrate.SOIL_CAP) or {})
    scan_mod.scan(kept + 5.0)
    assert seen == [kept + 5.0] and calibrate.SOIL_CAP == kept

    def boom(cap):
        raise RuntimeError("fit failed")
    monkeypatch.setattr(scan_mod, "_scan", boom)
    with pytest.raises(RuntimeError, match="fit failed"):
        scan_mod.scan(kept * 3)
    assert calibrate.SOIL_CAP == kept
