"""ESIA's login form and consent page, in Russian, for people and for scripts.

``GET /aas/oauth2/(v2/)ac`` sends the browser here with an opaque ``rid``. The page is one
ordinary HTML form: fields ``login`` and ``password`` (a test login, phone, e-mail or SNILS
of a test person), or one button per test person (``name="person" value="<oid>"``), plus an
optional fault for this login. A script needs two round trips: ``GET ac`` → 302 to
``/login?rid=…``, then ``POST`` ``login`` and ``password`` to that same URL (the ``rid`` may
also come as a form field) → 302 to ``redirect_uri?code=…&state=…``.

Consent is implicit by default (ESIA asks only the first time); with ``CONSENT = "page"`` a
one-click consent page comes in between. A person with ``declinesConsent`` is sent back with
``access_denied``/ESIA-007004 either way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING

from flask import Blueprint, Response, render_template, request

from mock_esia import scenarios
from mock_esia.answers import error_page, error_redirect, redirect_back
from mock_esia.errors import EsiaError
from mock_esia.grants import AuthorizationRequest, Login
from mock_esia.identities import Person
from mock_esia.scopes import SCOPE_TITLES
from mock_esia.services import Services, current
from mock_esia.tokens import new_session_id

if TYPE_CHECKING:
    import werkzeug

bp = Blueprint("login", __name__)

_TIERS = {
    "simplified": "упрощённая учётная запись",
    "standard": "стандартная учётная запись",
    "verified": "подтверждённая учётная запись",
}
_EXPIRED = "ESIA-007007"


@bp.get("/login")
def page() -> Response:
    services = current()
    pending = services.grants.get_request(request.args.get("rid", ""))
    if pending is None:
        return _expired()
    return _render_login(services, pending)


@bp.post("/login")
def submit() -> werkzeug.Response:
    services = current()
    pending = services.grants.get_request(_rid())
    if pending is None:
        return _expired()
    person = _find_person(services, request.form)
    if person is None:
        return _render_login(services, pending, error="Неверный логин или пароль.", status=401)
    scenarios.apply(scenarios.for_person(person.oid))
    choice = request.form.get("fault", "")
    if choice not in scenarios.LOGIN_PAGE_FAULTS:
        return _render_login(services, pending, error="Неизвестный сбой.", status=400)
    faults = scenarios.LOGIN_PAGE_FAULTS[choice][1]
    refusal = _refusal(pending, person)
    if refusal is not None:
        services.grants.finish_request(pending.id)
        return error_redirect(pending.redirect_uri, refusal, pending.state)
    if services.consent == "page":
        services.grants.mark_authenticated(pending.id, person.oid, faults)
        client = services.clients[pending.client_id]
        titles = [SCOPE_TITLES[name] for name in pending.scopes]
        return Response(
            render_template("consent.html", rid=pending.id, client=client, person=person, titles=titles),
            mimetype="text/html",
        )
    return _grant(services, pending, person, faults)


@bp.post("/login/consent")
def consent() -> werkzeug.Response:
    services = current()
    pending = services.grants.get_request(_rid())
    authenticated = services.grants.authenticated(pending.id) if pending else None
    if pending is None or authenticated is None:
        return _expired()
    oid, faults = authenticated
    if request.form.get("decision") != "allow":
        services.grants.finish_request(pending.id)
        return error_redirect(pending.redirect_uri, EsiaError("ESIA-007004"), pending.state)
    return _grant(services, pending, services.persons_by_oid[oid], faults)


def _rid() -> str:
    return request.form.get("rid") or request.args.get("rid", "")


def _grant(services: Services, pending: AuthorizationRequest, person: Person, faults: Mapping[str, str]) -> werkzeug.Response:
    services.grants.finish_request(pending.id)
    login = Login(pending, person.oid, new_session_id(), int(services.clock()), dict(faults))
    code = services.grants.issue_code(login)
    return redirect_back(pending.redirect_uri, [("code", code), ("state", pending.state)])


def _refusal(pending: AuthorizationRequest, person: Person) -> EsiaError | None:
    if pending.person_filter == "conf_acc" and not person.trusted:
        return EsiaError("ESIA-007055")
    if pending.person_filter == "acc_kid" and not person.child_account:
        return EsiaError("ESIA-007062")
    if pending.person_filter == "acc_not_kid" and person.child_account:
        return EsiaError("ESIA-007062")
    if person.declines_consent:
        return EsiaError("ESIA-007004")
    return None


def _find_person(services: Services, form: Mapping[str, str]) -> Person | None:
    chosen = form.get("person")
    if chosen:
        try:
            return services.persons_by_oid.get(int(chosen))
        except ValueError:
            return None
    login, password = form.get("login", ""), form.get("password", "")
    for person in services.persons:
        if person.has_credentials(login, password):
            return person
    return None


def _render_login(services: Services, pending: AuthorizationRequest, *, error: str | None = None, status: int = 200) -> Response:
    today = dt.datetime.fromtimestamp(services.clock(), dt.UTC).date()
    people = [
        {
            "person": person,
            "age": _age_text(person.age_on(today)),
            "tier": "детская учётная запись" if person.child_account else _TIERS[person.tier],
        }
        for person in services.persons
    ]
    page = render_template(
        "login.html",
        rid=pending.id,
        client=services.clients[pending.client_id],
        people=people,
        faults=[(key, label) for key, (label, _) in scenarios.LOGIN_PAGE_FAULTS.items()],
        error=error,
        login=request.form.get("login", ""),
    )
    return Response(page, status=status, mimetype="text/html")


def _expired() -> Response:
    detail = "Сеанс входа не найден или истёк. Вернитесь в систему и начните вход заново."
    return error_page(EsiaError(_EXPIRED, detail=detail))


def _age_text(age: int | None) -> str:
    if age is None:
        return "дата рождения не указана"
    if age % 10 == 1 and age % 100 != 11:
        word = "год"
    elif 2 <= age % 10 <= 4 and not 12 <= age % 100 <= 14:
        word = "года"
    else:
        word = "лет"
    return f"{age} {word}"
