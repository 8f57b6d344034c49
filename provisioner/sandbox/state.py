"""What a sandbox holds, with no HTTP in sight: its campaigns, their lifecycle and schedules, and how reads show them.

:class:`SandboxState` is the platform's side of things: what a create stores, what an update, a start or a
schedule changes, what status a campaign is in at a given moment, and what the read endpoints show of it.
Tests use its public methods to act as the platform's UI would (``seed``, ``edit``, ``activate``,
``set_schedule``, ``remove``). :class:`~provisioner.sandbox.server.Sandbox` serves it over HTTP.
"""

from __future__ import annotations

import copy
import random
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from provisioner.api.campaign import iso_timestamp
from provisioner.sandbox.config import SandboxConfig
from provisioner.sandbox.listing import ListQuery

#: What the read endpoints show of a stored campaign besides its id, ``status``, ``updatedAt`` and ``schedule``.
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
#: The two flags every schedule carries; a list result shows nothing else of it.
_SCHEDULE_FLAGS: Final = ("isSchedulingEnabled", "isRecurrenceEnabled")
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
    """One stored campaign: the ``data`` its create returned, its schedule and when it was created.

    ``schedule`` always holds ``isSchedulingEnabled`` and ``isRecurrenceEnabled``; once the schedule call
    enabled it, also the ``startDateTime``, ``endDateTime`` and ``recurrenceObject`` it was sent.
    """

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

    @property
    def timezone(self) -> str:
        """Return the IANA time zone of the campaign's calling hours (its schedule's times are read in it)."""
        return str(self.data["dialingStrategy"]["callingHours"]["timezone"])


