"""The import rules (docs/architecture.md, 'Import rules'): between packages and between the broker's
wings, checked on the source with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
THIRD_PARTY_WEB = {"flask", "werkzeug", "sqlalchemy", "flask_sqlalchemy", "alembic", "marshmallow"}
FORBIDDEN = {
    "matching": THIRD_PARTY_WEB | {"requests", "authlib", "joserfc", "cryptography", "gostcrypto", "broker", "providers", "mock_esia"},
    "providers": {"flask", "werkzeug", "sqlalchemy", "flask_sqlalchemy", "alembic", "broker", "mock_esia"},
    "broker": {"mock_esia"},
    "mock_esia": {"broker", "matching", "providers", "sqlalchemy", "flask_sqlalchemy", "requests", "authlib"},
    "gost": {"broker", "matching", "providers", "mock_esia"},
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


def test_the_gost_library_imports_the_standard_library_only() -> None:
    """Both the ESIA client (``providers``) and the mock depend on ``gost``: it holds primitives only,
    so that protocol code cannot pass from one to the other through it, and needs no third party."""
    import sys

    allowed = set(sys.stdlib_module_names) | {"gost"}
    for path in (ROOT / "gost").rglob("*.py"):
        assert imported_top_level_names(path) <= allowed, path


def test_the_client_and_the_mock_do_their_gost_cryptography_through_the_shared_library() -> None:
    """``gostcrypto`` is the tests' independent reference, not a dependency of the code under test."""
    for package in ("providers", "mock_esia", "gost"):
        for path in (ROOT / package).rglob("*.py"):
            assert "gostcrypto" not in imported_top_level_names(path), path


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


# --- the broker's wings --------------------------------------------------------------------------
#
# The base modules sit below every wing; the wings sit in one order, each importing only base
# modules and the wings below it; a wing's views and commands are entry points that only the
# composition root imports (``create_app`` the views, ``broker.cli`` the commands).

WINGS = ("oidc", "staff", "regions", "registry", "login", "support", "ops", "api")  # low to high
BASE_TOP_LEVEL = {"config", "errors", "extensions", "keyring", "clock", "digests", "commandline", "services"}
BASE_PACKAGES = {"db", "web"}
ROOT_OF = {"views": "broker", "cli": "broker.cli"}  # the one module that may import a wing's views, its commands

#: The composition: ``create_app`` (``broker``), the services it builds (``broker.wiring``) and the
#: command group (``broker.cli``) wire the wings together and sit above every rule.
COMPOSITION = {"broker", "broker.wiring", "broker.cli"}


def broker_modules() -> dict[str, Path]:
    modules = {}
    for path in sorted((ROOT / "broker").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = broker_modules()


def imported_broker_modules(name: str) -> set[str]:
    """The broker modules ``name`` imports (``from broker.x import y`` is ``broker.x.y`` when y is a module)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    imported: set[str] = set()
    for node in runtime_nodes(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *filter(None, [node.module])])
            imported.update(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names)
    return {module for module in imported if module in MODULES and module != name}


def runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:`` (an import for annotations only is no dependency at run time)."""
    nodes: list[ast.AST] = []
    pending = [tree]
    while pending:
        node = pending.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))
    return nodes


IMPORTS = {name: imported_broker_modules(name) for name in MODULES}


def part(name: str) -> str:
    """``broker.login.views`` -> ``login``; a top-level module -> its own name; the package -> ``broker``."""
    return name.split(".")[1] if "." in name else name


def is_base(name: str) -> bool:
    return part(name) in BASE_TOP_LEVEL | BASE_PACKAGES


def wing(name: str) -> str | None:
    return part(name) if part(name) in WINGS else None


def entry_kind(name: str) -> str | None:
    """``views`` for a wing's ``views.py`` or ``*views.py``, ``cli`` for a package's ``cli.py``."""
    last = name.rsplit(".", 1)[-1]
    if "." not in name.removeprefix("broker."):
        return None  # a top-level module (broker/cli.py is the root, not an entry point)
    return "views" if last.endswith("views") else "cli" if last == "cli" else None


def base_offences(base: str) -> set[tuple[str, str]]:
    return {
        (module, imported)
        for module in MODULES if part(module) == base
        for imported in IMPORTS[module] if not is_base(imported)
    }  # fmt: skip


def entry_offences(entry: str) -> set[tuple[str, str]]:
    root = ROOT_OF[entry_kind(entry) or ""]
    return {(module, entry) for module, imported in IMPORTS.items() if entry in imported and module != root}


def wing_offences(name: str) -> set[tuple[str, str]]:
    allowed = set(WINGS[: WINGS.index(name) + 1])
    return {
        (module, imported)
        for module in MODULES if wing(module) == name and not entry_kind(module)
        for imported in IMPORTS[module]
        if not is_base(imported) and (wing(imported) not in allowed or entry_kind(imported))
    }  # fmt: skip


BASE = sorted({part(name) for name in MODULES if is_base(name)})  # top-level modules, and db and web whole
ENTRY_POINTS = sorted(name for name in MODULES if entry_kind(name))


def breaking(pairs: set[tuple[str, str]]) -> str:
    return "\n".join(sorted(f"{module} -> {imported}" for module, imported in pairs))


def test_every_broker_module_is_a_root_a_base_module_or_in_a_wing() -> None:
    unplaced = sorted(name for name in MODULES if name not in COMPOSITION and not is_base(name) and not wing(name))
    assert unplaced == [], f"add these to BASE_TOP_LEVEL, BASE_PACKAGES or WINGS: {unplaced}"


@pytest.mark.parametrize("base", BASE)
def test_a_base_module_imports_no_wing(base: str) -> None:
    offences = breaking(base_offences(base))
    assert not offences, f"a base module imports a wing or a composition root:\n{offences}"


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_views_and_commands_are_imported_by_the_composition_root_only(entry: str) -> None:
    offences = breaking(entry_offences(entry))
    assert not offences, f"only {ROOT_OF[entry_kind(entry) or '']} may import {entry}:\n{offences}"


@pytest.mark.parametrize("name", WINGS)
def test_a_wings_services_import_base_modules_and_lower_wings_only(name: str) -> None:
    below = ", ".join(WINGS[: WINGS.index(name)]) or "none"
    offences = breaking(wing_offences(name))
    assert not offences, f"{name}'s services may import base modules, {name} and the wings below ({below}):\n{offences}"
