"""The sandbox after create: schedule by name, start and stop, status, through the real client methods.

Each test talks to a threaded sandbox with :class:`~provisioner.api.client.KoreClient`, as a run would, and
checks what the sandbox then holds: the stored schedule, the status every read shows, and how often each
campaign was started.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from provisioner.api import endpoints
from provisioner.api.campaign import Campaign
from provisioner.api.client import KoreClient, open_session
from provisioner.api.listing import PageQuery
from provisioner.errors import AmbiguousError, ApiError, RateLimitedError, RejectedError, TransientError
from provisioner.sandbox import STATE_PATH, Faults, Sandbox, SandboxConfig, StoredCampaign, ThreadedSandbox
from provisioner.sandbox.config import FaultKind
from tests.test_sandbox import FakeClock, serving, valid_body

Start = Callable[..., ThreadedSandbox]
T = TypeVar("T")
ZONE = "America/New_York"  # the seeded campaigns' calling-hours zone
NOT_SCHEDULED = {"isSchedulingEnabled": False, "isRecurrenceEnabled": False}


def config(**kw: Any) -> SandboxConfig:
    """A sandbox whose campaigns are Ready at once and whose rate limit no test reaches."""
    return SandboxConfig(**{"rate_limit": 100_000, "ready_after_s": 0.0, **kw})


def sandbox_of(box: ThreadedSandbox) -> Sandbox:
    assert box.server is not None
    return box.server.sandbox


def call(box: ThreadedSandbox, action: Callable[[KoreClient], Awaitable[T]]) -> T:
    """Run one client action against the sandbox, in a session of its own."""

    async def go() -> T:
        async with open_session(box.settings()) as session:
            return await action(KoreClient(box.settings(), session))

    return asyncio.run(go())


def rejected(box: ThreadedSandbox, action: Callable[[KoreClient], Awaitable[object]]) -> RejectedError:
    with pytest.raises(RejectedError) as refused:
        call(box, action)
    return refused.value


def seeded(box: ThreadedSandbox, *names: str) -> list[StoredCampaign]:
    sandbox = sandbox_of(box)
    return sandbox.seed(names, created_at=sandbox.now() - timedelta(hours=1))


def wall(moment: datetime, zone: str = ZONE) -> str:
    """Write a moment as the schedule call takes it: YYYY-MM-DD HH:mm:ss on the wall clock of ``zone``."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")


def daily(now: datetime, *, zone: str = ZONE) -> dict[str, Any]:
    return {
        "startDateTime": wall(now + timedelta(days=1), zone),
        "endDateTime": wall(now + timedelta(days=30), zone),
        "recurrenceObject": {"recurType": "Daily"},
    }


def weekly(now: datetime, days: list[str]) -> dict[str, Any]:
    recurrence = {"recurType": "Weekly", "weeklyDetails": {"onceEveryNweeks": 2, "whichDays": days}}
    return {**daily(now), "recurrenceObject": recurrence}


def read(box: ThreadedSandbox, campaign_id: str) -> dict[str, Any]:
    """Return what get-by-id shows of a campaign."""
    return dict(call(box, lambda c: c.get_campaign(campaign_id)).raw)


def listed(box: ThreadedSandbox) -> dict[str, dict[str, Any]]:
    """Return the list results by id (one page holds every campaign of these tests)."""
    query = PageQuery(skip=0, page=1, limit=100, start=None, end=None)
    page = call(box, lambda c: c.list_campaigns_page(query))
    return {campaign.id: dict(campaign.raw) for campaign in page.campaigns}


def status(box: ThreadedSandbox, campaign_id: str) -> str | None:
    found: Campaign = call(box, lambda c: c.campaign_status(campaign_id))
    return found.status


def state_page(box: ThreadedSandbox) -> dict[str, Any]:
    assert box.server is not None
    with urllib.request.urlopen(box.server.url + STATE_PATH, timeout=10) as response:
        page: dict[str, Any] = json.load(response)
    return page


