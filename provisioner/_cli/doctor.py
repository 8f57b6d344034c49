"""``provisioner doctor``: check a tenant read-only before a first real run, as a checklist or as JSON."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from provisioner._cli import common
from provisioner._cli.common import ConnectionOptions, LogOptions
from provisioner.exit_codes import ExitCode
from provisioner.jobs.doctor import Checkup, run_doctor
from provisioner.words import counted


@common.command("doctor", short_help="Check a tenant read-only before a first real run.")
def doctor(
    connection: ConnectionOptions,
    log: LogOptions,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the checklist.")] = False,
) -> None:
    """Check the tenant the settings name, creating nothing: settings, TLS, token and scope, clock, paging, lists.

    Spends at most 10 requests. What it finds, `run` also finds out on the fly: this is advice, not a required step.

    Example: provisioner doctor --profile prod
    """
    with common.failures_to_exit_codes():
        log.setup_logging()
        checkup = run_doctor(connection.settings, sandbox=connection.sandbox)
    if as_json:
        typer.echo(json.dumps(checkup.as_dict(), ensure_ascii=False))
    else:
        _print(checkup)
    raise typer.Exit(ExitCode.OK if checkup.safe else ExitCode.CONFIG)


def _print(checkup: Checkup) -> None:
    width = max(len(f.check) for f in checkup.findings)
    for finding in checkup.findings:
        first, *more = finding.detail.splitlines()
        typer.echo(f"{finding.verdict.value:5} {finding.check:{width}}  {first}")
        for line in more:
            typer.echo(f"{'':5} {'':{width}}  {line}")
        if finding.advice:
            typer.echo(f"{'':5} {'':{width}}  → {finding.advice}")
    requests = counted(checkup.requests, "request")
    verdict = "A run would be safe" if checkup.safe else "A run would NOT be safe: fix what failed above"
    typer.echo(f"{verdict} ({requests}, nothing created).")
