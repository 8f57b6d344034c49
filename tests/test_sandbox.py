"""Tests for the vendor sandbox: real servers on 127.0.0.1, real HTTP with aiohttp, tokens minted here.

The command tests import ``provisioner._cli`` inside the test: that package imports every command, and
the library tests here must not depend on them.
"""

from __future__ import annotations

import asyncio
import copy
import email.utils
import json
import logging
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from multidict import CIMultiDictProxy
from typer.testing import CliRunner

from provisioner.api import endpoints
from provisioner.sandbox import (
    STATE_PATH,
    Faults,
    RunningSandbox,
    Sandbox,
    SandboxConfig,
    client_env,
    running_sandbox,
)
from tests.helpers import campaign, write_book

ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
DOCUMENTED_CREATE_DATA = {
    "id",
    "name",
    "lname",
    "description",
    "dncLists",
    "priority",
    "dialingMode",
    "dialingStrategy",
    "experienceFlow",
    "status",
    "isFiltersEnabled",
    "createdAt",
    "updatedAt",
    "contactLists",
    "enableMachineDetect",
}


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def valid_body(name: str = "Spring Renewals East") -> dict[str, Any]:
    """A create body exactly as the vendor's page documents it."""
    return {
        "name": name,
        "description": "Renewal reminders",
        "contactLists": ["Renewals East Q2"],
        "dncLists": {"name": "Global DNC"},
        "priority": "5",
        "dialingMode": "Agentless",
        "dialingStrategy": {
            "callerId": {"phoneNumber": "+14155550123"},
            "callingHours": {
                "frequency": "WEEKLY",
                "timezone": "America/New_York",
                "days": [
                    {"day": "MO", "start": "9:00 AM", "end": "6:00 PM"},
                    {"day": "TU", "start": "9:00 AM", "end": "12:30 PM"},
                ],
            },
            "dialingOrder": "FIFO",
            "maxAttemptsPerRecord": 3,
            "defaultRetryPeriod": 10,
            "maxRingTime": 30,
        },
        "schedule": {"isSchedulingEnabled": False},
        "experienceFlowName": "Renewal Reminder Flow",
        "enableMachineDetect": "no",
        "campaignType": "voice",
    }


def mint(config: SandboxConfig, *, secret: str = "", drop: tuple[str, ...] = (), **claims: Any) -> str:
    now = int(time.time())
    payload = {"sub": "tests", "appId": config.client_id, "iat": now, "exp": now + 600, **claims}
    for key in drop:
        del payload[key]
    return jwt.encode(payload, secret or config.client_secret, algorithm=endpoints.JWT_ALGORITHM)


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: CIMultiDictProxy[str]


