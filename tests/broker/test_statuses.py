"""Refusals in HTTP terms: every refusal page carries the status it means, and garbage callbacks write nothing."""

from __future__ import annotations

import secrets

import pytest
from flask import Flask
from sqlalchemy import func, select

import matching
from broker.config import LOGIN_COOKIE, cookie_name
from broker.db.models import LoginAttempt
from broker.extensions import db
from broker.web.pages import render_refusal
from broker.web.statuses import REFUSAL_STATUS, status_of

EXPECTED = {reason: 403 for reason in matching.Reason} | {
    matching.Reason.ESIA_ERROR: 502,
    matching.Reason.ESIA_UNAVAILABLE: 503,
}


@pytest.mark.parametrize("reason", list(matching.Reason), ids=str)
def test_every_refusal_page_answers_with_the_status_its_reason_means(app: Flask, reason: matching.Reason) -> None:
    with app.test_request_context("/auth/esia/callback"):
        body, status, headers = render_refusal(reason, "ABCD-EFGH", None)
    assert status == EXPECTED[reason] == status_of(reason)
    assert "ABCD-EFGH" in body and matching.REFUSALS[reason].message_ru in body
    if status == 503:
        assert headers == {"Retry-After": str(app.config["RETRY_AFTER_SECONDS"])}
    else:
        assert headers == {}


def test_the_status_table_has_one_row_per_reason() -> None:
    assert set(REFUSAL_STATUS) == set(matching.Reason)


def test_garbage_callbacks_answer_400_start_again_and_write_no_attempt(app: Flask) -> None:
    client = app.test_client()
    for n in range(50):
        query = {"code": secrets.token_urlsafe(8), "state": secrets.token_urlsafe(24)}
        if n % 2:  # with a binding cookie of its own, naming the same state: still no pending login
            client.set_cookie(cookie_name(app.config, LOGIN_COOKIE), f"{query['state']}.x")
        answer = client.get("/auth/esia/callback", query_string=query)
        assert answer.status_code == 400
        page = answer.get_data(as_text=True)
        assert "Сеанс входа истёк" in page and "начните вход заново" in page
        assert "Код обращения" not in page
    assert db.session.scalar(select(func.count()).select_from(LoginAttempt)) == 0
