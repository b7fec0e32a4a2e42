"""What the appraisal tests share: an editable copy of the shipped measure library."""

from __future__ import annotations

import shutil

import pytest

from retrofit.paths import DATA_DIR


@pytest.fixture
def library_copy(tmp_path):
    """An editable copy of the shipped library (measures, packages and the appraisal tables)."""
    folder = tmp_path / "library"
    folder.mkdir()
    shutil.copy(DATA_DIR / "measures.csv", folder)
    shutil.copy(DATA_DIR / "packages.csv", folder)
    shutil.copytree(DATA_DIR / "appraisal", folder / "appraisal")
    return folder
