"""Who is on the other end of a live feed, and whether they still may be: one helper for the
WebSocket consumer and the SSE view.

A client proves who it is with a SimpleJWT access token in ``Authorization: Bearer …``
or in ``?token=`` (browsers' EventSource cannot set headers), with a team API key (``pgk_…``
in the same two places or in ``X-Api-Key``; the feed then sees that team), or with the Django
session cookie (the dashboard). A token's signature and expiry are checked as the REST API checks
them (SimpleJWT's ``get_validated_token()``), and its user by SimpleJWT's rules (exists, is
active, the password fingerprint of CHECK_REVOKE_TOKEN matches); a ``?token=`` is never read
as a user id.

Two things make this cheap enough for a connect storm (issue 14: after a Redis blip or a
restart every dashboard reconnects at once, and one database round trip per connect on one
thread made daphne drop every handshake):

- users and sessions are read in batches: every connect waiting at the same moment shares one
  query (``Gate.load``), and a row read in the last LIVE_REVALIDATE_SECONDS is reused;
- the same reads keep open feeds honest: every LIVE_REVALIDATE_SECONDS the gate re-reads the
  users and sessions of every open feed of the process (one batch) and revokes the feeds whose
  credential no longer holds — after a logout, a password change, a deactivation, a deletion
  or a change of staff (SPEC §23: a live feed ends within 5 s of it), a change of the user's
  teams (joined or left: the client reconnects into the new scope), or the revocation of the
  feed's API key (SPEC §17).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from importlib import import_module
from typing import Any, NamedTuple

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from rest_framework_simplejwt.authentication import AUTH_HEADER_TYPES, JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.utils import get_md5_hash_password

from authentication import keys
from authentication.models import ApiKey, Membership, TwoFactor

log = logging.getLogger(__name__)

NOT_PROVIDED = "Authentication credentials were not provided."
INVALID = "The token is invalid or expired."
REVOKED = "The credential of this feed was revoked (logout, password change or deactivation)."

Session = dict[str, Any]


@dataclass(frozen=True)
class LiveCredentials:
    """The outcome of authenticating a live-feed connection.

    ``expires_at`` is the token's ``exp`` (epoch seconds) so a long-lived connection can end
    when its token does; it is None for a session, which the gate watches instead.
    ``session_key`` is the session a session feed rides on. ``error`` says why the connection
    is anonymous, and is empty when it is not. ``team_ids`` are the teams of a person (not
    staff) when the feed began: what it may see. A key's feed has a ``KeyPrincipal`` as ``user``.
    """

    user: Any
    expires_at: float | None = None
    error: str = ""
    session_key: str | None = None
    team_ids: frozenset[int] | None = None

    @property
    def ok(self) -> bool:
        return bool(getattr(self.user, "is_authenticated", False))

    @property
    def key_hash(self) -> str | None:
        """The digest of the feed's API key, or None for a person's feed."""
        key = getattr(self.user, "api_key", None)
        return key.key_hash if key is not None else None

    @property
    def who(self) -> str:
        """For the logs: the user's id, or ``key:<prefix>``."""
        return str(self.user.username if self.key_hash else self.user.pk)

    def still_valid(self, user: Any | None, session: Session | None, team_ids: frozenset[int] | None = None) -> bool:
        """Whether the feed may go on, given its user's row, its session and the user's teams as read just now.

        It may not when the user is gone or inactive, when their staff flag changed or they
        joined or left a team (what the feed may see changed; the client reconnects into the
        new scope), when a token feed's password fingerprint changed, or when a session feed's
        session ended (logout) or no longer matches the password (every other session ends at
        a password change). ``team_ids`` None is "not read": teams are then not compared.
        """
        if user is None or not user.is_active or user.is_staff != self.user.is_staff:
            return False
        if self.team_ids is not None and team_ids is not None and team_ids != self.team_ids:
            return False
        if self.session_key is None:
            return constant_time_compare(user.password, self.user.password)
        return session_user_id(session) == str(user.pk) and constant_time_compare(
            (session or {}).get(HASH_SESSION_KEY, ""), user.get_session_auth_hash()
        )

    def key_still_valid(self, key: ApiKey | None) -> bool:
        """Whether a key's feed may go on, given its key's row as read just now (None: revoked)."""
        mine = self.user.api_key
        return key is not None and key.team_id == mine.team_id and key.scope == mine.scope


