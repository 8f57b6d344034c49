"""The Campaign Management v2 client: one attempt per call, every outcome classified into the error tree.

Retrying is not done here: the caller's retry policy decides from the error class what is safe to resend.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import html
import json
import logging
import math
import re
import ssl
import time
import uuid
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import quote

import aiohttp
import jwt

from provisioner.api import endpoints
from provisioner.api.campaign import Campaign, ContactList, iso_timestamp
from provisioner.api.listing import CampaignPage, PageQuery
from provisioner.api.settings import Settings, where_to_set
from provisioner.errors import (
    AmbiguousError,
    ApiError,
    AuthError,
    ConfigError,
    NotSentError,
    RateLimitedError,
    RejectedError,
    TLSError,
)
from provisioner.secret import MASK

#: connect includes waiting for a free pooled connection, so a request that times out there was never sent.
DEFAULT_TIMEOUT: Final = aiohttp.ClientTimeout(total=60, connect=10, sock_connect=10, sock_read=30)
#: Short enough that a leaked token dies soon, long enough to absorb a few minutes of clock skew
#: (at most endpoints.JWT_MAX_LIFETIME_S, which the vendor enforces when jti is checked).
TOKEN_LIFETIME_S: Final = 600
#: The JWT ``sub`` claim: any stable id will do for the vendor.
JWT_SUBJECT: Final = "provisioner"
#: The longest server message kept in an error.
EXCERPT_CHARS: Final = 300

_log = logging.getLogger("provisioner.api.client")

_FAILED_BODY_STATUSES: Final = frozenset({"error", "failure"})
_RATE_LIMIT_TEXT: Final = re.compile(r"rate[\s_-]?limit", re.IGNORECASE)
_SCRIPT_OR_STYLE: Final = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG: Final = re.compile(r"<[^>]*>")
_SPACE: Final = re.compile(r"\s+")
_AUTH_CAUSES: Final = (
    f"usual causes: a wrong client id or client secret ({where_to_set('client_id')}; "
    f'{where_to_set("client_secret")}); the app\'s API scope "Campaign Management" not mapped to the bot or not '
    f"published; the app belonging to another account than the account id ({where_to_set('account_id')}); "
    f"a stream id other than the bot the scope is mapped to ({where_to_set('stream_id')})"
)
_MIN_SECRET_BYTES: Final = 32  # HS256 wants a key at least as long as its hash (RFC 7518, section 3.2)
# What OpenSSL says when the "TLS" reply is plain text: the server answered in HTTP.
_PLAIN_HTTP_REPLY: Final = re.compile(r"wrong.version.number|http.request|packet.length.too.long|record.layer", re.I)


class Limiter(Protocol):
    """Paces requests for one account; the client calls it around every request it sends."""

    async def acquire(self) -> None:
        """Wait until one more request may be sent."""

    def on_rate_limited(self, retry_after: float | None) -> None:
        """Learn that the server rate-limited a request (``retry_after`` seconds, when it said so)."""


def open_session(
    settings: Settings, *, timeout: aiohttp.ClientTimeout | None = None, limit: int = 8
) -> aiohttp.ClientSession:
    """Open the run's one HTTP session: verified TLS, explicit timeouts, at most ``limit`` connections.

    Call it inside a running event loop and close the session when the run ends.
    """
    try:
        context = ssl.create_default_context(cafile=settings.ca_bundle)
    except OSError as exc:  # also ssl.SSLError: a file that holds no usable certificate
        raise ConfigError(
            f"cannot use the CA bundle {settings.ca_bundle}: {exc.strerror or exc}; "
            f"it must be a PEM file of CA certificates ({where_to_set('ca_bundle')})"
        ) from None
    connector = aiohttp.TCPConnector(limit=limit, ssl=context)
    session = aiohttp.ClientSession(connector=connector, timeout=DEFAULT_TIMEOUT if timeout is None else timeout)
    # aiohttp quietly resends a GET once when the connection drops; that resend would bypass the limiter and
    # repeat the jti (a replay under "Enforce JTI"). Resending is the retry policy's decision: turn it off.
    session._retry_connection = False
    return session


def mint_token(settings: Settings, now: float) -> str:
    """Sign a single-use JWT (HS256, unique ``jti``) for the app, issued at ``now`` (epoch seconds)."""
    secret = settings.client_secret.reveal()
    if len(secret.encode()) < _MIN_SECRET_BYTES:
        _warn_short_secret(settings.client_id)
    issued = int(now)
    claims = {
        "appId": settings.client_id,
        "sub": JWT_SUBJECT,
        "iat": issued,
        "exp": issued + TOKEN_LIFETIME_S,
        "jti": str(uuid.uuid4()),
    }
    with warnings.catch_warnings():
        # PyJWT's own warning shows its source file path; _warn_short_secret has said it once, in our words.
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm=endpoints.JWT_ALGORITHM)


@functools.cache
def _warn_short_secret(client_id: str) -> None:
    _log.warning(
        "the client secret of app %s is shorter than %d bytes, too short for HS256 tokens to be safe: "
        "generate a longer one for the app when you can",
        client_id,
        _MIN_SECRET_BYTES,
    )


class KoreClient:
    """Calls the Campaign Management v2 API; each method makes exactly one attempt and raises an ApiError."""

    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession,
        *,
        limiter: Limiter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._session = session
        self._limiter = limiter
        self._clock = clock
        self._server_offset_s = 0.0
        self._saw_date = False
        self._contact_list_method = "POST"
        self._last_headers: Mapping[str, str] = {}

    async def create_campaign(self, body: Mapping[str, object]) -> Campaign:
        """Create one voice campaign; after an AmbiguousError look it up before sending it again."""
        reply = await self._call(
            "POST", self._path(endpoints.CREATE_CAMPAIGN), query={"campaignType": "voice"}, body=body
        )
        return reply.campaign(reply.data())

    async def get_campaign(self, campaign_id: str) -> Campaign:
        """Fetch one campaign by id."""
        reply = await self._call("GET", self._path(endpoints.GET_CAMPAIGN, campaign_id))
        return reply.campaign(reply.data())

    async def update_campaign(self, campaign_id: str, body: Mapping[str, object]) -> Campaign:
        """Replace one voice campaign's settings with ``body`` (the full create body); safe to resend."""
        reply = await self._call(
            "PUT", self._path(endpoints.UPDATE_CAMPAIGN, campaign_id), query={"campaignType": "voice"}, body=body
        )
        return reply.campaign(reply.data())

    async def campaign_status(self, campaign_id: str) -> Campaign:
        """Fetch a campaign's status (the cheap way to watch Preparing turn Ready)."""
        reply = await self._call(
            "POST", self._path(endpoints.CAMPAIGN_STATUS, campaign_id), query={"view": "status"}, body={}
        )
        return reply.campaign(reply.data())

    async def list_campaigns_page(self, query: PageQuery) -> CampaignPage:
        """Fetch one page of voice campaigns, oldest first, created inside the query's window."""
        body = {
            "limit": query.limit,
            "skip": query.skip,
            "page": query.page,
            "type": "voice",
            "sortBy": {"createdAt": "asc"},
        }
        if query.start is not None and query.end is not None:
            body |= {"startDate": iso_timestamp(query.start), "endDate": iso_timestamp(query.end)}
        reply = await self._call("POST", self._path(endpoints.LIST_CAMPAIGNS), body=body)
        data = reply.data()
        results = data.get("results")
        if not isinstance(results, list):
            raise reply.unexpected("data.results is not a list")
        return CampaignPage(
            campaigns=[reply.campaign(r) for r in results],
            skip=_count(data.get("skip")),
            limit=_count(data.get("limit")),
            total=_count(data.get("totalResults")),
            has_more=has_more if isinstance(has_more := data.get("hasMore"), bool) else None,
        )

    def server_now(self) -> dt.datetime:
        """Return the server's time now, by the offset its last ``Date`` header showed (local time before any)."""
        return dt.datetime.fromtimestamp(self._clock() + self._server_offset_s, dt.UTC)

    @property
    def server_offset_s(self) -> float | None:
        """Return how far the server's clock is ahead of ours, in seconds, once a reply has shown it."""
        return self._server_offset_s if self._saw_date else None

    async def list_contact_lists(self) -> list[ContactList]:
        """Return the account's call contact lists (asked by POST, or by GET where the server wants that)."""
        path = self._path(endpoints.LIST_CONTACT_LISTS)
        try:
            reply = await self._call(
                self._contact_list_method,
                path,
                query={"type": "call"},
                body={} if self._contact_list_method == "POST" else None,
            )
        except RejectedError as exc:
            if exc.status != 405 or self._contact_list_method == "GET":
                raise
            # The vendor's pages disagree on the method; a 405 proves nothing was done, so ask the other way.
            self._contact_list_method = "GET"
            reply = await self._call("GET", path, query={"type": "call"})
        records = reply.body.get("data")
        if not isinstance(records, list):
            raise reply.unexpected("data is not a list")
        return [
            ContactList(r["name"], kind if isinstance(kind := r.get("listType"), str) else None)
            for r in records
            if isinstance(r, dict) and isinstance(r.get("name"), str)
        ]

    @property
    def last_headers(self) -> Mapping[str, str]:
        """Return the headers of the last response received (for diagnostics such as rate-limit headers)."""
        return self._last_headers

    def _path(self, template: str, campaign_id: str | None = None) -> str:
        stream_id = quote(self._settings.stream_id, safe="")
        if campaign_id is None:
            return template.format(stream_id=stream_id)
        return template.format(stream_id=stream_id, campaign_id=quote(campaign_id, safe=""))

    async def _call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Mapping[str, object] | None = None,
    ) -> _Reply:
        params = {"accountId": self._settings.account_id, **(query or {})}
        payload = None if body is None else json.dumps(body).encode()
        if self._limiter is not None:
            await self._limiter.acquire()
        # A fresh token per request, minted after the limiter's wait: with the vendor's "Enforce JTI" option
        # a reused jti is rejected as a replay, and a run of 5,000 campaigns at 60/min outlives any token.
        token = mint_token(self._settings, self._clock())
        headers = {
            endpoints.HEADER_AUTH: token,
            endpoints.HEADER_ACCOUNT: self._settings.account_id,
            endpoints.HEADER_IID: self._settings.iid,
            "Content-Type": "application/json",
        }
        started = time.monotonic()
        try:
            # Redirects are not followed: aiohttp would forward the custom auth header to the new location.
            async with self._session.request(
                method,
                self._settings.host + path,
                params=params,
                data=payload,
                headers=headers,
                allow_redirects=False,
            ) as response:
                text = await response.text(errors="replace")
        except (aiohttp.ClientError, TimeoutError) as exc:
            _log.debug("%s %s failed after %.0f ms: %s", method, path, _ms_since(started), type(exc).__name__)
            raise classify_transport_error(method, path, exc) from exc
        _log.debug("%s %s -> %d in %.0f ms", method, path, response.status, _ms_since(started))
        self._learn_server_time(response.headers.get("Date"))
        self._last_headers = dict(response.headers)
        # Some servers echo the credentials they refused; never let the token reach an error message.
        text = text.replace(token, MASK)
        error = classify_response(method, path, response.status, response.headers, text, clock=self._clock)
        if error is not None:
            if isinstance(error, RateLimitedError) and self._limiter is not None:
                self._limiter.on_rate_limited(error.retry_after)
            raise error
        reply_body = _json_object(text)
        assert reply_body is not None  # classify_response lets only JSON objects through as successes
        return _Reply(method, path, response.status, reply_body)

    def _learn_server_time(self, date_header: str | None) -> None:
        if not date_header:
            return
        try:
            server = email.utils.parsedate_to_datetime(date_header)
        except (TypeError, ValueError):
            return
        if server.tzinfo is None:
            return
        # Date truncates to whole seconds: the middle of that second is the best guess, good to half a second.
        self._server_offset_s = server.timestamp() + 0.5 - self._clock()
        self._saw_date = True


