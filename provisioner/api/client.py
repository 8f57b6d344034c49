"""The Campaign Management v2 client: one attempt per call, every outcome classified into the error tree.

Retrying is not done here: the caller's retry policy decides from the error class what is safe to resend.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Final, Protocol
from urllib.parse import quote

import aiohttp

from provisioner.api import endpoints
from provisioner.api.auth import mint_token
from provisioner.api.campaign import Campaign, ContactList, ContactLists, iso_timestamp
from provisioner.api.classify import Reply, classify_response, classify_transport_error, count, json_object
from provisioner.api.listing import EPOCH, CampaignPage, Listing, PageQuery, Paging, scan_campaigns
from provisioner.api.settings import Settings, where_to_set
from provisioner.errors import (
    ConfigError,
    RateLimitedError,
    RejectedError,
)
from provisioner.secret import MASK

#: connect includes waiting for a free pooled connection, so a request that times out there was never sent.
DEFAULT_TIMEOUT: Final = aiohttp.ClientTimeout(total=60, connect=10, sock_connect=10, sock_read=30)

_log = logging.getLogger("provisioner.api.client")


#: Runs one page read with the caller's retry policy: a failed page is read again on its own, not the whole scan.
RetriedPage = Callable[[Callable[[], Awaitable[CampaignPage]]], Awaitable[CampaignPage]]


class Limiter(Protocol):
    """Paces requests for one account; the client calls it around every request it sends."""

    async def acquire(self) -> None:
        """Wait until one more request may be sent."""

    def on_rate_limited(self, retry_after: float | None) -> None:
        """Learn that the server rate-limited a request (``retry_after`` seconds, when it said so)."""


def request_timeout(seconds: float) -> aiohttp.ClientTimeout:
    """Return the timeouts of a session whose every request gets ``seconds``, connect to last byte.

    Connecting (with the wait for a pooled connection) gets at most 10 s of them: a request that times out there
    was never sent. Past the rest, a request is ambiguous.
    """
    return aiohttp.ClientTimeout(total=seconds, connect=min(10.0, seconds), sock_read=seconds)


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
        self._server_offset_s: float | None = None  # unknown until a reply carries a Date header
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

    async def delete_campaign(self, campaign_id: str) -> Campaign:
        """Delete one voice campaign and return it as it was; after an AmbiguousError look it up, never resend."""
        reply = await self._call(
            "DELETE", self._path(endpoints.DELETE_CAMPAIGN, campaign_id), query={"campaignType": "voice"}
        )
        return reply.campaign(reply.data())

    async def start_campaign(self, campaign_id: str) -> str:
        """Start one voice campaign (trigger=play): it dials. Return the status the server reports (``Active``)."""
        return await self._trigger(campaign_id, "play")

    async def stop_campaign(self, campaign_id: str) -> str:
        """Stop one voice campaign (trigger=stop); return the status the server reports (``Stopped``)."""
        return await self._trigger(campaign_id, "stop")

    async def _trigger(self, campaign_id: str, trigger: str) -> str:
        reply = await self._call(
            "POST",
            self._path(endpoints.TRIGGER_CAMPAIGN, campaign_id),
            query={"campaignType": "voice", "trigger": trigger},
            body={},
        )
        status = reply.body.get("status")
        if not isinstance(status, str):
            raise reply.unexpected("status is not a string")
        return status

    async def schedule_campaign(self, name: str, schedule: Mapping[str, object] | None) -> None:
        """Set the schedule of the campaign named ``name`` (the endpoint takes a name, not an id); None disables it.

        Setting a schedule is idempotent, so resending it is safe; the caller must know the name is unique.
        """
        await self._call(
            "POST",
            self._path(endpoints.SCHEDULE_CAMPAIGN),
            query={"enableSchedule": "false" if schedule is None else "true", "campaignName": name},
            body={} if schedule is None else schedule,
        )

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
            skip=count(data.get("skip")),
            limit=count(data.get("limit")),
            total=count(data.get("totalResults")),
            has_more=has_more if isinstance(has_more := data.get("hasMore"), bool) else None,
        )

    async def list_all_campaigns(
        self, retried: RetriedPage, *, start: dt.datetime = EPOCH, vouch: bool = True, paging: Paging | None = None
    ) -> Listing:
        """Read every campaign created since ``start`` (server time), provably unless not ``vouch`` (a poll);
        ``retried`` repeats one page; ``paging`` is how the server paged last time, when known."""
        return await scan_campaigns(
            lambda query: retried(lambda: self.list_campaigns_page(query)),
            now=self.server_now(),
            start=start,
            vouch=vouch,
            paging=paging,
        )

    def server_now(self) -> dt.datetime:
        """Return the server's time now, by the offset its last ``Date`` header showed (local time before any)."""
        return dt.datetime.fromtimestamp(self._clock() + (self._server_offset_s or 0.0), dt.UTC)

    @property
    def server_offset_s(self) -> float | None:
        """Return how far the server's clock is ahead of ours, in seconds, once a reply has shown it."""
        return self._server_offset_s

    async def list_contact_lists(self) -> ContactLists:
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
        lists = tuple(
            ContactList(r["name"], kind if isinstance(kind := r.get("listType"), str) else None)
            for r in records
            if isinstance(r, dict) and isinstance(r.get("name"), str)
        )
        return ContactLists(lists, any_name=self.last_headers.get(endpoints.SANDBOX_LISTS_HEADER) == "any")

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
    ) -> Reply:
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
        reply_body = json_object(text)
        assert reply_body is not None  # classify_response lets only JSON objects through as successes
        return Reply(method, path, response.status, reply_body)

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


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000