def session_user_id(session: Session | None) -> str | None:
    value = (session or {}).get(SESSION_KEY)
    return None if value is None else str(value)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None.

    Another scheme (``Basic …``) is not ours to judge and reads as "no token"; a Bearer
    header without exactly one token is a malformed credential and raises ``InvalidToken``.
    """
    parts = (authorization or "").split()
    if not parts or parts[0] not in AUTH_HEADER_TYPES:
        return None
    if len(parts) != 2:
        raise InvalidToken("Authorization header must contain two space-delimited values")
    return parts[1]


class State(NamedTuple):
    """One batch's rows: users (by ``str(id)``, each with ``pinned_team_ids``), sessions, API keys (by digest)."""

    users: dict[str, Any]
    sessions: dict[str, Session | None]
    keys: dict[str, ApiKey | None]


def read_state(user_ids: set[Any], session_keys: set[str], key_hashes: set[str] = frozenset()) -> State:  # type: ignore[assignment]
    """One batch of reads (blocking): the sessions by key and the users by id, theirs included;
    the teams of those users; the API keys by digest (None: revoked), noted as used (``keys.touch``).

    Each user's teams are pinned on it (``pinned_team_ids``, which ``visible_team_ids`` answers
    for it): a feed sees exactly the teams the gate compares at every re-read, so a team joined
    and left again between two re-reads cannot stay in a feed's scope unnoticed.

    Users are keyed by ``str(pk)``, the form both a token's claim and a session hold.
    """
    sessions: dict[str, Session | None] = dict.fromkeys(session_keys)
    if session_keys:
        store = import_module(settings.SESSION_ENGINE).SessionStore
        if hasattr(store, "get_model_class"):  # the database engines: one query for the batch
            rows = store.get_model_class().objects.filter(session_key__in=session_keys, expire_date__gt=timezone.now())
            for row in rows:
                sessions[row.session_key] = store().decode(row.session_data)
        else:
            for key in session_keys:
                sessions[key] = store(key).load() or None
    wanted = {str(i) for i in user_ids} | {session_user_id(s) for s in sessions.values() if session_user_id(s)}
    field = get_user_model()._meta.get_field(api_settings.USER_ID_FIELD)
    users: dict[str, Any] = dict.fromkeys(wanted)
    ids = []
    for value in wanted:
        with contextlib.suppress(ValidationError):  # else no user has such an id
            ids.append(field.to_python(value))
    for user in get_user_model().objects.filter(**{f"{field.attname}__in": ids}):
        users[str(getattr(user, field.attname))] = user
    # The teams of everyone but staff (who see every team), in one query. A team that requires
    # two-factor sign-in is left out for a member without it (SPEC §17, as the API leaves its
    # objects out): one query more, only when such a team is among them. Enrolling (or the team
    # turning the requirement on) changes the teams, so the feed reconnects into its new scope.
    by_pk = {user.pk: name for name, user in users.items() if user is not None and not user.is_staff}
    teams: dict[str, set[int]] = {name: set() for name in by_pk.values()}
    rows = list(
        Membership.objects.filter(user_id__in=list(by_pk)).values_list("user_id", "team_id", "team__require_two_factor")
    )
    strict = {user_pk for user_pk, _, required in rows if required}
    enrolled = set(
        TwoFactor.objects.filter(user_id__in=strict, confirmed_at__isnull=False).values_list("user_id", flat=True)
        if strict
        else ()
    )
    for user_pk, team_id, required in rows:
        if not required or user_pk in enrolled:
            teams[by_pk[user_pk]].add(team_id)
    for name, team_ids in teams.items():
        users[name].pinned_team_ids = frozenset(team_ids)
    found = keys.find_by_hashes(set(key_hashes))
    keys.touch(list(found.values()))
    return State(users, sessions, {h: found.get(h) for h in key_hashes})