def classify_response(
    method: str,
    path: str,
    status: int,
    headers: Mapping[str, str],
    body_text: str,
    *,
    clock: Callable[[], float] = time.time,
) -> ApiError | None:
    """Return the error one HTTP response means, or None when it is a success (a 2xx JSON object)."""
    body = _json_object(body_text)
    # Only the server's own message is searched for "rate limit", never the data it echoes back.
    said = _plain(body_text) if body is None else _server_words(body)
    server_text = said or _plain(body_text) or "(empty body)"
    body_status = body.get("status") if body is not None else None
    body_status = body_status.lower() if isinstance(body_status, str) else None
    call = f"{method} {path}"
    # A success that echoes a campaign named "rate limit …" must not be resent as if it were refused.
    if status == 429 or (_RATE_LIMIT_TEXT.search(said) and not (_is_2xx(status) and body_status == "success")):
        return RateLimitedError(
            f"{call}: rate limited (HTTP {status}): {_clip(server_text)}",
            retry_after=_retry_after(headers.get("Retry-After"), clock()),
            method=method,
            path=path,
            status=status,
        )
    if _is_2xx(status):
        if body is None:
            return AmbiguousError(
                f"{call}: HTTP {status} but the body is not a JSON object: {_clip(server_text)}",
                method=method,
                path=path,
                status=status,
            )
        if body_status in _FAILED_BODY_STATUSES:
            return RejectedError(
                f"{call}: refused (HTTP {status}, status {body_status!r}): {_clip(server_text)}",
                method=method,
                path=path,
                status=status,
            )
        return None
    if status >= 500:
        return AmbiguousError(
            f"{call}: server error (HTTP {status}); it may have been processed: {_clip(server_text)}",
            method=method,
            path=path,
            status=status,
        )
    if status in (401, 403):
        return AuthError(
            f"{call}: credentials refused (HTTP {status}): {_clip(server_text)}; {_AUTH_CAUSES}",
            method=method,
            path=path,
            status=status,
        )
    if 300 <= status < 400:
        return RejectedError(
            f"{call}: unexpected redirect (HTTP {status}); check the host ({where_to_set('host')})",
            method=method,
            path=path,
            status=status,
        )
    return RejectedError(
        f"{call}: refused (HTTP {status}): {_clip(server_text)}", method=method, path=path, status=status
    )


