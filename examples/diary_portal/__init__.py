"""A demo diary portal: logs people in through the broker with an off-the-shelf OIDC client.

It is what a school diary portal has to do to offer «Войти через Госуслуги»: register with the
broker as an OpenID Connect client and use any standard library (here Authlib's Flask client,
authorization code with PKCE S256). It knows nothing of ESIA. It also has what every diary
already has, its own login by password (its accounts: ``examples/registry.csv``, one demo
password), and from there offers «Привязать аккаунт портала Госуслуги»: the broker's link flow
(a back-channel ``POST /oidc/link``, then the person's browser to ESIA and back).

When the broker sends the person back without a login (OIDC Core 3.1.2.6: ``error``, e.g.
``access_denied`` or ``temporarily_unavailable``, ``error_description`` with the broker's reason
code, ``reference``, the attempt's code for support, and ``state``), the portal says why in
Russian words from its own table of the broker's reason codes, shows the reference as «Код для
поддержки» and offers its password login. It never shows the answer's own text: a code it does
not know reads as a failed login, a reference not of the broker's shape is left out.

The broker's «Попробовать ещё раз» comes to ``/login/initiate?iss=…`` (OpenID Connect Core §4,
Initiating Login from a Third Party; registered as the client's ``initiate_login_uri``): when
``iss`` is the broker's issuer, the portal starts a brand-new login (new state, nonce and PKCE).

Settings come from ``DIARY_PORTAL_*`` environment variables (``examples/run_demo.py`` sets
them): ``BROKER_URL`` (the broker's issuer), ``CLIENT_ID``, ``CLIENT_SECRET``, ``PUBLIC_URL``
(this portal's base URL), ``SECRET_KEY``, ``ACCOUNTS_FILE`` (the diary's accounts, CSV) and
``PASSWORD`` (every demo account's password).
"""

from __future__ import annotations

import csv
import hmac
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, redirect, render_template, request, session, url_for

SETTINGS = ("BROKER_URL", "CLIENT_ID", "CLIENT_SECRET", "PUBLIC_URL", "SECRET_KEY", "ACCOUNTS_FILE", "PASSWORD")
# The regions this portal serves, as registered at the broker.
REGIONS = {"77": "Москва", "50": "Московская область", "39": "Калининградская область"}
ROLES = {"student": "ученик", "parent": "родитель", "teacher": "учитель", "staff": "сотрудник школы"}
TIERS = {"simplified": "упрощённая", "standard": "стандартная", "verified": "подтверждённая"}
#: What the portal says when the broker sends the person back without a login, by OIDC error.
ERRORS = {
    "access_denied": "Войти через Госуслуги не получилось.",
    "temporarily_unavailable": "Вход через Госуслуги временно недоступен.",
}
OTHER_ERROR = "Войти через Госуслуги не получилось."
#: Why, by the broker's reason code (its ``error_description``), in the portal's own words.
REASONS = {
    "region_disabled": "Вход через Госуслуги в вашем регионе пока не подключён.",
    "esia_denied": "На Госуслугах не было дано согласие на передачу данных.",
    "esia_unavailable": "Госуслуги сейчас не отвечают.",
    "esia_error": "Не удалось проверить ответ Госуслуг.",
    "esia_data_incomplete": "Госуслуги не передали данные, нужные для входа, или передали их с ошибкой.",
    "tier_insufficient": "С 14 лет для входа нужна стандартная или подтверждённая учётная запись Госуслуг, а ваша — упрощённая.",
    "no_account": "В дневнике не найден аккаунт с вашими данными с Госуслуг.",
    "account_blocked": "Ваш аккаунт в дневнике заблокирован.",
    "not_attached": "Ваш аккаунт в дневнике не прикреплён к школе.",
    "name_mismatch": "Фамилия, имя или отчество на Госуслугах и в дневнике не совпадают.",
    "birthdate_mismatch": "Дата рождения на Госуслугах и в дневнике не совпадает.",
    "gender_mismatch": "Пол на Госуслугах и в дневнике не совпадает.",
    "snils_mismatch": "СНИЛС на Госуслугах и в дневнике не совпадает.",
    "snils_missing_in_diary": "В дневнике у вашего аккаунта не указан СНИЛС.",
    "ambiguous": "Ваши данные подходят к аккаунтам разных людей в дневнике.",
    "linked_elsewhere": "Этот аккаунт дневника уже привязан к другой учётной записи Госуслуг.",
    "link_required": "В вашем регионе аккаунт ребёнка младше 14 лет связывают с Госуслугами только из дневника.",
    "invite_code_required": "В вашем регионе аккаунт ребёнка младше 14 лет в первый раз связывают с Госуслугами "
    "по коду приглашения от школы.",
    "invite_code_invalid": "Код приглашения не подошёл.",
    "reauthentication_required": "Госуслуги не попросили пароль заново, хотя вход нужно было подтвердить.",
}
#: The broker's reference code of an attempt: 8 of Crockford's base32, maybe split by a hyphen.
REFERENCE = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}-?[0-9A-HJKMNP-TV-Z]{4}")
#: What the portal says when a login came back wrong before any reason (``problem``).
PROBLEMS = {
    "invalid_state": "Ответ о входе не относится ко входу, начатому в этом браузере, или уже был получен.",
    "wrong_issuer": "Ссылка для входа пришла не от сервиса входа, с которым работает дневник.",
}
OTHER_PROBLEM = "Сервис входа не подтвердил вход."


