"""The typer application every command module registers on, with -h and --version."""

from __future__ import annotations

from typing import Annotated

import typer

from provisioner import __version__

app = typer.Typer(
    name="provisioner",
    help="Turn a spreadsheet into live Kore.ai outbound voice campaigns, exactly once.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # never print locals: they may hold a secret
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},  # subcommands inherit it
)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"provisioner {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    pass
