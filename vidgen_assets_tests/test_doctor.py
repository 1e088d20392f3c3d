"""`vidgen doctor`'s checks of settings that fail later and far away: VIDGEN_FIRST_DAY and the SQLAlchemy pin."""

from __future__ import annotations

from importlib import metadata

import pytest

from vidgen_assets.lib import doctor


def test_a_bad_first_day_is_a_failing_check(monkeypatch):
    monkeypatch.setenv("VIDGEN_FIRST_DAY", "2026-13-01")
    check = doctor._first_day()
    assert (check.ok, check.required, check.status) == (False, True, "MISSING")
    assert check.detail == "VIDGEN_FIRST_DAY='2026-13-01' is not a day (YYYY-MM-DD)"
    monkeypatch.setenv("VIDGEN_FIRST_DAY", "2024-01-01")
    assert doctor._first_day().ok and "2024-01-01" in doctor._first_day().detail


def test_the_pin_is_read_from_the_installed_metadata():
    assert doctor._sqlalchemy_pin().replace(" ", "") in ("sqlalchemy<2.1,>=2.0.40", "sqlalchemy>=2.0.40,<2.1")


@pytest.mark.parametrize(("installed", "ok"), [("2.0.40", True), ("2.0.58", True), ("2.1.0", False),
                                               ("2.1.0b1", False), ("2.0.39", False)])  # fmt: skip
def test_sqlalchemy_outside_the_pin_fails_and_says_to_rerun_setup(monkeypatch, installed, ok):
    real = metadata.version
    monkeypatch.setattr(doctor.metadata, "version", lambda name: installed if name.lower() == "sqlalchemy" else real(name))
    check = doctor._sqlalchemy()
    assert check.ok is ok and check.required and installed in check.detail
    assert ("re-run `make setup`" in check.detail) is not ok


def test_run_checks_reports_both_without_raising(vidgen_home, monkeypatch):
    monkeypatch.setenv("VIDGEN_FIRST_DAY", "not-a-day")
    real = metadata.version
    monkeypatch.setattr(doctor.metadata, "version", lambda name: "2.1.3" if name.lower() == "sqlalchemy" else real(name))
    monkeypatch.setattr(doctor, "_warehouse", lambda: doctor.Check("warehouse", True, "skipped here"))
    checks = {c.name: c for c in doctor.run_checks(lambda: None)}
    assert not checks["VIDGEN_FIRST_DAY"].ok and not checks["SQLAlchemy"].ok
