"""Pending logins in Redis (``REDIS_URL``): a :class:`~broker.login.pending.PendingLogins` that expires by itself.

One hash per login, ``<REDIS_KEY_PREFIX>:pending:<state>``, holding what the table's row holds and
nothing more: the browser binding's keyed digest (never the binding), the portal's request, ESIA's
nonce and verifier, the stage, the instants (as microseconds since the epoch, by the service
clock) and two fields of this module's own, a revision ``r`` and a hold ``h``/``hu``. Each write
sets a TTL a minute past the value's ``expires_at``: Redis forgets the login by itself, and the
value's own ``expires_at`` decides before that (so a test's clock, or a Redis whose clock is off,
still sees a login expire when the service clock says).

The compare-and-sets (``claim``, ``redeem``, ``advance``) are Lua scripts, atomic in Redis, and
answer at once. Every other write (``insert``, ``set_stage``, ``end``, ``drop``) belongs to the
step's unit of work, as it does in the table (docs/adr/0022):

* it is queued on the step's database session and applied, all in one ``MULTI``, when the session
  commits, after its flush and before the database's ``COMMIT``: a Redis that fails there fails
  the commit, so the database keeps nothing of that step either (never a half-made login);
* a rollback (or a session closed without commit) drops what is queued and undoes what was
  applied (a compare-and-set's result, or writes whose ``COMMIT`` then failed): each undo puts the
  hash back as it was, only if its revision is still the one this step wrote;
* ``advance`` also holds the login until the step commits or rolls back (``HOLD_SECONDS`` at most,
  by the service clock): another submission's ``advance`` fails meanwhile, as on PostgreSQL the
  loser finds the stage changed once the winner's row lock is gone. A later write of another step
  takes the hold away, and the holder's own queued writes are then skipped: the last step to write
  wins, as the later transaction does in the table.

A Redis that cannot be reached (or answers with an error) is :class:`RedisUnavailableError`: the
person's page names ``redis_unavailable`` (503), and ``/readyz`` says so.
"""

from __future__ import annotations

import json
import logging
import secrets
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import redis
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from broker.errors import BrokerError
from broker.extensions import db
from broker.login.pending import REFUSED, Pending

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from redis.commands.core import Script

log = logging.getLogger(__name__)

#: A Redis key lives this long past its value's ``expires_at``: the value decides first.
TTL_SLACK = timedelta(minutes=1)
#: How long an ``advance`` holds its login at most, if its step never commits nor rolls back.
HOLD_SECONDS = 10
_WORK = "broker.pending_logins.redis"  # the session's ``info`` key of its unit of work
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


class RedisUnavailableError(BrokerError):
    code = "redis_unavailable"
    description = "The broker's Redis (where logins under way are kept) is unavailable; try again later."
    status = 503


# --- the scripts -------------------------------------------------------------------------------
#
# Field names are one letter: d browser digest, c consumed (µs or ""), x expires (µs), s stage JSON
# (or ""), o the stage's outcome, t its tries, l the link flow's account (or ""), v the rest as JSON,
# r revision, h/hu the hold's token and end (µs). A changing script returns {revision, old TTL, old
# hash}: what its undo needs.

_CLAIM = """
local f = redis.call('HMGET', KEYS[1], 'd', 'c', 'x')
if not f[1] or f[2] ~= '' or tonumber(f[3]) <= tonumber(ARGV[1]) then return false end
local found = false
for i = 2, #ARGV do if ARGV[i] == f[1] then found = true end end
if not found then return false end
local old, ttl = redis.call('HGETALL', KEYS[1]), redis.call('PTTL', KEYS[1])
redis.call('HSET', KEYS[1], 'c', ARGV[1])
local rev = redis.call('HINCRBY', KEYS[1], 'r', 1)
return {rev, ttl, old, redis.call('HGETALL', KEYS[1])}
"""

_REDEEM = """
local f = redis.call('HMGET', KEYS[1], 'd', 'c', 'x', 'l')
if not f[1] or f[2] ~= '' or f[4] == '' or tonumber(f[3]) <= tonumber(ARGV[1]) then return false end
local found = false
for i = 5, #ARGV do if ARGV[i] == f[1] then found = true end end
if not found then return false end
local old, ttl = redis.call('HGETALL', KEYS[1]), redis.call('PTTL', KEYS[1])
redis.call('HSET', KEYS[1], 'd', ARGV[2], 'x', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local rev = redis.call('HINCRBY', KEYS[1], 'r', 1)
return {rev, ttl, old, redis.call('HGETALL', KEYS[1])}
"""

