"""A local stand-in for the vendor's Campaign Management v2 API: its state, its handlers and :func:`make_app`.

It serves the eight endpoints of :mod:`provisioner.api.endpoints` with the vendor's JWT check, per-account
rolling rate limit, create-body rules (:mod:`provisioner.sandbox.rules`) and response shapes, and misbehaves
on purpose when asked to (5xx, spurious 429, dropped connections, slow replies, failures under HTTP 200) so
retry and exactly-once logic meet a real server. Where the vendor's documents leave a behaviour open
(page size cap, paging field, default date window, id key, contact-list method, clock skew, other writers),
:class:`~provisioner.sandbox.config.SandboxConfig` picks the variant to act out.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import random
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any, Final

import jwt
from aiohttp import web
from aiohttp.typedefs import Handler

from provisioner.api import endpoints
from provisioner.api.campaign import iso_timestamp
from provisioner.sandbox.config import FAULT_KINDS, FaultKind, SandboxConfig
from provisioner.sandbox.listing import ListQuery, parse_list_query
from provisioner.sandbox.rules import create_body_problems

log = logging.getLogger(__name__)

#: The path of the sandbox's own state page; it needs no credentials and counts against nothing.
STATE_PATH: Final = "/__sandbox__/state"

#: Faults that strike before anything is stored fit every endpoint; the others only make sense on a write.
_FAULTS_BEFORE: Final[tuple[FaultKind, ...]] = ("spurious_429", "error_5xx", "drop_before", "failure_2xx")
_FAULTS_AFTER: Final[tuple[FaultKind, ...]] = ("drop_after", "error_after", "slow_after")
_WRITES: Final = ("create", "update", "delete", "trigger")
_ERROR_STATUSES: Final = (500, 502, 503)
_FAILURE_2XX_MESSAGE: Final = "Something went wrong, please try again"

#: What the read endpoints show of a stored campaign besides its id, ``status`` and ``updatedAt``.
_GET_FIELDS: Final = (
    "name",
    "lname",
    "description",
    "dncLists",
    "priority",
    "dialingMode",
    "dialingStrategy",
    "experienceFlow",
    "createdAt",
    "contactLists",
)
_LIST_RESULT_FIELDS: Final = (
    "name",
    "description",
    "dncLists",
    "priority",
    "dialingMode",
    "isFiltersEnabled",
    "createdAt",
    "contactLists",
)
#: The body behind campaigns nobody sent through the API: seeded ones and other teams' churn.
_BACKGROUND_BODY: Final[dict[str, Any]] = {
    "description": "",
    "contactLists": ["Background list"],
    "dncLists": {"name": "Global DNC"},
    "priority": "3",
    "dialingMode": "Agentless",
    "dialingStrategy": {
        "callerId": {"phoneNumber": "+14155550100"},
        "callingHours": {
            "frequency": "WEEKLY",
            "timezone": "America/New_York",
            "days": [{"day": "MO", "start": "9:00 AM", "end": "5:00 PM"}],
        },
        "dialingOrder": "FIFO",
        "maxAttemptsPerRecord": 3,
        "defaultRetryPeriod": 10,
        "maxRingTime": 30,
    },
    "experienceFlowName": "Background flow",
    "enableMachineDetect": "no",
    "campaignType": "voice",
}


@dataclass(frozen=True, slots=True)
class StoredCampaign:
    """One stored campaign: the ``data`` its create returned, its schedule and when it was created."""

    data: dict[str, Any]
    schedule: dict[str, Any]
    created: float  # on the sandbox clock; decides Preparing or Ready
    created_wall: datetime  # on the server's (possibly skewed) wall clock, as ``createdAt`` shows it

    @property
    def id(self) -> str:
        """Return the campaign id (``cd-…``)."""
        return str(self.data["id"])

    @property
    def name(self) -> str:
        """Return the campaign name as stored (trimmed)."""
        return str(self.data["name"])

    @property
    def lname(self) -> str:
        """Return the lower-cased name the vendor keeps alongside the name."""
        return str(self.data["lname"])


class _Failure(Exception):
    """A request the campaign service answers with ``{"status": "failure", "message": …}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Sandbox:
    """The sandbox's behaviour and observable state; :func:`make_app` serves it over HTTP."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.campaigns: list[StoredCampaign] = []  # in creation order, duplicates included
        self.requests_total = 0  # every request received, even to unknown paths (not the state page)
        self.requests: Counter[str] = (
            Counter()
        )  # by route name: create, list, get, update, delete, trigger, status, contact_lists
        self.rate_limited = 0  # 429s served because the limit was reached (spurious ones are in faults)
        self.faults: Counter[FaultKind] = Counter()
        self.accepted_at: list[float] = []  # clock times of requests that counted against the limit
        self._window: deque[float] = deque()
        self._queued_faults: deque[FaultKind | None] = deque()
        self._rng = random.Random(config.seed)  # noqa: S311  (reproducible test noise, not cryptography)
        self._by_id: dict[str, StoredCampaign] = {}
        self._bodies: dict[str, dict[str, Any]] = {}  # id -> the body that set the campaign's settings last
        self._edited: dict[str, datetime] = {}  # id -> when it was last updated (API or UI), on the wall clock
        self._active: set[str] = set()
        self._stopped: set[str] = set()  # stopped by the trigger since they were last Active
        self._ids_by_name: dict[str, str] = {}  # stable cl-/cf- ids for list and flow names
        self._seen_lists: dict[str, None] = dict.fromkeys(sorted(config.listed_contact_lists))  # ordered set
        self._foreign: deque[str] = deque()  # ids of other teams' campaigns, oldest first
        self._foreign_made = 0

    def queue_faults(self, kinds: Iterable[FaultKind | None]) -> None:
        """Make the next writes (create, update, delete, trigger), in order, suffer these faults (None: behave)."""
        kinds = list(kinds)
        unknown = [kind for kind in kinds if kind is not None and kind not in FAULT_KINDS]
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; known: {', '.join(FAULT_KINDS)}")
        self._queued_faults.extend(kinds)

    def seed(
        self,
        names: Iterable[str],
        *,
        created_at: datetime,
        step: timedelta = timedelta(seconds=1),
        foreign: bool = False,
    ) -> list[StoredCampaign]:
        """Store campaigns made earlier, the first at ``created_at`` and each next one ``step`` later.

        ``foreign`` marks them as other teams' campaigns, the first that churn deletes. Call it before the
        sandbox serves traffic (or from its event loop): it changes state directly.
        """
        stored = []
        for index, name in enumerate(names):
            when = created_at + index * step
            age_s = (self.now() - when).total_seconds()
            stored.append(self._store(dict(_BACKGROUND_BODY, name=name), when, age_s=max(age_s, 0.0)))
        if foreign:
            self._foreign.extend(c.id for c in stored)
        return stored

    def remove(self, campaign_id: str) -> None:
        """Delete a campaign as a user of the platform's UI would (the delete call does the same)."""
        self.campaigns.remove(self._by_id.pop(campaign_id))
        for state in (self._bodies, self._edited):
            state.pop(campaign_id, None)
        self._active.discard(campaign_id)
        self._stopped.discard(campaign_id)

    def activate(self, campaign_id: str) -> None:
        """Start a campaign as the start trigger would: it turns Active and refuses edits from then on."""
        if campaign_id not in self._by_id:
            raise KeyError(campaign_id)
        self._active.add(campaign_id)
        self._stopped.discard(campaign_id)

    def edit(self, campaign_id: str, **changes: Any) -> StoredCampaign:
        """Change a campaign as a user of the platform's UI would: create-body fields replaced, ``updatedAt`` moved.

        ``changes`` use the create body's top-level keys (``priority="1"``, ``dialingStrategy={…}``).
        """
        campaign = self._by_id[campaign_id]
        self._apply(campaign, {**self._bodies[campaign_id], **changes}, self.now())
        return campaign

    def body(self, campaign_id: str) -> dict[str, Any]:
        """Return the create-shaped body that set a campaign's settings last (for tests comparing with a sheet)."""
        return self._bodies[campaign_id]

    def duplicates(self) -> dict[str, int]:
        """Return ``{lname: count}`` for every name stored more than once."""
        counts = Counter(campaign.lname for campaign in self.campaigns)
        return {lname: count for lname, count in counts.items() if count > 1}

    def max_accepted_in_window(self, window_s: float | None = None) -> int:
        """Return the most accepted requests seen in any rolling window (default: the configured one)."""
        span = self.config.window_s if window_s is None else window_s
        most, first = 0, 0
        for last, at in enumerate(self.accepted_at):
            while self.accepted_at[first] <= at - span:
                first += 1
            most = max(most, last - first + 1)
        return most

    def now(self) -> datetime:
        """Return the time on the server's wall clock, which runs ``clock_skew_s`` off the real one."""
        return datetime.now(UTC) + timedelta(seconds=self.config.clock_skew_s)

    def state(self) -> dict[str, Any]:
        """Return what the state page shows: every stored campaign and the counters, as JSON-ready data."""
        return {
            "campaigns": [
                {"id": c.id, "name": c.name, "status": self._status(c), "createdAt": c.data["createdAt"]}
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
        id_field = self.config.list_id_field
        results = [
            {
                **self._view(c, _LIST_RESULT_FIELDS, id_field),
                "schedule": {"isRecurrenceEnabled": False, **c.schedule},
            }
            for c in page
        ]
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
        """Return one campaign by id, with ``_id``, or 404 ``Campaign not found``."""
        campaign = self._find(request)
        view = {**self._view(campaign, _GET_FIELDS, "_id"), "schedule": campaign.schedule}
        return web.json_response({"status": "success", "message": "Campaign details fetched", "data": view})

    async def update(self, request: web.Request) -> web.Response:
        """Replace a campaign's settings from a full create body; an Active campaign refuses, as the UI does."""
        campaign = self._find(request)
        body = await _json_object(request)
        if campaign.id in self._active:
            raise _Failure(
                HTTPStatus.BAD_REQUEST,
                f"Campaign {campaign.name} is Active and cannot be edited; stop the campaign to edit it",
            )
        problems = create_body_problems(body, request.query.get("campaignType"), self.config.contact_lists)
        if problems:
            raise _Failure(HTTPStatus.BAD_REQUEST, "; ".join(problems))
        self._apply(campaign, body, self.now())
        view = {**self._view(campaign, _GET_FIELDS, "_id"), "schedule": campaign.schedule}
        return web.json_response(
            {
                "status": "success",
                "message": f"Campaign {campaign.name} details updated successfully",
                "id": campaign.id,
                "data": view,
            }
        )

    async def delete(self, request: web.Request) -> web.Response:
        """Delete a campaign and return it as it was; an Active one refuses, as the UI asks to stop it first."""
        campaign = self._find(request)
        if request.query.get("campaignType") != "voice":
            raise _Failure(HTTPStatus.BAD_REQUEST, "campaignType: the query parameter must be voice")
        if campaign.id in self._active:
            raise _Failure(
                HTTPStatus.BAD_REQUEST, f"Campaign {campaign.name} is Active and cannot be deleted; stop it first"
            )
        view = {**self._view(campaign, _GET_FIELDS, "_id"), "schedule": campaign.schedule}
        self.remove(campaign.id)
        return web.json_response(
            {"status": "success", "message": f"Campaign {campaign.name} deleted successfully", "data": view}
        )

    async def trigger(self, request: web.Request) -> web.Response:
        """Start (trigger=play) or stop (trigger=stop) a campaign; the reply has no ``data`` wrapper."""
        campaign = self._find(request)
        trigger = request.query.get("trigger")
        if request.query.get("campaignType") != "voice" or trigger not in ("play", "stop"):
            raise _Failure(HTTPStatus.BAD_REQUEST, "query: campaignType must be voice and trigger play or stop")
        await _json_object(request)
        if trigger == "play":
            if not self._is_ready(campaign):
                raise _Failure(HTTPStatus.BAD_REQUEST, f"Campaign {campaign.name} is not Ready yet")
            self.activate(campaign.id)
        else:
            self._active.discard(campaign.id)
            self._stopped.add(campaign.id)
        status = self._status(campaign)
        return web.json_response(
            {
                "status": status,
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
        data = {"id": campaign.id, "status": self._status(campaign), "name": campaign.name}
        return web.json_response({"status": "success", "data": data})

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

    def _store(self, body: dict[str, Any], when: datetime, *, age_s: float = 0.0) -> StoredCampaign:
        """Store a campaign from a valid create body, created at ``when`` on the wall clock, ``age_s`` ago."""
        data = {
            **self._settings(body),
            "status": "Preparing",
            "isFiltersEnabled": False,
            "createdAt": iso_timestamp(when),
            "updatedAt": iso_timestamp(when),
            "id": f"cd-{self._uuid()}",
        }
        campaign = StoredCampaign(
            data=data,
            schedule={"isSchedulingEnabled": False, **body.get("schedule", {})},
            created=self.config.clock() - age_s,
            created_wall=when,
        )
        self.campaigns.append(campaign)
        self._by_id[campaign.id] = campaign
        self._bodies[campaign.id] = body
        return campaign

    def _apply(self, campaign: StoredCampaign, body: dict[str, Any], when: datetime) -> None:
        """Replace a stored campaign's settings with those of ``body``, updated at ``when`` (wall clock)."""
        campaign.data.update(self._settings(body))
        self._bodies[campaign.id] = body
        self._edited[campaign.id] = when

    def _settings(self, body: dict[str, Any]) -> dict[str, Any]:
        """Return what the server stores of a create body's settings, in the shapes it echoes them."""
        name = body["name"].strip()
        strategy, hours = body["dialingStrategy"], body["dialingStrategy"]["callingHours"]
        dnc_name = body["dncLists"]["name"]
        return {
            "name": name,
            "lname": name.lower(),
            "description": body["description"],
            "dncLists": {"id": self._id_for("cl", dnc_name), "name": dnc_name},
            "priority": body["priority"],
            "dialingMode": body["dialingMode"],
            "dialingStrategy": {
                "callerId": {"phoneNumber": strategy["callerId"]["phoneNumber"]},
                "callingHours": {
                    "frequency": hours["frequency"],
                    "days": [{"start": d["start"], "end": d["end"], "day": d["day"]} for d in hours["days"]],
                    "timezone": hours["timezone"],
                },
                "dialingOrder": strategy["dialingOrder"],
                "maxAttemptsPerRecord": strategy["maxAttemptsPerRecord"],
                "defaultRetryPeriod": strategy["defaultRetryPeriod"],
                "maxRingTime": strategy["maxRingTime"],
                "useSystemMappings": False,
            },
            "experienceFlow": self._id_for("cf", body["experienceFlowName"]),
            "contactLists": list(body["contactLists"]),
            "enableMachineDetect": body["enableMachineDetect"] != "no",
        }

    def _churn(self, now: datetime) -> None:
        """Act out other writers: delete the oldest foreign campaigns and create as many new ones."""
        count = self.config.churn_per_list_call
        for _ in range(min(count, len(self._foreign))):
            self.remove(self._foreign.popleft())
        for _ in range(count):
            self._foreign_made += 1
            campaign = self._store(dict(_BACKGROUND_BODY, name=f"Other team {self._foreign_made}"), now)
            self._foreign.append(campaign.id)

    def _select(self, query: ListQuery) -> list[StoredCampaign]:
        """Return the campaigns a list query covers, in its order; ties go by id so the order is total."""
        if query.kind != "voice":  # the sandbox holds voice campaigns only
            return []
        chosen = [c for c in self.campaigns if query.admits(c.created_wall)]
        primary = self._sort_key(query.sort_field)
        return sorted(chosen, key=lambda c: (primary(c), c.id), reverse=query.descending)

    def _find(self, request: web.Request) -> StoredCampaign:
        campaign = self._by_id.get(request.match_info["campaign_id"])
        if campaign is None:
            raise _Failure(HTTPStatus.NOT_FOUND, "Campaign not found")
        return campaign

    def _is_ready(self, campaign: StoredCampaign) -> bool:
        return self.config.clock() - campaign.created >= self.config.ready_after_s

    def _status(self, campaign: StoredCampaign) -> str:
        if campaign.id in self._active:
            return "Active"
        if campaign.id in self._stopped:
            return "Stopped"
        return "Ready" if self._is_ready(campaign) else "Preparing"

    def _updated_at(self, campaign: StoredCampaign) -> str:
        if campaign.id in self._edited:
            return iso_timestamp(self._edited[campaign.id])
        if not self._is_ready(campaign):
            return str(campaign.data["updatedAt"])
        return iso_timestamp(campaign.created_wall + timedelta(seconds=self.config.ready_after_s))

    def _view(self, campaign: StoredCampaign, keys: tuple[str, ...], id_field: str) -> dict[str, Any]:
        """Return a read view of a campaign: its id under ``id_field``, the stored ``keys``, its current status."""
        return {
            id_field: campaign.id,
            **{key: campaign.data[key] for key in keys},
            "status": self._status(campaign),
            "updatedAt": self._updated_at(campaign),
        }

    def _sort_key(self, sort_field: str) -> Callable[[StoredCampaign], Any]:
        if sort_field == "name":
            return lambda campaign: campaign.lname
        if sort_field == "updatedAt":
            return self._updated_at
        return lambda campaign: campaign.created_wall

    def _uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self._rng.getrandbits(128), version=4)

    def _id_for(self, prefix: str, name: str) -> str:
        key = f"{prefix}:{name}"
        if key not in self._ids_by_name:
            self._ids_by_name[key] = f"{prefix}-{self._uuid()}"
        return self._ids_by_name[key]


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
