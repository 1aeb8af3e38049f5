"""One login through ESIA, step by step: the service behind the login's endpoints.

A login, top to bottom:

1. :func:`start` — the portal sends the browser to ``/oidc/authorize``. The request is
   validated; a live session may answer it at once (single sign-on); otherwise the person picks
   a region, is refused (the region is off) or goes to ESIA with a new pending login.
   (:func:`start_link` and :func:`open_link` are the link flow's two first steps instead.)
2. :func:`callback` — ESIA sends the browser back. The pending login is claimed, ESIA's answer
   is read, the matching engine decides and the attempt is recorded. The decision either signs
   the person in (an existing link), refuses, or leaves a :class:`~broker.login.pending.Stage`
   for one of the broker's pages.
3. :func:`choose` — several accounts: the person picks one.
4. :func:`invite` — a child's first link in a region that asks for the school's invite code.
5. :func:`confirm` — the first link: the person confirms a phone and an e-mail, and the link is
   written.
6. :func:`sign_in` — the diary session is created and the portal gets its authorization code.

On the chooser, the invite code page and the first link's page the person may say «Это не я»
(:func:`not_me`): the login ends, and the browser signs out of ESIA and comes back to the
portal's request afresh.

A refusal at any step ends the pending login but keeps its row, with the refusal, for the
browser that met it (``pending.end``): a reload of that browser's callback or page shows the same
refusal and records nothing, and the page answers the portal's request with an OIDC error
response (:func:`_refusal_of`; docs/adr/0018).

Each step takes a typed input and returns a typed result (the ``Result`` union below), which
the views only render. This module owns the unit of work: every ``db.session.commit()`` of a
login is here, one per step of the person's way (and one for the claim, which must be
committed before ESIA is called, so that no transaction is held open across those calls).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from authlib.oauth2 import OAuth2Error
from authlib.oidc.core.errors import InteractionRequiredError, LoginRequiredError
from flask import current_app

import matching
from broker import services
from broker.db.models import Account, EsiaLink
from broker.extensions import db
from broker.login import attempts, decisions, invites
from broker.login import pending as pendings
from broker.login.pending import Pending, Stage, Step
from broker.oidc import authorization, sessions
from broker.oidc import provider as oidc
from broker.regions import policies as regions
from providers import AuthorizationRequest, EsiaContacts, ProviderError

if TYPE_CHECKING:
    from flask import Response

    from broker.oidc.clients import PortalClient

log = logging.getLogger(__name__)

_PHONE_NOISE = re.compile(r"[\s()\-.]")
_E164 = re.compile(r"\+[1-9][0-9]{9,14}")  # E.164: a country code and the number, 10 to 15 digits in all
_RUSSIAN_MOBILE = re.compile(r"\+7[0-9]{10}")  # how the page spaces a number (shown_phone), not a rule on it
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,63}")


# --- what a step is given -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Browser:
    """What the browser's binding cookie says: the pending login's state and the browser's secret."""

    state: str | None
    binding: str | None


@dataclass(frozen=True, slots=True)
class Authorize:
    """A portal's authorization request (Authlib reads it from the request too, to validate it)."""

    args: dict[str, str]
    session_token: str | None  # the SSO cookie's token, if any
    refused: Browser = Browser(None, None)  # the refusal cookie: a refusal here is replayed to it


@dataclass(frozen=True, slots=True)
class LinkRequest:
    """The portal asks to link an account a person is signed in to (by password) with ESIA."""

    client: PortalClient  # authenticated by the view (HTTP Basic)
    account_id: str
    return_to: str


@dataclass(frozen=True, slots=True)
class Callback:
    """ESIA's answer: the browser's cookie and the callback's query arguments."""

    browser: Browser
    args: dict[str, str]


@dataclass(frozen=True, slots=True)
class Choice:
    """The account the person picked in the chooser."""

    browser: Browser
    account_id: str | None


@dataclass(frozen=True, slots=True)
class InviteCode:
    """The school's invite code as typed."""

    browser: Browser
    code: str


@dataclass(frozen=True, slots=True)
class Contacts:
    """The contacts the person confirmed for the first link (None: not sent, ESIA's are shown)."""

    browser: Browser
    phone: str | None
    email: str | None


# --- what a step answers --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErrorPage:
    """The login cannot go on: a page saying what happened (no attempt, or its reference in the text)."""

    title: str
    message: str
    code: str | None
    status: int


#: Bad, expired, replayed or another browser's login: the person starts again on the portal.
EXPIRED = ErrorPage("Сеанс входа истёк", "Вернитесь на портал электронного дневника и начните вход заново.", None, 400)
#: A portal's request the broker cannot answer at its redirect URI (OAuth's codes), in a person's words.
BAD_REQUEST_RU = {
    "invalid_client": "Портал, с которого вы пришли, не подключён к входу через Госуслуги.",
    "invalid_request": "Портал передал неполный или неверный запрос на вход.",
}
BAD_REQUEST_DEFAULT_RU = "Портал передал запрос на вход, который сервис входа не может выполнить."


def bad_request(code: str | None) -> ErrorPage:
    """The portal's authorization request is wrong and its redirect URI unknown: said in Russian, the code for support."""
    message = BAD_REQUEST_RU.get(code or "", BAD_REQUEST_DEFAULT_RU) + " Вернитесь на портал дневника и начните вход заново."
    return ErrorPage("Портал отправил неверный запрос на вход", message, code, 400)