def detached(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """A task outside the caller's context: the gate serves every connection, and a request's
    context (its thread-sensitive executor, gone when the request ends) must not be inherited."""
    return asyncio.get_running_loop().create_task(coro, context=contextvars.Context())


@dataclass
class Watched:
    credentials: LiveCredentials
    revoke: Callable[[], Awaitable[None]]


class Gate:
    """The live feeds' reads of users and sessions in one event loop (one per daphne process).

    ``user()``/``session()`` answer from what was read in the last LIVE_REVALIDATE_SECONDS, or
    join the next batch; one batch reads at a time and the next gathers meanwhile, so a storm
    of N connects costs a few queries, not N. ``watch()`` enrols an open feed; a task re-reads
    every watched feed's user and session each LIVE_REVALIDATE_SECONDS and calls ``revoke``
    on those whose credential no longer holds.
    """

    def __init__(self) -> None:
        self.users: dict[str, tuple[float, Any]] = {}
        self.sessions: dict[str, tuple[float, Session | None]] = {}
        self.keys: dict[str, tuple[float, ApiKey | None]] = {}
        self.want_users: set[str] = set()
        self.want_sessions: set[str] = set()
        self.want_keys: set[str] = set()
        self.batch: asyncio.Future[None] | None = None
        self.reading = asyncio.Lock()
        self.watched: dict[int, Watched] = {}
        self.watcher: asyncio.Task[None] | None = None

    @staticmethod
    def fresh(read_at: float) -> bool:
        return time.monotonic() - read_at < settings.LIVE_REVALIDATE_SECONDS

    async def user(self, user_id: Any) -> Any | None:
        key = str(user_id)
        hit = self.users.get(key)
        if hit is None or not self.fresh(hit[0]):
            await self.load(users={key})
        return self.users[key][1]

    def team_ids(self, user: Any) -> frozenset[int] | None:
        """The teams of a user the gate read (None: staff, who see every team)."""
        return None if user.is_staff else user.pinned_team_ids

    async def key(self, key_hash: str) -> ApiKey | None:
        hit = self.keys.get(key_hash)
        if hit is None or not self.fresh(hit[0]):
            await self.load(keys={key_hash})
        return self.keys[key_hash][1]

    async def session(self, session_key: str) -> Session | None:
        hit = self.sessions.get(session_key)
        if hit is None or not self.fresh(hit[0]):
            await self.load(sessions={session_key})
        return self.sessions[session_key][1]

    async def load(
        self,
        users: set[str] = frozenset(),  # type: ignore[assignment]
        sessions: set[str] = frozenset(),  # type: ignore[assignment]
        keys: set[str] = frozenset(),  # type: ignore[assignment]
    ) -> None:
        """Read these users, sessions and keys in the next batch; return when it has been read."""
        self.want_users |= users
        self.want_sessions |= sessions
        self.want_keys |= keys
        if self.batch is None:
            self.batch = asyncio.get_running_loop().create_future()
            detached(self.read(self.batch))
        await asyncio.shield(self.batch)

    async def read(self, done: asyncio.Future[None]) -> None:
        async with self.reading:  # the batch before this one finishes first; this one gathers meanwhile
            if self.batch is done:
                self.batch = None
            users, sessions, self.want_users, self.want_sessions = self.want_users, self.want_sessions, set(), set()
            hashes, self.want_keys = self.want_keys, set()
            try:
                found = await database_sync_to_async(read_state)(users, sessions, hashes)
            except Exception as exc:  # noqa: BLE001 — the database is down: every waiter hears it
                done.set_exception(exc)
                done.exception()  # retrieved: no "never retrieved" warning when nobody waits
                return
            now = time.monotonic()
            self.users.update((key, (now, user)) for key, user in found.users.items())
            self.sessions.update((key, (now, session)) for key, session in found.sessions.items())
            self.keys.update((key, (now, row)) for key, row in found.keys.items())
            done.set_result(None)

    def watch(self, feed: object, credentials: LiveCredentials, revoke: Callable[[], Awaitable[None]]) -> None:
        """Revoke ``feed`` (call ``revoke``) once its credential no longer holds; ``unwatch`` when it ends."""
        self.watched[id(feed)] = Watched(credentials, revoke)
        if self.watcher is None or self.watcher.done():
            self.watcher = detached(self.watch_loop())

    def unwatch(self, feed: object) -> None:
        self.watched.pop(id(feed), None)

    async def watch_loop(self) -> None:
        """Every LIVE_REVALIDATE_SECONDS while feeds are open: re-read, then revoke the stale ones."""
        while self.watched:
            await asyncio.sleep(settings.LIVE_REVALIDATE_SECONDS)
            try:
                await self.revalidate()
            except Exception as exc:  # noqa: BLE001 — the database is down: keep the feeds, try again next round
                log.warning("live_revalidate_failed feeds=%s error=%r", len(self.watched), exc)
            self.forget_stale()

    def forget_stale(self) -> None:
        """Drop rows no longer fresh: the cache holds the rows of recent connects and open feeds."""
        for cache in (self.users, self.sessions, self.keys):
            for key in [key for key, (read_at, _) in cache.items() if not self.fresh(read_at)]:
                del cache[key]

    async def revalidate(self) -> None:
        watched = list(self.watched.items())
        users = {str(w.credentials.user.pk) for _, w in watched if w.credentials.key_hash is None}
        hashes = {w.credentials.key_hash for _, w in watched if w.credentials.key_hash is not None}
        sessions = {w.credentials.session_key for _, w in watched if w.credentials.session_key}
        await self.load(users=users, sessions=sessions, keys=hashes)  # type: ignore[arg-type]
        for feed_id, entry in watched:
            creds = entry.credentials
            if feed_id in self.watched and not self.holds(creds):
                self.watched.pop(feed_id, None)
                log.info("live_feed_revoked who=%s", creds.who)
                try:
                    await entry.revoke()
                except Exception:
                    log.exception("live_revoke_failed who=%s", creds.who)

    def holds(self, creds: LiveCredentials) -> bool:
        """Whether ``creds`` still holds by the rows just read (``revalidate``)."""
        if creds.key_hash is not None:
            return creds.key_still_valid(self.keys[creds.key_hash][1])
        name = str(creds.user.pk)
        session = self.sessions[creds.session_key][1] if creds.session_key else None
        user = self.users[name][1]
        return creds.still_valid(user, session, getattr(user, "pinned_team_ids", None))


_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Gate] = weakref.WeakKeyDictionary()


