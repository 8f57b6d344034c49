"""The first half of every command: load the input, validate it, build the bodies, and say how it went."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path

from provisioner import __version__
from provisioner.exit_codes import ExitCode
from provisioner.provision.outcomes import Report, RunSummary
from provisioner.provision.payloads import Payload, build_payloads
from provisioner.report.workbook import write_report
from provisioner.words import counted
from provisioner.workbook.load import Limits, input_digest, load_workbook
from provisioner.workbook.problems import errors_only
from provisioner.workbook.validate import Validated, validate


@dataclass(frozen=True)
class Checked:
    """A validated input with the create bodies of its sendable campaigns."""

    validated: Validated
    payloads: list[Payload]

    @property
    def headline(self) -> str:
        """Summarise the check in one line."""
        v = self.validated
        errors = len(errors_only(v.problems))
        warnings = len(v.problems) - errors
        name = v.workbook.path.name
        verdict = "valid" if v.valid else counted(errors, "problem")
        extra = f", {counted(warnings, 'warning')}" if warnings else ""
        return (
            f"{name}: {counted(len(v.campaigns), 'campaign')}, {len(self.payloads)} ready to create; {verdict}{extra}."
        )


def check_input(path: Path, limits: Limits | None = None, *, report_path: Path | None = None) -> Checked:
    """Load and validate INPUT and build its bodies; optionally write the problems to a report workbook."""
    started = dt.datetime.now(dt.UTC)
    validated = validate(load_workbook(path, limits))
    checked = Checked(validated, build_payloads(validated))
    if report_path is not None:
        summary = RunSummary(
            run_id=uuid.uuid4().hex[:12],
            command="validate",
            input_name=Path(path).name,
            input_sha256=input_digest(Path(path)),
            started=started,
            finished=dt.datetime.now(dt.UTC),
            exit_code=ExitCode.OK if validated.valid else ExitCode.INVALID,
            tool_version=__version__,
        )
        write_report(report_path, Report(summary, [], validated.problems), validated.workbook)
    return checked