@dataclass(frozen=True, slots=True)
class Refused:
    """A refusal for ``reason``, recorded as the attempt ``reference``, with the ways on it offers."""

    reason: matching.Reason
    reference: str
    login_url: str | None  # the portal's password login, offered instead
    ends_login: bool = False  # the browser's binding cookie is forgotten
    portal: PortalClient | None = None  # the portal the person came from: its name, support, logo
    retry_url: str | None = None  # «Попробовать ещё раз»: a fresh login at the portal (initiate_login_uri, else login_url)
    back_url: str | None = None  # «Вернуться на сайт»: the OIDC error response with the reference; the link flow's return_to
    link_flow: bool = False  # the link flow: back to the diary the person is signed in to
    other_person: bool = False  # the link flow met another person at ESIA (a parent for a child)
    keeps_login: bool = False  # the binding cookie is kept: the refusal is replayed to this browser
    #: ``state.binding`` of a refusal before ESIA, set as its own cookie (``REFUSAL_COOKIE``) beside,
    #: never instead of, the binding cookie: a login under way in another tab goes on (docs/adr/0018).
    refusal_cookie: str | None = None


@dataclass(frozen=True, slots=True)
class ToEsia:
    """Off to ESIA, with the browser bound to its pending login by a cookie."""

    url: str
    binding_cookie: str  # ``state.binding``


@dataclass(frozen=True, slots=True)
class ToPortal:
    """Back to the portal with Authlib's answer (a code, or an OAuth error redirect)."""

    response: Response
    ends_login: bool = False  # the browser's binding cookie is forgotten


@dataclass(frozen=True, slots=True)
class ChooseRegion:
    """The person picks the region (the portal named none it serves)."""

    portal_request: dict[str, str]
    regions: list[matching.RegionPolicy]  # the regions the portal serves, by name
    problem: str | None


@dataclass(frozen=True, slots=True)
class Next:
    """The login waits on one of the broker's pages."""

    step: Step


@dataclass(frozen=True, slots=True)
class ChooseAccount:
    """The chooser, with the person's accounts; ``invalid`` when the choice sent was not one of them."""

    accounts: list[Account]
    invalid: bool = False
    portal: PortalClient | None = None  # the portal the person came from (its name heads the page)


@dataclass(frozen=True, slots=True)
class AskInviteCode:
    """The invite code page; ``problem`` after a wrong code."""

    problem: str | None = None
    portal: PortalClient | None = None


@dataclass(frozen=True, slots=True)
class ConfirmContacts:
    """The first link's page: the account's name and birth date, and the contacts to confirm.

    ``problems``: what is wrong with each field sent (``phone``, ``email``), every one at once.
    """

    account: Account
    phone: str
    email: str
    problems: dict[str, str] = dataclasses.field(default_factory=dict)
    phone_from_esia: bool = False  # the phone shown is the one ESIA confirmed (said so on the page)
    email_from_esia: bool = False
    esia_phone: bool = False  # ESIA had a confirmed mobile (the page was first filled with it)
    portal: PortalClient | None = None

    @property
    def child_without_phone(self) -> bool:
        """A pupil whom ESIA knows no mobile for (children's accounts often have none): a parent's will do."""
        return self.account.role == "student" and not self.esia_phone

    @property
    def middle_name(self) -> str:
        """The patronymic as the page shows it: nothing for none (the registry's «-», «нет»)."""
        middle = self.account.middle_name or ""
        return "" if matching.is_placeholder(middle) else middle.strip()


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The diary session is made: back to the portal with its code, the SSO cookie set."""

    response: Response
    session_token: str


@dataclass(frozen=True, slots=True)
class Linked:
    """The link flow is done: back to where the portal asked."""

    return_to: str


@dataclass(frozen=True, slots=True)
class LinkStarted:
    """Where the portal sends the person's browser to link the account."""

    url: str


@dataclass(frozen=True, slots=True)
class LinkRejected:
    """The portal's link request is not valid (an OAuth ``invalid_request``)."""

    description: str


Result = (
    ErrorPage | Refused | ToEsia | ToPortal | ChooseRegion | Next | ChooseAccount | AskInviteCode | ConfirmContacts
    | SignedIn | Linked
)  # fmt: skip


# --- 1. start -------------------------------------------------------------------------------


def start(request: Authorize) -> ErrorPage | Refused | ToEsia | ToPortal | ChooseRegion:
    """Validate the portal's request, pick the region, then single sign-on or off to ESIA.

    ``prompt`` and ``max_age`` decide whether the live session may answer (OIDC Core
    §3.1.2.1): ``prompt=login``, ``max_age=0`` or a session older than ``max_age`` start a new
    ESIA login; ``prompt=none`` answers with a code from the session, or with an error
    redirect (``login_required``, ``interaction_required``) and never a page.
    """
    live = sessions.find_session(request.session_token)
    signed = oidc.signed_in(live.id) if live is not None else None
    try:
        asked = authorization.read_request(signed)
    except OAuth2Error as error:
        if error.redirect_uri:  # the client and its redirect URI are known: tell the portal
            return ToPortal(authorization.error_response(error))
        return bad_request(error.error)
    client = asked.client
    silent = asked.freshness.silent
    usable = (
        live is not None
        and signed is not None
        and client.may_serve(signed.account.region)
        and asked.freshness.allows(live, services.current().clock())
    )
    portal_request = dict(request.args)
    region = portal_request.pop("region", None)
    policies = regions.policies()
    if silent and not usable:
        return ToPortal(asked.error(LoginRequiredError, "No login of the person that this request may use."))
    if not region or region not in policies or not client.may_serve(region):
        if silent:
            return ToPortal(asked.error(InteractionRequiredError, "The person has to choose a region."))
        served = sorted((policies[code] for code in client.regions if code in policies), key=lambda r: r.name)
        return ChooseRegion(portal_request, served, "Этот портал не обслуживает выбранный регион." if region else None)
    if not policies[region].enabled:
        if silent:
            return ToPortal(asked.error(InteractionRequiredError, "ESIA login is switched off in this region."))
        return _region_disabled(request.refused, client, portal_request, region)
    if usable:
        assert live is not None
        response = authorization.complete_authorization(client, portal_request, live)
        db.session.commit()
        return ToPortal(response)
    try:
        started = pendings.start(client.client_id, portal_request, region)
    except ProviderError as exc:  # the signing tool failed: nothing was sent to ESIA (its cause is in the log)
        db.session.rollback()
        attempt = attempts.refusal_attempt(client.client_id, region, exc.reason, exc.code)
        return Refused(exc.reason, attempt.reference, client.login_url)
    db.session.commit()
    return ToEsia(started.url, f"{started.state}.{started.binding}")


