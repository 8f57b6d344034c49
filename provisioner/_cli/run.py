"""``provisioner run`` and ``provisioner plan``: create the campaigns, or say what creating them would do."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Final

import typer

from provisioner._cli import common
from provisioner._cli.common import InputOptions, JobOptions, LogOptions
from provisioner.exit_codes import ExitCode
from provisioner.jobs.progress import ProgressDisplay
from provisioner.jobs.run import JobResult, closing_fields, run_job
from provisioner.provision.lifecycle import Steps, WaitOptions
from provisioner.provision.outcomes import RowOutcome, Status, count_statuses
from provisioner.report.workbook import console_summary, human_duration, started_by
from provisioner.words import counted
from provisioner.workbook.problems import errors_only

Input = Annotated[Path, typer.Argument(metavar="INPUT", help=".xlsx workbook or folder of CSV files.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the outcome as JSON on stdout.")]


@common.command("run", short_help="Create the campaigns of a workbook exactly once; write the results.")
def run(
    input_path: Input,
    job: JobOptions,
    io: InputOptions,
    log: LogOptions,
    out: Annotated[Path | None, typer.Option("--out", help="Results workbook (default INPUT.results.xlsx).")] = None,
    update: Annotated[
        bool, typer.Option("--update", help="Apply the sheet's changes to campaigns that differ from it.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="After the creates, wait until every campaign has left Preparing.")
    ] = False,
    wait_timeout: Annotated[
        float,
        typer.Option(
            "--wait-timeout",
            min=0,
            max=24 * 3600,
            metavar="SECONDS",
            help="Stop waiting after this long; campaigns still Preparing are reported, not failed.",
        ),
    ] = WaitOptions.timeout_s,
    as_json: AsJson = False,
) -> None:
    """Create every campaign of INPUT exactly once, within the account's rate limit; write the results workbook.

    Campaigns that exist are compared with their rows: without --update those that differ are reported
    (status differs, with their changes); with --update their changes are sent. Active campaigns are locked.
    Rows with a schedule get it once their campaign exists; rows with Start = yes are started once Ready,
    exactly once (that waits for them, as --wait waits for every campaign, up to --wait-timeout).
    The client secret comes from $KORE_CLIENT_SECRET or the config profile, never from an option.

    Example: provisioner run campaigns.xlsx --sandbox
    """
    bar = sys.stderr.isatty() and not log.quiet and not as_json and log.log_format is common.LogFormat.text
    with common.failures_to_exit_codes():
        log.setup_logging()
        waiting = WaitOptions(wait=wait, timeout_s=wait_timeout)
        result = run_job(
            replace(job.job(input_path, io.limits, out), update=update, wait=waiting), progress=ProgressDisplay(bar=bar)
        )
    if as_json:
        typer.echo(json.dumps(_run_json(result), ensure_ascii=False))
    else:
        _print_result(result, log.quiet)
    raise typer.Exit(result.exit_code)


@common.command("plan", short_help="Say what run would create, skip and refuse; create nothing.")
def plan(input_path: Input, job: JobOptions, io: InputOptions, log: LogOptions, as_json: AsJson = False) -> None:
    """Validate INPUT and read the server: say, row by row, what `run` would create, update or leave, and how long.

    Actions: create, update (with each change, server → sheet), unchanged, locked (Active: not editable),
    refuse (the server lacks a contact list, or several campaigns carry the name), invalid. Sends nothing and
    changes nothing.
    Exits with the code `run --update` would end with if everything went as planned.

    Example: provisioner plan campaigns.xlsx --profile prod
    """
    with common.failures_to_exit_codes():
        log.setup_logging()
        result = run_job(job.job(input_path, io.limits), dry_run=True)
    raise typer.Exit(_print_plan(result, as_json))


def _print_result(result: JobResult, quiet: bool) -> None:
    summary = result.report.summary
    for note in summary.notes:
        typer.echo(f"note: {note}", err=True)
    if quiet and summary.exit_code == ExitCode.OK:
        return
    errors = errors_only(list(result.report.problems))
    if errors:
        common.render_problems(errors, typer.echo)
    typer.echo(console_summary(result.report, result.results_path))


#: A plan's action for each status its rows can have.
_ACTIONS: Final = {
    Status.DIFFERS: "update",
    Status.UNCHANGED: "unchanged",
    Status.LOCKED: "locked",
    Status.EXISTS: "exists",
    Status.FAILED: "refuse",
    Status.INVALID: "invalid",
}


def _campaign_json(outcome: RowOutcome, **fields: object) -> dict[str, object]:
    """Return one row as the JSON outputs show it, its changes as ``{field, server, sheet}``."""
    return {
        "row": outcome.row,
        "name": outcome.name,
        **fields,
        "campaign_id": outcome.campaign_id,
        "changes": [change.as_json() for change in outcome.changes],
    }


def _steps_json(steps: Steps | None) -> dict[str, object]:
    """Return what a plan would do after a row's create: start it, and set (or clear) its schedule."""
    if steps is None:
        return {"start": False, "schedule": None}
    return {"start": steps.start, "schedule": None if steps.schedule == "keep" else steps.schedule}


