"""The API client against real local aiohttp servers: requests sent, pages read, every failure classified."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import json
import logging
import socket
import ssl
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import jwt
import pytest
import trustme
from aiohttp import web

from provisioner.api import endpoints
from provisioner.api.auth import JWT_SUBJECT, mint_token
from provisioner.api.campaign import Campaign, ContactList, ContactLists
from provisioner.api.classify import classify_transport_error
from provisioner.api.client import KoreClient, open_session
from provisioner.api.listing import PageQuery
from provisioner.api.settings import Settings
from provisioner.errors import (
    AmbiguousError,
    ApiError,
    AuthError,
    ConfigError,
    NotSentError,
    ProvisionerError,
    RateLimitedError,
    RejectedError,
    RunFatal,
    TLSError,
)
from provisioner.exit_codes import ExitCode, exit_code_for
from provisioner.secret import Secret

SECRET = "test-client-secret-0123456789-abcdefghijk"  # 32+ bytes: pyjwt warns about shorter HMAC keys
STREAM = "st-1234"
ACCOUNT = "acc-5678"
CLIENT_ID = "cs-app-1"
T0 = 1_700_000_000.0

CREATE_PATH = endpoints.CREATE_CAMPAIGN.format(stream_id=STREAM)
LIST_PATH = endpoints.LIST_CAMPAIGNS.format(stream_id=STREAM)

Respond = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: object


@dataclass
class Api:
    url: str
    seen: list[Seen]

    @property
    def tokens(self) -> list[str]:
        return [s.headers[endpoints.HEADER_AUTH] for s in self.seen]


def settings_for(host: str, **extra: object) -> Settings:
    return Settings(
        host=host,
        stream_id=STREAM,
        account_id=ACCOUNT,
        client_id=CLIENT_ID,
        client_secret=Secret(SECRET),
        **extra,
    )


def reply(status: int = 200, body: object = None, *, text: str | None = None, **headers: str) -> Respond:
    """A responder that records nothing itself and always answers the same."""

    async def respond(request: web.Request) -> web.StreamResponse:
        if text is not None:
            return web.Response(status=status, text=text, content_type="text/html", headers=headers)
        return web.json_response(body, status=status, headers=headers)

    return respond


def ok(data: object, **extra: object) -> Respond:
    return reply(200, {"status": "success", "message": "ok", "data": data, **extra})


@pytest.fixture
def api(serve: Callable[..., Awaitable[str]]) -> Callable[[Respond], Awaitable[Api]]:
    """Start a server that records every request and answers with the given responder."""

    async def start(respond: Respond) -> Api:
        seen: list[Seen] = []

        async def handler(request: web.Request) -> web.StreamResponse:
            raw = await request.text()
            seen.append(
                Seen(
                    request.method,
                    request.path,
                    dict(request.query),
                    dict(request.headers),
                    json.loads(raw) if raw else None,
                )
            )
            return await respond(request)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        return Api(await serve(app), seen)

    return start


@pytest.fixture
async def connect() -> AsyncIterator[Callable[..., KoreClient]]:
    """Make clients with their own session (closed after the test)."""
    sessions: list[aiohttp.ClientSession] = []

    def make(
        host: str,
        *,
        limiter: RecordingLimiter | None = None,
        clock: Callable[[], float] = time.time,
        timeout: aiohttp.ClientTimeout | None = None,
        limit: int = 8,
        **extra: object,
    ) -> KoreClient:
        settings = settings_for(host, **extra)
        session = open_session(settings, timeout=timeout, limit=limit)
        sessions.append(session)
        return KoreClient(settings, session, limiter=limiter, clock=clock)

    yield make
    for session in sessions:
        await session.close()


@dataclass
class RecordingLimiter:
    events: list[str] = field(default_factory=list)
    rate_limited: list[float | None] = field(default_factory=list)

    async def acquire(self) -> None:
        self.events.append("acquire")

    def on_rate_limited(self, retry_after: float | None) -> None:
        self.rate_limited.append(retry_after)


def claims(token: str) -> dict[str, object]:
    decoded: dict[str, object] = jwt.decode(
        token, SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False}
    )
    return decoded


# ---------------------------------------------------------------------------------------------- JWT


def test_token_claims_are_the_vendors() -> None:
    now = time.time()
    settings = settings_for("https://platform.kore.ai")
    first, second = mint_token(settings, now), mint_token(settings, now)
    decoded = jwt.decode(first, SECRET, algorithms=["HS256"])  # verifies signature, exp and iat
    assert jwt.get_unverified_header(first)["alg"] == "HS256"
    assert decoded["appId"] == CLIENT_ID
    assert decoded["sub"] == JWT_SUBJECT
    assert decoded["iat"] == int(now)
    assert 0 < decoded["exp"] - decoded["iat"] <= endpoints.JWT_MAX_LIFETIME_S
    assert decoded["jti"] and decoded["jti"] != claims(second)["jti"]


async def test_injected_clock_sets_iat_and_exp(api, connect) -> None:
    server = await api(ok({"_id": "cd-1", "name": "A"}))
    now = [T0]
    client = connect(server.url, clock=lambda: now[0])
    await client.get_campaign("cd-1")
    now[0] = T0 + 500
    await client.get_campaign("cd-1")
    first, second = (claims(t) for t in server.tokens)
    assert first["iat"] == int(T0) and second["iat"] == int(T0) + 500
    assert second["exp"] == first["exp"] + 500
    assert first["jti"] != second["jti"]


# ------------------------------------------------------------------------------------ requests sent


async def test_create_sends_vendor_headers_query_and_body(api, connect) -> None:
    server = await api(ok({"id": "cd-9", "name": "Spring", "status": "Preparing"}, message="creation in progress"))
    body = {"name": "Spring", "priority": "5", "campaignType": "voice"}
    campaign = await connect(server.url).create_campaign(body)

    assert campaign == Campaign(id="cd-9", name="Spring", status="Preparing", raw={})
    assert campaign.raw["status"] == "Preparing"
    [seen] = server.seen
    assert (seen.method, seen.path) == ("POST", CREATE_PATH)
    assert seen.query == {"accountId": ACCOUNT, "campaignType": "voice"}
    assert seen.headers[endpoints.HEADER_ACCOUNT] == ACCOUNT
    assert seen.headers[endpoints.HEADER_IID] == STREAM  # iid defaults to the stream id
    assert seen.headers["Content-Type"] == "application/json"
    assert "Authorization" not in seen.headers
    assert claims(seen.headers[endpoints.HEADER_AUTH])["appId"] == CLIENT_ID
    assert seen.body == body


async def test_explicit_iid_is_sent(api, connect) -> None:
    server = await api(ok({"_id": "cd-1", "name": "A"}))
    await connect(server.url, iid="st-other").get_campaign("cd-1")
    assert server.seen[0].headers[endpoints.HEADER_IID] == "st-other"


async def test_get_status_and_contact_lists(api, connect) -> None:
    async def respond(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/status"):
            return await ok({"id": "cd-1", "status": "Ready", "name": "A"})(request)
        if "contactList" in request.path:
            lists = [
                {"_id": "cl-1", "name": "Dec list"},
                {"_id": "cl-2", "name": "DNC list"},
                {"_id": "cl-3"},
            ]
            return await ok(lists)(request)
        return await ok({"_id": "cd-1", "name": "A", "status": "Preparing"})(request)

    server = await api(respond)
    client = connect(server.url)

    assert await client.get_campaign("cd-1") == Campaign("cd-1", "A", "Preparing", {})
    assert await client.campaign_status("cd-1") == Campaign("cd-1", "A", "Ready", {})
    assert [c.name for c in (await client.list_contact_lists()).lists] == ["Dec list", "DNC list"]

    get, status, lists = server.seen
    assert (get.method, get.path, get.query, get.body) == (
        "GET",
        endpoints.GET_CAMPAIGN.format(stream_id=STREAM, campaign_id="cd-1"),
        {"accountId": ACCOUNT},
        None,
    )
    assert (status.method, status.path, status.query, status.body) == (
        "POST",
        endpoints.CAMPAIGN_STATUS.format(stream_id=STREAM, campaign_id="cd-1"),
        {"accountId": ACCOUNT, "view": "status"},
        {},
    )
    assert (lists.method, lists.path, lists.query) == (
        "POST",
        endpoints.LIST_CONTACT_LISTS.format(stream_id=STREAM),
        {"accountId": ACCOUNT, "type": "call"},
    )
    for seen in server.seen:
        assert seen.headers[endpoints.HEADER_ACCOUNT] == ACCOUNT
        assert seen.headers[endpoints.HEADER_IID] == STREAM
    assert len({claims(t)["jti"] for t in server.tokens}) == 3  # a fresh token per request


async def test_limiter_is_acquired_before_every_request(api, connect) -> None:
    limiter = RecordingLimiter()

    async def respond(request: web.Request) -> web.StreamResponse:
        limiter.events.append("request")
        if request.path == LIST_PATH:
            return await ok({"results": [{"_id": "cd-1", "name": "A"}], "hasMore": False})(request)
        return await ok({"_id": "cd-1", "name": "A"})(request)

    server = await api(respond)
    client = connect(server.url, limiter=limiter)
    await client.create_campaign({"name": "A"})
    await client.get_campaign("cd-1")
    await client.campaign_status("cd-1")
    page = await client.list_campaigns_page(QUERY)
    assert [c.id for c in page.campaigns] == ["cd-1"]
    assert limiter.events == ["acquire", "request"] * 4
    assert limiter.rate_limited == []


# -------------------------------------------------------------------------------------------- paging

QUERY = PageQuery(
    skip=99,
    page=1,
    limit=100,
    start=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
    end=dt.datetime(2026, 11, 30, 12, 0, 0, 250_000, tzinfo=dt.UTC),
)


async def test_a_page_is_asked_oldest_first_with_an_explicit_window_and_reports_what_the_server_said(
    api, connect
) -> None:
    records = [{"_id": "cd-1", "name": "A", "status": "Ready"}, {"id": "cd-2", "name": "B"}]
    server = await api(ok({"results": records, "skip": 99, "limit": 50, "totalResults": 101, "hasMore": False}))
    page = await connect(server.url).list_campaigns_page(QUERY)

    assert [(c.id, c.name, c.status) for c in page.campaigns] == [("cd-1", "A", "Ready"), ("cd-2", "B", None)]
    assert (page.skip, page.limit, page.total, page.has_more) == (99, 50, 101, False)
    assert server.seen[0].body == {
        "limit": 100,
        "skip": 99,
        "page": 1,
        "type": "voice",
        "startDate": "2000-01-01T00:00:00.000Z",
        "endDate": "2026-11-30T12:00:00.250Z",
        "sortBy": {"createdAt": "asc"},
    }
    assert server.seen[0].path == LIST_PATH and server.seen[0].query == {"accountId": ACCOUNT}


async def test_paging_facts_the_server_leaves_out_are_none(api, connect) -> None:
    server = await api(ok({"results": [], "skip": "0", "limit": True}))
    page = await connect(server.url).list_campaigns_page(QUERY)
    assert (page.skip, page.limit, page.total, page.has_more) == (None, None, None, None)


async def test_the_server_clock_is_learnt_from_its_date_header(api, connect) -> None:
    local = 1_900_000_000.0
    skewed = email.utils.formatdate(local + 3600, usegmt=True)  # the server runs an hour ahead
    server = await api(reply(200, {"status": "success", "data": {"_id": "cd-1", "name": "A"}}, Date=skewed))
    client = connect(server.url, clock=lambda: local)
    assert client.server_offset_s is None
    assert client.server_now() == dt.datetime.fromtimestamp(local, dt.UTC)
    await client.get_campaign("cd-1")
    assert client.server_offset_s == 3600.5  # the middle of the second the header names
    assert client.server_now() == dt.datetime.fromtimestamp(local + 3600.5, dt.UTC)


async def test_contact_lists_are_asked_by_get_when_the_server_refuses_post(api, connect) -> None:
    async def respond(request: web.Request) -> web.StreamResponse:
        if request.method == "POST":
            return await reply(405, {"errors": [{"msg": "Method Not Allowed", "code": 405}]})(request)
        return await reply(200, {"status": "success", "data": [{"name": "North"}]})(request)

    server = await api(respond)
    client = connect(server.url)
    assert await client.list_contact_lists() == ContactLists((ContactList("North", None),))
    assert await client.list_contact_lists() == ContactLists((ContactList("North", None),))
    assert [s.method for s in server.seen] == ["POST", "GET", "GET"]  # learnt once, then asked the right way


# --------------------------------------------------------------------------------- response errors


HTML_404 = (
    "<html><head><title>Not Found</title><style>body{color:red}</style></head>"
    "<body><h1>404   Not&nbsp;Found</h1>\n\n<p>The requested URL was not found on this server.</p>"
    + "<p>filler</p>" * 200
    + "</body></html>"
)


@pytest.mark.parametrize(
    ("respond", "error", "status", "fragments"),
    [
        (
            reply(500, {"status": "error", "message": "internal"}),
            AmbiguousError,
            500,
            ["HTTP 500", "internal"],
        ),
        (reply(503, text="<h1>Service Unavailable</h1>"), AmbiguousError, 503, ["Service Unavailable"]),
        (
            reply(401, {"errors": [{"msg": "Invalid JWT token", "code": 4002}]}),
            AuthError,
            401,
            [
                "Invalid JWT token (code 4002)",
                "client secret",
                "Campaign Management",
                "published",
                "another account",
            ],
        ),
        (
            reply(403, {"status": "error", "message": "forbidden"}),
            AuthError,
            403,
            ["forbidden", "Campaign Management"],
        ),
        (
            reply(412, {"errors": [{"msg": "Validation errors/ Invalid arguments", "code": 412}]}),
            RejectedError,
            412,
            ["Validation errors/ Invalid arguments (code 412)"],
        ),
        (
            reply(409, {"status": "error", "message": "Campaign name already exists"}),
            RejectedError,
            409,
            ["HTTP 409", "Campaign name already exists"],
        ),
        (reply(404, text=HTML_404), RejectedError, 404, ["404 Not Found The requested URL was not found"]),
        (reply(200, {"status": "failure", "message": "no such flow"}), RejectedError, 200, ["no such flow"]),
        (
            reply(200, text="<html>login page</html>"),
            AmbiguousError,
            200,
            ["not a JSON object", "login page"],
        ),
        (reply(200, {"status": "success", "data": {"name": "no id"}}), AmbiguousError, 200, ["no id or _id"]),
    ],
)
async def test_error_responses_are_classified(api, connect, respond, error, status, fragments) -> None:
    server = await api(respond)
    with pytest.raises(ApiError) as caught:
        await connect(server.url).create_campaign({"name": "A"})
    assert type(caught.value) is error
    assert caught.value.status == status
    assert (caught.value.method, caught.value.path) == ("POST", CREATE_PATH)
    message = str(caught.value)
    assert message.startswith(f"POST {CREATE_PATH}: ")
    assert "?" not in message and ACCOUNT not in message  # no query string
    for fragment in fragments:
        assert fragment in message


async def test_html_body_is_reduced_to_a_short_readable_excerpt(api, connect) -> None:
    server = await api(reply(404, text=HTML_404))
    with pytest.raises(RejectedError) as caught:
        await connect(server.url).get_campaign("cd-1")
    message = str(caught.value)
    assert "<" not in message and "color:red" not in message and "  " not in message
    assert len(message) < 450


@pytest.mark.parametrize("status", [429, 200, 400, 503])
async def test_rate_limit_by_status_or_by_message(api, connect, status) -> None:
    body = {"status": "error", "message": endpoints.RATE_LIMIT_MESSAGE}
    limiter = RecordingLimiter()
    server = await api(reply(status, body if status != 429 else {"message": "slow down"}))
    with pytest.raises(RateLimitedError) as caught:
        await connect(server.url, limiter=limiter).create_campaign({"name": "A"})
    assert caught.value.status == status
    assert caught.value.retry_after is None
    assert limiter.rate_limited == [None]


async def test_rate_limit_in_an_html_page(api, connect) -> None:
    server = await api(reply(502, text="<p>Rate Limit for this API has been reached</p>"))
    with pytest.raises(RateLimitedError):
        await connect(server.url).get_campaign("cd-1")


async def test_retry_after_in_seconds(api, connect) -> None:
    limiter = RecordingLimiter()
    server = await api(reply(429, {"message": "too many"}, **{"Retry-After": "7"}))
    with pytest.raises(RateLimitedError) as caught:
        await connect(server.url, limiter=limiter).get_campaign("cd-1")
    assert caught.value.retry_after == 7.0
    assert limiter.rate_limited == [7.0]


async def test_retry_after_as_http_date(api, connect) -> None:
    when = email.utils.formatdate(T0 + 90, usegmt=True)
    server = await api(reply(429, {"message": "too many"}, **{"Retry-After": when}))
    with pytest.raises(RateLimitedError) as caught:
        await connect(server.url, clock=lambda: T0).get_campaign("cd-1")
    assert caught.value.retry_after == 90.0


async def test_a_success_that_mentions_rate_limit_is_still_a_success(api, connect) -> None:
    name = "Rate limit awareness"
    server = await api(ok({"id": "cd-7", "name": name}, message=f"Campaign {name} creation in progress"))
    campaign = await connect(server.url).create_campaign({"name": name})
    assert campaign.id == "cd-7"


async def test_redirects_are_refused_not_followed(api, connect) -> None:
    server = await api(reply(302, {}, Location="/elsewhere"))
    with pytest.raises(RejectedError, match="redirect"):
        await connect(server.url).create_campaign({"name": "A"})
    assert [s.path for s in server.seen] == [CREATE_PATH]  # the token never went to /elsewhere


async def test_a_token_echoed_by_the_server_is_masked(api, connect) -> None:
    async def echo(request: web.Request) -> web.StreamResponse:
        token = request.headers[endpoints.HEADER_AUTH]
        return web.json_response({"errors": [{"msg": f"Invalid JWT token {token}", "code": 4002}]}, status=401)

    server = await api(echo)
    with pytest.raises(AuthError) as caught:
        await connect(server.url).get_campaign("cd-1")
    assert server.tokens[0] not in str(caught.value)
    assert "Invalid JWT token ***" in str(caught.value)


# ------------------------------------------------------------------------------- transport errors


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def hang_up(request: web.Request) -> web.StreamResponse:
    await request.read()
    assert request.transport is not None
    request.transport.close()
    return web.Response()


async def sleep_then_answer(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(1)
    return web.json_response({"status": "success", "data": {"id": "cd-late"}})


async def test_connection_refused_is_not_sent(connect) -> None:
    with pytest.raises(NotSentError) as caught:
        await connect(f"http://127.0.0.1:{closed_port()}").create_campaign({"name": "A"})
    assert caught.value.status is None
    assert str(caught.value).startswith(f"POST {CREATE_PATH}: not sent")


async def test_server_closing_after_reading_the_request_is_ambiguous(api, connect) -> None:
    server = await api(hang_up)
    client = connect(server.url)
    with pytest.raises(AmbiguousError, match="ServerDisconnectedError"):
        await client.create_campaign({"name": "A"})
    with pytest.raises(AmbiguousError, match="ServerDisconnectedError"):
        await client.get_campaign("cd-1")
    # one attempt each: aiohttp's own silent resend of a GET is off
    assert [s.method for s in server.seen] == ["POST", "GET"]


async def test_read_timeout_is_ambiguous(api, connect) -> None:
    server = await api(sleep_then_answer)
    timeout = aiohttp.ClientTimeout(total=5, sock_read=0.2)
    with pytest.raises(AmbiguousError, match="may have been processed"):
        await connect(server.url, timeout=timeout).create_campaign({"name": "A"})


async def test_waiting_too_long_for_a_connection_is_not_sent(api, connect) -> None:
    release = asyncio.Event()
    arrived = asyncio.Event()

    async def slow(request: web.Request) -> web.StreamResponse:
        arrived.set()
        await release.wait()
        return await ok({"_id": "cd-1"})(request)

    server = await api(slow)
    client = connect(server.url, limit=1, timeout=aiohttp.ClientTimeout(total=5, connect=0.2))
    first = asyncio.create_task(client.get_campaign("cd-1"))
    await arrived.wait()
    with pytest.raises(NotSentError, match="connect timeout"):
        await client.create_campaign({"name": "A"})  # the one connection is busy: never sent
    release.set()
    assert (await first).id == "cd-1"
    assert [s.method for s in server.seen] == ["GET"]


@pytest.mark.parametrize(
    "exc",
    [
        aiohttp.ClientPayloadError("Response payload is not completed"),
        aiohttp.SocketTimeoutError("Timeout on reading data from socket"),
        aiohttp.ClientOSError(104, "Connection reset by peer"),
        TimeoutError(),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_failures_after_sending_are_ambiguous(exc: BaseException) -> None:
    assert type(classify_transport_error("POST", CREATE_PATH, exc)) is AmbiguousError


# ---------------------------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def tls_ca() -> trustme.CA:
    return trustme.CA()


async def tls_server(serve: Callable[..., Awaitable[str]], ca: trustme.CA) -> str:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    app = web.Application()
    app.router.add_get("/{tail:.*}", ok({"_id": "cd-1", "name": "A"}))
    return await serve(app, ssl_context=context)


async def test_untrusted_certificate_is_a_tls_error_fatal_to_the_run(serve, connect, tls_ca) -> None:
    url = await tls_server(serve, tls_ca)
    with pytest.raises(TLSError) as caught:
        await connect(url).get_campaign("cd-1")
    message = str(caught.value)
    assert "certificate verification failed" in message
    assert "--ca-bundle" in message and "Retrying cannot help" in message
    assert isinstance(caught.value, RunFatal) and exit_code_for(caught.value) is ExitCode.CONFIG


async def test_ca_bundle_makes_the_private_ca_trusted(serve, connect, tls_ca, tmp_path: Path) -> None:
    url = await tls_server(serve, tls_ca)
    bundle = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(bundle))
    assert (await connect(url, ca_bundle=bundle).get_campaign("cd-1")).id == "cd-1"


@pytest.mark.parametrize("content", [None, "not a certificate\n"])
async def test_unusable_ca_bundle_is_a_config_error(tmp_path: Path, content: str | None) -> None:
    bundle = tmp_path / "ca.pem"
    if content is not None:
        bundle.write_text(content)
    with pytest.raises(ConfigError, match="--ca-bundle"):
        open_session(settings_for("https://platform.kore.ai", ca_bundle=bundle))


# --------------------------------------------------------------------------------- secrets and logs


async def test_debug_log_names_the_call_only(api, connect, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="provisioner.api.client")
    server = await api(ok({"_id": "cd-1", "name": "A"}))
    await connect(server.url).get_campaign("cd-1")
    [record] = [r for r in caplog.records if r.name == "provisioner.api.client"]
    assert record.levelno == logging.DEBUG
    assert record.getMessage().startswith(
        f"GET {endpoints.GET_CAMPAIGN.format(stream_id=STREAM, campaign_id='cd-1')} -> 200 in "
    )
    assert record.getMessage().endswith(" ms")


async def test_secret_and_tokens_never_reach_logs_or_errors(
    serve, api, connect, tls_ca, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def misbehave(request: web.Request) -> web.StreamResponse:
        token = request.headers[endpoints.HEADER_AUTH]
        kind = request.match_info["tail"].rsplit("/", 1)[-1]
        if kind == "auth":
            return web.json_response({"errors": [{"msg": f"bad token {token}", "code": 4002}]}, status=401)
        if kind == "limited":
            return web.json_response({"message": f"rate limit for {token}"}, status=429)
        if kind == "boom":
            return web.Response(status=500, text=f"<pre>{request.headers!r}</pre>")
        if kind == "html":
            return web.Response(status=400, text=f"<p>{token}</p>", content_type="text/html")
        if kind == "hangup":
            return await hang_up(request)
        if kind == "slow":
            return await sleep_then_answer(request)
        return await ok({"_id": kind, "name": "fine"})(request)

    server = await api(misbehave)
    client = connect(server.url, timeout=aiohttp.ClientTimeout(total=5, sock_read=0.3))
    tls_url = await tls_server(serve, tls_ca)
    errors: list[ProvisionerError] = []
    calls = [client.get_campaign(kind) for kind in ("ok", "auth", "limited", "boom", "html", "hangup", "slow")]
    calls += [
        connect(f"http://127.0.0.1:{closed_port()}").get_campaign("refused"),
        connect(tls_url).get_campaign("tls"),
        client.create_campaign({"name": "A"}),
    ]
    for call in calls:
        try:
            await call
        except ProvisionerError as exc:
            errors.append(exc)

    assert len(errors) == 8
    assert len(server.tokens) == 8
    texts = [caplog.text]
    for exc in errors:
        texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    for text in texts:
        assert SECRET not in text
        for token in server.tokens:
            assert token not in text
            assert token.rsplit(".", 1)[-1] not in text  # not even the signature