def _region_disabled(refused: Browser, client: PortalClient, portal_request: dict[str, str], region: str) -> Refused:
    """ESIA login is off in the region: refused before ESIA, recorded once; the same browser sending
    the same request again (a reload) sees the same refusal, and nothing more is recorded.

    The refusal is bound to the browser by a cookie of its own (``refused``), so that a login of
    this browser under way at ESIA in another tab keeps its binding cookie and goes on."""
    kept = pendings.ended(refused.state, refused.binding)
    if kept is not None and (kept.client_id, kept.region, kept.portal_request) == (client.client_id, region, portal_request):
        return _before_esia(kept)
    reason = matching.Reason.REGION_DISABLED
    attempt = attempts.record(client.client_id, region, services.current().clock(), "login", reason=reason, detail="region_disabled")
    state, binding = pendings.refused_at_start(client.client_id, portal_request, region, pendings.Ended(str(reason), attempt.reference))
    db.session.commit()
    ended = pendings.ended(state, binding)
    assert ended is not None
    return _before_esia(ended, f"{state}.{binding}")


def _before_esia(login: Pending, cookie: str | None = None) -> Refused:
    """The refusal page of a login refused before ESIA: the login's binding cookie (another tab's
    login, if any) is left alone; a new refusal sets ``cookie``, the refusal's own."""
    return dataclasses.replace(_refusal_of(login), keeps_login=False, refusal_cookie=cookie)


def start_link(request: LinkRequest) -> LinkStarted | LinkRejected:
    """The link flow's first step, on the portal's back channel: a ticket for the person's browser.

    ``return_to`` must be on the portal's own origin (one of its registered redirect URIs').
    """
    client = request.client
    account = db.session.get(Account, request.account_id) if request.account_id else None
    if account is None:
        return LinkRejected("account_id: no such diary account")
    if not client.may_serve(account.region):
        return LinkRejected("account_id: not in this portal's regions")
    if not _same_origin(request.return_to, client.redirect_uris):
        return LinkRejected("return_to: not on the portal's registered origin")
    state, ticket = pendings.issue_link_ticket(client.client_id, account.id, account.region, request.return_to)
    db.session.commit()
    return LinkStarted(authorization.external("auth.link") + "?" + urlencode({"state": state, "ticket": ticket}))


def open_link(state: str | None, ticket: str | None, refused: Browser) -> ErrorPage | Refused | ToEsia:
    """The link flow's browser step: redeem the portal's ticket, then off to ESIA with a pending
    login of this browser's, its authorization request made and signed now.

    A signer that fails refuses the link as :func:`start` refuses a login (``esia_unavailable``,
    recorded with the ticket's portal and region): the ticket ends with the refusal, kept for this
    browser by the refusal cookie (``refused``), so that a reload shows the same page.
    """
    redeemed = pendings.redeem_link_ticket(state, ticket)
    if redeemed is None:
        kept = pendings.ended(state, refused.binding) if state and refused.state == state else None
        return _before_esia(kept) if kept is not None else EXPIRED
    opened, _ = redeemed
    return_to = str(opened.portal_request["return_to"])
    try:
        started = pendings.start(opened.client_id, {"return_to": return_to}, opened.region, link_account=opened.link_account)
    except ProviderError as exc:  # the signing tool failed: nothing was sent to ESIA (its cause is in the log)
        return _link_unavailable(opened, state, ticket, exc)
    pendings.drop(opened)
    db.session.commit()
    return ToEsia(started.url, f"{started.state}.{started.binding}")


def _link_unavailable(opened: Pending, state: str | None, ticket: str | None, exc: ProviderError) -> Refused:
    """The link's ESIA request could not be signed: the attempt is recorded, and the ticket ends refused."""
    db.session.rollback()  # the attempt is its transaction's first write (attempts.record); the ticket is redeemed again after it
    attempt = attempts.record(opened.client_id, opened.region, services.current().clock(), "link", reason=exc.reason, detail=exc.code)
    ended = pendings.Ended(str(exc.reason), attempt.reference)
    again = pendings.redeem_link_ticket(state, ticket)
    if again is not None:
        pendings.end(again[0], ended)
    db.session.commit()
    cookie = f"{again[0].state}.{again[1]}" if again is not None else None  # redeemed meanwhile by another request: not kept
    return _before_esia(dataclasses.replace(opened, ended=ended), cookie)


