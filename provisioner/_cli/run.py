"""``provisioner run`` and ``provisioner plan``: create the campaigns, or say what creating them would do."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from provisioner._cli import common
from provisioner._cli._app import app
from provisioner.exit_codes import ExitCode
from provisioner.jobs.progress import ProgressDisplay
from provisioner.jobs.run import JobResult, run_job
from provisioner.provision.outcomes import Status
from provisioner.report.workbook import console_summary, human_duration
from provisioner.workbook.problems import errors_only

EXIT_CODES_HELP = "Exit codes: " + "; ".join(f"{c.value} {c.meaning}" for c in ExitCode) + "."
Input = Annotated[Path, typer.Argument(metavar="INPUT", help=".xlsx workbook or folder of CSV files.")]


@app.command(epilog=EXIT_CODES_HELP)
def run(
    input_path: Input,
    out: Annotated[Path | None, typer.Option("--out", help="Results workbook (default INPUT.results.xlsx).")] = None,
    concurrency: common.Concurrency = 4,
    rate_limit: common.RateLimit = None,
    skip_invalid: common.SkipInvalid = False,
    state: common.State = None,
    sandbox: common.Sandbox = False,
    host: common.Host = None,
    stream_id: common.StreamId = None,
    account_id: common.AccountId = None,
    iid: common.Iid = None,
    client_id: common.ClientId = None,
    ca_bundle: common.CaBundle = None,
    config: common.ConfigPath = None,
    profile: common.Profile = None,
    max_rows: common.MaxRows = common.DEFAULT_LIMITS.max_rows,
    max_file_mb: common.MaxFileMb = common.DEFAULT_LIMITS.max_file_bytes // 2**20,
    verbose: common.Verbose = 0,
    quiet: common.Quiet = False,
    log_format: common.LogFormatOpt = common.LogFormat.text,
    log_file: common.LogFile = None,
) -> None:
    """Create every campaign of INPUT exactly once, within the account's rate limit; write the results workbook.

    The client secret comes from $KORE_CLIENT_SECRET or the config profile, never from an option.

    Example: provisioner run campaigns.xlsx --sandbox
    """
    job = common.make_job(
        input_path,
        out=out,
        concurrency=concurrency,
        rate_limit=rate_limit,
        skip_invalid=skip_invalid,
        state=state,
        sandbox=sandbox,
        host=host,
        stream_id=stream_id,
        account_id=account_id,
        iid=iid,
        client_id=client_id,
        ca_bundle=ca_bundle,
        config=config,
        profile=profile,
        max_rows=max_rows,
        max_file_mb=max_file_mb,
    )
    progress = ProgressDisplay(bar=sys.stderr.isatty() and not quiet and log_format is common.LogFormat.text)
    with common.failures_to_exit_codes():
        common.setup(verbose, quiet, log_format, log_file)
        result = run_job(job, progress=progress)
    _print_result(result, quiet)
    raise typer.Exit(result.exit_code)


@app.command(epilog=EXIT_CODES_HELP)
def plan(
    input_path: Input,
    rate_limit: common.RateLimit = None,
    skip_invalid: common.SkipInvalid = False,
    state: common.State = None,
    sandbox: common.Sandbox = False,
    host: common.Host = None,
    stream_id: common.StreamId = None,
    account_id: common.AccountId = None,
    iid: common.Iid = None,
    client_id: common.ClientId = None,
    ca_bundle: common.CaBundle = None,
    config: common.ConfigPath = None,
    profile: common.Profile = None,
    max_rows: common.MaxRows = common.DEFAULT_LIMITS.max_rows,
    max_file_mb: common.MaxFileMb = common.DEFAULT_LIMITS.max_file_bytes // 2**20,
    verbose: common.Verbose = 0,
    quiet: common.Quiet = False,
    log_format: common.LogFormatOpt = common.LogFormat.text,
    log_file: common.LogFile = None,
) -> None:
    """Validate INPUT and read the server: say what `run` would create, skip and refuse, and how long it takes.

    Creates nothing.

    Example: provisioner plan campaigns.xlsx --profile prod
    """
    job = common.make_job(
        input_path,
        rate_limit=rate_limit,
        skip_invalid=skip_invalid,
        state=state,
        sandbox=sandbox,
        host=host,
        stream_id=stream_id,
        account_id=account_id,
        iid=iid,
        client_id=client_id,
        ca_bundle=ca_bundle,
        config=config,
        profile=profile,
        max_rows=max_rows,
        max_file_mb=max_file_mb,
    )
    with common.failures_to_exit_codes():
        common.setup(verbose, quiet, log_format, log_file)
        result = run_job(job, dry_run=True)
    _print_plan(result)
    raise typer.Exit(result.exit_code)


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


def _print_plan(result: JobResult) -> None:
    outcomes = result.report.outcomes
    plan = result.plan
    for note in result.report.summary.notes:
        typer.echo(f"note: {note}")
    if plan is None:
        invalid = [o for o in outcomes if o.status is Status.INVALID]
        typer.echo(f"{len(invalid)} invalid rows; nothing would be sent until they are fixed:")
        for outcome in invalid:
            typer.echo(f"  row {outcome.row} {outcome.name!r}: {outcome.error}")
        return
    by_row = {o.row: o for o in outcomes}
    typer.echo(
        f"Would create {len(plan.to_create)} campaigns"
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
    for outcome in outcomes:
        if outcome.status is Status.INVALID:
            typer.echo(f"  invalid row {outcome.row}: {outcome.name}: {outcome.error}")
