"""A local stand-in for the vendor's Campaign Management v2 API, for tests, benchmarks and ``--sandbox`` runs.

It serves the five endpoints of :mod:`provisioner.api.endpoints` with the vendor's JWT check, per-account
rolling rate limit, create-body rules and response shapes, and misbehaves on purpose when asked to
(5xx, spurious 429, dropped connections, slow replies) so retry and exactly-once logic meet a real server.

The body rules are restated here from the vendor's page on purpose instead of being read from
:mod:`provisioner.workbook.spec`: the sandbox is the oracle the client's own validation is tested against, and
one shared table would let a single mistake pass both.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import random
import re
import secrets
import threading
import time
import uuid
import zoneinfo
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any, Final, Literal, get_args

import jwt
from aiohttp import web
from aiohttp.typedefs import Handler

from provisioner.api import endpoints
from provisioner.api.settings import (
    ENV_ACCOUNT_ID,
    ENV_CLIENT_ID,
    ENV_CLIENT_SECRET,
    ENV_HOST,
    ENV_IID,
    ENV_STREAM_ID,
    Settings,
)
from provisioner.secret import Secret

log = logging.getLogger(__name__)

FaultKind = Literal["error_5xx", "spurious_429", "drop_before", "drop_after", "error_after", "slow_after"]
FAULT_KINDS: Final[tuple[FaultKind, ...]] = get_args(FaultKind)
#: Faults that strike before anything is stored fit every endpoint; the others only make sense on a create.
_FAULTS_BEFORE: Final[tuple[FaultKind, ...]] = ("spurious_429", "error_5xx", "drop_before")
_FAULTS_AFTER: Final[tuple[FaultKind, ...]] = ("drop_after", "error_after", "slow_after")
_ERROR_STATUSES: Final = (500, 502, 503)

#: The sandbox keeps nothing worth draining, so a stuck slow reply must not hold up shutdown for long.
_SHUTDOWN_GRACE_S: Final = 1.0

_CREATE_FIELDS: Final = frozenset(
    {
        "name",
        "description",
        "contactLists",
        "dncLists",
        "priority",
        "dialingMode",
        "dialingStrategy",
        "experienceFlowName",
        "enableMachineDetect",
        "campaignType",
        "schedule",
    }
)
_DIALING_MODES: Final = ("Agentless", "Progressive", "Preview")
_MACHINE_DETECT: Final = ("no", "detect", "disconnect")
_FREQUENCIES: Final = ("WEEKLY", "DAILY", "CUSTOM")
_DIALING_ORDERS: Final = ("FIFO", "LIFO")
_STRATEGY_NUMBERS: Final = {
    "maxAttemptsPerRecord": (1, 100),
    "defaultRetryPeriod": (1, 1440),  # minutes
    "maxRingTime": (5, 120),  # seconds
}
_DAYS: Final = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_E164: Final = re.compile(r"\+[0-9]{8,15}")
_CLOCK_TIME: Final = re.compile(r"(1[0-2]|0?[1-9]):([0-5][0-9]) (AM|PM)")

_LIST_FIELDS: Final = frozenset({"limit", "skip", "page", "type", "sortBy", "startDate", "endDate"})
_LIST_DEFAULT_LIMIT: Final = 10
_LIST_MAX_LIMIT: Final = 100
_SORT_FIELDS: Final = ("createdAt", "name", "updatedAt")
#: What the read endpoints show of a stored campaign besides ``_id``, ``status`` and ``updatedAt``.
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

_ABSENT: Final = object()


@dataclass(frozen=True, slots=True)
class Faults:
    """How often the sandbox misbehaves: probabilities (0..1, together at most 1) drawn once per request.

    ``spurious_429``, ``error_5xx`` and ``drop_before`` strike any endpoint before anything is stored;
    ``drop_after``, ``error_after`` and ``slow_after`` strike a create after it stored its campaign.
    """

    error_5xx: float = 0.0
    spurious_429: float = 0.0
    drop_before: float = 0.0
    drop_after: float = 0.0
    error_after: float = 0.0
    slow_after: float = 0.0
    slow_s: float = 30.0  # how long ``slow_after`` holds the reply; meant to exceed the client's timeout
    jitter_ms: float = 0.0  # random extra latency, uniform in 0..jitter_ms, on every accepted request

    def __post_init__(self) -> None:
        problems = [f"{kind} must be from 0 to 1" for kind in FAULT_KINDS if not 0 <= self.probability(kind) <= 1]
        if sum(map(self.probability, FAULT_KINDS)) > 1 + 1e-9:
            problems.append("the fault probabilities add up to more than 1")
        if self.slow_s < 0 or self.jitter_ms < 0:
            problems.append("slow_s and jitter_ms must not be negative")
        if problems:
            raise ValueError("; ".join(problems))

    def probability(self, kind: FaultKind) -> float:
        """Return the probability configured for one fault kind."""
        return float(getattr(self, kind))


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """How the sandbox behaves; ``SandboxConfig()`` makes fresh random credentials of the vendor's shape."""

    stream_id: str = field(default_factory=lambda: f"st-{uuid.uuid4()}")
    account_id: str = field(default_factory=lambda: secrets.token_hex(12))
    iid: str = ""  # empty means the stream id, which is what the vendor's sample sends
    client_id: str = field(default_factory=lambda: f"cs-{uuid.uuid4()}")
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    rate_limit: int = endpoints.DEFAULT_RATE_PER_MINUTE  # accepted requests per rolling window, per account
    window_s: float = 60.0
    retry_after_header: bool = False  # the vendor documents no Retry-After; turn on to test a client using it
    latency_ms: float = 0.0
    ready_after_s: float = 2.0  # how long a new campaign stays Preparing before it turns Ready
    contact_lists: frozenset[str] | None = None  # None: accept any contact list name and remember it
    faults: Faults = field(default_factory=Faults)
    seed: int | None = None
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.iid:
            object.__setattr__(self, "iid", self.stream_id)
        problems = [
            text
            for bad, text in (
                (self.rate_limit < 1, "rate_limit must be at least 1"),
                (self.window_s <= 0, "window_s must be positive"),
                (self.latency_ms < 0, "latency_ms must not be negative"),
                (self.ready_after_s < 0, "ready_after_s must not be negative"),
            )
            if bad
        ]
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def generate(cls) -> SandboxConfig:
        """Return a default configuration with fresh random credentials."""
        return cls()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SandboxConfig:
        """Take the KORE_* credentials that are set (and not empty) in ``env``; generate the others."""
        fresh = cls.generate()
        return cls(
            stream_id=env.get(ENV_STREAM_ID) or fresh.stream_id,
            account_id=env.get(ENV_ACCOUNT_ID) or fresh.account_id,
            iid=env.get(ENV_IID, ""),
            client_id=env.get(ENV_CLIENT_ID) or fresh.client_id,
            client_secret=env.get(ENV_CLIENT_SECRET) or fresh.client_secret,
        )


