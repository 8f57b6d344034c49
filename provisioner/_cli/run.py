"""``provisioner run`` and ``provisioner plan``: create the campaigns, or say what creating them would do."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from provisioner._cli import common
from provisioner._cli.common import InputOptions, JobOptions, LogOptions
from provisioner.exit_codes import ExitCode
from provisioner.jobs.progress import ProgressDisplay
from provisioner.jobs.run import JobResult, run_job
from provisioner.provision.outcomes import Status
from provisioner.report.workbook import console_summary, human_duration
from provisioner.words import counted
from provisioner.workbook.problems import errors_only

Input = Annotated[Path, typer.Argument(metavar="INPUT", help=".xlsx workbook or folder of CSV files.")]


@common.command("run", short_help="Create the campaigns of a workbook exactly once; write the results.")
def run(
    input_path: Input,
    job: JobOptions,
    io: InputOptions,
    log: LogOptions,
    out: Annotated[Path | None, typer.Option("--out", help="Results workbook (default INPUT.results.xlsx).")] = None,
) -> None:
    """Create every campaign of INPUT exactly once, within the account's rate limit; write the results workbook.

    The client secret comes from $KORE_CLIENT_SECRET or the config profile, never from an option.

    Example: provisioner run campaigns.xlsx --sandbox
    """
    progress = ProgressDisplay(bar=sys.stderr.isatty() and not log.quiet and log.log_format is common.LogFormat.text)
    with common.failures_to_exit_codes():
        log.setup_logging()
        result = run_job(job.job(input_path, io.limits, out), progress=progress)
    _print_result(result, log.quiet)
    raise typer.Exit(result.exit_code)


@common.command("plan", short_help="Say what run would create, skip and refuse; create nothing.")
def plan(input_path: Input, job: JobOptions, io: InputOptions, log: LogOptions) -> None:
    """Validate INPUT and read the server: say what `run` would create, skip and refuse, and how long it takes.

    Creates nothing. Exits with the code `run` would end with if everything went as planned.

    Example: provisioner plan campaigns.xlsx --profile prod
    """
    with common.failures_to_exit_codes():
        log.setup_logging()
        result = run_job(job.job(input_path, io.limits), dry_run=True)
    raise typer.Exit(_print_plan(result))


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


def _print_plan(result: JobResult) -> ExitCode:
    """Print the plan and return plan's exit code: the one `run` would end with if all went as planned."""
    outcomes = result.report.outcomes
    invalid = [o for o in outcomes if o.status is Status.INVALID]
    plan = result.plan
    if plan is None and result.exit_code is not ExitCode.INVALID:
        # Stopped before reading the server (settings, credentials, connection, ledger): say only that.
        common.fail("; ".join(result.report.summary.notes), result.exit_code)
    for note in result.report.summary.notes:
        typer.echo(f"note: {note}")
    if plan is None:
        typer.echo(f"{counted(len(invalid), 'invalid row')}; nothing would be sent until they are fixed:")
        for outcome in invalid:
            typer.echo(f"  row {outcome.row} {outcome.name!r}: {outcome.error}")
        return ExitCode.INVALID
    by_row = {o.row: o for o in outcomes}
    typer.echo(
        f"Would create {counted(len(plan.to_create), 'campaign')}"
        + (f" (at least {human_duration(result.eta_s)} at the rate limit)" if result.eta_s else "")
        + "."
    )
    for payload in plan.to_create:
        why = f" ({plan.deleted[payload.row]})" if payload.row in plan.deleted else ""
        typer.echo(f"  create  row {payload.row}: {payload.name}{why}")
    for row, campaign in sorted(plan.existing.items()):
        typer.echo(f"  exists  row {row}: {by_row[row].name} ({campaign.id})")
    for row, names in sorted(plan.missing_lists.items()):
        typer.echo(f"  refuse  row {row}: {by_row[row].name}: contact lists not on the server: {', '.join(names)}")
    for outcome in invalid:
        typer.echo(f"  invalid row {outcome.row}: {outcome.name}: {outcome.error}")
    refused = [f"{counted(len(plan.missing_lists), 'row')} refused"] if plan.missing_lists else []
    refused += [counted(len(invalid), "invalid row")] if invalid else []
    if refused:
        typer.echo(f"Not ready: {' and '.join(refused)}; `run` would not create them.")
    if invalid:
        return ExitCode.INVALID
    return ExitCode.FAILED if plan.missing_lists else ExitCode.OK
