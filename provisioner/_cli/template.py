"""``provisioner template``: write a blank campaigns workbook to fill in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Final

import typer

from provisioner._cli import common
from provisioner.exit_codes import ExitCode
from provisioner.workbook.template import write_template

DEFAULT_PATH: Final = Path("campaigns-template.xlsx")


@common.command("template", short_help="Write a blank campaigns workbook to fill in.")
def template(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="Where to write the workbook.")] = DEFAULT_PATH,
    force: Annotated[bool, typer.Option("--force", help="Overwrite PATH if it already exists.")] = False,
) -> None:
    """Write a campaigns workbook with example rows, dropdowns and instructions, ready to fill in."""
    if path.exists() and not force:
        typer.echo(f"{path} already exists; pass --force to overwrite it.", err=True)
        raise typer.Exit(ExitCode.INVALID)
    try:
        write_template(path)
    except OSError as exc:
        typer.echo(f"cannot write {path}: {exc.strerror or exc}", err=True)
        raise typer.Exit(ExitCode.INVALID) from exc
    typer.echo(str(path))
