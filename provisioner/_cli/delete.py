"""``provisioner delete``: undo a batch, deleting the campaigns a results workbook says its run created."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Final

import typer

from provisioner._cli import common
from provisioner._cli.common import ConnectionOptions, LogOptions, StateOptions
from provisioner._cli.run import AsJson
from provisioner.exit_codes import ExitCode
from provisioner.jobs.run import closing_fields
from provisioner.jobs.undo import UndoJob, UndoResult, refuse_sandbox, undo_job
from provisioner.provision.outcomes import Status, count_statuses
from provisioner.provision.wiring import RunOptions
from provisioner.report.workbook import console_summary
from provisioner.words import counted


@common.command("delete", short_help="Undo a batch: delete the campaigns a results workbook says its run created.")
def delete(
    results: Annotated[Path, typer.Argument(metavar="RESULTS", help="Results workbook written by `run`.")],
    connection: ConnectionOptions,
    state: StateOptions,
    log: LogOptions,
    yes: Annotated[bool, typer.Option("--yes", help="Send the deletes; without it only the plan is printed.")] = False,
    stop_active: Annotated[
        bool, typer.Option("--stop-active", help="Stop Active campaigns first, then delete them (else refused).")
    ] = False,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=64, help="Deletes (or stops) in flight at most.")
    ] = RunOptions.concurrency,
    as_json: AsJson = False,
) -> None:
    """Delete the campaigns RESULTS says its run created (status created); never those that existed before it.

    The server is read first: a campaign already gone is reported deleted, one whose id now carries another name
    is refused, and an Active one is refused unless --stop-active. Without --yes nothing is sent. With --yes the
    outcome goes to RESULTS.deleted.xlsx. Ctrl-C (or SIGTERM) sends nothing more, lets the deletes in flight
    settle, and writes RESULTS.deleted.xlsx for what was done; so does a failure after which nothing can be sent
    (credentials refused, certificate changed), which ends with exit 3.

    Example: provisioner delete campaigns.results.xlsx --profile prod --yes
    """
    with common.failures_to_exit_codes():
        log.setup_logging()
        if connection.sandbox:
            raise refuse_sandbox()
        job = UndoJob(
            results,
            connection.settings,
            confirmed=yes,
            stop_active=stop_active,
            options=RunOptions(concurrency=concurrency),
            state_path=state.state,
            rate_limit=connection.rate_limit,
        )
        result = undo_job(job)
    if as_json:
        typer.echo(json.dumps(_json(result), ensure_ascii=False))
    else:
        _print(result, log.quiet)
    raise typer.Exit(result.exit_code)


def _json(result: UndoResult) -> dict[str, object]:
    """Return a delete's outcome as ``delete --json`` prints it: each row, then the totals."""
    report = result.report
    campaigns = [
        {
            "row": o.row,
            "name": o.name,
            "campaign_id": o.campaign_id,
            "status": str(o.status),
            "action": result.actions.get(o.row),
            "reason": o.error or o.note,
        }
        for o in report.outcomes
    ]
    return {
        "campaigns": campaigns,
        **closing_fields(report),
        "exit_meaning": result.meaning,
        "left_alone": result.left_alone,
        "requests": result.requests,
        "notes": list(report.summary.notes),
        "results": str(result.results_path) if result.results_path else None,
    }


#: What the plan says of a row it sends nothing for, by its status.
_UNSENT: Final = {Status.REFUSED: "refuse", Status.DELETED: "gone"}


def _print(result: UndoResult, quiet: bool) -> None:
    report = result.report
    if result.results_path is None and result.exit_code in (ExitCode.OK, ExitCode.FAILED):
        _print_plan(result)  # not interrupted: the plan is whole
        return
    for note in report.summary.notes:
        typer.echo(f"note: {note}", err=True)
    if quiet and not result.exit_code:
        return
    for outcome in report.outcomes:
        if outcome.status in (Status.REFUSED, Status.FAILED, Status.UNKNOWN):
            typer.echo(f"  row {outcome.row}: {outcome.name}: {outcome.error}", err=True)
    typer.echo(console_summary(report, result.results_path, meaning=result.meaning))


def _print_plan(result: UndoResult) -> None:
    """Print what a delete with --yes would do, row by row, and the totals."""
    report = result.report
    for outcome in report.outcomes:
        action = result.actions.get(outcome.row) or _UNSENT[outcome.status]
        why = outcome.error or outcome.note
        typer.echo(f"  {action:<15} row {outcome.row}: {outcome.name} ({outcome.campaign_id}): {why}")
    refused = count_statuses(report.outcomes)[Status.REFUSED]
    typer.echo(
        f"Would delete {counted(len(result.actions), 'campaign')}; {refused} refused; "
        f"{result.left_alone} rows not created by that run are left alone; nothing was sent (--yes deletes)."
    )