# --- schedule: by name ---------------------------------------------------------------------------------


def test_a_daily_schedule_is_stored_by_name_ignoring_case_and_shown_whole_only_by_id(threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config())
    (spring, other) = seeded(box, "Spring Sale", "Autumn Sale")
    body = daily(sandbox_of(box).now())
    before = read(box, spring.id)["updatedAt"]
    call(box, lambda c: c.schedule_campaign("SPRING sale", body))

    after = read(box, spring.id)
    assert after["schedule"] == {"isSchedulingEnabled": True, "isRecurrenceEnabled": True, **body}
    assert after["updatedAt"] > before
    assert read(box, other.id)["schedule"] == NOT_SCHEDULED
    results = listed(box)
    assert results[spring.id]["schedule"] == {"isSchedulingEnabled": True, "isRecurrenceEnabled": True}
    assert results[other.id]["schedule"] == NOT_SCHEDULED
    assert sandbox_of(box).requests["schedule"] == 1


def test_a_weekly_schedule_keeps_its_days_and_a_second_send_replaces_the_first(threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config())
    (spring,) = seeded(box, "Spring Sale")
    now = sandbox_of(box).now()
    call(box, lambda c: c.schedule_campaign("Spring Sale", weekly(now, ["Mon", "Wed"])))
    call(box, lambda c: c.schedule_campaign("Spring Sale", weekly(now, ["Tue"])))

    schedule = read(box, spring.id)["schedule"]
    assert schedule["recurrenceObject"] == {
        "recurType": "Weekly",
        "weeklyDetails": {"onceEveryNweeks": 2, "whichDays": ["Tue"]},
    }
    assert schedule["isSchedulingEnabled"] is True


def test_disabling_drops_the_schedule_and_an_update_saying_false_does_too(threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config())
    campaign_id = call(box, lambda c: c.create_campaign({**valid_body(), "schedule": {"isSchedulingEnabled": True}})).id
    assert read(box, campaign_id)["schedule"] == {"isSchedulingEnabled": True, "isRecurrenceEnabled": False}
    body = daily(sandbox_of(box).now())
    call(box, lambda c: c.schedule_campaign("Spring Renewals East", body))

    call(box, lambda c: c.schedule_campaign("Spring Renewals East", None))
    assert read(box, campaign_id)["schedule"] == NOT_SCHEDULED
    assert listed(box)[campaign_id]["schedule"] == NOT_SCHEDULED

    call(box, lambda c: c.schedule_campaign("Spring Renewals East", body))
    kept = {**valid_body(), "priority": "2", "schedule": {"isSchedulingEnabled": True}}
    call(box, lambda c: c.update_campaign(campaign_id, kept))
    assert read(box, campaign_id)["schedule"] == {"isSchedulingEnabled": True, "isRecurrenceEnabled": True, **body}
    call(box, lambda c: c.update_campaign(campaign_id, {**kept, "schedule": {"isSchedulingEnabled": False}}))
    assert read(box, campaign_id)["schedule"] == NOT_SCHEDULED


@pytest.mark.parametrize("schedule", [{"on": True}, {"isSchedulingEnabled": "yes"}])
def test_a_create_body_schedule_takes_only_the_flag_as_a_boolean(threaded_sandbox: Start, schedule: object) -> None:
    box = threaded_sandbox(config())
    refused = rejected(box, lambda c: c.create_campaign({**valid_body(), "schedule": schedule}))
    assert refused.status == 400 and "schedule." in refused.message
    assert sandbox_of(box).campaigns == []


