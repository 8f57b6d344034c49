"""``provisioner ledger show|forget``: look into the ledger of what runs sent, and repair it by hand."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from provisioner._cli import common
from provisioner._cli._app import app
from provisioner._cli.common import LogOptions, StateOptions
from provisioner.exit_codes import ExitCode
from provisioner.jobs.ledger_repair import LedgerRow, forget_entries, show_entries
from provisioner.words import counted

ledger_app = typer.Typer(
    help="Look into the ledger of what runs sent, and repair it by hand.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(ledger_app, name="ledger", short_help="Show the ledger of what runs sent, or forget entries.")

Names = Annotated[list[str] | None, typer.Argument(metavar="NAME", help="Campaign names (case does not matter).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]


@common.command("show", short_help="Show the ledger's entries.", group=ledger_app, exits="ledger show")
def show(state: StateOptions, log: LogOptions, names: Names = None, as_json: AsJson = False) -> None:
    """Show every ledger entry (or those of NAME…): tenant, name, state, campaign id, run and when it was sent.

    Example: provisioner ledger show "Spring Renewals East"
    """
    with common.failures_to_exit_codes():
        log.setup_logging()
        path, rows = show_entries(state.state, names or [])
    _print(path, rows, as_json, "entries")
    raise typer.Exit(ExitCode.OK)


@common.command("forget", short_help="Forget entries by name or by run.", group=ledger_app, exits="ledger forget")
def forget(
    state: StateOptions,
    log: LogOptions,
    names: Names = None,
    run_id: Annotated[
        str | None, typer.Option("--run", metavar="RUN_ID", help="Forget every entry of this run.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Forget the entries of NAME… (in every tenant) or of one run: the next run decides them from the server alone.

    Use it when the ledger disagrees with what you know, e.g. after restoring a server from a backup.

    Example: provisioner ledger forget "Spring Renewals East"
    """
    if not names and run_id is None:
        common.fail("name at least one campaign, or pass --run RUN_ID", ExitCode.INVALID)
    with common.failures_to_exit_codes():
        log.setup_logging()
        path, rows = forget_entries(state.state, names or [], run_id)
    _print(path, rows, as_json, "forgotten")
    raise typer.Exit(ExitCode.OK if rows else ExitCode.FAILED)


def _print(path: object, rows: list[LedgerRow], as_json: bool, key: str) -> None:
    if as_json:
        typer.echo(json.dumps({"ledger": str(path), key: [r.as_dict() for r in rows]}, ensure_ascii=False))
        return
    verb = "in" if key == "entries" else "forgotten from"
    typer.echo(f"{counted(len(rows), 'entry', 'entries')} {verb} {path}")
    for row in rows:
        data = row.as_dict()
        when = data["sent_at"] or "never sent"
        typer.echo(
            f"  {data['state']:9} {data['name']}  {data['campaign_id'] or '-'}  run {data['run_id']}  {when}"
            f"  ({data['host']}, account {data['account_id']}, stream {data['stream_id']})"
        )
