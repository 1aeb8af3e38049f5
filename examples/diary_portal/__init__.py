"""A demo diary portal: logs people in through the broker with an off-the-shelf OIDC client.

It is what a school diary portal has to do to offer «Войти через Госуслуги»: register with the
broker as an OpenID Connect client and use any standard library (here Authlib's Flask client,
authorization code with PKCE S256). It knows nothing of ESIA. Settings come from
``DIARY_PORTAL_*`` environment variables (``examples/run_demo.py`` sets them): ``BROKER_URL``
(the broker's issuer), ``CLIENT_ID``, ``CLIENT_SECRET``, ``PUBLIC_URL`` (this portal's base URL)
and ``SECRET_KEY``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, redirect, render_template, request, session, url_for

SETTINGS = ("BROKER_URL", "CLIENT_ID", "CLIENT_SECRET", "PUBLIC_URL", "SECRET_KEY")
# The regions this portal serves, as registered at the broker.
REGIONS = {"77": "Москва", "50": "Московская область", "39": "Калининградская область"}
ROLES = {"student": "ученик", "parent": "родитель", "teacher": "учитель", "staff": "сотрудник школы"}
TIERS = {"simplified": "упрощённая", "standard": "стандартная", "verified": "подтверждённая"}


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
    oauth = OAuth(app)
    broker = oauth.register(
        "broker",
        client_id=app.config["CLIENT_ID"],
        client_secret=app.config["CLIENT_SECRET"],
        server_metadata_url=app.config["BROKER_URL"].rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": "openid profile email phone", "code_challenge_method": "S256", "default_timeout": 10},
    )

    @app.get("/")
    def home() -> Any:
        return render_template("home.html", regions=REGIONS, claims=session.get("claims"))

    @app.get("/login/esia")
    def login_with_esia() -> Any:
        region = request.args.get("region", "")
        extra = {"region": region} if region in REGIONS else {}  # else the broker asks for it
        return broker.authorize_redirect(public_url + url_for("callback"), **extra)

    @app.get("/callback")
    def callback() -> Any:
        try:
            token = broker.authorize_access_token()
            # The id_token says who signed in (sub, role, region, school_id, acr, auth_time);
            # names, login, e-mail and phone come from userinfo only (the id_token travels in URLs).
            claims = {**token["userinfo"], **broker.userinfo(token=token)}
        except OAuthError as error:  # the broker's error redirect, or a stale or foreign state
            return render_template("home.html", regions=REGIONS, claims=None, problem=error.error), 400
        session.clear()
        session["claims"] = claims
        session["id_token"] = token["id_token"]  # the logout's id_token_hint
        return redirect(url_for("me"))

    @app.get("/me")
    def me() -> Any:
        if "claims" not in session:
            return redirect(url_for("home"))
        return render_template("me.html", claims=session["claims"], regions=REGIONS, roles=ROLES, tiers=TIERS)

    @app.post("/logout")
    def logout() -> Any:
        """End the portal's session, then the broker's (OIDC RP-initiated logout)."""
        # With the id_token as a hint the broker ends its session at once; without, it asks the person.
        id_token = session.pop("id_token", None)
        session.clear()
        query = urlencode(
            {"client_id": app.config["CLIENT_ID"], "post_logout_redirect_uri": public_url + "/"}
            | ({"id_token_hint": id_token} if id_token else {})
        )
        return redirect(broker.load_server_metadata()["end_session_endpoint"] + "?" + query)

    @app.get("/login")
    def password_login() -> Any:
        return render_template("login.html")

    return app