# --- 2. ESIA's callback ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finished:
    """What the callback learned: the pending login, the attempt and, if ESIA answered, more."""

    pending: Pending
    attempt: attempts.Attempt
    reason: matching.Reason | None  # the refusal's reason (the decision's, or the ESIA step's)
    decision: matching.Decision | None
    oid: str | None = None
    contacts: EsiaContacts | None = None
    tier: str | None = None
    amr: str = "PWD"
    auth_time: float | None = None  # when ESIA last asked the person to authenticate, if it said
    #: ESIA let the person in from an older authentication than the portal asked for (:func:`_older_than_asked`).
    too_old: bool = False

    @property
    def signs_in_now(self) -> bool:
        """The person goes through a link they already have: signed in at the callback."""
        decision = self.decision
        return (
            decision is not None
            and decision.reason is None
            and decision.outcome is matching.Outcome.SIGNED_IN
            and not self.pending.link_account
            and not self.too_old
        )

    @property
    def is_waiting_for_invite(self) -> bool:
        """The decision asks for the school's invite code for one of the accounts it names."""
        decision = self.decision
        return (
            decision is not None
            and decision.reason is matching.Reason.INVITE_CODE_REQUIRED
            and bool(decision.account_ids)
            and not self.pending.link_account  # the link flow never asks (the password proved the account)
        )

    def stage(self, step: Step) -> Stage:
        """What the broker's pages need after the decision (kept server-side until done)."""
        if self.decision is None or self.oid is None:
            raise ValueError("only a decided login has a stage")
        contacts = self.contacts or EsiaContacts()
        return Stage(
            step=step,
            attempt_id=self.attempt.id,
            account_ids=tuple(self.decision.account_ids),
            oid=self.oid,
            tier=self.tier,
            amr=self.amr,
            auth_time=self.auth_time,
            email=contacts.email,
            mobile=contacts.mobile,
            reference=self.attempt.reference,
        )


#: Where each outcome the engine grants sends the person next.
_STEP_OF = {
    matching.Outcome.SIGNED_IN: Step.SIGN_IN,
    matching.Outcome.CHOOSE_ACCOUNT: Step.CHOOSE_ACCOUNT,
    matching.Outcome.LINKED: Step.CONFIRM,
}


def callback(request: Callback) -> ErrorPage | Refused | ToPortal | Next | SignedIn | Linked:
    """ESIA sends the browser back with a code (or an error) and the state: decide, record, go on."""
    state = request.args.get("state")
    login = pendings.claim(state, request.browser.binding) if request.browser.state == state else None
    db.session.commit()  # the claim, before ESIA is called: no transaction across those calls
    if login is None:
        # This browser's login that ended refused (a reload, Back then Forward, ESIA's single
        # sign-on answering again): the same refusal, and nothing is written.
        ended = pendings.ended(state, request.browser.binding) if request.browser.state == state else None
        if ended is not None:
            return _refusal_of(ended)
        # Bad, expired, replayed or another browser's state: nothing is written, so that garbage
        # callbacks cannot fill the attempts table (kept for months); the person starts again.
        log.info("ESIA callback with a state that matches no pending login of this browser")
        return EXPIRED
    client = services.current().clients.get(login.client_id)
    if client is None:  # the portal was unregistered while the person was at ESIA
        attempt = attempts.record(login.client_id, login.region, login.created_at, login.flow,
                                  reason=matching.Reason.ESIA_ERROR, detail="client_unregistered")  # fmt: skip
        pendings.drop(login)
        db.session.commit()
        return ErrorPage(
            "Портал больше не обслуживается",
            "Портал, с которого начался вход, отключён от входа через Госуслуги. Вернитесь на портал дневника. "
            f"Код обращения: {attempt.reference}.",
            "client_unregistered",
            400,
        )
    finished = finish(login, request.args)
    decision = finished.decision
    if finished.too_old:
        return _reauthentication_required(login, finished, client)
    if finished.is_waiting_for_invite:  # the region asks for the school's code
        stage = dataclasses.replace(finished.stage(Step.INVITE_CODE), tries=0)
        pendings.set_stage(login, stage)
        db.session.commit()
        return Next(Step.INVITE_CODE)
    if decision is None or finished.reason is not None:
        reason = finished.reason or matching.Reason.ESIA_ERROR
        other = bool(login.link_account) and decision is not None and another_person(decision)
        if other:  # the page says so, not the reason's words: the attempt records which the person read
            attempts.set_detail(finished.attempt.id, attempts.ANOTHER_PERSON)
        return _refuse(login, reason, finished.attempt.reference, other_person=other)
    if login.link_account:
        return _finish_link(login, finished)
    stage = finished.stage(_STEP_OF[decision.outcome])
    if finished.signs_in_now:  # the stage is never stored; the attempt was recorded completed
        return sign_in(dataclasses.replace(login, stage=stage), decision.account_ids[0], at_callback=True)
    pendings.set_stage(login, stage)
    db.session.commit()
    return Next(stage.step)


def finish(login: Pending, args: dict[str, str]) -> Finished:
    """Complete ESIA's part and decide; record the attempt whatever happens (the caller commits)."""
    esia = services.current().esia
    request = AuthorizationRequest(url="", state=login.state, nonce=login.esia_nonce, code_verifier=login.esia_code_verifier, timestamp="")
    flow = login.flow
    try:
        code = esia.parse_callback(args, request)
        tokens = esia.exchange_code(code, request)
        person, contacts = esia.fetch_profile(tokens)
    except ProviderError as exc:
        attempt = attempts.record(login.client_id, login.region, login.created_at, flow, reason=exc.reason,
                                  detail=exc.esia_code or exc.code)  # fmt: skip
        log.info("attempt %s: ESIA step failed: %s", attempt.reference, exc.code)
        return Finished(login, attempt, exc.reason, None)
    decision = decisions.decide(
        person,
        login.region,
        services.current().clock(),
        link_account=matching.AccountId(login.link_account) if login.link_account else None,
    )
    amr = tokens.amr[0] if tokens.amr else "PWD"
    decided = Finished(login, _UNRECORDED, decision.reason, decision, person.oid, contacts, str(person.tier), amr, tokens.auth_time)
    decided = dataclasses.replace(decided, too_old=_older_than_asked(login, decided))
    by_link = decided.signs_in_now  # recorded completed and lean: the caller signs the person in now
    attempt = attempts.record(
        login.client_id,
        login.region,
        login.created_at,
        flow,
        decision=decision,
        oid=person.oid,
        snils_digest=None if by_link else attempts.snils_digest_of(person),
        tier=str(person.tier),
        signed_in_by_link=by_link,
    )
    return dataclasses.replace(decided, attempt=attempt)