class SandboxState:
    """The campaigns a sandbox holds and everything that changes them, kept apart from the HTTP that reaches it.

    Status, in order: ``Active`` (started, not stopped since), ``Stopped``, ``Preparing`` (younger than
    ``ready_after_s``), then ``Ready``, or ``Scheduled`` when ``scheduled_status`` says so and the schedule
    is enabled. A schedule is stored, never run: the sandbox dials nobody, so nothing turns Active by itself.
    """

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.campaigns: list[StoredCampaign] = []  # in creation order, duplicates included
        self._rng = random.Random(config.seed)  # noqa: S311  (reproducible test noise, not cryptography)
        self._by_id: dict[str, StoredCampaign] = {}
        self._bodies: dict[str, dict[str, Any]] = {}  # id -> the body that set the campaign's settings last
        self._edited: dict[str, datetime] = {}  # id -> when it was last changed (API or UI), on the wall clock
        self._active: set[str] = set()
        self._stopped: set[str] = set()  # stopped by the trigger since they were last Active
        self._ids_by_name: dict[str, str] = {}  # stable cl-/cf- ids for list and flow names
        self._seen_lists: dict[str, None] = dict.fromkeys(sorted(config.listed_contact_lists))  # ordered set
        self._foreign: deque[str] = deque()  # ids of other teams' campaigns, oldest first
        self._foreign_made = 0

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

    def stop(self, campaign_id: str) -> None:
        """Stop a campaign as the stop trigger would: it turns Stopped (and editable) until started again."""
        if campaign_id not in self._by_id:
            raise KeyError(campaign_id)
        self._active.discard(campaign_id)
        self._stopped.add(campaign_id)

    def edit(self, campaign_id: str, **changes: Any) -> StoredCampaign:
        """Change a campaign as a user of the platform's UI would: create-body fields replaced, ``updatedAt`` moved.

        ``changes`` use the create body's top-level keys (``priority="1"``, ``dialingStrategy={…}``).
        """
        campaign = self._by_id[campaign_id]
        self._apply(campaign, {**self._bodies[campaign_id], **changes}, self.now())
        return campaign

    def set_schedule(self, campaign_id: str, schedule: Mapping[str, Any] | None) -> StoredCampaign:
        """Enable a campaign's schedule with a valid schedule-call body, or disable it (None); ``updatedAt`` moves.

        Disabling drops the stored start, end and recurrence: a disabled schedule has nothing left to run.
        """
        campaign = self._by_id[campaign_id]
        campaign.schedule.clear()
        if schedule is None:
            campaign.schedule.update(dict.fromkeys(_SCHEDULE_FLAGS, False))
        else:
            recurring = "recurrenceObject" in schedule
            campaign.schedule.update(isSchedulingEnabled=True, isRecurrenceEnabled=recurring)
            campaign.schedule.update(copy.deepcopy(dict(schedule)))
        self._edited[campaign_id] = self.now()
        return campaign

    def named(self, name: str) -> list[StoredCampaign]:
        """Return every campaign carrying ``name``, ignoring upper/lower case as the platform's ``lname`` does."""
        lname = name.lower()
        return [c for c in self.campaigns if c.lname == lname]

    def body(self, campaign_id: str) -> dict[str, Any]:
        """Return the create-shaped body that set a campaign's settings last (for tests comparing with a sheet)."""
        return self._bodies[campaign_id]

    def duplicates(self) -> dict[str, int]:
        """Return ``{lname: count}`` for every name stored more than once."""
        counts = Counter(campaign.lname for campaign in self.campaigns)
        return {lname: count for lname, count in counts.items() if count > 1}

    def now(self) -> datetime:
        """Return the time on the server's wall clock, which runs ``clock_skew_s`` off the real one."""
        return datetime.now(UTC) + timedelta(seconds=self.config.clock_skew_s)

    def status(self, campaign: StoredCampaign) -> str:
        """Return the status a campaign shows now (see the class docstring for the order)."""
        if campaign.id in self._active:
            return "Active"
        if campaign.id in self._stopped:
            return "Stopped"
        if not self.is_ready(campaign):
            return "Preparing"
        if self.config.scheduled_status == "Scheduled" and campaign.schedule["isSchedulingEnabled"]:
            return "Scheduled"
        return "Ready"

    def is_ready(self, campaign: StoredCampaign) -> bool:
        """Say whether a campaign has finished Preparing (``ready_after_s`` on the sandbox clock)."""
        return self.config.clock() - campaign.created >= self.config.ready_after_s

    def is_active(self, campaign: StoredCampaign) -> bool:
        """Say whether a campaign is running (started and not stopped since)."""
        return campaign.id in self._active

    def read_view(self, campaign: StoredCampaign) -> dict[str, Any]:
        """Return a campaign as get-by-id shows it: ``_id``, its settings, status and the whole schedule."""
        return {**self._view(campaign, _GET_FIELDS, "_id"), "schedule": copy.deepcopy(campaign.schedule)}

    def list_view(self, campaign: StoredCampaign) -> dict[str, Any]:
        """Return a campaign as a list result shows it: fewer settings, and only the schedule's two flags."""
        schedule = {flag: campaign.schedule[flag] for flag in _SCHEDULE_FLAGS}
        return {**self._view(campaign, _LIST_RESULT_FIELDS, self.config.list_id_field), "schedule": schedule}

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
        enabled = bool(body.get("schedule", {}).get("isSchedulingEnabled", False))
        campaign = StoredCampaign(
            data=data,
            schedule={"isSchedulingEnabled": enabled, "isRecurrenceEnabled": False},
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

    def _follow_schedule_flag(self, campaign: StoredCampaign, body: dict[str, Any]) -> None:
        """Take an update body's ``schedule.isSchedulingEnabled``: false disables the schedule, true keeps it on."""
        enabled = body.get("schedule", {}).get("isSchedulingEnabled")
        if enabled is False:
            self.set_schedule(campaign.id, None)
        elif enabled is True:
            campaign.schedule["isSchedulingEnabled"] = True

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

    def _updated_at(self, campaign: StoredCampaign) -> str:
        if campaign.id in self._edited:
            return iso_timestamp(self._edited[campaign.id])
        if not self.is_ready(campaign):
            return str(campaign.data["updatedAt"])
        return iso_timestamp(campaign.created_wall + timedelta(seconds=self.config.ready_after_s))

    def _view(self, campaign: StoredCampaign, keys: tuple[str, ...], id_field: str) -> dict[str, Any]:
        """Return a read view of a campaign: its id under ``id_field``, the stored ``keys``, its current status."""
        return {
            id_field: campaign.id,
            **{key: campaign.data[key] for key in keys},
            "status": self.status(campaign),
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