@dataclass
class Api:
    """A thin test client that sends exactly what it is told to."""

    server: RunningSandbox
    session: aiohttp.ClientSession

    @property
    def config(self) -> SandboxConfig:
        return self.server.sandbox.config

    @property
    def sandbox(self) -> Sandbox:
        return self.server.sandbox

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {
            endpoints.HEADER_AUTH: token or mint(self.config),
            endpoints.HEADER_ACCOUNT: self.config.account_id,
            endpoints.HEADER_IID: self.config.iid,
        }

    def url(self, template: str, campaign_id: str = "") -> str:
        return self.server.url + template.format(stream_id=self.config.stream_id, campaign_id=campaign_id)

    async def call(
        self,
        method: str,
        template: str,
        *,
        campaign_id: str = "",
        query: dict[str, str] | None = None,
        body: object = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Reply:
        params = {"accountId": self.config.account_id, **(query or {})}
        async with self.session.request(
            method,
            self.url(template, campaign_id),
            params=params,
            json=body,
            headers=self.headers() if headers is None else headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            return Reply(response.status, await response.json(content_type=None), response.headers)

    async def create(self, body: object = None, *, query: dict[str, str] | None = None, **kw: Any) -> Reply:
        return await self.call(
            "POST",
            endpoints.CREATE_CAMPAIGN,
            query={"campaignType": "voice"} if query is None else query,
            body=valid_body() if body is None else body,
            **kw,
        )

    async def list_page(self, body: dict[str, Any]) -> Reply:
        return await self.call("POST", endpoints.LIST_CAMPAIGNS, body=body)

    async def status(self, campaign_id: str) -> Reply:
        return await self.call(
            "POST", endpoints.CAMPAIGN_STATUS, campaign_id=campaign_id, query={"view": "status"}, body={}
        )

    async def get(self, campaign_id: str) -> Reply:
        return await self.call("GET", endpoints.GET_CAMPAIGN, campaign_id=campaign_id)

    async def contact_lists(self) -> Reply:
        return await self.call("POST", endpoints.LIST_CONTACT_LISTS, query={"type": "call"}, body={})


@asynccontextmanager
async def serving(config: SandboxConfig | None = None) -> AsyncIterator[Api]:
    async with running_sandbox(config or SandboxConfig()) as server, aiohttp.ClientSession() as session:
        yield Api(server, session)


# --- create --------------------------------------------------------------------------------------------


async def test_create_returns_the_documented_envelope() -> None:
    async with serving() as api:
        reply = await api.create()
        assert reply.status == 200
        assert reply.body["status"] == "success"
        assert reply.body["message"] == "Campaign Spring Renewals East creation in progress"
        data = reply.body["data"]
        assert set(data) == DOCUMENTED_CREATE_DATA
        assert data["name"] == "Spring Renewals East"
        assert data["lname"] == "spring renewals east"
        assert data["status"] == "Preparing"
        assert data["enableMachineDetect"] is False
        assert data["isFiltersEnabled"] is False
        assert data["id"].startswith("cd-")
        assert data["experienceFlow"].startswith("cf-")
        assert data["dncLists"]["name"] == "Global DNC"
        assert data["dncLists"]["id"].startswith("cl-")
        assert data["priority"] == "5"
        assert data["contactLists"] == ["Renewals East Q2"]
        assert ISO_Z.fullmatch(data["createdAt"])
        assert data["updatedAt"] == data["createdAt"]
        strategy = data["dialingStrategy"]
        assert strategy["useSystemMappings"] is False
        assert strategy["callingHours"]["days"][1] == {"start": "9:00 AM", "end": "12:30 PM", "day": "TU"}
        assert strategy["maxRingTime"] == 30
        assert [c.id for c in api.sandbox.campaigns] == [data["id"]]


@pytest.mark.parametrize(("sent", "returned"), [("no", False), ("detect", True), ("disconnect", True)])
async def test_machine_detection_is_sent_as_text_and_returned_as_a_boolean(sent: str, returned: bool) -> None:
    async with serving() as api:
        reply = await api.create({**valid_body(), "enableMachineDetect": sent})
        assert reply.body["data"]["enableMachineDetect"] is returned


async def test_a_campaign_is_preparing_until_the_delay_has_passed_then_ready() -> None:
    clock = FakeClock()
    async with serving(SandboxConfig(ready_after_s=2.0, clock=clock)) as api:
        created = (await api.create()).body["data"]
        clock.now += 1.9
        assert (await api.status(created["id"])).body == {
            "status": "success",
            "data": {"id": created["id"], "status": "Preparing", "name": "Spring Renewals East"},
        }
        assert (await api.get(created["id"])).body["data"]["status"] == "Preparing"
        clock.now += 0.1
        assert (await api.status(created["id"])).body["data"]["status"] == "Ready"
        fetched = (await api.get(created["id"])).body["data"]
        assert fetched["status"] == "Ready"
        assert fetched["_id"] == created["id"]
        assert fetched["lname"] == created["lname"]
        assert fetched["schedule"] == {"isSchedulingEnabled": False, "isRecurrenceEnabled": False}
        assert fetched["updatedAt"] > created["updatedAt"]


async def test_status_turns_ready_on_the_real_clock_too() -> None:
    async with serving(SandboxConfig(ready_after_s=0.5)) as api:
        campaign_id = (await api.create()).body["data"]["id"]
        assert (await api.status(campaign_id)).body["data"]["status"] == "Preparing"
        await asyncio.sleep(0.55)
        assert (await api.status(campaign_id)).body["data"]["status"] == "Ready"


DELETE = object()
STRATEGY = "dialingStrategy"
HOURS = "dialingStrategy.callingHours"

BROKEN_BODIES: list[tuple[str, object, str]] = [
    ("priority", 5, "priority: must be a string, not number 5"),
    ("priority", "6", "priority: must be one of 1, 2, 3, 4, 5"),
    ("dncLists", [{"name": "Global DNC"}], "dncLists: must be an object, not array"),
    ("dncLists", {}, "dncLists.name: required"),
    (f"{STRATEGY}.maxRingTime", 30.0, "maxRingTime: must be a whole number from 5 to 120, not number 30.0"),
    (f"{STRATEGY}.maxRingTime", 4, "dialingStrategy.maxRingTime: must be from 5 to 120, not 4"),
    (f"{STRATEGY}.maxRingTime", 121, "dialingStrategy.maxRingTime: must be from 5 to 120, not 121"),
    (f"{STRATEGY}.maxRingTime", True, "maxRingTime: must be a whole number from 5 to 120, not boolean"),
    (f"{STRATEGY}.maxAttemptsPerRecord", 0, "maxAttemptsPerRecord: must be from 1 to 100"),
    (f"{STRATEGY}.defaultRetryPeriod", 1441, "defaultRetryPeriod: must be from 1 to 1440"),
    (f"{STRATEGY}.defaultRetryPeriod", "10", "defaultRetryPeriod: must be a whole number"),
    (f"{HOURS}.timezone", "Mars/Olympus", "timezone: 'Mars/Olympus' is not an IANA time zone name"),
    (f"{HOURS}.timezone", "../etc/passwd", "timezone: '../etc/passwd' is not an IANA"),
    (f"{HOURS}.days.0.day", "MON", "days[0].day: must be one of MO, TU, WE, TH, FR, SA, SU"),
    (f"{HOURS}.days.0.start", "09:00", "days[0].start: must be a time such as 9:00 AM"),
    (f"{HOURS}.days.1.end", "13:00 PM", "days[1].end: must be a time such as 9:00 AM"),
    (f"{HOURS}.days.0.end", 18, "days[0].end: must be a string"),
    (f"{HOURS}.days.0.end", "9:00 AM", "days[0]: start must be before end"),
    (f"{HOURS}.days.1.start", "1:00 PM", "days[1]: start must be before end"),
    (f"{HOURS}.days", [], "days: must be a non-empty array"),
    (f"{HOURS}.frequency", "weekly", "frequency: must be one of WEEKLY, DAILY, CUSTOM"),
    (f"{STRATEGY}.dialingOrder", "RANDOM", "dialingOrder: must be one of FIFO, LIFO"),
    (f"{STRATEGY}.callerId.phoneNumber", "4155550123", "phoneNumber: must be in E.164 form"),
    (f"{STRATEGY}.callerId.phoneNumber", "+1234567", "phoneNumber: must be in E.164 form"),
    ("dialingMode", "Progressive", "dialingMode: Progressive needs queue settings"),
    ("dialingMode", "Preview", "dialingMode: Preview needs queue settings"),
    ("dialingMode", "agentless", "dialingMode: must be one of Agentless, Progressive, Preview"),
    ("enableMachineDetect", False, "enableMachineDetect: must be a string, not boolean false"),
    ("enableMachineDetect", "yes", "enableMachineDetect: must be one of no, detect, disconnect"),
    ("name", "x" * 49, "name: must be at most 48 characters, not 49"),
    ("name", "   ", "name: must not be empty"),
    ("description", "d" * 257, "description: must be at most 256 characters"),
    ("contactLists", [], "contactLists: must be a non-empty array"),
    ("contactLists", "Renewals", "contactLists: must be a non-empty array, not string"),
    ("contactLists", [f"L{i}" for i in range(11)], "contactLists: must hold at most 10 items"),
    ("contactLists", ["A", 7], "contactLists[1]: must be a string"),
    ("experienceFlowName", "", "experienceFlowName: must not be empty"),
    ("campaignType", "sms", "campaignType: must be one of voice"),
    ("queue_name", "Default Queue", "queue_name: unknown field"),
    ("schedule", "no", "schedule: must be an object"),
    (STRATEGY, DELETE, "dialingStrategy: required"),
    (HOURS, DELETE, "dialingStrategy.callingHours: required"),
    ("experienceFlowName", DELETE, "experienceFlowName: required"),
]


@pytest.mark.parametrize(("path", "value", "expected"), BROKEN_BODIES, ids=[c[2] for c in BROKEN_BODIES])
async def test_each_body_rule_rejects_naming_the_field(path: str, value: object, expected: str) -> None:
    body = copy.deepcopy(valid_body())
    *parents, last = path.split(".")
    target: Any = body
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is DELETE:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    async with serving() as api:
        reply = await api.create(body)
        assert reply.status == 400
        assert reply.body["status"] == "failure"
        assert expected in reply.body["message"]
        assert api.sandbox.campaigns == []


async def test_every_problem_is_reported_at_once() -> None:
    async with serving() as api:
        body = {**valid_body(), "priority": 1, "dncLists": ["x"], "extra": True}
        reply = await api.create(body, query={"campaignType": "sms"})
        assert reply.status == 400
        assert reply.body["message"].split("; ") == [
            "campaignType (query parameter): must be voice",
            "extra: unknown field",
            'dncLists: must be an object, not array ["x"]',
            "priority: must be a string, not number 1",
        ]


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b""])
async def test_a_body_that_is_not_a_json_object_is_refused(raw: bytes) -> None:
    async with serving() as api:
        headers = {**api.headers(), "Content-Type": "application/json"}
        params = {"accountId": api.config.account_id, "campaignType": "voice"}
        url = api.url(endpoints.CREATE_CAMPAIGN)
        async with api.session.post(url, params=params, data=raw, headers=headers) as response:
            assert response.status == 400
            assert (await response.json())["message"].startswith("body: must be")