@pytest.mark.parametrize("enable", [True, False])
def test_a_name_two_campaigns_carry_is_refused_and_neither_is_touched(threaded_sandbox: Start, enable: bool) -> None:
    box = threaded_sandbox(config())
    twins = seeded(box, "Twin Campaign", "twin campaign")
    schedule = daily(sandbox_of(box).now()) if enable else None
    refused = rejected(box, lambda c: c.schedule_campaign("Twin Campaign", schedule))
    assert refused.status == 400
    assert "Campaign name Twin Campaign is ambiguous: 2 campaigns carry it" in refused.message
    assert "nothing was scheduled" in refused.message
    assert [read(box, twin.id)["schedule"] for twin in twins] == [NOT_SCHEDULED, NOT_SCHEDULED]


@pytest.mark.parametrize("name", ["Winter Sale", " Spring Sale", "Spring  Sale"])
def test_a_name_no_campaign_carries_is_not_found(threaded_sandbox: Start, name: str) -> None:
    box = threaded_sandbox(config())
    seeded(box, "Spring Sale")
    refused = rejected(box, lambda c: c.schedule_campaign(name, daily(sandbox_of(box).now())))
    assert (refused.status, "Campaign not found" in refused.message) == (404, True)


async def test_the_schedule_call_answers_with_the_documented_envelope_and_checks_its_query() -> None:
    async with serving(config()) as api:
        campaign_id = (await api.create()).body["data"]["id"]
        body = daily(api.sandbox.now())

        async def schedule(query: dict[str, str], sent: object) -> tuple[int, dict[str, Any]]:
            reply = await api.call("POST", endpoints.SCHEDULE_CAMPAIGN, query=query, body=sent)
            return reply.status, reply.body

        named = {"campaignName": "spring renewals east"}
        assert await schedule({"enableSchedule": "true", **named}, body) == (
            200,
            {"status": "success", "message": "Campaign Spring Renewals East scheduled successfully", "id": campaign_id},
        )
        assert await schedule({"enableSchedule": "false", **named}, {}) == (
            200,
            {
                "status": "success",
                "message": "Campaign Spring Renewals East schedule disabled successfully",
                "id": campaign_id,
            },
        )
        status, reply = await schedule({"enableSchedule": "false", **named}, body)
        assert (status, reply["message"]) == (400, "body: must be {} when enableSchedule is false")
        for query in ({"enableSchedule": "yes", **named}, {"enableSchedule": "true"}):
            status, reply = await schedule(query, body)
            assert (status, reply["status"]) == (400, "failure")
            assert "enableSchedule must be true or false and campaignName must be given" in reply["message"]
        assert api.sandbox.campaigns[0].schedule == NOT_SCHEDULED


# --- schedule: the body's rules ------------------------------------------------------------------------


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    """Return an edit that sets a dotted ``path`` of a schedule body (deleting it when value is ...)."""

    def edit(body: dict[str, Any]) -> None:
        *parents, key = path.split(".")
        for parent in parents:
            body = body[parent]
        if value is ...:
            del body[key]
        else:
            body[key] = value

    return edit


