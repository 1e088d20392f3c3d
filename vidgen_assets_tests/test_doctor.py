"""`vidgen doctor`'s checks of settings that fail later and far away: VIDGEN_FIRST_DAY, the SQLAlchemy pin, music and LLM."""

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


def test_music_and_prompt_writer_settings_that_would_fail_are_named(vidgen_home, monkeypatch):
    monkeypatch.setenv("VIDGEN_MUSIC_MODEL", "nosuch")
    monkeypatch.setenv("VIDGEN_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    checks = {c.name: c for c in doctor.run_checks(lambda: None)}
    assert checks["music model"].status == "MISSING" and "unknown music model 'nosuch'" in checks["music model"].detail
    assert checks["prompt writer"].status == "MISSING" and "VIDGEN_LLM_MODEL is not" in checks["prompt writer"].detail
    # A model named but nothing listening: a warning (theme days are rejected), and the key never shown.
    monkeypatch.setenv("VIDGEN_LLM_MODEL", "m")
    monkeypatch.setenv("VIDGEN_LLM_API_KEY", "sk-doctor-secret-123")
    monkeypatch.setenv("VIDGEN_MUSIC_MODEL", "tiny-music")
    found = doctor._writer()
    assert found.status == "warn" and "unreachable" in found.detail and "sk-doctor" not in found.detail
    assert [c.status for c in doctor._music()] == ["ok", "ok"]