async def test_unknown_contact_lists_are_refused_when_the_lists_are_configured() -> None:
    async with serving(SandboxConfig(contact_lists=frozenset({"Renewals East Q2", "VIP"}))) as api:
        reply = await api.create({**valid_body(), "contactLists": ["VIP", "Nope", "Gone"]})
        assert reply.status == 400
        assert reply.body["message"] == (
            "contactLists[1]: Contact list 'Nope' not found; contactLists[2]: Contact list 'Gone' not found"
        )
        # The DNC list is not one of the configured contact lists, and that is fine.
        assert (await api.create()).status == 200
        names = [record["name"] for record in (await api.contact_lists()).body["data"]]
        assert names == ["Renewals East Q2", "VIP"]


async def test_contact_lists_accept_any_name_and_are_remembered_when_none_are_configured() -> None:
    async with serving() as api:
        assert (await api.contact_lists()).body == {"status": "success", "data": []}
        await api.create({**valid_body("A"), "contactLists": ["Zeta", "Alpha"]})
        await api.create({**valid_body("B"), "contactLists": ["Alpha", "Beta"]})
        records = (await api.contact_lists()).body["data"]
        assert [r["name"] for r in records] == ["Zeta", "Alpha", "Beta"]
        assert all(r["_id"].startswith("cl-") for r in records)
        assert {(r["listType"], r["status"]) for r in records} == {("call", "Ready")}
        reply = await api.call("POST", endpoints.LIST_CONTACT_LISTS, query={"type": "sms"}, body={})
        assert reply.status == 400


async def test_duplicate_names_are_stored_and_reported() -> None:
    async with serving() as api:
        first = await api.create(valid_body("Alpha"))
        second = await api.create(valid_body("  alpha "))
        await api.create(valid_body("Beta"))
        assert first.status == second.status == 200
        assert first.body["data"]["id"] != second.body["data"]["id"]
        assert second.body["data"]["name"] == "alpha"
        assert api.sandbox.duplicates() == {"alpha": 2}
        assert [c.name for c in api.sandbox.campaigns] == ["Alpha", "alpha", "Beta"]


# --- reading -------------------------------------------------------------------------------------------


async def test_listing_pages_through_every_campaign_with_has_more() -> None:
    clock = FakeClock()
    async with serving(SandboxConfig(clock=clock)) as api:
        for name in ["C", "A", "E", "B", "D"]:
            await api.create(valid_body(name))
            clock.now += 1
        seen: list[str] = []
        pages = []
        for page in (1, 2, 3):
            data = (await api.list_page({"type": "voice", "limit": 2, "page": page})).body["data"]
            pages.append(tuple(data[k] for k in ("hasMore", "totalPages", "totalResults", "skip", "limit")))
            seen += [r["name"] for r in data["results"]]
            assert all("_id" in r and "id" not in r for r in data["results"])
        assert pages == [(True, 3, 5, 0, 2), (True, 3, 5, 2, 2), (False, 3, 5, 4, 2)]
        assert seen == ["D", "B", "E", "A", "C"]  # newest first by default
        by_name = {"type": "voice", "limit": 3, "skip": 3, "sortBy": {"name": "asc"}}
        by_skip = (await api.list_page(by_name)).body["data"]
        assert [r["name"] for r in by_skip["results"]] == ["D", "E"]
        assert by_skip["hasMore"] is False
        oldest = (await api.list_page({"type": "voice", "limit": 1, "sortBy": {"createdAt": "asc"}})).body
        record = oldest["data"]["results"][0]
        assert record["name"] == "C" and record["status"] == "Ready"
        assert record["schedule"] == {"isRecurrenceEnabled": False, "isSchedulingEnabled": False}
        assert set(record) >= {"_id", "description", "dncLists", "priority", "dialingMode", "createdAt"}
        sms = (await api.list_page({"type": "sms"})).body["data"]
        assert (sms["results"], sms["totalResults"], sms["hasMore"]) == ([], 0, False)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, "type: required"),
        ({"type": "call"}, "type: must be one of voice, sms"),
        ({"type": "voice", "limit": 0}, "limit: must be from 1 to 100"),
        ({"type": "voice", "limit": "10"}, "limit: must be a whole number"),
        ({"type": "voice", "skip": -1}, "skip: must be of at least 0"),
        ({"type": "voice", "page": 0}, "page: must be of at least 1"),
        ({"type": "voice", "sortBy": {"lname": "asc"}}, "sortBy: must hold exactly one of"),
        ({"type": "voice", "sortBy": {"name": "up"}}, "sortBy.name: must be one of asc, desc"),
        ({"type": "voice", "filters": {"status": ["Ready"]}}, "filters: not supported by the sandbox"),
    ],
)
async def test_a_bad_list_request_is_refused(body: dict[str, Any], expected: str) -> None:
    async with serving() as api:
        reply = await api.list_page(body)
        assert reply.status == 400
        assert expected in reply.body["message"]