_ADVANCE = """
local f = redis.call('HMGET', KEYS[1], 'o', 't', 'h', 'hu')
if not f[1] or f[1] ~= ARGV[2] or f[2] ~= ARGV[3] then return false end
if f[3] and f[3] ~= '' and tonumber(f[4]) > tonumber(ARGV[1]) then return false end
local old, ttl = redis.call('HGETALL', KEYS[1]), redis.call('PTTL', KEYS[1])
redis.call('HSET', KEYS[1], 's', ARGV[6], 'o', ARGV[7], 't', ARGV[8], 'h', ARGV[4], 'hu', ARGV[5])
local rev = redis.call('HINCRBY', KEYS[1], 'r', 1)
return {rev, ttl, old}
"""

# A queued write. ARGV: the hold this step took on the key ("" for none: the write is
# unconditional, and ends any other step's hold), the mode (insert, set, del, release), the
# TTL in ms ("" keeps it), then the fields to set.
_WRITE = """
local key, mine, mode, pttl = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local exists = redis.call('EXISTS', key) == 1
if mode == 'insert' then
  if exists then return redis.error_reply('a pending login with this state exists') end
else
  if not exists then return false end
  if mine ~= '' and redis.call('HGET', key, 'h') ~= mine then return false end
end
local old, ttl = redis.call('HGETALL', key), redis.call('PTTL', key)
if mode == 'del' then
  redis.call('DEL', key)
  return {0, ttl, old}
end
if #ARGV > 3 then redis.call('HSET', key, unpack(ARGV, 4)) end
redis.call('HDEL', key, 'h', 'hu')
local rev = redis.call('HINCRBY', key, 'r', 1)
if pttl ~= '' then redis.call('PEXPIRE', key, pttl) end
return {rev, ttl, old}
"""

# An undo: put the hash back as it was (absent if it was), only if it is still at the revision
# the undone write made (0: the write deleted it, and it must still be absent).
_UNDO = """
if ARGV[1] == '0' then
  if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
elseif redis.call('HGET', KEYS[1], 'r') ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
if #ARGV > 2 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 3))
  if tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
end
return 1
"""


def _micros(instant: datetime) -> int:
    return (instant - _EPOCH) // _MICRO


def _instant(micros: str) -> datetime:
    return _EPOCH + int(micros) * _MICRO


