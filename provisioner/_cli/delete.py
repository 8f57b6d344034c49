"""``provisioner delete``: undo a batch, deleting the campaigns a results workbook says its run created."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from provisioner._cli import common
from provisioner._cli.common import ConnectionOptions, LogOptions, StateOptions
from provisioner.jobs.undo import UndoJob, UndoResult, refuse_sandbox, undo_job
from provisioner.provision.outcomes import Status, count_statuses
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
) -> None:
    """Delete the campaigns RESULTS says its run created (status created); never those that existed before it.

    The server is read first: a campaign already gone is reported deleted, one whose id now carries another name
    is refused, and an Active one is refused unless --stop-active. Without --yes nothing is sent. With --yes the
    outcome goes to RESULTS.deleted.xlsx.

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
            state_path=state.state,
            rate_limit=connection.rate_limit,
        )
        result = undo_job(job)
    _print(result, yes, log.quiet)
    raise typer.Exit(result.exit_code)


def _print(result: UndoResult, sent: bool, quiet: bool) -> None:
    report = result.report
    if not sent:
        for outcome in report.outcomes:
            action = result.actions.get(outcome.row) or ("refuse" if outcome.status is Status.REFUSED else "gone")
            why = outcome.error or outcome.note
            typer.echo(f"  {action:<15} row {outcome.row}: {outcome.name} ({outcome.campaign_id}): {why}")
        refused = count_statuses(report.outcomes)[Status.REFUSED]
        typer.echo(
            f"Would delete {counted(len(result.actions), 'campaign')}; {refused} refused; "
            f"{result.left_alone} rows not created by that run are left alone; nothing was sent (--yes deletes)."
        )
        return
    if quiet and not result.exit_code:
        return
    for outcome in report.outcomes:
        if outcome.error:
            typer.echo(f"  row {outcome.row}: {outcome.name}: {outcome.error}", err=True)
    typer.echo(console_summary(report, result.results_path))