def classify_transport_error(method: str, path: str, exc: BaseException) -> ApiError:
    """Return the error a failed exchange means: not sent, maybe processed, or a TLS setup problem."""
    call = f"{method} {path}"
    kind = type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        failure = exc.certificate_error
        reason = failure.verify_message if isinstance(failure, ssl.SSLCertVerificationError) else kind
        advice = _tls_advice(call, exc.host, f"certificate verification failed ({reason})")
        return TLSError(advice, method=method, path=path)
    if isinstance(exc, aiohttp.ClientSSLError) and _PLAIN_HTTP_REPLY.search(str(exc)):
        advice = f"{call}: the server at {exc.host}:{exc.port} does not speak HTTPS; use http:// for a local sandbox"
        return TLSError(advice, method=method, path=path)
    if isinstance(exc, aiohttp.ClientSSLError):
        advice = _tls_advice(call, exc.host, f"the TLS handshake failed ({exc.strerror or kind})")
        return TLSError(advice, method=method, path=path)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return NotSentError(
            f"{call}: not sent, cannot connect to {exc.host}:{exc.port} ({exc.strerror or kind})",
            method=method,
            path=path,
            status=None,
        )
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return NotSentError(
            f"{call}: not sent, no connection within the connect timeout",
            method=method,
            path=path,
            status=None,
        )
    # Everything else may have happened after the request was written: read timeouts, disconnects,
    # broken payloads, total timeouts.
    return AmbiguousError(
        f"{call}: no complete answer ({kind}); it may have been processed",
        method=method,
        path=path,
        status=None,
    )