def _steps_said(steps: Steps | None) -> str:
    """Say what a plan would do after a row's create, for its line: ``, then start it``."""
    if steps is None:
        return ""
    said = {"set": ", then set its schedule", "clear": ", then disable its schedule"}.get(steps.schedule, "")
    return said + (", then START it once Ready" if steps.start else "")


def _run_json(result: JobResult) -> dict[str, object]:
    """Return a run's final summary as ``run --json`` prints it."""
    report = result.report
    return {
        "campaigns": [
            _campaign_json(
                o,
                status=str(o.status),
                campaign_status=o.campaign_status,
                started_at=o.started_at.isoformat() if o.started_at else None,
                schedule=o.schedule,
                error=o.error or o.note,
            )
            for o in report.outcomes
        ],
        "started": started_by(report),
        "wait_rounds": list(result.rounds),
        **closing_fields(report),
        "requests": result.requests,
        "notes": list(report.summary.notes),
        "results": str(result.results_path) if result.results_path else None,
    }


def _print_plan(result: JobResult, as_json: bool) -> ExitCode:
    """Print the plan and return plan's exit code: the one `run --update` would end with if all went as planned."""
    outcomes = result.report.outcomes
    invalid = [o for o in outcomes if o.status is Status.INVALID]
    plan = result.plan
    if plan is None and result.exit_code is not ExitCode.INVALID:
        # Stopped before reading the server (settings, credentials, connection, ledger): say only that.
        common.fail("; ".join(result.report.summary.notes), result.exit_code)
    code = result.exit_code
    creates = {p.row: p.name for p in plan.to_create} if plan is not None else {}
    rows: list[tuple[int, RowOutcome | None]] = sorted(
        [(o.row, o) for o in outcomes] + [(row, None) for row in creates], key=lambda r: r[0]
    )
    if as_json:
        campaigns: list[dict[str, object]] = [
            _campaign_json(o, action=_ACTIONS[o.status], **_steps_json(result.steps.get(row)))
            if o is not None
            else {
                "row": row,
                "name": creates[row],
                "action": "create",
                **_steps_json(result.steps.get(row)),
                "campaign_id": None,
                "changes": [],
            }
            for row, o in rows
        ]
        starting = [c["name"] for c in campaigns if c["start"]]
        document = {"campaigns": campaigns, "start": starting, "requests": result.requests, "eta_s": result.eta_s}
        typer.echo(json.dumps(document))
        return code
    for note in result.report.summary.notes:
        typer.echo(f"note: {note}")
    if plan is None:
        typer.echo(f"{counted(len(invalid), 'invalid row')}; nothing would be sent until they are fixed:")
        for bad in invalid:
            typer.echo(f"  row {bad.row} {bad.name!r}: {bad.error}")
        return code
    for row, known in rows:
        if known is None:
            why = f" ({plan.deleted[row]})" if row in plan.deleted else ""
            typer.echo(f"  create  row {row}: {creates[row]}{why}{_steps_said(result.steps.get(row))}")
            continue
        action = _ACTIONS[known.status]
        detail = f" ({known.campaign_id})" if known.campaign_id else f": {known.error}"
        typer.echo(f"  {action:<7} row {row}: {known.name}{detail}{_steps_said(result.steps.get(row))}")
        if known.note and known.started_at is None and result.steps.get(row) is not None:
            typer.echo(f"            {known.note}")
        for change in known.changes:
            typer.echo(f"            {change}")
    counts = count_statuses(outcomes)
    updates = counts[Status.DIFFERS]
    typer.echo(
        f"Would create {counted(len(creates), 'campaign')} and update {updates}; "
        f"{counts[Status.UNCHANGED]} unchanged, {counts[Status.LOCKED]} locked; "
        f"{counted(result.requests or 0, 'request')}"
        + (f", at least {human_duration(result.eta_s)} at the rate limit" if result.eta_s else "")
        + "."
    )
    names = {row: (known.name if known is not None else creates[row]) for row, known in rows}
    starts = [names[row] for row, steps in sorted(result.steps.items()) if steps.start]
    if starts:
        typer.echo(f"Would START {counted(len(starts), 'campaign')} (phones ring): {', '.join(starts)}.")
    refusals = len(plan.missing_lists) + len(plan.ambiguous)
    refused = [f"{counted(refusals, 'row')} refused"] if refusals else []
    refused += [counted(len(invalid), "invalid row")] if invalid else []
    if refused:
        typer.echo(f"Not ready: {' and '.join(refused)}; `run` would not create them.")
    if updates:
        typer.echo("`run` reports these as 'differs'; `run --update` sends the changes.")
    return code