async def test_an_unknown_campaign_is_not_found() -> None:
    async with serving() as api:
        missing = {"status": "failure", "message": "Campaign not found"}
        assert (await api.get("cd-nope")).body == missing
        reply = await api.status("cd-nope")
        assert (reply.status, reply.body) == (404, missing)
        campaign_id = (await api.create()).body["data"]["id"]
        wrong_view = await api.call(
            "POST", endpoints.CAMPAIGN_STATUS, campaign_id=campaign_id, query={"view": "contacts"}, body={}
        )
        assert wrong_view.status == 400


# --- auth ----------------------------------------------------------------------------------------------


def _expired(config: SandboxConfig) -> str:
    now = int(time.time())
    return mint(config, iat=now - 700, exp=now - 100)


AUTH_401 = [
    ("bad signature", lambda c: mint(c, secret="not-the-secret-" * 3)),
    ("wrong appId", lambda c: mint(c, appId="cs-someone-else")),
    ("appid spelling", lambda c: mint(c, drop=("appId",), appid=c.client_id)),
    ("expired", _expired),
    ("no exp", lambda c: mint(c, drop=("exp",))),
    ("no iat", lambda c: mint(c, drop=("iat",))),
    ("over an hour", lambda c: mint(c, exp=int(time.time()) + endpoints.JWT_MAX_LIFETIME_S + 5)),
    ("alg none", lambda c: jwt.encode(jwt.decode(mint(c), options={"verify_signature": False}), "", "none")),
    ("garbage", lambda c: "not.a.token"),
]


@pytest.mark.parametrize("make_token", [a[1] for a in AUTH_401], ids=[a[0] for a in AUTH_401])
async def test_a_bad_token_is_refused_with_401(make_token: Callable[[SandboxConfig], str]) -> None:
    async with serving() as api:
        reply = await api.create(headers=api.headers(make_token(api.config)))
        assert reply.status == 401
        assert reply.body == {"errors": [{"msg": "Invalid JWT token", "code": 4002}]}
        assert api.sandbox.campaigns == []
        assert api.sandbox.accepted_at == []


async def test_a_missing_token_is_refused_with_401() -> None:
    async with serving() as api:
        headers = api.headers()
        del headers[endpoints.HEADER_AUTH]
        reply = await api.call("POST", endpoints.LIST_CAMPAIGNS, body={"type": "voice"}, headers=headers)
        assert reply.status == 401
        assert reply.body == {"errors": [{"msg": "Invalid SDK credentials", "code": 4002}]}


@pytest.mark.parametrize(
    ("header", "query", "wrong"),
    [
        ({endpoints.HEADER_ACCOUNT: "someone-else"}, {}, "accountid header"),
        ({}, {"accountId": "someone-else"}, "accountId query parameter"),
        ({endpoints.HEADER_IID: "st-other"}, {}, "iid header"),
    ],
)
async def test_the_wrong_account_is_refused_with_403(header: dict[str, str], query: dict[str, str], wrong: str) -> None:
    async with serving() as api:
        headers = {**api.headers(), **header}
        reply = await api.create(headers=headers, query={"campaignType": "voice", **query})
        assert reply.status == 403
        assert reply.body == {"errors": [{"msg": f"Permission denied: wrong {wrong}", "code": 403}]}
        assert api.sandbox.campaigns == []


async def test_another_stream_id_in_the_path_is_refused_with_403() -> None:
    async with serving() as api:
        url = api.server.url + endpoints.LIST_CAMPAIGNS.format(stream_id="st-other")
        async with api.session.post(
            url, params={"accountId": api.config.account_id}, json={"type": "voice"}, headers=api.headers()
        ) as response:
            assert response.status == 403


# --- rate limit ----------------------------------------------------------------------------------------


RATE_LIMITED = {"status": "error", "message": endpoints.RATE_LIMIT_MESSAGE}


async def test_the_rate_limit_rolls_over_every_endpoint_and_429s_do_not_count() -> None:
    clock = FakeClock()
    start = clock.now
    async with serving(SandboxConfig(rate_limit=3, window_s=1.0, clock=clock)) as api:
        assert (await api.create()).status == 200  # t = 0.0
        clock.now += 0.1
        assert (await api.list_page({"type": "voice"})).status == 200  # t = 0.1
        clock.now += 0.1
        assert (await api.contact_lists()).status == 200  # t = 0.2
        clock.now += 0.5
        for _ in range(3):
            refused = await api.create()
            assert (refused.status, refused.body) == (429, RATE_LIMITED)
            assert "Retry-After" not in refused.headers
        clock.now = start + 1.0  # the request at t = 0.0 has left the window
        assert (await api.list_page({"type": "voice"})).status == 200
        assert (await api.list_page({"type": "voice"})).status == 429
        clock.now = start + 1.1
        assert (await api.create()).status == 200
        sandbox = api.sandbox
        assert sandbox.rate_limited == 4
        assert sandbox.faults["spurious_429"] == 0
        assert len(sandbox.accepted_at) == 5
        assert sandbox.max_accepted_in_window() == 3
        assert sandbox.requests_total == 9
        assert sandbox.requests == {"create": 5, "list": 3, "contact_lists": 1}
        assert len(sandbox.campaigns) == 2


async def test_the_rate_limit_works_on_the_real_clock() -> None:
    async with serving(SandboxConfig(rate_limit=2, window_s=0.5)) as api:
        statuses = [(await api.list_page({"type": "voice"})).status for _ in range(3)]
        assert statuses == [200, 200, 429]
        await asyncio.sleep(0.55)
        assert (await api.list_page({"type": "voice"})).status == 200


