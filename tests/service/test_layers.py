"""Queries in store/, rules in service/: no service module builds SQL or imports SQLAlchemy."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import retrofit.service

SERVICE = Path(retrofit.service.__file__).parent
MODULES = sorted(SERVICE.glob("*.py"))
SQL_BUILDERS = {"select", "insert", "update", "delete", "text"}  # SQLAlchemy's, called by their bare names
SQL_WORDS = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b", re.DOTALL)


def test_there_are_service_modules_to_check():
    assert {path.name for path in MODULES} >= {"access.py", "review.py", "workspace.py"}


@pytest.mark.parametrize("path", MODULES, ids=[path.name for path in MODULES])
def test_a_service_builds_no_sql(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):  # function-local imports and calls too
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {alias.name}" for alias in node.names
                      if alias.name.split(".")[0] == "sqlalchemy"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            found.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in SQL_BUILDERS:
            found.append(f"line {node.lineno}: {node.func.id}(...)")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_WORDS.search(node.value):
            found.append(f"line {node.lineno}: SQL text {node.value[:40]!r}")
    assert not found, f"{path.name} builds SQL; its queries belong in retrofit/store/: {found}"
