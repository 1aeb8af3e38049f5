"""The JSON API: token-guarded registry upserts that write all or nothing, and its OpenAPI document."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from broker.db.models import Account, AuditEvent, EsiaLink
from broker.extensions import db
from tests.broker.registry_files import api_row as account
from tests.broker.staffing import bearer
from tests.builders import ADULT_SNILS
from tests.databases import count

URL = "/api/v1/registry/accounts"


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_an_admin_token_upserts_accounts_and_is_audited(client: FlaskClient) -> None:
    headers = bearer("sync", "admin")
    answer = client.post(
        URL, json={"accounts": [account(1, snils=ADULT_SNILS), account(2, esia_oid="1000300099")], "allow_links": True}, headers=headers
    )
    assert answer.status_code == 200, answer.json
    assert answer.json == {"written": 2, "links": 1, "warnings": []}
    stored = db.session.get(Account, "api-001")
    assert stored is not None and stored.snils_masked and ADULT_SNILS not in (stored.snils_digest or "")
    assert db.session.get(EsiaLink, "api-002").oid == "1000300099"
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "registry_upserted")).one()
    assert event.after == {"written": 2, "links": 1, "allow_links": True} and event.actor.startswith("token:")


def test_the_same_request_again_updates_in_place(client: FlaskClient) -> None:
    headers = bearer("sync", "admin")
    client.post(URL, json={"accounts": [account(1)]}, headers=headers)
    answer = client.post(URL, json={"accounts": [account(1, last_name="Иванова")]}, headers=headers)
    assert answer.status_code == 200 and count(Account) == 1
    assert db.session.get(Account, "api-001").last_name == "Иванова"


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (account(2, birth_date="02.03.1984"), "accounts.1.birth_date"),
        (account(2, role="pupil"), "accounts.1.role"),
        (account(2, region="99"), "accounts.1.region"),
        (account(2, snils="123"), "accounts.1.snils"),
        (account(2, last_name="-"), "accounts.1.last_name"),
        ({k: v for k, v in account(2).items() if k != "gender"}, "accounts.1.gender"),
        (account(2, login=12), "accounts.1.login"),
        (account(1), "accounts.1.id"),  # the same id twice in one request
    ],
)
def test_a_bad_field_names_itself_and_nothing_is_written(client: FlaskClient, row: dict[str, Any], field: str) -> None:
    headers = bearer("sync", "admin")
    answer = client.post(URL, json={"accounts": [account(1), row]}, headers=headers)
    assert answer.status_code == 422
    assert answer.json["error"] == "invalid_request"
    assert field in [error["field"] for error in answer.json["errors"]]
    assert count(Account) == 0


def test_a_login_that_belongs_to_another_account_is_refused(client: FlaskClient) -> None:
    headers = bearer("sync", "admin")
    client.post(URL, json={"accounts": [account(1)]}, headers=headers)
    answer = client.post(URL, json={"accounts": [account(2, login="api.user1")]}, headers=headers)
    assert answer.status_code == 422
    assert answer.json["errors"] == [
        {
            "index": 0,
            "field": "accounts.0.login",
            "why": "already belongs to account api-001 (region 77); send another login, or change that account's login first",
        }
    ]
    assert count(Account) == 1


def test_a_login_taken_in_another_region_is_refused_without_saying_whose_or_where(client: FlaskClient) -> None:
    assert client.post(URL, json={"accounts": [account(1, region="50")]}, headers=bearer("boss", "admin")).status_code == 200
    answer = client.post(URL, json={"accounts": [account(2, login="api.user1")]}, headers=bearer("op77", "operator", ("77",)))
    assert answer.status_code == 422
    [error] = answer.json["errors"]
    assert error["field"] == "accounts.0.login" and error["why"].startswith("is already taken")
    assert "api-001" not in answer.get_data(as_text=True) and "50" not in answer.get_data(as_text=True)
    assert count(Account) == 1


def test_a_batch_refusal_names_every_bad_field_and_summarises_the_rest(client: FlaskClient) -> None:
    rows = [account(n, gender="?") for n in range(12)]
    answer = client.post(URL, json={"accounts": rows}, headers=bearer("sync", "admin"))
    assert answer.status_code == 422 and answer.json["error"] == "invalid_request"
    assert [error["index"] for error in answer.json["errors"]] == list(range(12))
    assert answer.json["error_description"].startswith("accounts.0.gender: ")
    assert answer.json["error_description"].endswith("; and 2 more")


def test_an_operator_writes_only_in_its_regions(client: FlaskClient) -> None:
    headers = bearer("op77", "operator", ("77",))
    assert client.post(URL, json={"accounts": [account(1)]}, headers=headers).status_code == 200
    answer = client.post(URL, json={"accounts": [account(2, region="50")]}, headers=headers)
    assert answer.status_code == 422 and answer.json["errors"][0]["field"] == "accounts.0.region"
    assert count(Account) == 1


def test_support_and_missing_tokens_are_refused(client: FlaskClient) -> None:
    assert client.post(URL, json={"accounts": [account(1)]}).status_code == 401
    assert client.post(URL, json={"accounts": [account(1)]}, headers={"Authorization": "Bearer brk_nope"}).status_code == 401
    answer = client.post(URL, json={"accounts": [account(1)]}, headers=bearer("helpdesk", "support"))
    assert answer.status_code == 403 and count(Account) == 0


def test_a_body_that_is_not_an_object_or_too_long_is_refused(client: FlaskClient) -> None:
    headers = bearer("sync", "admin")
    not_an_object = client.post(URL, data="[]", headers={**headers, "Content-Type": "application/json"})
    assert not_an_object.status_code == 400 and not_an_object.json["error"] == "invalid_request"
    assert not_an_object.json["errors"] == [{"field": "(body)", "why": "must be a JSON object; send Content-Type: application/json"}]
    answer = client.post(URL, json={"accounts": [account(n) for n in range(1001)]}, headers=headers)
    assert answer.status_code == 422 and answer.json["errors"][0]["field"] == "accounts"


def test_without_allow_links_the_api_writes_the_account_but_neither_creates_nor_moves_a_link(client: FlaskClient) -> None:
    headers = bearer("sync", "admin")
    answer = client.post(URL, json={"accounts": [account(1, esia_oid="1000300001")]}, headers=headers)
    assert answer.status_code == 200 and answer.json["written"] == 1 and answer.json["links"] == 0
    assert answer.json["warnings"][0]["field"] == "accounts.0.esia_oid"
    assert answer.json["warnings"][0]["why"].startswith("not linked: links are written only when the request says allow_links")
    assert db.session.get(EsiaLink, "api-001") is None
    client.post(URL, json={"accounts": [account(1, esia_oid="1000300001")], "allow_links": True}, headers=headers)
    moved = client.post(URL, json={"accounts": [account(1, esia_oid="1000300666")]}, headers=headers)
    assert moved.json["links"] == 0
    db.session.expire_all()
    assert db.session.get(EsiaLink, "api-001").oid == "1000300001"


def test_a_link_the_api_writes_is_audited_with_its_request(client: FlaskClient) -> None:
    headers = bearer("sync", "admin")
    client.post(URL, json={"accounts": [account(1, esia_oid="1000300001")], "allow_links": True}, headers=headers)
    batch = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "registry_upserted")).one()
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "link_imported")).one()
    assert (event.target, event.actor, event.before) == ("account:api-001", batch.actor, {"linked": False})
    assert event.after == {"linked": True, "oid": "******0001", "source": "import", "import_event": batch.id,
                           "index": 0, "sessions_ended": 0}  # fmt: skip
    assert db.session.get(EsiaLink, "api-001").import_event == batch.id


def test_a_file_link_never_moves_a_link_its_owner_made(client: FlaskClient) -> None:
    headers = bearer("sync", "admin")
    client.post(URL, json={"accounts": [account(1)]}, headers=headers)
    from datetime import datetime

    db.session.add(EsiaLink(account_id="api-001", oid="1000300001", tier="standard", source="login",
                            linked_at=datetime.now(UTC)))  # fmt: skip
    db.session.commit()
    answer = client.post(URL, json={"accounts": [account(1, esia_oid="1000300002")], "allow_links": True}, headers=headers)
    assert answer.status_code == 200 and answer.json["links"] == 0
    assert answer.json["warnings"][0]["field"] == "accounts.0.esia_oid"
    db.session.expire_all()
    assert db.session.get(EsiaLink, "api-001").oid == "1000300001"


def test_the_openapi_document_describes_the_api_from_the_schemas(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.")
    operation = document["paths"]["/registry/accounts"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RegistryUpsert"}
    account_schema = document["components"]["schemas"]["RegistryAccount"]
    assert {"id", "login", "birth_date", "snils"} <= set(account_schema["properties"])
    assert "birth_date" in account_schema["required"]
    assert document["components"]["securitySchemes"]["apiToken"]["scheme"] == "bearer"


def test_the_openapi_document_describes_the_preflight(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").json
    operation = document["paths"]["/regions/{code}/preflight"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/PreflightSummary"}
    assert {"by_reason", "by_finding", "schools"} <= set(document["components"]["schemas"]["PreflightSummary"]["properties"])
    assert {(p["name"], p["in"]) for p in operation["parameters"]} == {("code", "path"), ("format", "query"), ("schools", "query")}


def test_the_openapi_document_names_the_error_codes_the_api_answers_with(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert "attempt_not_found" in paths["/attempts/{reference}"]["get"]["responses"]["404"]["description"]
    assert "invalid_criteria" in paths["/attempts/{reference}"]["get"]["responses"]["422"]["description"]
    assert "invalid_criteria" in paths["/attempts/search"]["post"]["responses"]["422"]["description"]
    assert "not_found" in paths["/regions/{code}"]["patch"]["responses"]["404"]["description"]


def test_the_preflight_is_dumped_through_its_schema(preflight_registry: Any, client: FlaskClient) -> None:
    from broker.api import schemas
    from broker.regions import preflight

    headers = bearer("op77", "operator", ("77",))
    answer = client.get("/api/v1/regions/77/preflight?schools=1", headers=headers)
    summary = answer.json
    assert answer.status_code == 200 and summary is not None
    assert set(summary) == set(schemas.PreflightSummarySchema().fields)
    assert schemas.PreflightSummarySchema().validate(summary) == {}
    report = preflight.run_preflight("77", datetime.fromisoformat(answer.json["at"]))
    assert answer.json == {**report.as_dict(schools=1), "at": answer.json["at"]}


@pytest.mark.parametrize(("query", "field"), [("schools=x", "schools"), ("schools=-1", "schools"), ("format=xml", "format")])
def test_a_bad_preflight_query_names_the_parameter(client: FlaskClient, query: str, field: str) -> None:
    answer = client.get(f"/api/v1/regions/77/preflight?{query}", headers=bearer("boss", "admin"))
    assert answer.status_code == 422 and answer.json["error"] == "invalid_request"
    assert [error["field"] for error in answer.json["errors"]] == [field]


def test_the_preflight_of_an_unknown_or_foreign_region_is_refused(client: FlaskClient) -> None:
    unknown = client.get("/api/v1/regions/00/preflight", headers=bearer("boss", "admin"))
    assert unknown.status_code == 404 and unknown.json["error"] == "not_found"
    assert unknown.json["errors"][0]["field"] == "region"
    foreign = client.get("/api/v1/regions/50/preflight", headers=bearer("op77", "operator", ("77",)))
    assert foreign.status_code == 403 and foreign.json["error"] == "forbidden"


# --- regions and attempts ---------------------------------------------------------------------


def test_regions_are_listed_within_the_tokens_sight_and_changed_within_its_regions(client: FlaskClient) -> None:
    headers = bearer("op77", "operator", ("77",))
    listed = client.get("/api/v1/regions", headers=headers).json["regions"]
    assert [region["code"] for region in listed] == ["77"] and listed[0]["can_manage"] is True
    answer = client.patch("/api/v1/regions/77", json={"enabled": True, "comment": "пилот"}, headers=headers)
    assert answer.status_code == 200 and answer.json["region"]["enabled"] is True and answer.json["changed"] is True
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "region_changed")).one()
    assert event.comment == "пилот" and event.before["enabled"] is False and event.actor.startswith("token:")
    foreign = client.patch("/api/v1/regions/50", json={"enabled": True, "comment": "x"}, headers=headers)
    assert foreign.status_code == 403 and foreign.json["error"] == "forbidden" and "errors" not in foreign.json
    unknown = client.patch("/api/v1/regions/00", json={"enabled": True, "comment": "x"}, headers=bearer("boss", "admin"))
    assert unknown.status_code == 404 and unknown.json["error"] == "not_found"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"enabled": True}, "comment"),
        ({"enabled": "yes please", "comment": "x"}, "enabled"),
        ({"enabled": True, "comment": " "}, "comment"),
        ({"policy": {"no_such_rule": True}, "comment": "x"}, "policy.no_such_rule"),
    ],
)
def test_a_bad_region_change_names_the_field_and_changes_nothing(client: FlaskClient, body: dict[str, Any], field: str) -> None:
    headers = bearer("boss", "admin")
    answer = client.patch("/api/v1/regions/77", json=body, headers=headers)
    assert answer.status_code == 422 and answer.json["error"] == "invalid_request"
    assert field in [error["field"] for error in answer.json["errors"]]
    regions = {region["code"]: region for region in client.get("/api/v1/regions", headers=headers).json["regions"]}
    assert regions["77"]["enabled"] is False and regions["77"]["policy"] == {}


def test_support_may_read_regions_but_not_change_them(client: FlaskClient) -> None:
    headers = bearer("helpdesk", "support")
    assert len(client.get("/api/v1/regions", headers=headers).json["regions"]) == 89
    assert client.patch("/api/v1/regions/77", json={"enabled": True, "comment": "x"}, headers=headers).status_code == 403
    figures = client.get("/api/v1/regions/77/figures", headers=headers)
    assert figures.status_code == 200 and figures.json["region"] == "77" and figures.json["lines"] == []


def test_attempts_are_found_by_reference_and_criteria_within_the_tokens_regions(client: FlaskClient) -> None:
    from broker.login import attempts as login
    from matching import Reason

    mine = login.refusal_attempt("portal", "77", Reason.REGION_DISABLED, "region_disabled")
    theirs = login.refusal_attempt("portal", "50", Reason.REGION_DISABLED, "region_disabled")
    headers = bearer("op77", "operator", ("77",))
    found = client.post("/api/v1/attempts/search", json={"reason": "region_disabled"}, headers=headers).json
    assert [row["reference"] for row in found["attempts"]] == [mine.reference]
    detail = client.get(f"/api/v1/attempts/{mine.reference.lower().replace('-', '')}", headers=headers)
    assert detail.status_code == 200 and detail.json["attempt"]["reason"] == "region_disabled"
    assert "Госуслуг" in detail.json["message_ru"]
    hidden = client.get(f"/api/v1/attempts/{theirs.reference}", headers=headers)
    assert hidden.status_code == 404 and hidden.json["error"] == "attempt_not_found"
    assert hidden.json["errors"][0]["field"] == "reference"


def test_an_attempt_search_never_echoes_a_snils_and_names_a_bad_field(client: FlaskClient) -> None:
    headers = bearer("helpdesk", "support")
    answer = client.post("/api/v1/attempts/search", json={"snils": ADULT_SNILS}, headers=headers)
    assert answer.status_code == 200 and ADULT_SNILS not in answer.get_data(as_text=True)
    bad = client.post("/api/v1/attempts/search", json={"from": "yesterday"}, headers=headers)
    assert bad.status_code == 422 and bad.json["error"] == "invalid_criteria" and bad.json["errors"][0]["field"] == "from"
    shape = client.post("/api/v1/attempts/search", json={"limit": 0}, headers=headers)
    assert shape.status_code == 422 and shape.json["error"] == "invalid_request" and shape.json["errors"][0]["field"] == "limit"


def test_an_operator_cannot_take_over_another_regions_account_by_its_id(client: FlaskClient) -> None:
    admin = bearer("boss", "admin")
    assert client.post(URL, json={"accounts": [account(1, region="50")]}, headers=admin).status_code == 200
    operator = bearer("op77", "operator", ("77",))
    answer = client.post(URL, json={"accounts": [account(1, region="77", esia_oid="1000999999")]}, headers=operator)
    assert answer.status_code == 422 and answer.json["errors"][0]["field"] == "accounts.0.id"
    assert "50" not in answer.json["errors"][0]["why"]
    db.session.expire_all()
    assert db.session.get(Account, "api-001").region == "50"
    assert db.session.get(EsiaLink, "api-001") is None


def test_a_malformed_reference_is_a_json_field_error(client: FlaskClient) -> None:
    answer = client.get("/api/v1/attempts/xx", headers=bearer("helpdesk", "support"))
    assert answer.status_code == 422 and answer.is_json and answer.json["error"] == "invalid_criteria"
    assert answer.json["errors"][0]["field"] == "reference"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", URL, {"accounts": [account(1, birth_date="x"), account(2, region="7")]}),
        ("post", URL, {"accounts": "none"}),
        ("patch", "/api/v1/regions/77", {"enabled": "yes", "policy": {"x": 1}, "comment": " "}),
        ("patch", "/api/v1/regions/00", {"comment": "x"}),
        ("post", "/api/v1/attempts/search", {"snils": "123", "region": "50"}),
        ("get", "/api/v1/attempts/AAAA-AAAA", None),
        ("get", "/api/v1/regions/00/figures", None),
    ],
)
def test_every_error_answer_has_one_shape_in_english(client: FlaskClient, method: str, path: str, body: Any) -> None:
    from broker.errors import ErrorSchema

    answer = getattr(client, method)(path, json=body, headers=bearer("boss", "admin"))
    assert 400 <= answer.status_code < 500 and ErrorSchema().validate(answer.json) == {}
    assert answer.json["errors"] and all(set(error) <= {"index", "field", "why"} for error in answer.json["errors"])
    assert not any("а" <= char <= "я" for char in answer.get_data(as_text=True).lower())  # no Russian