BODY_RULES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "start not in the format": (
        _set("startDateTime", "2031-05-04T09:00:00"),
        "startDateTime: must be a date and time as YYYY-MM-DD HH:mm:ss",
    ),
    "end without seconds": (_set("endDateTime", "2031-05-04 09:00"), "endDateTime: must be a date and time as"),
    "a day the calendar lacks": (_set("endDateTime", "2031-02-30 09:00:00"), "endDateTime: must be a date and time"),
    "end missing": (_set("endDateTime", ...), "endDateTime: required"),
    "end not after the start": (_set("endDateTime", "2001-01-01 00:00:00"), "endDateTime: must be later than start"),
    "recurrence missing": (_set("recurrenceObject", ...), "recurrenceObject: required"),
    "recurType unknown": (
        _set("recurrenceObject.recurType", "Monthly"),
        "recurrenceObject.recurType: must be one of Daily, Weekly",
    ),
    "Daily with weekly details": (
        _set("recurrenceObject.weeklyDetails", {"onceEveryNweeks": 1, "whichDays": ["Mon"]}),
        "recurrenceObject.weeklyDetails: only a Weekly recurrence takes it",
    ),
    "Weekly without details": (
        _set("recurrenceObject.recurType", "Weekly"),
        "recurrenceObject.weeklyDetails: required",
    ),
    "the doc's dailyDetails": (
        _set("recurrenceObject", {"recurType": "Weekly", "dailyDetails": {"onceEveryNweeks": 1, "whichDays": ["Mon"]}}),
        "recurrenceObject.dailyDetails: unknown field",
    ),
    "unknown field": (_set("timezone", ZONE), "timezone: unknown field"),
}
WEEKLY_RULES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "every 0 weeks": (_set("onceEveryNweeks", 0), "weeklyDetails.onceEveryNweeks: must be of at least 1, not 0"),
    "every N weeks missing": (_set("onceEveryNweeks", ...), "weeklyDetails.onceEveryNweeks: required"),
    "no days": (_set("whichDays", []), "weeklyDetails.whichDays: must be a non-empty array"),
    "the CallingHours spelling": (_set("whichDays", ["MO"]), "weeklyDetails.whichDays[0]: must be one of Mon, Tue"),
    "a misspelt day": (_set("whichDays", ["Mon", "Funday"]), "weeklyDetails.whichDays[1]: must be one of Mon"),
}


@pytest.mark.parametrize("rule", [*BODY_RULES, *WEEKLY_RULES])
def test_each_schedule_body_rule_refuses_and_stores_nothing(threaded_sandbox: Start, rule: str) -> None:
    box = threaded_sandbox(config())
    (spring,) = seeded(box, "Spring Sale")
    now = sandbox_of(box).now()
    if rule in BODY_RULES:
        body, (edit, expected) = daily(now), BODY_RULES[rule]
        edit(body)
    else:
        body, (edit, expected) = weekly(now, ["Mon"]), WEEKLY_RULES[rule]
        edit(body["recurrenceObject"]["weeklyDetails"])
    refused = rejected(box, lambda c: c.schedule_campaign("Spring Sale", body))
    assert refused.status == 400 and expected in refused.message
    assert read(box, spring.id)["schedule"] == NOT_SCHEDULED


def test_the_end_must_be_later_than_now_on_the_campaigns_wall_clock(threaded_sandbox: Start) -> None:
    """Two hours after now in UTC is half a day ago at UTC+14 and half a day ahead at UTC-11."""
    box = threaded_sandbox(config())
    sandbox = sandbox_of(box)
    for name, zone in (("East of the date line", "Pacific/Kiritimati"), ("West of it", "Pacific/Pago_Pago")):
        body = valid_body(name)
        body["dialingStrategy"]["callingHours"]["timezone"] = zone
        call(box, lambda c, body=body: c.create_campaign(body))
    now = sandbox.now()
    schedule = {**daily(now), "startDateTime": wall(now - timedelta(days=2), "UTC")}
    schedule["endDateTime"] = wall(now + timedelta(hours=2), "UTC")

    refused = rejected(box, lambda c: c.schedule_campaign("East of the date line", schedule))
    assert refused.status == 400
    assert "endDateTime: must be later than now (" in refused.message and " in Pacific/Kiritimati)" in refused.message
    call(box, lambda c: c.schedule_campaign("West of it", schedule))
    assert [c.schedule["isSchedulingEnabled"] for c in sandbox.campaigns] == [False, True]


def test_the_end_must_be_later_than_now_on_the_servers_skewed_clock(threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config(clock_skew_s=2 * 86_400))  # the server thinks it is two days later
    (spring,) = seeded(box, "Spring Sale")
    real_now = sandbox_of(box).now() - timedelta(days=2)
    body = {**daily(real_now), "startDateTime": wall(real_now), "endDateTime": wall(real_now + timedelta(days=1))}
    refused = rejected(box, lambda c: c.schedule_campaign("Spring Sale", body))
    assert "endDateTime: must be later than now" in refused.message
    call(box, lambda c: c.schedule_campaign("Spring Sale", {**body, "endDateTime": wall(real_now + timedelta(days=3))}))
    assert read(box, spring.id)["schedule"]["isSchedulingEnabled"] is True


