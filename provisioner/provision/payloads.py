"""Build the exact v2 create body of each valid campaign, as the vendor's page specifies it, and its schedule's body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from provisioner.workbook import spec
from provisioner.workbook.cells import format_time
from provisioner.workbook.validate import Validated

#: The schedule endpoint's spelling of each day (``whichDays``), in week order.
SCHEDULE_DAYS: Final = dict(zip(spec.DAYS, ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), strict=True))
_DATE_TIME: Final = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True, slots=True)
class Payload:
    """The create body of one campaign, with the spreadsheet row it came from."""

    row: int
    name: str
    body: dict[str, Any]
    schedule: dict[str, Any] | None = None  # the schedule endpoint's body (enableSchedule=true), when the row has one
    start: bool = False  # the row's Start column: start the campaign once it is Ready


def build_payloads(validated: Validated) -> list[Payload]:
    """Return the create bodies of every sendable campaign, in input order."""
    table = validated.campaigns.loc[validated.sendable_rows]
    keys = [str(k) for k in table.columns]
    payloads: list[Payload] = []
    for row, *cells in table.itertuples(name=None):
        values = dict(zip(keys, cells, strict=True))
        body = build_body(values, validated, row)
        payloads.append(Payload(row, str(values["name"]), body, build_schedule(values), values["start"] == "yes"))
    return payloads


def build_schedule(values: dict[str, Any]) -> dict[str, Any] | None:
    """Map one campaign's schedule columns to the schedule endpoint's body; None when it has no schedule."""
    if not _has_schedule(values):
        return None
    recurrence: dict[str, Any] = {"recurType": values["recurrence"]}
    if values["recurrence"] == "Weekly":
        recurrence["weeklyDetails"] = {
            "onceEveryNweeks": int(values["every_n_weeks"] or 1),
            "whichDays": [SCHEDULE_DAYS[day] for day in spec.DAYS if day in values["schedule_days"]],
        }
    return {
        "startDateTime": values["schedule_start"].strftime(_DATE_TIME),
        "endDateTime": values["schedule_end"].strftime(_DATE_TIME),
        "recurrenceObject": recurrence,
    }


def build_body(values: dict[str, Any], validated: Validated, row: int) -> dict[str, Any]:
    """Map one campaign's typed values to the v2 body: types exactly as the API takes them."""
    windows = validated.windows[validated.hours_key(row)]
    return {
        "name": values["name"],
        "description": values["description"],
        "contactLists": list(values["contact_lists"]),
        "dncLists": {"name": values["dnc_list"]},
        "priority": str(values["priority"]),
        "dialingMode": values["dialing_mode"],
        "dialingStrategy": {
            "callerId": {"phoneNumber": values["caller_id"]},
            "callingHours": {
                "frequency": values["frequency"],
                "timezone": values["timezone"],
                "days": [{"day": w.day, "start": format_time(w.start), "end": format_time(w.end)} for w in windows],
            },
            "dialingOrder": values["dialing_order"],
            "maxAttemptsPerRecord": int(values["max_attempts_per_record"]),
            "defaultRetryPeriod": int(values["default_retry_period"]),
            "maxRingTime": int(values["max_ring_time"]),
        },
        # The vendor's samples send it; the schedule itself is set later, through its own endpoint.
        "schedule": {"isSchedulingEnabled": _has_schedule(values)},
        "experienceFlowName": values["experience_flow_name"],
        "enableMachineDetect": values["enable_machine_detect"],
        "campaignType": values["campaign_type"],
    }


def _has_schedule(values: dict[str, Any]) -> bool:
    # A valid row fills in all of its schedule's required columns or none of them.
    return values["schedule_start"] is not None
