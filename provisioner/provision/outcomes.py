"""What happened to each input row, and to the run as a whole: the data the results workbook is written from."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from provisioner.exit_codes import ExitCode
from provisioner.provision.compare import Change
from provisioner.workbook.problems import Problem


class Status(StrEnum):
    """The outcome of one Campaigns row."""

    CREATED = "created"  # created by this run
    EXISTS = "exists"  # already on the server (or created by an earlier run); not created again
    FAILED = "failed"  # the server refused it, or it could not be sent; the error says why
    INVALID = "invalid"  # the row has problems; nothing was sent
    SKIPPED = "skipped"  # not attempted: the run stopped (auth failure, interrupt) or the input was invalid
    UNKNOWN = "unknown"  # sent, but whether it was created could not be established; rerun to reconcile
    UPDATED = "updated"  # it differed from the sheet and this run (run --update) made it equal
    UNCHANGED = "unchanged"  # on the server and equal to the sheet
    DIFFERS = "differs"  # on the server and different from the sheet; run --update applies the changes
    LOCKED = "locked"  # different from the sheet but Active: the vendor allows no edits, so nothing was sent
    DELETED = "deleted"  # delete: this run deleted it, or it was gone already
    REFUSED = "refused"  # delete: not deleted, and not to be (Active, or the id now carries another name)

    @property
    def done(self) -> bool:
        """Tell whether the campaign is known to exist on the server."""
        return self in (Status.CREATED, Status.EXISTS, Status.UPDATED, Status.UNCHANGED, Status.DIFFERS, Status.LOCKED)


@dataclass(frozen=True)
class RowOutcome:
    """The outcome of one Campaigns row."""

    row: int
    name: str
    status: Status
    campaign_id: str | None = None
    campaign_status: str | None = None  # Preparing / Ready, when known
    error: str | None = None  # why it failed; on a campaign that exists, why its schedule or start failed
    attempts: int = 0  # create requests sent for this row by this run
    finished_at: dt.datetime | None = None
    note: str | None = None  # why a successful row is as it is (e.g. created again after a deletion)
    changes: tuple[Change, ...] = ()  # where the server differed from the sheet (updated, differs, locked)
    schedule: str | None = None  # the campaign's schedule as this tool set it, in words
    started_at: dt.datetime | None = None  # when this tool started the campaign (this run or an earlier one)

    @property
    def unfinished(self) -> bool:
        """Tell whether the campaign exists but a step after its create (schedule, start) failed."""
        return self.status.done and self.error is not None


@dataclass(frozen=True)
class RunSummary:
    """Facts about one run for the Summary sheet and the closing log line; never holds a secret."""

    run_id: str
    command: str  # validate, plan, run
    input_name: str
    input_sha256: str
    started: dt.datetime
    finished: dt.datetime
    exit_code: ExitCode
    tool_version: str
    host: str | None = None
    account_id: str | None = None
    stream_id: str | None = None
    notes: tuple[str, ...] = field(default=())  # e.g. "interrupted by SIGTERM", "authentication failed"

    @property
    def duration_s(self) -> float:
        """Return the run's duration in seconds."""
        return (self.finished - self.started).total_seconds()


def count_statuses(outcomes: list[RowOutcome]) -> dict[Status, int]:
    """Count outcomes per status, every status present (zero when none)."""
    counts = Counter(o.status for o in outcomes)
    return {status: counts.get(status, 0) for status in Status}


@dataclass(frozen=True)
class Report:
    """Everything a results workbook shows."""

    summary: RunSummary
    outcomes: list[RowOutcome]
    problems: tuple[Problem, ...]