# --- status: Preparing, Ready or Scheduled ---------------------------------------------------------------


@pytest.mark.parametrize("variant", ["Ready", "Scheduled"])
def test_ready_after_holds_every_read_and_the_start_and_a_schedule_shows_as_the_variant_says(
    threaded_sandbox: Start, variant: str
) -> None:
    clock = FakeClock()
    box = threaded_sandbox(config(ready_after_s=120.0, clock=clock, scheduled_status=variant))
    sandbox = sandbox_of(box)
    campaign_id = call(box, lambda c: c.create_campaign(valid_body())).id
    call(box, lambda c: c.schedule_campaign("Spring Renewals East", daily(sandbox.now())))

    clock.now += 119.0
    assert status(box, campaign_id) == "Preparing"
    assert listed(box)[campaign_id]["status"] == read(box, campaign_id)["status"] == "Preparing"
    refused = rejected(box, lambda c: c.start_campaign(campaign_id))
    assert refused.status == 400 and "is not Ready yet" in refused.message
    assert sandbox.plays[campaign_id] == 0

    clock.now += 1.0
    assert status(box, campaign_id) == variant
    assert listed(box)[campaign_id]["status"] == read(box, campaign_id)["status"] == variant
    assert state_page(box)["campaigns"][0]["status"] == variant
    call(box, lambda c: c.schedule_campaign("Spring Renewals East", None))
    assert status(box, campaign_id) == "Ready"
    assert call(box, lambda c: c.start_campaign(campaign_id)) == "Active"


def test_the_schedule_needs_ready_variant_refuses_a_preparing_campaign_until_it_is_ready(
    threaded_sandbox: Start,
) -> None:
    clock = FakeClock()
    box = threaded_sandbox(config(ready_after_s=120.0, clock=clock, schedule_needs_ready=True))
    campaign_id = call(box, lambda c: c.create_campaign(valid_body())).id
    schedule = daily(sandbox_of(box).now())
    refused = rejected(box, lambda c: c.schedule_campaign("Spring Renewals East", schedule))
    assert refused.status == 400 and "is not Ready yet" in refused.message
    assert read(box, campaign_id)["schedule"]["isSchedulingEnabled"] is False
    clock.now += 120.0
    call(box, lambda c: c.schedule_campaign("Spring Renewals East", schedule))
    assert read(box, campaign_id)["schedule"]["isSchedulingEnabled"] is True


def test_only_an_enabled_schedule_shows_as_scheduled(threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config(scheduled_status="Scheduled"))
    (plain, flagged) = seeded(box, "Plain", "Flagged")
    sandbox_of(box).set_schedule(flagged.id, daily(sandbox_of(box).now()))
    assert (status(box, plain.id), status(box, flagged.id)) == ("Ready", "Scheduled")
    call(box, lambda c: c.start_campaign(flagged.id))
    assert status(box, flagged.id) == "Active"


# --- start: counted, every time ----------------------------------------------------------------------


def test_every_accepted_start_is_counted_also_of_an_active_campaign(threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config())
    sandbox = sandbox_of(box)
    (once, twice) = seeded(box, "Started once", "Started twice")

    assert call(box, lambda c: c.start_campaign(once.id)) == "Active"
    assert call(box, lambda c: c.start_campaign(twice.id)) == "Active"
    assert call(box, lambda c: c.start_campaign(twice.id)) == "Active"  # a second instance: accepted, counted
    assert call(box, lambda c: c.stop_campaign(twice.id)) == "Stopped"
    assert call(box, lambda c: c.start_campaign(twice.id)) == "Active"

    assert sandbox.plays == {once.id: 1, twice.id: 3}
    assert sandbox.requests["trigger"] == 5
    assert state_page(box)["counters"]["plays"] == {once.id: 1, twice.id: 3}
    sandbox.activate(once.id)  # as the platform's UI would: no request, so no play
    assert sandbox.plays[once.id] == 1


