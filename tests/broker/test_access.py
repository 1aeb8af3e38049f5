"""The role and region-scope rules every staff page and API route relies on."""

from __future__ import annotations

import pytest
from flask import Flask

from broker.staff import access
from broker.staff.accounts import Role
from tests.broker.staffing import make_staff


@pytest.mark.parametrize(
    ("role", "regions", "code", "can_view", "can_manage"),
    [
        ("admin", (), "77", True, True),
        ("admin", (), "41", True, True),
        ("operator", ("77", "50"), "77", True, True),
        ("operator", ("77", "50"), "50", True, True),
        ("operator", ("77", "50"), "78", False, False),
        ("support", (), "77", True, False),
        ("support", (), "41", True, False),
    ],
)
def test_who_may_view_and_manage_a_region(
    app: Flask, role: str, regions: tuple[str, ...], code: str, can_view: bool, can_manage: bool
) -> None:
    member = make_staff("someone", role=role, regions=regions)
    assert access.can_view_region(member, code) is can_view
    assert access.can_manage_region(member, code) is can_manage


@pytest.mark.parametrize(
    ("role", "required", "allowed"),
    [
        ("admin", (Role.OPERATOR,), True),  # admins pass every role check
        ("admin", (Role.SUPPORT,), True),
        ("operator", (Role.OPERATOR,), True),
        ("operator", (Role.ADMIN,), False),
        ("operator", (Role.SUPPORT,), False),
        ("support", (Role.SUPPORT,), True),
        ("support", (Role.OPERATOR,), False),
        ("support", (), True),  # any staff member
    ],
)
def test_role_checks(app: Flask, role: str, required: tuple[str, ...], allowed: bool) -> None:
    member = make_staff("someone", role=role, regions=("77",) if role == "operator" else ())
    assert access.has_role(member, *required) is allowed


def test_only_admins_manage_staff_and_an_operator_sees_only_their_regions(app: Flask) -> None:
    admin = make_staff("boss", role="admin")
    operator = make_staff("ivanov", role="operator", regions=("77", "50"))
    support = make_staff("help", role="support")
    assert [access.can_manage_staff(m) for m in (admin, operator, support)] == [True, False, False]
    assert access.visible_regions(operator) == frozenset({"77", "50"})
    assert access.visible_regions(admin) is None and access.visible_regions(support) is None


def test_the_decorators_take_role_names_only() -> None:
    with pytest.raises(TypeError, match="role names"):
        access.staff_required(lambda: None)  # type: ignore[arg-type]  # used without parentheses
    with pytest.raises(TypeError, match="role names"):
        access.token_required("root")