def client_env(url: str, config: SandboxConfig) -> dict[str, str]:
    """Return the KORE_* variables a client needs to talk to a sandbox served at ``url``."""
    return {
        ENV_HOST: url,
        ENV_STREAM_ID: config.stream_id,
        ENV_ACCOUNT_ID: config.account_id,
        ENV_IID: config.iid,
        ENV_CLIENT_ID: config.client_id,
        ENV_CLIENT_SECRET: config.client_secret,
    }


def client_settings(url: str, config: SandboxConfig) -> Settings:
    """Return the Settings a client needs to talk to a sandbox served at ``url``."""
    return Settings(
        host=url,
        stream_id=config.stream_id,
        account_id=config.account_id,
        iid=config.iid,
        client_id=config.client_id,
        client_secret=Secret(config.client_secret),
        rate_limit=config.rate_limit,
    )


@dataclass(frozen=True, slots=True)
class StoredCampaign:
    """One stored campaign: the ``data`` its create returned, its schedule and when it was created."""

    data: dict[str, Any]
    schedule: dict[str, Any]
    created: float  # on the sandbox clock; decides Preparing or Ready
    created_wall: datetime

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
        self.requests_total = 0  # every request received, even to unknown paths
        self.requests: Counter[str] = Counter()  # by route name: create, list, get, status, contact_lists
        self.rate_limited = 0  # 429s served because the limit was reached (spurious ones are in faults)
        self.faults: Counter[FaultKind] = Counter()
        self.accepted_at: list[float] = []  # clock times of requests that counted against the limit
        self._window: deque[float] = deque()
        self._queued_faults: deque[FaultKind | None] = deque()
        self._rng = random.Random(config.seed)  # noqa: S311  (reproducible test noise, not cryptography)
        self._by_id: dict[str, StoredCampaign] = {}
        self._ids_by_name: dict[str, str] = {}  # stable cl-/cf- ids for list and flow names
        self._seen_lists: dict[str, None] = {}  # an insertion-ordered set

    def queue_faults(self, kinds: Iterable[FaultKind | None]) -> None:
        """Make the next create calls, in order, suffer these faults (None: behave); overrides the dice."""
        kinds = list(kinds)
        unknown = [kind for kind in kinds if kind is not None and kind not in FAULT_KINDS]
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; known: {', '.join(FAULT_KINDS)}")
        self._queued_faults.extend(kinds)

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

    # --- request pipeline -------------------------------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Refuse bad credentials, then requests over the limit; delay the rest and apply any drawn fault."""
        self.requests_total += 1
        endpoint = request.match_info.route.name
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
        if fault == "error_5xx" or fault == "drop_before":
            self.faults[fault] += 1
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
            return _auth_error(HTTPStatus.UNAUTHORIZED, 4002, "Invalid SDK credentials")
        problem = self._token_problem(token)
        if problem is not None:
            log.warning("sandbox refused a token: %s", problem)
            return _auth_error(HTTPStatus.UNAUTHORIZED, 4002, "Invalid JWT token")
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
            return _auth_error(HTTPStatus.FORBIDDEN, HTTPStatus.FORBIDDEN, message)
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
        if endpoint == "create" and self._queued_faults:
            return self._queued_faults.popleft()
        roll = self._rng.random()
        for kind in _FAULTS_BEFORE + _FAULTS_AFTER if endpoint == "create" else _FAULTS_BEFORE:
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
        name = body["name"].strip()
        strategy, hours = body["dialingStrategy"], body["dialingStrategy"]["callingHours"]
        now = datetime.now(UTC)
        dnc_name = body["dncLists"]["name"]
        data = {
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
            "status": "Preparing",
            "isFiltersEnabled": False,
            "createdAt": _iso(now),
            "updatedAt": _iso(now),
            "id": f"cd-{self._uuid()}",
            "contactLists": list(body["contactLists"]),
            "enableMachineDetect": body["enableMachineDetect"] != "no",
        }
        campaign = StoredCampaign(
            data=data,
            schedule={"isSchedulingEnabled": False, **body.get("schedule", {})},
            created=self.config.clock(),
            created_wall=now,
        )
        self.campaigns.append(campaign)
        self._by_id[campaign.id] = campaign
        self._seen_lists.update(dict.fromkeys(data["contactLists"]))
        return web.json_response(
            {"status": "success", "message": f"Campaign {name} creation in progress", "data": data}
        )

    async def list_campaigns(self, request: web.Request) -> web.Response:
        """Return one page of campaigns, as getAllCampaignDetails does (voice results carry ``_id``)."""
        body = await _json_object(request)
        check = _Check()
        for key in sorted(body.keys() - _LIST_FIELDS):
            check.fail(key, "not supported by the sandbox")
        kind = check.text(body.get("type", _ABSENT), "type", choices=("voice", "sms"))
        limit = check.whole(body.get("limit", _LIST_DEFAULT_LIMIT), "limit", 1, _LIST_MAX_LIMIT)
        if "skip" in body:
            skip = check.whole(body["skip"], "skip", 0)
        else:
            page = check.whole(body.get("page", 1), "page", 1)
            skip = None if page is None or limit is None else (page - 1) * limit
        order = check.mapping(body.get("sortBy", {"createdAt": "desc"}), "sortBy")
        if order is not None and (len(order) != 1 or not order.keys() <= set(_SORT_FIELDS)):
            check.fail("sortBy", f"must hold exactly one of {', '.join(_SORT_FIELDS)}")
            order = None
        for sort_field, direction in (order or {}).items():
            check.text(direction, f"sortBy.{sort_field}", choices=("asc", "desc"))
        if check.problems or limit is None or skip is None or order is None:
            raise _Failure(HTTPStatus.BAD_REQUEST, check.message())
        ((sort_field, direction),) = order.items()
        chosen = self.campaigns if kind == "voice" else []  # the sandbox holds voice campaigns only
        ordered = sorted(chosen, key=self._sort_key(sort_field), reverse=direction == "desc")
        results = [
            {**self._view(c, _LIST_RESULT_FIELDS), "schedule": {"isRecurrenceEnabled": False, **c.schedule}}
            for c in ordered[skip : skip + limit]
        ]
        return web.json_response(
            {
                "status": "success",
                "message": "Campaigns fetched successfully",
                "data": {
                    "results": results,
                    "skip": skip,
                    "limit": limit,
                    "hasMore": skip + len(results) < len(ordered),
                    "totalPages": math.ceil(len(ordered) / limit),
                    "totalResults": len(ordered),
                },
            }
        )

    async def get_campaign(self, request: web.Request) -> web.Response:
        """Return one campaign by id, with ``_id``, or 404 ``Campaign not found``."""
        campaign = self._find(request)
        view = {**self._view(campaign, _GET_FIELDS), "schedule": campaign.schedule}
        return web.json_response({"status": "success", "message": "Campaign details fetched", "data": view})

    async def campaign_status(self, request: web.Request) -> web.Response:
        """Return ``{id, status, name}`` of one campaign (query ``view=status``)."""
        if request.query.get("view") != "status":
            raise _Failure(HTTPStatus.BAD_REQUEST, "view: the sandbox serves only view=status")
        campaign = self._find(request)
        data = {"id": campaign.id, "status": self._status(campaign), "name": campaign.name}
        return web.json_response({"status": "success", "data": data})

    async def contact_lists(self, request: web.Request) -> web.Response:
        """Return the call contact lists: the configured ones, or every name creates have used so far."""
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
        return web.json_response({"status": "success", "data": lists})

    # --- helpers ----------------------------------------------------------------------------------

    def _find(self, request: web.Request) -> StoredCampaign:
        campaign = self._by_id.get(request.match_info["campaign_id"])
        if campaign is None:
            raise _Failure(HTTPStatus.NOT_FOUND, "Campaign not found")
        return campaign

    def _is_ready(self, campaign: StoredCampaign) -> bool:
        return self.config.clock() - campaign.created >= self.config.ready_after_s

    def _status(self, campaign: StoredCampaign) -> str:
        return "Ready" if self._is_ready(campaign) else "Preparing"

    def _updated_at(self, campaign: StoredCampaign) -> str:
        if not self._is_ready(campaign):
            return str(campaign.data["updatedAt"])
        return _iso(campaign.created_wall + timedelta(seconds=self.config.ready_after_s))

    def _view(self, campaign: StoredCampaign, keys: tuple[str, ...]) -> dict[str, Any]:
        """Return a read view of a campaign: ``_id``, the stored ``keys``, and its current status."""
        return {
            "_id": campaign.id,
            **{key: campaign.data[key] for key in keys},
            "status": self._status(campaign),
            "updatedAt": self._updated_at(campaign),
        }

    def _sort_key(self, sort_field: str) -> Callable[[StoredCampaign], Any]:
        if sort_field == "name":
            return lambda campaign: campaign.lname
        if sort_field == "updatedAt":
            return self._updated_at
        return lambda campaign: campaign.created

    def _uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self._rng.getrandbits(128), version=4)

    def _id_for(self, prefix: str, name: str) -> str:
        key = f"{prefix}:{name}"
        if key not in self._ids_by_name:
            self._ids_by_name[key] = f"{prefix}-{self._uuid()}"
        return self._ids_by_name[key]