#: The attempt of a :class:`Finished` made before its row is written (in :func:`finish` only).
_UNRECORDED = attempts.Attempt(0, "")


def _older_than_asked(login: Pending, finished: Finished) -> bool:
    """Whether ESIA let the person in from an authentication older than the portal asked for
    (``prompt=login``, ``max_age``): its single sign-on may answer without asking again.

    Checked once, at the callback: a sign-in there (:func:`sign_in` with ``at_callback``) does
    not check it again; a later page's sign-in does, as time has passed since.
    """
    granted = finished.decision is not None and (finished.reason is None or finished.is_waiting_for_invite)
    if not granted or login.link_account:
        return False
    now = services.current().clock().timestamp()
    authenticated = min(finished.auth_time if finished.auth_time is not None else now, now)
    return not authorization.is_fresh_enough(login.portal_request, authenticated, login.created_at)


def _reauthentication_required(login: Pending, finished: Finished, client: PortalClient) -> ToPortal:
    """No session, no link: the attempt is refused (``reauthentication_required``) and the portal
    gets ``login_required`` (OIDC Core §3.1.2.1), so that it can ask the person to sign out of
    Gosuslugi, which is what a shared school computer needs."""
    check = matching.Check("auth_time", matching.CheckResult.FAIL,
                           "ESIA answered from an authentication older than the portal's prompt=login or max_age allows")  # fmt: skip
    attempts.refuse_attempt(finished.attempt.id, matching.Reason.REAUTHENTICATION_REQUIRED, "login_required", check)
    pendings.drop(login)
    db.session.commit()
    return ToPortal(authorization.login_required(client, dict(login.portal_request)), ends_login=True)


def _finish_link(login: Pending, finished: Finished) -> Refused | Linked:
    """The link flow: record the link the person proved, and go back to where the portal asked."""
    assert finished.decision is not None and finished.oid is not None
    account_id = finished.decision.account_ids[0]
    if pendings.link_accounts(finished.oid, [account_id], finished.tier, "link"):
        return _linked_meanwhile(login)
    return_to = login.portal_request["return_to"]
    attempts.complete_attempt(finished.attempt.id)  # the link is written: the person's way ends here
    pendings.drop(login)
    db.session.commit()
    return Linked(return_to + ("&" if "?" in return_to else "?") + urlencode({"linked": account_id}))


# --- 3. the chooser -------------------------------------------------------------------------


def accounts_to_choose(browser: Browser) -> ErrorPage | Refused | ChooseAccount:
    """The chooser's page: the accounts the decision found for the person."""
    login = _waiting(browser, Step.CHOOSE_ACCOUNT)
    if login is None:
        return _gone(browser)
    assert login.stage is not None
    return ChooseAccount(_accounts(login.stage), portal=_portal(login))


def choose(request: Choice) -> ErrorPage | Refused | ChooseAccount | Next | SignedIn:
    """The person picked an account: in through its link, or on to the first link's page."""
    # Only a login the engine sent to the chooser: any other stage (one waiting for an invite
    # code, say) names accounts that must not be chosen from here.
    login = _waiting(request.browser, Step.CHOOSE_ACCOUNT)
    if login is None:
        return _gone(request.browser)
    stage = login.stage
    assert stage is not None
    chosen = request.account_id
    if chosen not in stage.account_ids:
        return ChooseAccount(_accounts(stage), invalid=True, portal=_portal(login))
    account = db.session.get(Account, chosen)
    if account is not None and _linked_to(account.id, stage.oid):
        return sign_in(login, account.id)
    pendings.set_stage(login, dataclasses.replace(stage, step=Step.CONFIRM, account_ids=(chosen,)))
    db.session.commit()
    return Next(Step.CONFIRM)


def _accounts(stage: Stage) -> list[Account]:
    return [a for a in (db.session.get(Account, i) for i in stage.account_ids) if a is not None]


def _linked_to(account_id: str, oid: str) -> bool:
    link = db.session.get(EsiaLink, account_id)
    return link is not None and link.oid == oid


# --- 4. the school's invite code ------------------------------------------------------------


def invite_page(browser: Browser) -> ErrorPage | Refused | AskInviteCode:
    """The invite code page, for a login that waits for one."""
    login = _waiting(browser, Step.INVITE_CODE)
    return AskInviteCode(portal=_portal(login)) if login is not None else _gone(browser)


