"""The keys of the Flask session are constants, each spelled in one place: a key typed twice can
drift apart in one of its places, and the logout's way back would then silently lead nowhere."""

from __future__ import annotations

import ast
from pathlib import Path

BROKER = Path(__file__).resolve().parents[2] / "broker"
SESSION_CALLS = ("get", "pop", "setdefault")


def sources() -> list[tuple[str, ast.Module]]:
    return [(str(path.relative_to(BROKER.parent)), ast.parse(path.read_text(), str(path))) for path in sorted(BROKER.rglob("*.py"))]


def is_session(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "session"


def test_no_session_key_is_spelled_as_a_string_where_it_is_used() -> None:
    spelled = []
    for name, tree in sources():
        for node in ast.walk(tree):
            key: ast.expr | None = None
            if isinstance(node, ast.Subscript) and is_session(node.value):
                key = node.slice
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and is_session(node.func.value)
                and node.func.attr in SESSION_CALLS
                and node.args
            ):
                key = node.args[0]
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                spelled.append(f"{name}:{key.lineno}: {key.value!r}")
    assert spelled == []


def test_the_logouts_session_keys_are_defined_once_beside_each_other_in_the_pages_module() -> None:
    defined: dict[str, list[str]] = {"AFTER_LOGOUT": [], "LOGOUT_PORTAL": []}
    values: dict[str, object] = {}
    for name, tree in sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id in defined:
                        defined[target.id].append(name)
                        values[target.id] = ast.literal_eval(node.value)
    assert defined == {"AFTER_LOGOUT": ["broker/web/pages.py"], "LOGOUT_PORTAL": ["broker/web/pages.py"]}
    assert len(set(values.values())) == 2