def make_app(sandbox: Sandbox) -> web.Application:
    """Return the aiohttp application serving ``sandbox`` on the vendor's paths."""
    app = web.Application(middlewares=[sandbox.middleware])
    app.router.add_post(endpoints.CREATE_CAMPAIGN, sandbox.create, name="create")
    app.router.add_post(endpoints.LIST_CAMPAIGNS, sandbox.list_campaigns, name="list")
    app.router.add_post(endpoints.LIST_CONTACT_LISTS, sandbox.contact_lists, name="contact_lists")
    app.router.add_get(endpoints.GET_CAMPAIGN, sandbox.get_campaign, name="get")
    app.router.add_post(endpoints.CAMPAIGN_STATUS, sandbox.campaign_status, name="status")
    return app


@dataclass(frozen=True, slots=True)
class RunningSandbox:
    """A sandbox being served: its base URL (``http://127.0.0.1:PORT``) and its state."""

    url: str
    sandbox: Sandbox


@asynccontextmanager
async def running_sandbox(
    config: SandboxConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningSandbox]:
    """Serve a sandbox on ``host:port`` (0: a free port) for the duration of the ``async with`` block."""
    sandbox = Sandbox(config or SandboxConfig())
    # handler_cancellation: a client that gave up on a slow reply must not keep its handler sleeping.
    runner = web.AppRunner(make_app(sandbox), handler_cancellation=True, shutdown_timeout=_SHUTDOWN_GRACE_S)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        bound_port = runner.addresses[0][1]
        yield RunningSandbox(url=f"http://{host}:{bound_port}", sandbox=sandbox)
    finally:
        await runner.cleanup()


