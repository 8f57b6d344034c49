"""``provisioner validate``: check a workbook and list every problem, sending nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from provisioner._cli import common
from provisioner._cli._app import app
from provisioner.exit_codes import ExitCode
from provisioner.jobs.check import check_input


@app.command()
def validate(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help=".xlsx workbook or folder of CSV files.")],
    report: Annotated[Path | None, typer.Option("--report", help="Write every problem to this .xlsx.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
    max_rows: common.MaxRows = common.DEFAULT_LIMITS.max_rows,
    max_file_mb: common.MaxFileMb = common.DEFAULT_LIMITS.max_file_bytes // 2**20,
    verbose: common.Verbose = 0,
    quiet: common.Quiet = False,
    log_format: common.LogFormatOpt = common.LogFormat.text,
    log_file: common.LogFile = None,
) -> None:
    """Check INPUT against every rule and list all problems at once; nothing is sent.

    Exit 0 when valid, 2 when not (or when the file cannot be read).

    Example: provisioner validate campaigns.xlsx --report problems.xlsx
    """
    with common.failures_to_exit_codes():
        common.setup(verbose, quiet, log_format, log_file)
        result = check_input(input_path, common.limits(max_rows, max_file_mb), report_path=report)
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
    if not quiet or code:
        typer.echo(result.headline)
        common.render_problems(problems, typer.echo)
        if report is not None:
            typer.echo(f"Report written to {report}")
    raise typer.Exit(code)