def gate() -> Gate:
    """The running loop's Gate (daphne has one loop; each test its own)."""
    loop = asyncio.get_running_loop()
    current = _gates.get(loop)
    if current is None:
        current = _gates[loop] = Gate()
    return current


async def user_for_token(raw: str) -> LiveCredentials:
    """Verify a raw access token without a query of its own, and find its user through the gate."""
    try:
        token = JWTAuthentication().get_validated_token(raw.encode())
        user_id = token[api_settings.USER_ID_CLAIM]
    except (InvalidToken, TokenError, KeyError):
        return LiveCredentials(AnonymousUser(), error=INVALID)
    user = await gate().user(user_id)
    if user is None or (api_settings.CHECK_USER_IS_ACTIVE and not user.is_active):
        return LiveCredentials(AnonymousUser(), error=INVALID)
    if api_settings.CHECK_REVOKE_TOKEN and token.get(api_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(
        user.password
    ):
        return LiveCredentials(AnonymousUser(), error=INVALID)
    return LiveCredentials(user, expires_at=float(token["exp"]), team_ids=gate().team_ids(user))


async def principal_for_key(raw: str) -> LiveCredentials:
    """A team API key's feed: its team, for as long as the key is not revoked (no expiry)."""
    if not keys.well_formed(raw):
        return LiveCredentials(AnonymousUser(), error=keys.UNKNOWN)
    key = await gate().key(keys.digest(raw))
    if key is None:
        return LiveCredentials(AnonymousUser(), error=keys.UNKNOWN)
    return LiveCredentials(keys.KeyPrincipal(key))


async def user_for_session(session_key: str) -> LiveCredentials:
    """The user of a session cookie, as Django's ``get_user()`` judges it (the hash must match)."""
    session = await gate().session(session_key)
    user_id = session_user_id(session)
    user = await gate().user(user_id) if user_id is not None else None
    if user is None or not user.is_active:
        return LiveCredentials(AnonymousUser(), error=NOT_PROVIDED)
    creds = LiveCredentials(user, session_key=session_key, team_ids=gate().team_ids(user))
    if not creds.still_valid(user, session):
        return LiveCredentials(AnonymousUser(), error=NOT_PROVIDED)
    return creds


async def authenticate(
    authorization: str | None, query_token: str | None, session_key: str | None, api_key: str | None = None
) -> LiveCredentials:
    """Authenticate a live-feed connection from its header, API key, query token or session cookie.

    1. A Bearer header wins, then ``X-Api-Key`` (``api_key``), then ``?token=``. A token
       starting ``pgk_`` (and anything in ``X-Api-Key``) is a team API key, any other a JWT.
       A presented token decides alone: an invalid or expired one is refused even when a
       session cookie is also sent, so a client learns its token went stale instead of
       silently riding on another identity.
    2. With no token, the session named by the cookie (``session_key``) is used.
    3. Nothing usable: an anonymous result whose ``error`` says why.

    Raises whatever the database raises when it cannot be read (the caller answers "retry").
    """
    try:
        bearer = bearer_token(authorization)
    except InvalidToken:
        return LiveCredentials(AnonymousUser(), error=INVALID)
    if bearer is None and api_key is not None:
        return await principal_for_key(api_key.strip())
    raw = bearer or (query_token or "").strip() or None
    if raw is not None:
        return await (principal_for_key(raw) if keys.looks_like_key(raw) else user_for_token(raw))
    if session_key:
        return await user_for_session(session_key)
    return LiveCredentials(AnonymousUser(), error=NOT_PROVIDED)