async def test_retry_after_says_when_the_oldest_request_leaves_the_window_when_enabled() -> None:
    clock = FakeClock()
    config = SandboxConfig(rate_limit=1, window_s=10.0, retry_after_header=True, clock=clock)
    async with serving(config) as api:
        assert (await api.contact_lists()).status == 200
        clock.now += 2.5
        refused = await api.contact_lists()
        assert (refused.status, refused.headers["Retry-After"]) == (429, "8")


# --- faults --------------------------------------------------------------------------------------------


async def test_drop_after_stores_the_campaign_then_disconnects_without_a_reply() -> None:
    async with serving() as api:
        api.sandbox.queue_faults(["drop_after"])
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await api.create()
        assert [c.name for c in api.sandbox.campaigns] == ["Spring Renewals East"]
        assert api.sandbox.faults == {"drop_after": 1}


async def test_drop_before_disconnects_without_storing() -> None:
    async with serving(SandboxConfig(faults=Faults(drop_before=1.0))) as api:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await api.create()
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await api.list_page({"type": "voice"})
        assert api.sandbox.campaigns == []
        assert api.sandbox.faults == {"drop_before": 2}


async def test_a_dropped_connection_sends_not_one_byte() -> None:
    async with serving() as api:
        api.sandbox.queue_faults(["drop_after"])
        host, port = api.server.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        payload = json.dumps(valid_body()).encode()
        target = api.url(endpoints.CREATE_CAMPAIGN).removeprefix(api.server.url)
        head = [
            f"POST {target}?accountId={api.config.account_id}&campaignType=voice HTTP/1.1",
            f"Host: {host}",
            "Content-Type: application/json",
            f"Content-Length: {len(payload)}",
            *(f"{name}: {value}" for name, value in api.headers().items()),
        ]
        writer.write("\r\n".join(head).encode() + b"\r\n\r\n" + payload)
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), timeout=2) == b""
        writer.close()
        assert len(api.sandbox.campaigns) == 1


async def test_error_after_stores_the_campaign_and_answers_5xx() -> None:
    async with serving() as api:
        api.sandbox.queue_faults(["error_after"])
        reply = await api.create()
        assert reply.status in (500, 502, 503)
        assert reply.body["status"] == "error"
        assert len(api.sandbox.campaigns) == 1


async def test_error_5xx_answers_5xx_without_storing() -> None:
    async with serving() as api:
        api.sandbox.queue_faults(["error_5xx"])
        reply = await api.create()
        assert reply.status in (500, 502, 503)
        assert api.sandbox.campaigns == []
        assert api.sandbox.faults == {"error_5xx": 1}


async def test_a_spurious_429_looks_like_the_real_one_and_does_not_count() -> None:
    async with serving(SandboxConfig(rate_limit=100)) as api:
        api.sandbox.queue_faults(["spurious_429"])
        reply = await api.create()
        assert (reply.status, reply.body) == (429, RATE_LIMITED)
        assert api.sandbox.campaigns == []
        assert api.sandbox.accepted_at == []
        assert (api.sandbox.rate_limited, api.sandbox.faults["spurious_429"]) == (0, 1)


async def test_slow_after_stores_the_campaign_and_outlasts_a_short_client_timeout() -> None:
    async with serving(SandboxConfig(faults=Faults(slow_s=30.0))) as api:
        api.sandbox.queue_faults(["slow_after"])
        started = time.monotonic()
        with pytest.raises(asyncio.TimeoutError):
            await api.create(timeout=0.3)
        assert len(api.sandbox.campaigns) == 1
        assert api.sandbox.faults == {"slow_after": 1}
    assert time.monotonic() - started < 3  # the abandoned 30 s reply did not hold up shutdown


async def test_queued_faults_strike_the_next_creates_in_order_and_reads_do_not_consume_them() -> None:
    async with serving() as api:
        api.sandbox.queue_faults(["error_after", None, "error_5xx"])
        assert (await api.list_page({"type": "voice"})).status == 200
        statuses = [(await api.create(valid_body(f"C{i}"))).status for i in range(4)]
        assert statuses[0] >= 500 and statuses[1] == 200 and statuses[2] >= 500 and statuses[3] == 200
        assert [c.name for c in api.sandbox.campaigns] == ["C0", "C1", "C3"]
        with pytest.raises(ValueError, match="unknown fault kinds"):
            api.sandbox.queue_faults(["5xx"])  # type: ignore[list-item]


async def test_after_faults_do_not_strike_a_create_that_stored_nothing() -> None:
    async with serving() as api:
        api.sandbox.queue_faults(["drop_after"])
        assert (await api.create({**valid_body(), "priority": 3})).status == 400
        assert api.sandbox.faults == {}


async def test_random_faults_are_reproducible_with_a_seed() -> None:
    async def statuses(seed: int) -> list[int]:
        config = SandboxConfig(seed=seed, rate_limit=1000, faults=Faults(error_5xx=0.4, spurious_429=0.2))
        async with serving(config) as api:
            return [(await api.list_page({"type": "voice"})).status for _ in range(30)]

    first, second = await statuses(7), await statuses(7)
    assert first == second
    assert {200, 429} <= set(first) and set(first) & {500, 502, 503}