@dataclass(frozen=True, slots=True)
class _Reply:
    method: str
    path: str
    status: int
    body: Mapping[str, object]

    def data(self) -> Mapping[str, object]:
        data = self.body.get("data")
        if not isinstance(data, dict):
            raise self.unexpected("no data object")
        return data

    def campaign(self, record: object) -> Campaign:
        if not isinstance(record, dict):
            raise self.unexpected("a campaign record is not an object")
        campaign_id = record.get("id") or record.get("_id")
        if not isinstance(campaign_id, str):
            raise self.unexpected("a campaign record has no id or _id")
        name = record.get("name")
        status = record.get("status")
        return Campaign(
            id=campaign_id,
            name=name if isinstance(name, str) else "",
            status=status if isinstance(status, str) else None,
            raw=record,
        )

    def unexpected(self, what: str) -> AmbiguousError:
        # Ambiguous, not rejected: the server said 2xx, so a create may well have happened.
        return AmbiguousError(
            f"{self.method} {self.path}: unexpected response shape: {what}",
            method=self.method,
            path=self.path,
            status=self.status,
        )


def _count(value: object) -> int | None:
    """Return a paging number the server reported, or None when it reported none (or not a whole number)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _is_2xx(status: int) -> bool:
    return 200 <= status < 300


def _json_object(text: str) -> dict[str, object] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _server_words(body: Mapping[str, object]) -> str:
    """The server's own message in a JSON body: ``errors[].msg`` (with codes) or ``message``; else empty."""
    errors = body.get("errors")
    if isinstance(errors, list):
        entries = [text for text in (_error_entry(e) for e in errors if isinstance(e, dict)) if text]
        if entries:
            return "; ".join(entries)
    message = body.get("message")
    return _SPACE.sub(" ", message).strip() if isinstance(message, str) else ""


def _plain(text: str) -> str:
    """Readable text of a body: scripts, styles and tags removed, entities decoded, whitespace collapsed."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", _SCRIPT_OR_STYLE.sub(" ", text)))).strip()


def _error_entry(entry: Mapping[str, object]) -> str:
    message = entry.get("msg")
    code = entry.get("code")
    text = _SPACE.sub(" ", message).strip() if isinstance(message, str) else ""
    return f"{text} (code {code})" if text and code is not None else text


def _clip(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header given as seconds or as an HTTP-date."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.replace(tzinfo=when.tzinfo or dt.UTC).timestamp() - now
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _tls_advice(call: str, host: str, problem: str) -> str:
    return (
        f"{call}: cannot talk securely to {host}: {problem}. If the host uses a private CA or your network "
        f"inspects TLS, give provisioner that CA certificate (PEM): {where_to_set('ca_bundle')}. "
        "Retrying cannot help."
    )


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000
