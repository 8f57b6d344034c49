"""The sandbox's HTTP face: :class:`Sandbox` (the request pipeline and the endpoint handlers) and :func:`make_app`.

It serves the endpoints of :mod:`provisioner.api.endpoints` with the vendor's JWT check, per-account rolling
rate limit, body rules (:mod:`provisioner.sandbox.rules`) and response shapes, and misbehaves on purpose when
asked to (5xx, spurious 429, dropped connections, slow replies, failures under HTTP 200) so retry and
exactly-once logic meet a real server. What the campaigns are and how they change lives in
:mod:`provisioner.sandbox.state`; here is only what a request does to them and what it counts. Where the
vendor's documents leave a behaviour open (page size cap, paging field, default date window, id key,
contact-list method, clock skew, other writers, the status of a scheduled campaign),
:class:`~provisioner.sandbox.config.SandboxConfig` picks the variant to act out.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import time
from collections import Counter, deque
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any, Final

import jwt
from aiohttp import web
from aiohttp.typedefs import Handler

from provisioner.api import endpoints
from provisioner.api.campaign import iso_timestamp
from provisioner.sandbox.config import FAULT_KINDS, FaultKind, SandboxConfig
from provisioner.sandbox.listing import parse_list_query
from provisioner.sandbox.rules import create_body_problems, schedule_body_problems
from provisioner.sandbox.state import SandboxState, StoredCampaign

log = logging.getLogger(__name__)

#: The path of the sandbox's own state page; it needs no credentials and counts against nothing.
STATE_PATH: Final = "/__sandbox__/state"

#: Faults that strike before anything is stored fit every endpoint; the others only make sense on a write.
_FAULTS_BEFORE: Final[tuple[FaultKind, ...]] = ("spurious_429", "error_5xx", "drop_before", "failure_2xx")
_FAULTS_AFTER: Final[tuple[FaultKind, ...]] = ("drop_after", "error_after", "slow_after")
_WRITES: Final = ("create", "update", "delete", "trigger", "schedule")
_ERROR_STATUSES: Final = (500, 502, 503)
_FAILURE_2XX_MESSAGE: Final = "Something went wrong, please try again"


class _Failure(Exception):
    """A request the campaign service answers with ``{"status": "failure", "message": …}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Sandbox(SandboxState):
    """A sandbox's campaigns (see :class:`SandboxState`) and the counters of what clients asked of it.

    ``plays`` counts every accepted start (``trigger=play``) per campaign id, so a test can prove a client
    started a campaign exactly once. The vendor does not say what a start does to a campaign already Active;
    a real server may well start another instance, so the sandbox accepts it (a new ``campaignInstanceId``,
    still Active) and counts it: a client that starts twice is caught by the count, not saved by a refusal.
    A Preparing campaign refuses a start.
    """

    def __init__(self, config: SandboxConfig) -> None:
        super().__init__(config)
        self.requests_total = 0  # every request received, even to unknown paths (not the state page)
        # by route name: create, list, get, update, delete, trigger, schedule, status, contact_lists
        self.requests: Counter[str] = Counter()
        self.plays: Counter[str] = Counter()  # accepted trigger=play requests, by campaign id
        self.rate_limited = 0  # 429s served because the limit was reached (spurious ones are in faults)
        self.faults: Counter[FaultKind] = Counter()
        self.accepted_at: list[float] = []  # clock times of requests that counted against the limit
        self._window: deque[float] = deque()
        self._queued_faults: deque[FaultKind | None] = deque()

    def queue_faults(self, kinds: Iterable[FaultKind | None]) -> None:
        """Make the next writes suffer these faults, in order (None: behave).

        Writes are creates, updates, deletes, starts and stops (trigger) and schedule calls; reads draw no queued fault.
        """
        kinds = list(kinds)
        unknown = [kind for kind in kinds if kind is not None and kind not in FAULT_KINDS]
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; known: {', '.join(FAULT_KINDS)}")
        self._queued_faults.extend(kinds)

    def max_accepted_in_window(self, window_s: float | None = None) -> int:
        """Return the most accepted requests seen in any rolling window (default: the configured one)."""
        span = self.config.window_s if window_s is None else window_s
        most, first = 0, 0
        for last, at in enumerate(self.accepted_at):
            while self.accepted_at[first] <= at - span:
                first += 1
            most = max(most, last - first + 1)
        return most

    def state(self) -> dict[str, Any]:
        """Return what the state page shows: every stored campaign and the counters, as JSON-ready data."""
        return {
            "campaigns": [
                {"id": c.id, "name": c.name, "status": self.status(c), "createdAt": c.data["createdAt"]}
                for c in self.campaigns
            ],
            "contactLists": sorted(self.config.contact_lists or self._seen_lists),
            "counters": {
                "campaigns": len(self.campaigns),
                "requestsTotal": self.requests_total,
                "requests": dict(self.requests),
                "rateLimited": self.rate_limited,
                "faults": dict(self.faults),
                "duplicates": self.duplicates(),
                "plays": dict(self.plays),
            },
        }

    # --- request pipeline -------------------------------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Serve one request through :meth:`_pipeline`; date the reply on the server's clock; log it if asked."""
        started = time.perf_counter()
        response = await self._pipeline(request, handler)
        response.headers["Date"] = email.utils.format_datetime(self.now(), usegmt=True)
        if self.config.log_requests:
            dropped = request.transport is None or request.transport.is_closing()
            # request.path carries no query string, so nothing sent there reaches the log; headers never do.
            log.info(
                "%s %s %s %.0f ms",
                request.method,
                request.path,
                "dropped" if dropped else response.status,
                (time.perf_counter() - started) * 1000,
            )
        return response

    async def _pipeline(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Refuse bad credentials, then requests over the limit; delay the rest and apply any drawn fault."""
        endpoint = request.match_info.route.name
        if endpoint == "state":
            return await handler(request)
        self.requests_total += 1
        if endpoint is None:  # an unknown path or method: aiohttp's own 404/405
            return await handler(request)
        self.requests[endpoint] += 1
        refusal = self._check_credentials(request)
        if refusal is not None:
            return refusal
        now = self.config.clock()
        while self._window and self._window[0] <= now - self.config.window_s:
            self._window.popleft()
        if len(self._window) >= self.config.rate_limit:
            self.rate_limited += 1
            return self._too_many_requests(now)
        fault = self._next_fault(endpoint)
        if fault == "spurious_429":
            self.faults[fault] += 1
            return self._too_many_requests(now)
        self._window.append(now)
        self.accepted_at.append(now)
        jitter_ms = self._rng.uniform(0, self.config.faults.jitter_ms)
        await asyncio.sleep((self.config.latency_ms + jitter_ms) / 1000)
        if fault in ("error_5xx", "drop_before", "failure_2xx"):
            self.faults[fault] += 1
            if fault == "failure_2xx":
                return _failure(HTTPStatus.OK, _FAILURE_2XX_MESSAGE)
            return self._server_error() if fault == "error_5xx" else _drop_connection(request)
        try:
            response = await handler(request)
        except _Failure as failure:
            return _failure(failure.status, failure.message)
        if fault is None or response.status != HTTPStatus.OK:  # after-faults need a stored campaign
            return response
        self.faults[fault] += 1
        if fault == "drop_after":
            return _drop_connection(request)
        if fault == "error_after":
            return self._server_error()
        await asyncio.sleep(self.config.faults.slow_s)
        return response

    def _check_credentials(self, request: web.Request) -> web.Response | None:
        token = request.headers.get(endpoints.HEADER_AUTH)
        if not token:
            return _errors_reply(HTTPStatus.UNAUTHORIZED, 4002, "Invalid SDK credentials")
        problem = self._token_problem(token)
        if problem is not None:
            log.warning("sandbox refused a token: %s", problem)
            return _errors_reply(HTTPStatus.UNAUTHORIZED, 4002, "Invalid JWT token")
        config, account, iid = self.config, endpoints.HEADER_ACCOUNT, endpoints.HEADER_IID
        mismatched = [
            what
            for what, sent, expected in (
                (f"{account} header", request.headers.get(account), config.account_id),
                ("accountId query parameter", request.query.get("accountId"), config.account_id),
                (f"{iid} header", request.headers.get(iid), config.iid),
                ("stream id in the path", request.match_info.get("stream_id"), config.stream_id),
            )
            if sent != expected
        ]
        if mismatched:
            message = f"Permission denied: wrong {', '.join(mismatched)}"
            return _errors_reply(HTTPStatus.FORBIDDEN, HTTPStatus.FORBIDDEN, message)
        return None

    def _token_problem(self, token: str) -> str | None:
        try:
            claims = jwt.decode(
                token,
                self.config.client_secret,
                algorithms=[endpoints.JWT_ALGORITHM],
                options={"require": ["exp", "iat"]},
            )
        except jwt.PyJWTError as exc:
            return str(exc)
        if claims.get("appId") != self.config.client_id:
            return "appId is not this app's client id"
        if claims["exp"] - claims["iat"] > endpoints.JWT_MAX_LIFETIME_S:
            return f"exp is more than {endpoints.JWT_MAX_LIFETIME_S} s after iat"
        return None

    def _next_fault(self, endpoint: str) -> FaultKind | None:
        if endpoint in _WRITES and self._queued_faults:
            return self._queued_faults.popleft()
        roll = self._rng.random()
        for kind in _FAULTS_BEFORE + _FAULTS_AFTER if endpoint in _WRITES else _FAULTS_BEFORE:
            chance = self.config.faults.probability(kind)
            if roll < chance:
                return kind
            roll -= chance
        return None

    def _too_many_requests(self, now: float) -> web.Response:
        headers = {}
        if self.config.retry_after_header:
            wait = self._window[0] + self.config.window_s - now if self._window else 0.0
            headers["Retry-After"] = str(math.ceil(wait))
        return web.json_response(
            {"status": "error", "message": endpoints.RATE_LIMIT_MESSAGE},
            status=HTTPStatus.TOO_MANY_REQUESTS,
            headers=headers,
        )

    def _server_error(self) -> web.Response:
        status = HTTPStatus(self._rng.choice(_ERROR_STATUSES))
        return web.json_response({"status": "error", "message": status.phrase}, status=status)

    # --- endpoints --------------------------------------------------------------------------------

    async def create(self, request: web.Request) -> web.Response:
        """Create a campaign: validate the body as the vendor's page specifies, store it, echo it."""
        body = await _json_object(request)
        problems = create_body_problems(body, request.query.get("campaignType"), self.config.contact_lists)
        if problems:
            raise _Failure(HTTPStatus.BAD_REQUEST, "; ".join(problems))
        campaign = self._store(body, self.now())
        self._seen_lists.update(dict.fromkeys(campaign.data["contactLists"]))
        return web.json_response(
            {"status": "success", "message": f"Campaign {campaign.name} creation in progress", "data": campaign.data}
        )

    async def list_campaigns(self, request: web.Request) -> web.Response:
        """Return one page of campaigns, as getAllCampaignDetails does, under the configured listing variant."""
        now = self.now()
        try:
            query = parse_list_query(await _json_object(request), self.config, now)
        except ValueError as exc:
            raise _Failure(HTTPStatus.BAD_REQUEST, str(exc)) from None
        self._churn(now)
        ordered = self._select(query)
        page = ordered[query.offset : query.offset + query.limit]
        results = [self.list_view(c) for c in page]
        return web.json_response(
            {
                "status": "success",
                "message": "Campaigns fetched successfully",
                "data": {
                    "results": results,
                    "skip": query.offset,
                    "limit": query.limit,
                    "hasMore": query.offset + len(results) < len(ordered),
                    "totalPages": math.ceil(len(ordered) / query.limit),
                    "totalResults": len(ordered),
                },
            }
        )

    async def get_campaign(self, request: web.Request) -> web.Response:
        """Return one campaign by id, with ``_id`` and its whole schedule, or 404 ``Campaign not found``."""
        data = self.read_view(self._find(request))
        return web.json_response({"status": "success", "message": "Campaign details fetched", "data": data})

    async def update(self, request: web.Request) -> web.Response:
        """Replace a campaign's settings from a full create body; an Active campaign refuses, as the UI does.

        The body's ``schedule.isSchedulingEnabled`` false disables a stored schedule; true keeps it.
        """
        campaign = self._find(request)
        body = await _json_object(request)
        if self.is_active(campaign):
            raise _Failure(
                HTTPStatus.BAD_REQUEST,
                f"Campaign {campaign.name} is Active and cannot be edited; stop the campaign to edit it",
            )
        problems = create_body_problems(body, request.query.get("campaignType"), self.config.contact_lists)
        if problems:
            raise _Failure(HTTPStatus.BAD_REQUEST, "; ".join(problems))
        self._apply(campaign, body, self.now())
        self._follow_schedule_flag(campaign, body)
        return web.json_response(
            {
                "status": "success",
                "message": f"Campaign {campaign.name} details updated successfully",
                "id": campaign.id,
                "data": self.read_view(campaign),
            }
        )

    async def delete(self, request: web.Request) -> web.Response:
        """Delete a campaign and return it as it was; an Active one refuses, as the UI asks to stop it first."""
        campaign = self._find(request)
        if request.query.get("campaignType") != "voice":
            raise _Failure(HTTPStatus.BAD_REQUEST, "campaignType: the query parameter must be voice")
        if self.is_active(campaign):
            raise _Failure(
                HTTPStatus.BAD_REQUEST, f"Campaign {campaign.name} is Active and cannot be deleted; stop it first"
            )
        data = self.read_view(campaign)
        self.remove(campaign.id)
        return web.json_response(
            {"status": "success", "message": f"Campaign {campaign.name} deleted successfully", "data": data}
        )

    async def trigger(self, request: web.Request) -> web.Response:
        """Start (trigger=play) or stop (trigger=stop) a campaign; the reply has no ``data`` wrapper.

        Every accepted start is counted in :attr:`plays`, also one of a campaign already Active (see the class).
        """
        campaign = self._find(request)
        trigger = request.query.get("trigger")
        if request.query.get("campaignType") != "voice" or trigger not in ("play", "stop"):
            raise _Failure(HTTPStatus.BAD_REQUEST, "query: campaignType must be voice and trigger play or stop")
        await _json_object(request)
        if trigger == "play":
            if not self.is_ready(campaign):
                raise _Failure(
                    HTTPStatus.BAD_REQUEST, f"Campaign {campaign.name} is not Ready yet; start it once it is Ready"
                )
            self.activate(campaign.id)
            self.plays[campaign.id] += 1
        else:
            self.stop(campaign.id)
        return web.json_response(
            {
                "status": self.status(campaign),
                "message": "Campaign Started" if trigger == "play" else "Campaign Stopped",
                "updatedAt": iso_timestamp(self.now()),
                "campaignInstanceId": f"cid-{self._uuid()}",
            }
        )

    async def campaign_status(self, request: web.Request) -> web.Response:
        """Return ``{id, status, name}`` of one campaign (query ``view=status``)."""
        if request.query.get("view") != "status":
            raise _Failure(HTTPStatus.BAD_REQUEST, "view: the sandbox serves only view=status")
        campaign = self._find(request)
        data = {"id": campaign.id, "status": self.status(campaign), "name": campaign.name}
        return web.json_response({"status": "success", "data": data})

    async def schedule(self, request: web.Request) -> web.Response:
        """Enable (``enableSchedule=true``) or disable (``false``, body ``{}``) the schedule of one campaign.

        The campaign is named by ``campaignName``, ignoring upper/lower case; a name that two campaigns
        carry is refused rather than one of them scheduled. The body's times are read in the campaign's
        calling-hours time zone. Sending the same schedule again succeeds again: it is simply set anew. With
        ``schedule_needs_ready`` a campaign still Preparing is refused, as a start is.
        """
        enable, name = request.query.get("enableSchedule"), request.query.get("campaignName", "")
        if enable not in ("true", "false") or not name:
            raise _Failure(
                HTTPStatus.BAD_REQUEST, "query: enableSchedule must be true or false and campaignName must be given"
            )
        body = await _json_object(request)
        campaign = self._named_once(name)
        if enable == "false":
            if body:
                raise _Failure(HTTPStatus.BAD_REQUEST, "body: must be {} when enableSchedule is false")
            self.set_schedule(campaign.id, None)
            message = f"Campaign {campaign.name} schedule disabled successfully"
        elif self.config.schedule_needs_ready and not self.is_ready(campaign):
            raise _Failure(HTTPStatus.BAD_REQUEST, f"Campaign {campaign.name} is not Ready yet")
        else:
            problems = schedule_body_problems(body, now=self.now(), zone=campaign.timezone)
            if problems:
                raise _Failure(HTTPStatus.BAD_REQUEST, "; ".join(problems))
            self.set_schedule(campaign.id, body)
            message = f"Campaign {campaign.name} scheduled successfully"
        return web.json_response({"status": "success", "message": message, "id": campaign.id})

    async def contact_lists(self, request: web.Request) -> web.Response:
        """Return the call contact lists: the configured ones, or every name listed or used so far."""
        if request.method != self.config.contact_list_method:
            return _errors_reply(HTTPStatus.METHOD_NOT_ALLOWED, HTTPStatus.METHOD_NOT_ALLOWED, "Method Not Allowed")
        if request.query.get("type") != "call":
            raise _Failure(HTTPStatus.BAD_REQUEST, "type: the query parameter must be call")
        configured = self.config.contact_lists
        names = sorted(configured) if configured is not None else list(self._seen_lists)
        lists = [
            {
                "_id": self._id_for("cl", name),
                "name": name,
                "description": "",
                "status": "Ready",
                "listType": "call",
                "source": "passiveApi",
            }
            for name in names
        ]
        headers = {endpoints.SANDBOX_LISTS_HEADER: "any"} if configured is None else {}
        return web.json_response({"status": "success", "data": lists}, headers=headers)

    async def show_state(self, request: web.Request) -> web.Response:
        """Serve :meth:`state` as JSON, for a person watching what a client did."""
        return web.json_response(self.state())

    # --- helpers ----------------------------------------------------------------------------------

    def _find(self, request: web.Request) -> StoredCampaign:
        campaign = self._by_id.get(request.match_info["campaign_id"])
        if campaign is None:
            raise _Failure(HTTPStatus.NOT_FOUND, "Campaign not found")
        return campaign

    def _named_once(self, name: str) -> StoredCampaign:
        """Return the one campaign carrying ``name``; 404 if none does, 400 if several do."""
        found = self.named(name)
        if not found:
            raise _Failure(HTTPStatus.NOT_FOUND, "Campaign not found")
        if len(found) > 1:
            ids = ", ".join(c.id for c in found)
            raise _Failure(
                HTTPStatus.BAD_REQUEST,
                f"Campaign name {name} is ambiguous: {len(found)} campaigns carry it ({ids}); nothing was "
                "scheduled. Rename or delete all but one of them, then schedule again",
            )
        return found[0]


def make_app(sandbox: Sandbox) -> web.Application:
    """Return the aiohttp application serving ``sandbox`` on the vendor's paths, and its state page."""
    app = web.Application(middlewares=[sandbox.middleware])
    app.router.add_post(endpoints.CREATE_CAMPAIGN, sandbox.create, name="create")
    app.router.add_post(endpoints.LIST_CAMPAIGNS, sandbox.list_campaigns, name="list")
    # Every method reaches the handler, which answers the configured one and refuses the rest as the vendor does.
    app.router.add_route("*", endpoints.LIST_CONTACT_LISTS, sandbox.contact_lists, name="contact_lists")
    app.router.add_get(endpoints.GET_CAMPAIGN, sandbox.get_campaign, name="get")
    app.router.add_put(endpoints.UPDATE_CAMPAIGN, sandbox.update, name="update")
    app.router.add_delete(endpoints.DELETE_CAMPAIGN, sandbox.delete, name="delete")
    app.router.add_post(endpoints.TRIGGER_CAMPAIGN, sandbox.trigger, name="trigger")
    app.router.add_post(endpoints.CAMPAIGN_STATUS, sandbox.campaign_status, name="status")
    app.router.add_post(endpoints.SCHEDULE_CAMPAIGN, sandbox.schedule, name="schedule")
    app.router.add_get(STATE_PATH, sandbox.show_state, name="state")
    return app


# --- responses ------------------------------------------------------------------------------------


def _failure(status: int, message: str) -> web.Response:
    return web.json_response({"status": "failure", "message": message}, status=status)


def _errors_reply(status: int, code: int, message: str) -> web.Response:
    """Answer in the gateway's ``{"errors": [{"msg", "code"}]}`` shape (auth failures, wrong methods)."""
    return web.json_response({"errors": [{"msg": message, "code": code}]}, status=status)


def _drop_connection(request: web.Request) -> web.StreamResponse:
    """Close the TCP connection without a reply."""
    transport = request.transport
    if transport is not None:
        transport.close()
    # aiohttp finds the transport closing when it writes this and sends nothing at all.
    return web.Response()


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise _Failure(HTTPStatus.BAD_REQUEST, "body: must be valid JSON") from None
    if not isinstance(body, dict):
        raise _Failure(HTTPStatus.BAD_REQUEST, "body: must be a JSON object")
    return body