class ThreadedSandbox:
    """A sandbox served from its own thread and event loop, for synchronous callers (tests, benchmarks)."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self.server: RunningSandbox | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._serve(),), daemon=True)

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with running_sandbox(self.config) as server:
            self.server = server
            self._started.set()
            await self._stop.wait()

    def __enter__(self) -> RunningSandbox:
        """Start serving; return the running sandbox (its URL and state)."""
        self._thread.start()
        assert self._started.wait(10), "sandbox did not start"
        assert self.server is not None
        return self.server

    def __exit__(self, *exc: object) -> None:
        """Stop serving and join the thread."""
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self._loop.close()

    def settings(self) -> Settings:
        """Settings a client needs to reach this sandbox."""
        assert self.server is not None
        return client_settings(self.server.url, self.config)


async def serve(
    config: SandboxConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    on_ready: Callable[[RunningSandbox], None],
) -> None:
    """Serve a sandbox until cancelled (Ctrl-C), calling ``on_ready`` once it listens."""
    async with running_sandbox(config, host=host, port=port) as server:
        on_ready(server)
        await asyncio.Event().wait()


# --- responses ------------------------------------------------------------------------------------


def _failure(status: int, message: str) -> web.Response:
    return web.json_response({"status": "failure", "message": message}, status=status)


def _auth_error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"errors": [{"msg": message, "code": code}]}, status=status)


def _drop_connection(request: web.Request) -> web.StreamResponse:
    """Close the TCP connection without a reply."""
    transport = request.transport
    if transport is not None:
        transport.close()
    # aiohttp finds the transport closing when it writes this and sends nothing at all.
    return web.Response()


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise _Failure(HTTPStatus.BAD_REQUEST, "body: must be valid JSON") from None
    if not isinstance(body, dict):
        raise _Failure(HTTPStatus.BAD_REQUEST, "body: must be a JSON object")
    return body


# --- body rules -----------------------------------------------------------------------------------


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _minutes(clock_time: str) -> int | None:
    """Return minutes after midnight of an ``h:mm AM/PM`` text, or None if it is not one."""
    match = _CLOCK_TIME.fullmatch(clock_time)
    if match is None:
        return None
    hour, minute, half = int(match[1]) % 12, int(match[2]), match[3]
    return (hour + (12 if half == "PM" else 0)) * 60 + minute


def _describe(value: object) -> str:
    """Name a JSON value's type and show it briefly, e.g. ``number 30.5`` or ``array ["a"]``."""
    if isinstance(value, bool):
        kind = "boolean"
    elif isinstance(value, int | float):
        kind = "number"
    elif isinstance(value, str):
        kind = "string"
    elif isinstance(value, list):
        kind = "array"
    else:
        kind = "null" if value is None else "object"
    shown = json.dumps(value)
    return f"{kind} {shown if len(shown) <= 40 else shown[:39] + '…'}"


