"""The typer application every command module registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="provisioner",
    help="Turn a spreadsheet into live Kore.ai outbound voice campaigns, exactly once.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # never print locals: they may hold a secret
    rich_markup_mode=None,
)
