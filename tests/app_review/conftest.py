"""A var folder with a SQLite database holding one run of known homes (four per city) and its people."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrofit.service import access
from retrofit.store import open_database
from tests.reviewing import MANAGER, store_run


@pytest.fixture
def review_var(tmp_path, monkeypatch) -> Path:
    """var/ with run #1 (homes BHM-*, COV-*, WLV-*) and a Coventry partner, a viewer and a manager registered."""
    monkeypatch.setenv("RETROFIT_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("RETROFIT_DATABASE_URL", raising=False)
    monkeypatch.setenv("RETROFIT_USER", "desk-7")
    engine = open_database()
    store_run(engine)
    access.add_user(engine, MANAGER, "cora@coventry.example", "city_partner", "Coventry", name="Cora")
    access.add_user(engine, MANAGER, "vic@westmids.example", "viewer", name="Vic")
    access.add_user(engine, MANAGER, "pat@westmids.example", "programme_manager", name="Pat")
    engine.dispose()
    return tmp_path
