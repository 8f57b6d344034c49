"""``provisioner validate``: check a workbook and list every problem, sending nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from provisioner._cli import common
from provisioner._cli.common import InputOptions, LogOptions
from provisioner._cli.run import Input
from provisioner.exit_codes import ExitCode
from provisioner.jobs.check import check_input


@common.command("validate", short_help="Check a workbook and list every problem; send nothing.")
def validate(
    input_path: Input,
    io: InputOptions,
    log: LogOptions,
    report: Annotated[Path | None, typer.Option("--report", help="Write every problem to this .xlsx.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
) -> None:
    """Check INPUT against every rule and list all problems at once; nothing is sent.

    Example: provisioner validate campaigns.xlsx --report problems.xlsx
    """
    with common.failures_to_exit_codes():
        log.setup_logging()
        result = check_input(input_path, io.limits, report_path=report)
    code = ExitCode.OK if result.validated.valid else ExitCode.INVALID
    problems = list(result.validated.problems)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "valid": result.validated.valid,
                    "campaigns": len(result.validated.campaigns),
                    "issues": [p.as_dict() for p in problems],
                },
                ensure_ascii=False,
                default=str,
            )
        )
        raise typer.Exit(code)
    if not log.quiet or code:
        typer.echo(result.headline)
        common.render_problems(problems, typer.echo)
        if report is not None:
            typer.echo(f"Report written to {report}")
    raise typer.Exit(code)