# --- faults ------------------------------------------------------------------------------------------------


def test_a_schedule_whose_reply_was_lost_is_stored_and_sending_it_again_succeeds(threaded_sandbox: Start) -> None:
    box = threaded_sandbox(config())
    sandbox = sandbox_of(box)
    (spring,) = seeded(box, "Spring Sale")
    body = weekly(sandbox.now(), ["Mon", "Wed"])
    sandbox.queue_faults(["drop_after"])

    assert status(box, spring.id) == "Ready"  # a read draws no queued fault: it waits for the next write
    with pytest.raises(AmbiguousError):
        call(box, lambda c: c.schedule_campaign("Spring Sale", body))
    stored = read(box, spring.id)["schedule"]
    assert stored == {"isSchedulingEnabled": True, "isRecurrenceEnabled": True, **body}
    call(box, lambda c: c.schedule_campaign("Spring Sale", body))
    assert read(box, spring.id)["schedule"] == stored
    assert (sandbox.faults["drop_after"], sandbox.requests["schedule"]) == (1, 2)


@pytest.mark.parametrize(
    ("fault", "error", "stored"),
    [
        ("spurious_429", RateLimitedError, False),
        ("error_5xx", TransientError, False),
        ("drop_before", AmbiguousError, False),
        ("failure_2xx", ApiError, False),
        ("error_after", TransientError, True),
    ],
)
def test_faults_strike_the_schedule_call_before_or_after_it_is_stored(
    threaded_sandbox: Start, fault: FaultKind, error: type[ApiError], stored: bool
) -> None:
    box = threaded_sandbox(config())
    (spring,) = seeded(box, "Spring Sale")
    sandbox_of(box).queue_faults([fault])
    with pytest.raises(error):
        call(box, lambda c: c.schedule_campaign("Spring Sale", daily(sandbox_of(box).now())))
    assert read(box, spring.id)["schedule"]["isSchedulingEnabled"] is stored
    assert sandbox_of(box).faults[fault] == 1


def test_reads_suffer_only_the_faults_that_strike_before_anything_is_done(threaded_sandbox: Start) -> None:
    after = threaded_sandbox(config(faults=Faults(drop_after=1.0)))
    (campaign,) = seeded(after, "Spring Sale")
    assert status(after, campaign.id) == "Ready" and read(after, campaign.id)["name"] == "Spring Sale"
    assert campaign.id in listed(after)
    with pytest.raises(AmbiguousError):
        call(after, lambda c: c.schedule_campaign("Spring Sale", daily(sandbox_of(after).now())))
    assert sandbox_of(after).faults["drop_after"] == 1

    before = threaded_sandbox(config(faults=Faults(error_5xx=1.0)))
    (campaign,) = seeded(before, "Spring Sale")
    for read_call in (
        lambda c: c.campaign_status(campaign.id),
        lambda c: c.get_campaign(campaign.id),
        lambda c: c.list_campaigns_page(PageQuery(skip=0, page=1, limit=100, start=None, end=None)),
    ):
        with pytest.raises(TransientError):
            call(before, read_call)
    assert sandbox_of(before).faults["error_5xx"] == 3


def test_the_command_offers_the_scheduled_status_variant() -> None:
    from typer.testing import CliRunner

    from provisioner._cli._app import app

    shown = CliRunner().invoke(app, ["sandbox", "--help"], terminal_width=200)
    assert "--scheduled-status" in shown.output and "Ready|Scheduled" in shown.output
    assert CliRunner().invoke(app, ["sandbox", "--scheduled-status", "Planned"]).exit_code == 2