def invite(request: InviteCode) -> ErrorPage | Refused | AskInviteCode | Next:
    """A child's first link in a region that asks for the school's one-time invite code.

    The code is checked against the accounts the decision named, single use; a few wrong codes per
    login (and per account and ESIA person over all their logins, or per account from everyone
    past a higher ceiling) end in ``invite_code_invalid``: the login's one attempt row, updated,
    with its reference code.
    """
    login = _waiting(request.browser, Step.INVITE_CODE)
    if login is None:
        return _gone(request.browser)
    stage = login.stage
    assert stage is not None and stage.reference is not None
    # Take this try first, by compare-and-set on the stage: two submissions racing cannot both
    # count as the same try, and a wrong code cannot overwrite a stage a right one just moved on.
    tries = stage.tries + 1
    taken = pendings.advance_stage(login, dataclasses.replace(stage, tries=tries), step=Step.INVITE_CODE, tries=tries - 1)
    if taken is None:
        db.session.rollback()
        return _resume(request.browser)
    redeemed = invites.redeem(stage.account_ids, request.code, reference=stage.reference, oid=stage.oid)
    if redeemed.result is invites.Redeemed.RIGHT:
        assert redeemed.account_id is not None
        # Checked, not spent: confirm spends it with the link, in one transaction.
        pendings.set_stage(taken, dataclasses.replace(stage, step=Step.CONFIRM, account_ids=(redeemed.account_id,),
                                                      invite_id=redeemed.invite_id))  # our row: just taken  # fmt: skip
        db.session.commit()
        return Next(Step.CONFIRM)
    most = int(current_app.config["INVITE_MAX_TRIES_PER_LOGIN"])
    if redeemed.result is invites.Redeemed.LOCKED or tries >= most:
        detail = "invite_code_locked" if redeemed.result is invites.Redeemed.LOCKED else "invite_code_wrong"
        # The attempt that waited for the code ends here: one login, one attempt row (its reference).
        attempts.refuse_invited_attempt(stage.attempt_id, detail)
        # The wrong code counts against the account and the person, committed with the refusal.
        return _refuse(login, matching.Reason.INVITE_CODE_INVALID, stage.reference)
    db.session.commit()
    return AskInviteCode(f"Код не подошёл. Проверьте его и введите ещё раз. Осталось попыток: {most - tries}.", _portal(login))


def _resume(browser: Browser) -> ErrorPage | Next:
    """Another submission of this login's code page moved it on meanwhile: go where it now is."""
    login = pendings.staged(browser.state, browser.binding)
    step = login.stage.step if login is not None and login.stage is not None else None
    if step in (Step.INVITE_CODE, Step.CONFIRM):
        return Next(step)
    return EXPIRED


# --- 5. the first link ----------------------------------------------------------------------


def contacts(request: Contacts) -> ErrorPage | Refused | ConfirmContacts:
    """The first link's page: the diary's name and birth date, and the contacts to confirm."""
    found = _confirming(request)
    return found[1] if found is not None else _gone(request.browser)


def confirm(request: Contacts) -> ErrorPage | ConfirmContacts | Refused | SignedIn:
    """The person confirmed a mobile phone and an e-mail: write the link and sign them in."""
    found = _confirming(request)
    if found is None:
        return _gone(request.browser)
    login, page = found
    stage = login.stage
    assert stage is not None
    phone = e164(page.phone)
    problems = {}
    if phone is None:
        problems["phone"] = PHONE_PROBLEM
    if not _EMAIL.fullmatch(page.email):
        problems["email"] = EMAIL_PROBLEM
    if problems:  # every field's problem at once
        return dataclasses.replace(page, problems=problems)
    assert phone is not None
    account = page.account
    if pendings.link_accounts(stage.oid, [account.id], stage.tier, "login"):
        return _linked_meanwhile(login)
    if stage.invite_id is not None:  # the school's code, spent with the link or not at all
        assert stage.reference is not None
        if not invites.spend(stage.invite_id, account.id, reference=stage.reference):
            return _invite_spent_meanwhile(login)
        attempts.settle_invited_attempt(stage.attempt_id, account.id)
    claims = {
        "email": page.email,
        "email_verified": page.email == (stage.email or ""),
        "phone_number": phone,  # E.164, as OIDC Core §5.1 recommends: +7XXXXXXXXXX
        "phone_number_verified": phone == e164(stage.mobile or ""),
    }
    return sign_in(login, account.id, claims)


def _confirming(request: Contacts) -> tuple[Pending, ConfirmContacts] | None:
    """The login waiting on the first link's page, and the page as sent (or as ESIA filled it)."""
    login = _waiting(request.browser, Step.CONFIRM)
    if login is None:
        return None
    stage = login.stage
    assert stage is not None
    account = db.session.get(Account, stage.account_ids[0])
    if account is None:
        return None
    phone = (request.phone if request.phone is not None else stage.mobile or "").strip()
    email = (request.email if request.email is not None else stage.email or "").strip()
    # As confirm's ``phone_number_verified`` and ``email_verified``: what ESIA confirmed, unchanged.
    phone_from_esia = bool(stage.mobile) and e164(phone) is not None and e164(phone) == e164(stage.mobile or "")
    email_from_esia = bool(stage.email) and email == stage.email
    page = ConfirmContacts(account, phone, email, phone_from_esia=phone_from_esia, email_from_esia=email_from_esia,
                           esia_phone=bool(stage.mobile), portal=_portal(login))  # fmt: skip
    return login, page


#: What the first link's page says of a phone number it cannot read, and of an e-mail address.
PHONE_PROBLEM = "Укажите мобильный телефон: +7 и 10 цифр (или 8 и 10 цифр); номер другой страны — с «+» и кодом страны."
EMAIL_PROBLEM = "Укажите адрес электронной почты, например ivanova@mail.ru."


def e164(text: str) -> str | None:
    """A phone number in E.164 (``+79161234567``), as the portal gets it; None if it cannot be one.

    The one rule the first link checks and writes with: spaces, brackets, dashes and dots are
    dropped; a Russian number may be written ``8 916 123-45-67``, ``7 916…`` or ``916…`` (ten
    digits), all ``+7 916…``; any other country's number starts with ``+`` and its code. In all,
    10 to 15 digits.
    """
    digits = _PHONE_NOISE.sub("", text)
    if not digits.startswith("+"):
        if len(digits) == 11 and digits[0] in "78":
            digits = "+7" + digits[1:]
        elif len(digits) == 10:
            digits = "+7" + digits
    return digits if _E164.fullmatch(digits) else None