class _Check:
    """Collects every problem in a request body as ``path: problem`` texts."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, problem: str) -> None:
        self.problems.append(f"{path}: {problem}")

    def message(self) -> str:
        return "; ".join(self.problems)

    def _present(self, value: object, path: str) -> bool:
        if value is _ABSENT:
            self.fail(path, "required")
            return False
        return True

    def text(
        self,
        value: object,
        path: str,
        *,
        choices: tuple[str, ...] = (),
        max_len: int | None = None,
        allow_empty: bool = False,
    ) -> str | None:
        if not self._present(value, path):
            return None
        if not isinstance(value, str):
            self.fail(path, f"must be a string, not {_describe(value)}")
            return None
        if choices and value not in choices:
            self.fail(path, f"must be one of {', '.join(choices)}, not {_describe(value)}")
            return None
        size = len(value.strip())
        if size == 0 and not allow_empty:
            self.fail(path, "must not be empty")
            return None
        if max_len is not None and size > max_len:
            self.fail(path, f"must be at most {max_len} characters, not {size}")
            return None
        return value

    def whole(self, value: object, path: str, low: int, high: int | None = None) -> int | None:
        wanted = f"from {low} to {high}" if high is not None else f"of at least {low}"
        if not self._present(value, path):
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"must be a whole number {wanted}, not {_describe(value)}")
            return None
        if value < low or (high is not None and value > high):
            self.fail(path, f"must be {wanted}, not {value}")
            return None
        return value

    def mapping(self, value: object, path: str) -> dict[str, Any] | None:
        if not self._present(value, path):
            return None
        if not isinstance(value, dict):
            self.fail(path, f"must be an object, not {_describe(value)}")
            return None
        return value

    def array(self, value: object, path: str, *, max_items: int | None = None) -> list[Any] | None:
        if not self._present(value, path):
            return None
        if not isinstance(value, list) or not value:
            self.fail(path, f"must be a non-empty array, not {_describe(value)}")
            return None
        if max_items is not None and len(value) > max_items:
            self.fail(path, f"must hold at most {max_items} items, not {len(value)}")
            return None
        return value


def create_body_problems(
    body: dict[str, Any], campaign_type_query: str | None, known_lists: frozenset[str] | None
) -> list[str]:
    """Return every way a create request breaks the vendor's page (empty when it is valid)."""
    check = _Check()
    if campaign_type_query != "voice":
        check.fail("campaignType (query parameter)", "must be voice")
    for key in sorted(body.keys() - _CREATE_FIELDS):
        check.fail(key, "unknown field")
    check.text(body.get("name", _ABSENT), "name", max_len=48)
    check.text(body.get("description", _ABSENT), "description", max_len=256, allow_empty=True)
    lists = check.array(body.get("contactLists", _ABSENT), "contactLists", max_items=10)
    for index, item in enumerate(lists or ()):
        path = f"contactLists[{index}]"
        name = check.text(item, path)
        if name is not None and known_lists is not None and name not in known_lists:
            check.fail(path, f"Contact list '{name}' not found")
    dnc = check.mapping(body.get("dncLists", _ABSENT), "dncLists")
    if dnc is not None:
        check.text(dnc.get("name", _ABSENT), "dncLists.name")
    check.text(body.get("priority", _ABSENT), "priority", choices=("1", "2", "3", "4", "5"))
    mode = check.text(body.get("dialingMode", _ABSENT), "dialingMode", choices=_DIALING_MODES)
    if mode is not None and mode != "Agentless":
        check.fail("dialingMode", f"{mode} needs queue settings (queue_name); this body takes Agentless only")
    strategy = check.mapping(body.get("dialingStrategy", _ABSENT), "dialingStrategy")
    if strategy is not None:
        _strategy_problems(check, strategy)
    check.text(body.get("experienceFlowName", _ABSENT), "experienceFlowName")
    check.text(body.get("enableMachineDetect", _ABSENT), "enableMachineDetect", choices=_MACHINE_DETECT)
    check.text(body.get("campaignType", _ABSENT), "campaignType", choices=("voice",))
    if "schedule" in body:
        check.mapping(body["schedule"], "schedule")
    return check.problems