def _ttl_ms(expires_at: datetime, now: datetime) -> int:
    """The key's TTL: until the value's expiry by the service clock, plus the slack (1 s at least)."""
    return max(1000, (expires_at - now + TTL_SLACK) // timedelta(milliseconds=1))


@dataclass(slots=True)
class _Undo:
    key: str
    revision: int
    ttl: int
    old: list[str | int]


@dataclass(slots=True)
class _Work:
    """One database transaction's Redis writes: queued until its commit, undone if it rolls back."""

    store: RedisPendingLogins
    token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    queued: list[tuple[str, list[Any]]] = field(default_factory=list)  # (key, the write script's ARGV)
    held: set[str] = field(default_factory=set)  # keys this step's ``advance`` holds
    undo: list[_Undo] = field(default_factory=list)  # applied writes, newest last


class RedisPendingLogins:
    """Pending logins in Redis under ``prefix``, each key expiring a minute after its login does."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = f"{prefix}:pending:"
        self._claim = client.register_script(_CLAIM)
        self._redeem = client.register_script(_REDEEM)
        self._advance = client.register_script(_ADVANCE)
        self._write = client.register_script(_WRITE)
        self._undo = client.register_script(_UNDO)
        _listen()

    @classmethod
    def from_url(cls, url: str, prefix: str, timeout: float) -> RedisPendingLogins:
        """A store on the Redis at ``url``; each call gives up after ``timeout`` seconds."""
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout, decode_responses=True)
        return cls(client, prefix)

    def key(self, state: str) -> str:
        """The Redis key of the login ``state``."""
        return self._prefix + state

    # --- the port ------------------------------------------------------------------------------

    def insert(self, row: dict[str, Any]) -> None:
        stage = row["stage"]
        fields = {
            "d": row["browser_digest"],
            "c": "" if row["consumed_at"] is None else str(_micros(row["consumed_at"])),
            "x": str(_micros(row["expires_at"])),
            "l": row["link_account"] or "",
            "v": json.dumps(
                {
                    "client_id": row["client_id"],
                    "portal_request": row["portal_request"],
                    "region": row["region"],
                    "esia_nonce": row["esia_nonce"],
                    "esia_code_verifier": row["esia_code_verifier"],
                    "created_at": _micros(row["created_at"]),
                },
                separators=(",", ":"),
            ),
            **_stage_fields(stage),
        }
        ttl = _ttl_ms(row["expires_at"], row["created_at"])
        self._queue(row["state"], "insert", ttl, fields)

    def sweep(self, now: datetime) -> None:
        """Nothing to sweep: each key expires by its TTL."""

    def claim(self, state: str, digests: list[str], now: datetime) -> Pending | None:
        return self._changed(state, self._claim, [_micros(now), *digests])

    def redeem(self, state: str, ticket_digests: list[str], browser_digest: str, now: datetime, expires_at: datetime) -> Pending | None:
        arguments = [_micros(now), browser_digest, _micros(expires_at), _ttl_ms(expires_at, now), *ticket_digests]
        return self._changed(state, self._redeem, arguments)

    def find(self, state: str) -> Pending | None:
        with _reached():
            stored: dict[str, str] = self._client.hgetall(self.key(state))  # type: ignore[assignment]  # decode_responses
        return _pending(state, stored) if stored else None

    def set_stage(self, state: str, stage: dict[str, Any]) -> None:
        self._queue(state, "set", None, _stage_fields(stage))

    def end(self, state: str, ended: dict[str, Any], now: datetime, expires_at: datetime) -> None:
        fields = {**_stage_fields(ended), "c": str(_micros(now)), "x": str(_micros(expires_at))}
        self._queue(state, "set", _ttl_ms(expires_at, now), fields)

    def advance(self, state: str, stage: dict[str, Any], step: str, tries: int, now: datetime) -> bool:
        work = _work(self)
        key = self.key(state)
        fields = _stage_fields(stage)
        hold_until = _micros(now + timedelta(seconds=HOLD_SECONDS))
        arguments: list[str | int] = [_micros(now), step, tries, work.token, hold_until, fields["s"], fields["o"], fields["t"]]
        with _reached():
            reply = self._advance(keys=[key], args=arguments)
        if not reply:
            return False
        work.held.add(key)
        work.undo.append(_Undo(key, int(reply[0]), int(reply[1]), list(reply[2])))
        return True

    def drop(self, state: str) -> None:
        self._queue(state, "del", None, {})

    def count_waiting(self, now: datetime) -> int:
        """The unclaimed, unexpired logins, by one ``SCAN`` of the prefix (at the scrape only: O(keys)).

        Keys are read in batches of 1000 (``SCAN`` then one pipelined ``HMGET`` each), never with
        ``KEYS``, so Redis is never blocked for the whole count.
        """
        now_micros = _micros(now)
        count = 0
        with _reached():
            for batch in _batches(self._client.scan_iter(match=self._prefix + "*", count=1000), 1000):
                pipe = self._client.pipeline(transaction=False)
                for key in batch:
                    pipe.hmget(key, "c", "x")
                for consumed, expires in pipe.execute():
                    if consumed == "" and expires is not None and int(expires) > now_micros:
                        count += 1
        return count

    def unreachable(self) -> str | None:
        try:
            self._client.ping()
        except redis.RedisError as exc:
            return f"unreachable ({type(exc).__name__})"
        return None

    # --- the unit of work ----------------------------------------------------------------------

    def _changed(self, state: str, script: Script, arguments: list[Any]) -> Pending | None:
        """Run a compare-and-set script now; its undo waits for the step's rollback, if any."""
        work = _work(self)
        key = self.key(state)
        with _reached():
            reply = script(keys=[key], args=arguments)
        if not reply:
            return None
        work.undo.append(_Undo(key, int(reply[0]), int(reply[1]), list(reply[2])))
        return _pending(state, _as_dict(reply[3]))

    def _queue(self, state: str, mode: str, ttl: int | None, fields: dict[str, str]) -> None:
        key = self.key(state)
        work = _work(self)
        flat = [item for pair in fields.items() for item in pair]
        work.queued.append((key, [mode, "" if ttl is None else ttl, *flat]))

    def apply(self, work: _Work) -> None:
        """Apply a step's queued writes, and release its holds, in one ``MULTI`` (the commit's hook)."""
        writes = [(key, [work.token if key in work.held else "", *arguments]) for key, arguments in work.queued]
        writes += [(key, [work.token, "release", ""]) for key in sorted(work.held)]
        work.queued.clear()
        work.held.clear()
        if not writes:
            return
        with _reached():
            try:
                replies = self._applied(writes)
            except redis.exceptions.NoScriptError:  # Redis restarted (or its scripts were flushed) since we loaded it
                self._client.script_load(_WRITE)
                replies = self._applied(writes)
        for (key, _), reply in zip(writes, replies, strict=True):
            if reply:
                work.undo.append(_Undo(key, int(reply[0]), int(reply[1]), list(reply[2])))

    def _applied(self, writes: list[tuple[str, list[Any]]]) -> list[Any]:
        """The writes' replies: one ``EVALSHA``, or several in one ``MULTI`` (all or none applied)."""
        if len(writes) == 1:
            key, arguments = writes[0]
            return [self._client.evalsha(self._write.sha, 1, key, *arguments)]
        pipe = self._client.pipeline(transaction=True)
        for key, arguments in writes:
            pipe.evalsha(self._write.sha, 1, key, *arguments)
        return pipe.execute()

    def revert(self, work: _Work) -> None:
        """Undo a step's applied writes, newest first (the rollback's hook); a failure is logged, not raised."""
        try:
            for undo in reversed(work.undo):
                self._undo(keys=[undo.key], args=[undo.revision, undo.ttl, *undo.old])
        except redis.RedisError as exc:
            # The login then ends by its expiry (or its hold by HOLD_SECONDS); nothing else waits on it.
            log.warning("pending logins: a rolled-back step's Redis writes could not be undone (%s)", type(exc).__name__)
        work.undo.clear()


def _stage_fields(stage: dict[str, Any] | None) -> dict[str, str]:
    if stage is None:
        return {"s": "", "o": "", "t": "0"}
    return {
        "s": json.dumps(stage, separators=(",", ":")),
        "o": str(stage["outcome"]),
        "t": str(int(stage.get("tries") or 0)) if stage["outcome"] != REFUSED else "0",
    }


def _as_dict(flat: Sequence[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _pending(state: str, stored: dict[str, str]) -> Pending:
    rest = json.loads(stored["v"])
    return Pending.from_row(
        _Row(
            state=state,
            browser_digest=stored["d"],
            client_id=rest["client_id"],
            portal_request=rest["portal_request"],
            region=rest["region"],
            link_account=stored["l"] or None,
            esia_nonce=rest["esia_nonce"],
            esia_code_verifier=rest["esia_code_verifier"],
            created_at=_instant(rest["created_at"]),
            expires_at=_instant(stored["x"]),
            consumed_at=_instant(stored["c"]) if stored["c"] else None,
            stage=json.loads(stored["s"]) if stored["s"] else None,
        )
    )


@dataclass(frozen=True, slots=True)
class _Row:
    """A hash read back in the shape of the table's row (what :meth:`Pending.from_row` reads)."""

    state: str
    browser_digest: str
    client_id: str
    portal_request: dict[str, Any]
    region: str
    link_account: str | None
    esia_nonce: str
    esia_code_verifier: str | None
    created_at: datetime
    expires_at: datetime
    consumed_at: datetime | None
    stage: dict[str, Any] | None


def _batches(keys: Iterator[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for key in keys:
        batch.append(key)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@contextmanager
def _reached() -> Iterator[None]:
    """Turn any Redis failure into :class:`RedisUnavailableError` (its cause stays in the traceback)."""
    try:
        yield
    except redis.RedisError as exc:
        raise RedisUnavailableError() from exc


# --- the session's hooks -----------------------------------------------------------------------


def _work(store: RedisPendingLogins) -> _Work:
    """The current step's unit of work, begun with a database transaction if none is (so that its
    commit or rollback is seen even when the step has not touched the database yet)."""
    session = db.session()
    work = session.info.get(_WORK)
    if work is None:
        if not session.in_transaction():
            session.begin()
        work = session.info[_WORK] = _Work(store)
    return work


def _before_commit(session: Session) -> None:
    work = session.info.get(_WORK)
    if work is None or session.in_nested_transaction():
        return
    session.flush()  # the database's own failures first, before anything reaches Redis
    work.store.apply(work)


def _after_commit(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_WORK, None)  # committed: nothing to undo


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return
    work = session.info.pop(_WORK, None)
    if work is not None:  # rolled back, closed, or its COMMIT failed: queued writes are dropped
        work.store.revert(work)


def _listen() -> None:
    """Hook every session's commit and rollback once (the hooks do nothing for a session with no Redis work)."""
    if not event.contains(Session, "before_commit", _before_commit):
        event.listen(Session, "before_commit", _before_commit)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_transaction_end", _after_transaction_end)