def shown_phone(text: str) -> str:
    """A phone number as the page shows it: a Russian mobile as ``+7 900 123-45-67``, any other as given.

    A number :func:`e164` reads as a Russian one is shown in that form, spaced (what :func:`e164`
    removes again), so the number the confirmation checks and writes is the one the page shows.
    """
    number = e164(text)
    if number is None or not _RUSSIAN_MOBILE.fullmatch(number):
        return text
    return f"+7 {number[2:5]} {number[5:8]}-{number[8:10]}-{number[10:12]}"


# --- 6. signing in --------------------------------------------------------------------------


def sign_in(login: Pending, account_id: str, claims: dict[str, Any] | None = None, *, at_callback: bool = False) -> SignedIn:
    """Create the diary session, hand the portal its code, forget the pending login: one commit.

    ``at_callback``: signed in at ESIA's callback through an existing link, where the attempt was
    recorded completed (``attempts.record``'s ``signed_in_by_link``) and the login's freshness was
    checked a moment ago (:func:`_older_than_asked`): neither is done again. After a chooser or
    the first link's page, the attempt is completed here and the freshness checked again.
    """
    stage = login.stage
    assert stage is not None
    if claims is None:
        claims = {}
        if stage.email:
            claims.update(email=stage.email, email_verified=True)
        phone = e164(stage.mobile or "")
        if phone:
            claims.update(phone_number=phone, phone_number_verified=True)
    live, token = sessions.create_session(
        account_id, tier=stage.tier or "simplified", amr=stage.amr or "PWD",
        attempt_id=stage.attempt_id, claims=claims, auth_time=stage.auth_time,
    )  # fmt: skip
    if stage.attempt_id and not at_callback:  # the person got in: the attempt is completed, with the account entered
        attempts.complete_attempt(stage.attempt_id, account_id)
    client = services.current().clients[login.client_id]
    pendings.drop(login)
    started = None if at_callback else login.created_at  # None: freshness checked at the callback just now
    response = authorization.complete_authorization(client, dict(login.portal_request), live, login_started=started)
    db.session.commit()
    return SignedIn(response, token)


def sign_out(live: sessions.LiveSession) -> None:
    """End the person's diary session (logout)."""
    sessions.revoke(live)
    db.session.commit()


# --- «Это не я» ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NotMe:
    """«Это не я» on one of the broker's pages: the Gosuslugi account that logged in is someone else's."""

    browser: Browser
    session_token: str | None  # the SSO cookie's token, if any


@dataclass(frozen=True, slots=True)
class StartOver:
    """The login is over: off to ESIA's logout, then back to a fresh start of the same portal's login."""

    esia_logout_url: str
    restart_url: str | None  # the portal's authorization request again (None: the "you are logged out" page)
    client_id: str


def not_me(request: NotMe) -> ErrorPage | StartOver:
    """The person says the Gosuslugi account is not theirs: end this login and sign out of ESIA.

    Nothing is linked and no one is signed in: the pending login is dropped, a diary session
    this browser holds is ended too (it came from a Gosuslugi login that ends now), and the
    attempt's trace says how the login ended. The browser then signs out of ESIA and comes
    back to the portal's own authorization request, so that the right person logs in to ESIA.
    """
    login = pendings.staged(request.browser.state, request.browser.binding)
    if login is None or login.stage is None:
        return EXPIRED
    check = matching.Check(
        "not_me",
        matching.CheckResult.INFO,
        "the person said the ESIA account is not theirs: the login ended, nothing was linked, and they signed out of ESIA",
    )
    attempts.note_attempt(login.stage.attempt_id, attempts.NOT_ME, check)
    pendings.drop(login)
    live = sessions.find_session(request.session_token)
    if live is not None:
        sessions.revoke(live)
    db.session.commit()
    restart = None
    if not login.link_account:  # a portal's login (the link flow has no authorization request to repeat)
        restart = authorization.external("oidc.authorize") + "?" + urlencode({**login.portal_request, "region": login.region})
    logout = services.current().esia.logout_url(authorization.external("oidc.logged_out"))
    return StartOver(logout, restart, login.client_id)


# --- when the world moved on meanwhile -------------------------------------------------------


def _linked_meanwhile(login: Pending) -> Refused:
    """Another ESIA person linked the account between the decision and now: refuse, recorded."""
    db.session.rollback()  # nothing of this step is kept
    if login.stage is not None:  # recorded at ESIA's callback: that row ends refused (one login, one attempt)
        check = matching.Check("link", matching.CheckResult.FAIL, "another ESIA person linked the account meanwhile")
        attempts.refuse_attempt(login.stage.attempt_id, matching.Reason.LINKED_ELSEWHERE, "linked_meanwhile", check)
        reference = attempts.reference_of(login.stage.attempt_id)
    else:  # the link flow, straight from the callback: its attempt went with the rollback
        reference = attempts.record(login.client_id, login.region, login.created_at, login.flow,
                                    reason=matching.Reason.LINKED_ELSEWHERE, detail="linked_meanwhile").reference  # fmt: skip
    return _refuse(login, matching.Reason.LINKED_ELSEWHERE, reference)


def _invite_spent_meanwhile(login: Pending) -> Refused:
    """The invite code was used by another login (or revoked) between the code page and now."""
    db.session.rollback()  # nothing of this step is kept: no link
    stage = login.stage
    assert stage is not None and stage.reference is not None
    attempts.refuse_invited_attempt(stage.attempt_id, "invite_code_used_meanwhile")
    return _refuse(login, matching.Reason.INVITE_CODE_INVALID, stage.reference)


# --- a refusal, and its reloads --------------------------------------------------------------