def _strategy_problems(check: _Check, strategy: dict[str, Any]) -> None:
    """Check ``dialingStrategy`` and everything under it."""
    caller = check.mapping(strategy.get("callerId", _ABSENT), "dialingStrategy.callerId")
    if caller is not None:
        path = "dialingStrategy.callerId.phoneNumber"
        number = check.text(caller.get("phoneNumber", _ABSENT), path)
        if number is not None and not _E164.fullmatch(number):
            check.fail(path, "must be in E.164 form: + then 8 to 15 digits")
    hours = check.mapping(strategy.get("callingHours", _ABSENT), "dialingStrategy.callingHours")
    if hours is not None:
        prefix = "dialingStrategy.callingHours"
        check.text(hours.get("frequency", _ABSENT), f"{prefix}.frequency", choices=_FREQUENCIES)
        zone = check.text(hours.get("timezone", _ABSENT), f"{prefix}.timezone")
        if zone is not None and zone not in _time_zones():
            check.fail(f"{prefix}.timezone", f"{zone!r} is not an IANA time zone name")
        for index, block in enumerate(check.array(hours.get("days", _ABSENT), f"{prefix}.days") or ()):
            _day_problems(check, block, f"{prefix}.days[{index}]")
    check.text(strategy.get("dialingOrder", _ABSENT), "dialingStrategy.dialingOrder", choices=_DIALING_ORDERS)
    for key, (low, high) in _STRATEGY_NUMBERS.items():
        check.whole(strategy.get(key, _ABSENT), f"dialingStrategy.{key}", low, high)


def _day_problems(check: _Check, block: object, path: str) -> None:
    """Check one ``{day, start, end}`` calling-hours block."""
    entry = check.mapping(block, path)
    if entry is None:
        return
    check.text(entry.get("day", _ABSENT), f"{path}.day", choices=_DAYS)
    minutes: list[int | None] = []
    for key in ("start", "end"):
        text = check.text(entry.get(key, _ABSENT), f"{path}.{key}")
        at = None if text is None else _minutes(text)
        if text is not None and at is None:
            check.fail(f"{path}.{key}", f"must be a time such as 9:00 AM, not {text!r}")
        minutes.append(at)
    start, end = minutes
    if start is not None and end is not None and start >= end:
        check.fail(path, "start must be before end")
