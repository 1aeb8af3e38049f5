"""The import rules (docs/architecture.md, 'Import rules'), checked on the source with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
THIRD_PARTY_WEB = {"flask", "werkzeug", "sqlalchemy", "flask_sqlalchemy", "alembic", "marshmallow"}
FORBIDDEN = {
    "matching": THIRD_PARTY_WEB
    | {"requests", "authlib", "joserfc", "cryptography", "gostcrypto", "broker", "providers", "mock_esia"},
    "providers": {"flask", "werkzeug", "sqlalchemy", "flask_sqlalchemy", "alembic", "broker", "mock_esia"},
    "broker": {"mock_esia"},
    "mock_esia": {"broker", "matching", "providers", "sqlalchemy", "flask_sqlalchemy", "requests", "authlib"},
}


def imported_top_level_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_its_layer_allows(package: str) -> None:
    offences = {
        str(path.relative_to(ROOT)): sorted(imported_top_level_names(path) & FORBIDDEN[package])
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert {path: names for path, names in offences.items() if names} == {}


def test_matching_imports_the_standard_library_only() -> None:
    import sys

    allowed = set(sys.stdlib_module_names) | {"matching"}
    for path in (ROOT / "matching").rglob("*.py"):
        assert imported_top_level_names(path) <= allowed, path


def test_no_test_module_imports_another() -> None:
    """Helpers shared by tests live in modules of their own (``tests/world.py``, ``tests/broker/staffing.py``, …):
    importing a test module runs its fixtures' and parametrisations' module-level code twice and
    ties unrelated tests together."""
    offences = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            if any(name.rsplit(".", 1)[-1].startswith("test_") for name in modules):
                offences.append(str(path.relative_to(ROOT)))
    assert offences == []