def _refuse(login: Pending, reason: matching.Reason, reference: str, *, other_person: bool = False) -> Refused:
    """The login ends refused: its row keeps the refusal for this browser's reloads (one commit)."""
    ended = pendings.Ended(str(reason), reference, other_person)
    pendings.end(login, ended)
    db.session.commit()
    return _refusal_of(dataclasses.replace(login, stage=None, ended=ended))


def _refusal_of(login: Pending) -> Refused:
    """The refusal page of a login that ended refused: the same at its end and at every reload.

    Its ways on: a fresh login started by the portal itself (``retry_url``, :func:`retry_url`),
    the portal's password login, and the portal's request answered with an OIDC error response
    carrying the attempt's reference code (``back_url``); in the link flow, back to where the
    portal asked, with the error and the reference code.
    """
    ended = login.ended
    assert ended is not None
    reason = matching.Reason(ended.reason)
    client = services.current().clients.get(login.client_id)
    login_url = _login_url(login)
    if login.link_account:
        return_to = str(login.portal_request["return_to"])
        to_diary = _with_query(return_to, {"error": "access_denied", "error_description": str(reason), "reference": ended.reference})
        return Refused(reason, ended.reference, login_url, portal=client, back_url=to_diary, link_flow=True,
                       other_person=ended.other_person, keeps_login=True)  # fmt: skip
    if client is None:  # the portal was unregistered since: no request of it to answer
        return Refused(reason, ended.reference, None, keeps_login=True)
    portal_request = {key: str(value) for key, value in login.portal_request.items()}
    back = authorization.refusal_url(portal_request, str(reason), reference=ended.reference,
                                     unavailable=reason is matching.Reason.ESIA_UNAVAILABLE)  # fmt: skip
    return Refused(reason, ended.reference, login_url, portal=client, retry_url=retry_url(client), back_url=back, keeps_login=True)


def retry_url(client: PortalClient) -> str:
    """«Попробовать ещё раз»: a fresh login at the portal, never the portal's old request again.

    The old request's ``state`` may be spent: after «Вернуться на сайт» the portal has answered it,
    and a login that then succeeds under it is one the portal rejects (``mismatching_state``). So
    the portal starts a login of its own, with a new ``state``, ``nonce`` and PKCE: at its
    registered ``initiate_login_uri`` with ``iss`` ("Initiating Login from a Third Party", OIDC
    Core §4; no ``login_hint``: the broker names nobody), else at its ``login_url``, where its
    «Войти через Госуслуги» starts one (docs/adr/0018).
    """
    if client.initiate_login_uri is None:
        return client.login_url
    return _with_query(client.initiate_login_uri, {"iss": current_app.config["OIDC_ISSUER"]})


def another_person(decision: matching.Decision) -> bool:
    """Whether the link flow met another person at ESIA than the account's owner (a parent linking
    their child's account while signed in to Gosuslugi as themselves), not a typo in the registry:
    two or more of the name, the birth date, the gender and SNILS differ."""
    fields = {"name" if c.field in _NAME_FIELDS else c.field for c in decision.checks if c.result is matching.CheckResult.FAIL}
    return len(fields & {"name", "birth_date", "gender", "snils"}) >= 2


_NAME_FIELDS = frozenset({"last_name", "first_name", "middle_name"})


@dataclass(frozen=True, slots=True)
class LeaveEsia:
    """Off to ESIA's logout, then (through ``/oidc/logged-out``) back to where the portal asked."""

    url: str
    return_to: str


def leave_esia(browser: Browser) -> ErrorPage | LeaveEsia:
    """The link flow met another person at ESIA: sign them out of Gosuslugi, then back to the
    diary, where they link again under the account owner's Gosuslugi login."""
    login = pendings.ended(browser.state, browser.binding)
    if login is None or login.ended is None or not login.ended.other_person or not login.link_account:
        return EXPIRED
    url = services.current().esia.logout_url(authorization.external("oidc.logged_out"))
    return LeaveEsia(url, str(login.portal_request["return_to"]))


def _gone(browser: Browser) -> ErrorPage | Refused:
    """A step's page whose login no longer waits there: the refusal this browser's login ended
    with, if it did (a reload after the refusal), else the expired page."""
    login = pendings.ended(browser.state, browser.binding)
    return _refusal_of(login) if login is not None else EXPIRED


def _with_query(url: str, params: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


def _waiting(browser: Browser, step: Step) -> Pending | None:
    """This browser's login, if it waits on the page of ``step`` (and on no other)."""
    login = pendings.staged(browser.state, browser.binding)
    if login is None or browser.binding is None or login.stage is None or login.stage.step is not step:
        return None
    return login


def _portal(login: Pending) -> PortalClient | None:
    """The portal the login came from (its name heads the broker's pages); None if it is gone."""
    return services.current().clients.get(login.client_id)


def _login_url(login: Pending) -> str | None:
    """The portal's password login, offered on a refusal (None if the portal is gone)."""
    client = services.current().clients.get(login.client_id)
    return client.login_url if client else None


def _same_origin(url: str, registered: tuple[str, ...]) -> bool:
    """Whether ``url`` is on the origin (scheme, host, port) of one of ``registered``.

    Parsed, never compared as text; user info, a fragment or an unparsable URL is refused.
    """
    target = _origin(url)
    return target is not None and any(target == _origin(uri) for uri in registered)


def _origin(url: str) -> tuple[str, str, int | None] | None:
    if not url.isascii() or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        return None  # urlsplit would drop tabs and newlines, and strip spaces, without a word
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username is not None or parts.fragment:
        return None
    return (parts.scheme, parts.hostname, port if port is not None else (443 if parts.scheme == "https" else 80))