async def test_latency_and_jitter_delay_accepted_requests() -> None:
    async with serving(SandboxConfig(latency_ms=150, faults=Faults(jitter_ms=50))) as api:
        started = time.monotonic()
        await api.contact_lists()
        assert 0.15 <= time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"error_5xx": 1.5}, "error_5xx must be from 0 to 1"),
        ({"drop_after": -0.1}, "drop_after must be from 0 to 1"),
        ({"drop_after": 0.6, "error_after": 0.6}, "add up to more than 1"),
        ({"slow_s": -1}, "must not be negative"),
    ],
)
def test_impossible_fault_settings_are_refused(settings: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Faults(**settings)


# --- configuration and the command ---------------------------------------------------------------------


def test_a_fresh_config_has_credentials_of_the_vendors_shape() -> None:
    first, second = SandboxConfig.generate(), SandboxConfig.generate()
    assert first.stream_id.startswith("st-") and first.client_id.startswith("cs-")
    assert first.iid == first.stream_id
    assert len(first.client_secret) >= 32
    assert first.client_secret != second.client_secret and first.stream_id != second.stream_id
    assert first.client_secret not in repr(first)


def test_from_env_takes_what_is_set_and_generates_the_rest() -> None:
    config = SandboxConfig.from_env(
        {"KORE_STREAM_ID": "st-mine", "KORE_CLIENT_SECRET": "s3cret", "KORE_ACCOUNT_ID": "", "OTHER": "x"}
    )
    assert (config.stream_id, config.iid, config.client_secret) == ("st-mine", "st-mine", "s3cret")
    assert config.account_id and config.client_id.startswith("cs-")
    assert SandboxConfig.from_env({"KORE_IID": "app-1"}).iid == "app-1"


def test_client_env_and_export_lines_give_a_client_everything_it_needs() -> None:
    from provisioner._cli.sandbox import export_lines

    config = SandboxConfig(client_secret="it's $ecret")
    assert client_env("http://127.0.0.1:8787", config) == {
        "KORE_HOST": "http://127.0.0.1:8787",
        "KORE_STREAM_ID": config.stream_id,
        "KORE_ACCOUNT_ID": config.account_id,
        "KORE_IID": config.iid,
        "KORE_CLIENT_ID": config.client_id,
        "KORE_CLIENT_SECRET": "it's $ecret",
    }
    assert export_lines("http://127.0.0.1:8787", config, {}).splitlines() == [
        "export KORE_HOST=http://127.0.0.1:8787",
        f"export KORE_STREAM_ID={config.stream_id}",
        f"export KORE_ACCOUNT_ID={config.account_id}",
        f"export KORE_IID={config.iid}",
        f"export KORE_CLIENT_ID={config.client_id}",
        "export KORE_CLIENT_SECRET='it'\"'\"'s $ecret'",
    ]


def test_export_lines_never_echo_a_secret_taken_from_the_environment() -> None:
    from provisioner._cli.sandbox import export_lines

    environ = {"KORE_CLIENT_SECRET": "maybe-a-real-one"}
    config = SandboxConfig.from_env(environ)
    text = export_lines("http://127.0.0.1:8787", config, environ)
    assert "maybe-a-real-one" not in text
    assert text.splitlines()[-1] == "# KORE_CLIENT_SECRET: the one already set in this environment"


def test_the_command_documents_its_options_and_the_printed_secret() -> None:
    from provisioner._cli._app import app

    result = CliRunner().invoke(app, ["sandbox", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in ("--port", "--rate-limit", "--latency-ms", "--ready-after", "--contact-lists", "--fault"):
        assert option in result.output
    assert "--seed" in result.output and "--retry-after-header" in result.output
    for option in ("--page-cap", "--paging", "--default-window-days", "--list-id-field", "--contact-list-method"):
        assert option in result.output
    assert "--clock-skew" in result.output and "--churn" in result.output and "failure_2xx" in result.output
    assert "INPUT" in result.output
    words = " ".join(result.output.split())
    assert "it is the sandbox's own throwaway credential" in words
    assert "A KORE_CLIENT_SECRET taken from the environment is never printed" in words


def test_the_command_refuses_an_unknown_fault_before_serving() -> None:
    from provisioner._cli._app import app

    result = CliRunner().invoke(app, ["sandbox", "--fault", "5xx=0.1"])
    assert result.exit_code == 2
    assert "KIND=VALUE" in result.output
    window = CliRunner().invoke(app, ["sandbox", "--default-window-days", "0"])
    assert window.exit_code == 2
    assert "default_window_days must be positive" in window.output
    paging = CliRunner().invoke(app, ["sandbox", "--paging", "offset"])
    assert paging.exit_code == 2


def test_parse_faults_reads_kinds_and_knobs() -> None:
    from provisioner._cli.sandbox import parse_faults

    assert parse_faults(["drop_after=0.25", "slow_s=5"]) == Faults(drop_after=0.25, slow_s=5.0)


# --- listing variants the vendor's documents leave open ---------------------------------------------------

HOUR = timedelta(hours=1)


def names_of(reply: Reply) -> list[str]:
    return [r["name"] for r in reply.body["data"]["results"]]


def paging_of(reply: Reply) -> tuple[int, int, bool, int, int]:
    data = reply.body["data"]
    return data["skip"], data["limit"], data["hasMore"], data["totalPages"], data["totalResults"]


async def test_a_page_cap_bounds_every_page_and_the_reply_says_the_limit_used() -> None:
    async with serving(SandboxConfig(page_cap=5)) as api:
        api.sandbox.seed([f"C{i:02}" for i in range(12)], created_at=datetime.now(UTC) - HOUR)
        first = await api.list_page({"type": "voice", "limit": 50, "sortBy": {"name": "asc"}})
        assert names_of(first) == ["C00", "C01", "C02", "C03", "C04"]
        assert paging_of(first) == (0, 5, True, 3, 12)
        third = await api.list_page({"type": "voice", "limit": 50, "page": 3, "sortBy": {"name": "asc"}})
        assert names_of(third) == ["C10", "C11"]  # page 3 of 5-item pages
        assert paging_of(third) == (10, 5, False, 3, 12)
        small = await api.list_page({"type": "voice", "limit": 2})
        assert paging_of(small)[1] == 2  # a limit under the cap is kept


async def test_skip_only_paging_ignores_page_and_page_only_paging_ignores_skip() -> None:
    names = [f"C{i}" for i in range(6)]
    by_name = {"type": "voice", "limit": 2, "sortBy": {"name": "asc"}}
    async with serving(SandboxConfig(paging="skip")) as api:
        api.sandbox.seed(names, created_at=datetime.now(UTC) - HOUR)
        assert names_of(await api.list_page({**by_name, "page": 3})) == ["C0", "C1"]
        reply = await api.list_page({**by_name, "page": 0, "skip": 4})  # page is not even read
        assert (names_of(reply), reply.body["data"]["skip"]) == (["C4", "C5"], 4)
    async with serving(SandboxConfig(paging="page")) as api:
        api.sandbox.seed(names, created_at=datetime.now(UTC) - HOUR)
        assert names_of(await api.list_page({**by_name, "skip": 4})) == ["C0", "C1"]
        reply = await api.list_page({**by_name, "skip": -1, "page": 2})
        assert (names_of(reply), reply.body["data"]["skip"]) == (["C2", "C3"], 2)
    async with serving() as api:  # both, the default: skip when sent, else page
        api.sandbox.seed(names, created_at=datetime.now(UTC) - HOUR)
        assert names_of(await api.list_page({**by_name, "skip": 1, "page": 3})) == ["C1", "C2"]
        assert names_of(await api.list_page({**by_name, "page": 3})) == ["C4", "C5"]


async def test_a_default_window_hides_older_campaigns_and_explicit_dates_show_them() -> None:
    now = datetime.now(UTC)
    async with serving(SandboxConfig(default_window_days=7)) as api:
        api.sandbox.seed(["Old 1", "Old 2", "Old 3"], created_at=now - timedelta(days=30))
        api.sandbox.seed(["Recent"], created_at=now - timedelta(days=1))
        default = await api.list_page({"type": "voice", "limit": 100})
        assert (names_of(default), default.body["data"]["totalResults"]) == (["Recent"], 1)
        since = (now - timedelta(days=60)).isoformat()
        everything = await api.list_page({"type": "voice", "limit": 100, "startDate": since})
        assert everything.body["data"]["totalResults"] == 4
        until = (now - timedelta(days=20)).isoformat().replace("+00:00", "Z")
        older = await api.list_page({"type": "voice", "startDate": since, "endDate": until, "sortBy": {"name": "asc"}})
        assert names_of(older) == ["Old 1", "Old 2", "Old 3"]
        bad = await api.list_page({"type": "voice", "startDate": "last week"})
        assert bad.status == 400 and "startDate: must be an ISO 8601 date" in bad.body["message"]
    async with serving() as api:  # no window by default
        api.sandbox.seed(["Old"], created_at=now - timedelta(days=400))
        assert names_of(await api.list_page({"type": "voice"})) == ["Old"]


@pytest.mark.parametrize("id_field", ["_id", "id"])
async def test_list_results_carry_the_id_under_the_configured_key_and_creates_keep_data_id(id_field: str) -> None:
    async with serving(SandboxConfig(list_id_field=id_field)) as api:  # type: ignore[arg-type]
        created = (await api.create()).body["data"]["id"]
        (record,) = (await api.list_page({"type": "voice"})).body["data"]["results"]
        other = "id" if id_field == "_id" else "_id"
        assert record[id_field] == created and other not in record
        assert (await api.get(created)).body["data"]["_id"] == created


@pytest.mark.parametrize(("answered", "refused"), [("POST", "GET"), ("GET", "POST")])
async def test_the_contact_list_endpoint_answers_one_method_and_refuses_the_other_as_the_vendor_does(
    answered: str, refused: str
) -> None:
    config = SandboxConfig(contact_list_method=answered)  # type: ignore[arg-type]
    async with serving(config) as api:
        query = {"type": "call"}
        ok = await api.call(answered, endpoints.LIST_CONTACT_LISTS, query=query, body=None if answered == "GET" else {})
        assert (ok.status, ok.body["status"]) == (200, "success")
        wrong = await api.call(refused, endpoints.LIST_CONTACT_LISTS, query=query, body={})
        assert wrong.status == 405
        assert wrong.body == {"errors": [{"msg": "Method Not Allowed", "code": 405}]}


async def test_failure_2xx_answers_200_with_a_failure_and_stores_nothing() -> None:
    async with serving(SandboxConfig(faults=Faults(failure_2xx=1.0))) as api:
        reply = await api.create()
        assert reply.status == 200
        assert reply.body["status"] == "failure" and reply.body["message"]
        assert "data" not in reply.body
        assert api.sandbox.campaigns == [] and api.sandbox.faults["failure_2xx"] == 1
        listed = await api.list_page({"type": "voice"})
        assert (listed.status, listed.body["status"]) == (200, "failure")


async def test_clock_skew_shows_in_the_date_header_and_every_timestamp() -> None:
    skew = 6 * 3600  # hours, so no busy machine can blur it
    async with serving(SandboxConfig(clock_skew_s=skew, ready_after_s=0)) as api:
        before = datetime.now(UTC)
        reply = await api.create()
        after = datetime.now(UTC)
        served = email.utils.parsedate_to_datetime(reply.headers["Date"])
        assert before + timedelta(seconds=skew - 1) <= served <= after + timedelta(seconds=skew + 1)
        created = datetime.fromisoformat(reply.body["data"]["createdAt"])
        ms = timedelta(milliseconds=1)  # timestamps are written to the millisecond, truncated
        assert before + timedelta(seconds=skew) - ms <= created <= after + timedelta(seconds=skew)
        record = (await api.get(reply.body["data"]["id"])).body["data"]
        assert datetime.fromisoformat(record["updatedAt"]) >= before + timedelta(seconds=skew) - ms
    async with serving() as api:
        reply = await api.create()
        served = email.utils.parsedate_to_datetime(reply.headers["Date"])
        assert abs(served - datetime.fromisoformat(reply.body["data"]["createdAt"])) < HOUR


async def test_churn_shifts_offset_pages_and_totals_match_the_stored_set_at_each_call() -> None:
    now = datetime.now(UTC)
    async with serving(SandboxConfig(churn_per_list_call=2)) as api:
        api.sandbox.seed([f"Old other {i}" for i in range(1, 5)], created_at=now - 2 * HOUR, foreign=True)
        ours = [f"Ours {i}" for i in range(1, 7)]
        api.sandbox.seed(ours, created_at=now - HOUR)
        seen: list[str] = []
        oldest_first = {"type": "voice", "limit": 4, "sortBy": {"createdAt": "asc"}}
        for page in (1, 2, 3):
            reply = await api.list_page({**oldest_first, "skip": (page - 1) * 4})
            assert reply.body["data"]["totalResults"] == len(api.sandbox.campaigns) == 10
            seen += names_of(reply)
        # Other teams' oldest campaigns vanished under the pages, so everything moved up between calls.
        assert seen[:4] == ["Old other 3", "Old other 4", "Ours 1", "Ours 2"]
        assert {"Ours 3", "Ours 4"}.isdisjoint(seen)
        foreign = [c.name for c in api.sandbox.campaigns if c.name.startswith("Other team")]
        # 3 calls made 6; they deleted the 4 seeded ones, then the first 2 they made themselves
        assert sorted(foreign) == ["Other team 3", "Other team 4", "Other team 5", "Other team 6"]


async def test_churn_with_no_foreign_campaigns_only_creates() -> None:
    async with serving(SandboxConfig(churn_per_list_call=3)) as api:
        reply = await api.list_page({"type": "voice"})
        assert reply.body["data"]["totalResults"] == 3
        assert sorted(names_of(reply)) == ["Other team 1", "Other team 2", "Other team 3"]


async def test_sort_by_orders_each_field_both_ways_with_ties_broken_by_id() -> None:
    clock = FakeClock()
    now = datetime.now(UTC)
    async with serving(SandboxConfig(clock=clock, ready_after_s=100_000)) as api:
        api.sandbox.seed(["b", "C", "a"], created_at=now - HOUR, step=timedelta(minutes=1))
        every = {"type": "voice", "limit": 100}
        for field, direction, expected in [
            ("name", "asc", ["a", "b", "C"]),
            ("name", "desc", ["C", "b", "a"]),
            ("createdAt", "asc", ["b", "C", "a"]),
            ("createdAt", "desc", ["a", "C", "b"]),
            ("updatedAt", "desc", ["a", "C", "b"]),
        ]:
            reply = await api.list_page({**every, "sortBy": {field: direction}})
            assert names_of(reply) == expected, (field, direction)
        assert names_of(await api.list_page(every)) == ["a", "C", "b"]  # newest first by default
    async with serving() as api:
        tied = api.sandbox.seed(["x", "y", "z", "w"], created_at=now - HOUR, step=timedelta(0))
        results = (await api.list_page({"type": "voice", "sortBy": {"createdAt": "asc"}})).body["data"]["results"]
        assert [r["_id"] for r in results] == sorted(c.id for c in tied)


async def test_seeded_campaigns_are_ready_and_dated_when_they_were_made() -> None:
    made = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    async with serving() as api:
        (old,) = api.sandbox.seed(["Made earlier"], created_at=made)
        record = (await api.get(old.id)).body["data"]
        assert (record["name"], record["status"], record["createdAt"]) == (
            "Made earlier",
            "Ready",
            "2026-01-05T09:30:00.000Z",
        )
        assert api.sandbox.requests["create"] == 0


# --- seeing what happened: the state page and the request log ------------------------------------------


async def test_the_state_page_shows_campaigns_and_counters_without_credentials() -> None:
    async with serving(SandboxConfig(contact_lists=frozenset({"Renewals East Q2"}))) as api:
        created = (await api.create()).body["data"]
        await api.list_page({"type": "voice"})
        async with api.session.get(api.server.url + STATE_PATH) as response:
            assert response.status == 200
            state = await response.json()
        assert state["campaigns"] == [
            {
                "id": created["id"],
                "name": "Spring Renewals East",
                "status": "Preparing",
                "createdAt": created["createdAt"],
            }
        ]
        assert state["contactLists"] == ["Renewals East Q2"]
        counters = state["counters"]
        assert counters["requests"] == {"create": 1, "list": 1}
        assert (counters["requestsTotal"], counters["campaigns"], counters["rateLimited"]) == (2, 1, 0)
        assert api.sandbox.requests_total == 2  # the state page counts against nothing


async def test_the_request_log_names_method_path_and_status_but_never_a_credential(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="provisioner.sandbox")
    async with serving(SandboxConfig(log_requests=True)) as api:
        token = mint(api.config)
        await api.call(
            "POST",
            endpoints.CREATE_CAMPAIGN,
            query={"campaignType": "voice"},
            body=valid_body(),
            headers={**api.headers(token)},
        )
        await api.list_page({"type": "x"})
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("provisioner.sandbox")]
    create_path = endpoints.CREATE_CAMPAIGN.format(stream_id=api.config.stream_id)
    assert re.fullmatch(rf"POST {re.escape(create_path)} 200 \d+ ms", lines[0])
    assert " 400 " in lines[1]
    text = "\n".join(lines)
    assert token not in text and "accountId" not in text and api.config.client_secret not in text
    caplog.clear()
    async with serving() as api:  # quiet unless asked: in-process runs must not print every request
        await api.list_page({"type": "voice"})
    assert not [r for r in caplog.records if r.name.startswith("provisioner.sandbox")]


# --- issue 12: the standalone sandbox and the client's contact-list pre-flight ------------------------


def test_plan_against_the_standalone_sandbox_given_the_input_refuses_no_row(tmp_path: Path) -> None:
    from provisioner._cli._app import app

    book = write_book(tmp_path / "fixed.xlsx", [campaign(name="Q3 East", contact_lists="Renewals East Q3")])
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("KORE_", "PROVISIONER_"))}
    with (tmp_path / "sandbox.err").open("w") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "provisioner", "sandbox", "--port", "0", str(book)],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=environ,
        )
        try:
            assert process.stdout is not None
            exports = [process.stdout.readline() for _ in range(6)]
            env = dict(shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in exports)
            assert env.keys() == client_env("http://127.0.0.1", SandboxConfig()).keys()
            env |= {"XDG_CONFIG_HOME": str(tmp_path / "config"), "PROVISIONER_STATE": str(tmp_path / "l.sqlite3")}
            result = CliRunner().invoke(app, ["plan", str(book)], env=env, catch_exceptions=False)
        finally:
            process.terminate()
            process.wait()
    assert result.exit_code == 0, result.output
    assert "refuse" not in result.output and "create  row 2: Q3 East" in result.output
    log = (tmp_path / "sandbox.err").read_text()
    assert "/getAllListDetails 200" in log and "/getAllCampaignDetails 200" in log
    assert env["KORE_CLIENT_SECRET"] not in log


async def test_the_standalone_default_accepts_any_list_name_on_create_and_lists_it_after() -> None:
    config = SandboxConfig()  # what `provisioner sandbox` without --contact-lists or INPUT configures
    async with serving(config) as api:
        reply = await api.create({**valid_body(), "contactLists": ["Renewals East Q3"]})
        assert reply.status == 200
        assert [r["name"] for r in (await api.contact_lists()).body["data"]] == ["Renewals East Q3"]