def reference_of(value: str | None) -> str | None:
    """The broker's reference code, as ``XXXX-XXXX``, if ``value`` is one; else None (never shown)."""
    if not value or not REFERENCE.fullmatch(value):
        return None
    plain = value.replace("-", "")
    return f"{plain[:4]}-{plain[4:]}"


def refusal(args: Mapping[str, str]) -> dict[str, Any]:
    """What a page says about the broker's error response ``args``: only known words, a checked reference."""
    return {
        "refused": ERRORS.get(args.get("error", ""), OTHER_ERROR),
        "reason": REASONS.get(args.get("error_description", "")),
        "reference": reference_of(args.get("reference")),
    }


def read_accounts(path: str) -> dict[str, dict[str, str]]:
    """The diary's accounts by id, from its CSV export (the registry the broker imports)."""
    with Path(path).open(encoding="utf-8", newline="") as stream:
        return {row["id"]: row for row in csv.DictReader(stream)}


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the portal."""
    app = Flask(__name__)
    # The broker and the portal share the host 127.0.0.1, and cookies ignore ports.
    app.config.update(SESSION_COOKIE_NAME="diary_portal", SESSION_COOKIE_SAMESITE="Lax")
    if test_config is None:
        app.config.from_prefixed_env("DIARY_PORTAL", loads=str)
    else:
        app.config.update(test_config)
    missing = [key for key in SETTINGS if not app.config.get(key)]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} not set. Set {', '.join('DIARY_PORTAL_' + key for key in missing)}.")
    public_url = app.config["PUBLIC_URL"].rstrip("/")
    broker_url = app.config["BROKER_URL"].rstrip("/")
    accounts = read_accounts(app.config["ACCOUNTS_FILE"])
    by_login = {account["login"].casefold(): account for account in accounts.values()}
    oauth = OAuth(app)
    broker = oauth.register(
        "broker",
        client_id=app.config["CLIENT_ID"],
        client_secret=app.config["CLIENT_SECRET"],
        server_metadata_url=broker_url + "/.well-known/openid-configuration",
        client_kwargs={"scope": "openid profile email phone", "code_challenge_method": "S256", "default_timeout": 10},
    )

    def home_page(status: int = 200, **problem: Any) -> Any:
        return render_template("home.html", regions=REGIONS, claims=session.get("claims"), **problem), status

    @app.get("/")
    def home() -> Any:
        return home_page()

    @app.get("/login/esia")
    def login_with_esia() -> Any:
        region = request.args.get("region", "")
        extra = {"region": region} if region in REGIONS else {}  # else the broker asks for it
        return broker.authorize_redirect(public_url + url_for("callback"), **extra)

    @app.get("/login/initiate")
    def initiate_login() -> Any:
        """OIDC Core §4: the broker (``iss``) asks for a login; a brand-new one starts (new state, nonce, PKCE)."""
        if request.args.get("iss", "").rstrip("/") != broker_url:
            return home_page(400, problem=PROBLEMS["wrong_issuer"])
        return broker.authorize_redirect(public_url + url_for("callback"))

    @app.get("/callback")
    def callback() -> Any:
        if request.args.get("error"):
            return came_back_without_login()
        try:
            token = broker.authorize_access_token()
            # The id_token says who signed in (sub, role, region, school_id, acr, auth_time);
            # names, login, e-mail and phone come from userinfo only (the id_token travels in URLs).
            claims = {**token["userinfo"], **broker.userinfo(token=token)}
        except OAuthError as error:  # a stale or foreign state, or the code did not redeem
            return home_page(400, problem=PROBLEMS.get(error.error or "", OTHER_PROBLEM))
        session.clear()
        session["claims"] = claims
        session["id_token"] = token["id_token"]  # the logout's id_token_hint
        return redirect(url_for("me"))

    def came_back_without_login() -> Any:
        """The broker's error response (OIDC Core 3.1.2.6) to a login this browser started."""
        state = request.args.get("state", "")
        if not state or broker.framework.get_state_data(session, state) is None:
            return home_page(400, problem=PROBLEMS["invalid_state"])  # not our login: its words are not shown
        broker.framework.clear_state_data(session, state)
        return home_page(**refusal(request.args))

    @app.get("/me")
    def me() -> Any:
        if "claims" in session:
            return render_template("me.html", claims=session["claims"], regions=REGIONS, roles=ROLES, tiers=TIERS)
        account = accounts.get(session.get("account", ""))
        if account is None:
            return redirect(url_for("home"))
        # The broker's way back from its link flow: ``linked`` (the account, now linked) or an
        # error response without state (the link was asked for on the back channel).
        linked = request.args.get("linked") == account["id"]
        if linked:
            session["linked"] = account["id"]
        failed = refusal(request.args) if request.args.get("error") else None
        return render_template("account.html", account=account, regions=REGIONS, roles=ROLES, linked=linked,
                               is_linked=session.get("linked") == account["id"], failed=failed,
                               problem=session.pop("link_problem", None))  # fmt: skip

    @app.post("/logout")
    def logout() -> Any:
        """End the portal's session; after a login through the broker, the broker's too (OIDC RP-initiated logout)."""
        # With the id_token as a hint the broker ends its session at once; without, it asks the person.
        id_token = session.pop("id_token", None)
        through_broker = "claims" in session
        session.clear()
        if not through_broker:
            return redirect(url_for("home"))
        query = urlencode(
            {"client_id": app.config["CLIENT_ID"], "post_logout_redirect_uri": public_url + "/"}
            | ({"id_token_hint": id_token} if id_token else {})
        )
        return redirect(broker.load_server_metadata()["end_session_endpoint"] + "?" + query)

    @app.get("/login")
    def password_login() -> Any:
        return render_template("login.html", login="")

    @app.post("/login")
    def check_password() -> Any:
        login = request.form.get("login", "").strip()
        account = by_login.get(login.casefold())
        password = request.form.get("password", "").encode()
        if account is None or not hmac.compare_digest(password, app.config["PASSWORD"].encode()):
            return render_template("login.html", login=login, wrong=True), 401
        if account["status"] != "active":
            return render_template("login.html", login=login, blocked=True), 403
        session.clear()
        session["account"] = account["id"]
        return redirect(url_for("me"))

    @app.post("/link")
    def link() -> Any:
        """«Привязать аккаунт портала Госуслуги»: ask the broker on the back channel, then send the browser there."""
        account = accounts.get(session.get("account", ""))
        if account is None:
            return redirect(url_for("home"))
        try:
            answer = requests.post(
                broker_url + "/oidc/link",
                auth=(app.config["CLIENT_ID"], app.config["CLIENT_SECRET"]),
                data={"account_id": account["id"], "return_to": public_url + url_for("me")},
                timeout=10,
            )
            url = answer.json().get("url") if answer.ok else None
        except (requests.RequestException, ValueError):
            url = None
        if not url:
            session["link_problem"] = True
            return redirect(url_for("me"))
        return redirect(url)

    return app
