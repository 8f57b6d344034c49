"""``provisioner sandbox``: serve a local stand-in of the vendor's campaign API until Ctrl-C."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Final

import typer

from provisioner._cli import common
from provisioner.api import endpoints
from provisioner.api.settings import ENV_CLIENT_SECRET
from provisioner.errors import InputError
from provisioner.exit_codes import ExitCode, exit_code_for
from provisioner.jobs.check import check_input
from provisioner.logs import configure_logging
from provisioner.sandbox import STATE_PATH, Faults, RunningSandbox, SandboxConfig, client_env, serve
from provisioner.sandbox.config import ContactListMethod, ListIdField, Paging, ScheduledStatus

DEFAULT_PORT: Final = 8787
_FAULT_KEYS: Final = tuple(f.name for f in dataclasses.fields(Faults))


def export_lines(url: str, config: SandboxConfig, environ: Mapping[str, str]) -> str:
    """Render the shell ``export NAME=value`` lines a client needs to reach the sandbox at ``url``."""
    env = client_env(url, config)
    secret = env.pop(ENV_CLIENT_SECRET)
    lines = [f"export {name}={shlex.quote(value)}" for name, value in env.items()]
    if environ.get(ENV_CLIENT_SECRET):
        # It may be a real tenant's secret: never echo it; the client can take it from the same place.
        lines.append(f"# {ENV_CLIENT_SECRET}: the one already set in this environment")
    else:
        lines.append(f"export {ENV_CLIENT_SECRET}={shlex.quote(secret)}")
    return "\n".join(lines)


def parse_faults(specs: list[str]) -> Faults:
    """Build :class:`Faults` from ``KIND=VALUE`` texts such as ``drop_after=0.1`` or ``slow_s=5``."""
    values: dict[str, float] = {}
    for spec in specs:
        key, sep, text = spec.partition("=")
        if not sep or key.strip() not in _FAULT_KEYS:
            raise typer.BadParameter(f"{spec!r} must be KIND=VALUE with KIND one of {', '.join(_FAULT_KEYS)}")
        try:
            values[key.strip()] = float(text)
        except ValueError:
            raise typer.BadParameter(f"{spec!r}: {text!r} is not a number") from None
    try:
        return Faults(**values)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def lists_named_in(inputs: list[Path]) -> frozenset[str]:
    """Return every contact list the sendable campaigns of these inputs name; InputError if one is unreadable."""
    return frozenset(name for path in inputs for p in check_input(path).payloads for name in p.body["contactLists"])


@common.command("sandbox", short_help="Serve a local stand-in of the vendor API until Ctrl-C.")
def sandbox_command(
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="INPUT",
            exists=True,
            help="Workbooks or CSV folders whose contact lists the list endpoint shows from the start.",
        ),
    ] = None,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0: any free port).")] = DEFAULT_PORT,
    rate_limit: Annotated[
        int, typer.Option(metavar="PER_MIN", min=1, help="Requests accepted per rolling minute.")
    ] = endpoints.DEFAULT_RATE_PER_MINUTE,
    latency_ms: Annotated[float, typer.Option(min=0, help="Delay added to every accepted request.")] = 0.0,
    ready_after: Annotated[
        float,
        typer.Option(
            metavar="S", min=0, help="Seconds a new campaign stays Preparing (status, list, get; start refused)."
        ),
    ] = 2.0,
    contact_lists: Annotated[
        str | None,
        typer.Option(metavar='"A,B"', help="The only contact lists that exist (default: creates accept any name)."),
    ] = None,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            metavar="KIND=P",
            help=f"Misbehave with probability P; repeatable. KIND: {', '.join(_FAULT_KEYS)} "
            "(slow_s and jitter_ms take seconds and milliseconds instead).",
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed faults and ids for a repeatable run.")] = None,
    retry_after_header: Annotated[
        bool, typer.Option(help="Send Retry-After with 429s (the vendor documents none).")
    ] = False,
    page_cap: Annotated[
        int | None,
        typer.Option(
            metavar="N", min=1, help="At most N list results per page whatever limit asks; data.limit says N."
        ),
    ] = None,
    paging: Annotated[
        Paging,
        typer.Option(
            help="Which list request field places the page: skip (offset), page (1-based) or both "
            "(skip when sent, else page). The other is ignored.",
        ),
    ] = "both",
    default_window_days: Annotated[
        float | None,
        typer.Option(
            metavar="DAYS",
            help="A list request without startDate/endDate sees only campaigns created in the last DAYS.",
        ),
    ] = None,
    list_id_field: Annotated[
        ListIdField,
        typer.Option(help="The key list results carry the campaign id under."),
    ] = "_id",
    contact_list_method: Annotated[
        ContactListMethod,
        typer.Option(
            help="The method the contact-list endpoint answers; the other gets 405.",
        ),
    ] = "POST",
    clock_skew: Annotated[
        float, typer.Option(metavar="S", help="Run the server's clock S seconds off (Date header, timestamps).")
    ] = 0.0,
    churn: Annotated[
        int,
        typer.Option(
            metavar="N",
            min=0,
            help="Before each list call, other writers create N campaigns and delete the N oldest of theirs.",
        ),
    ] = 0,
    scheduled_status: Annotated[
        ScheduledStatus,
        typer.Option(help="The status a Ready campaign with an enabled schedule shows: Ready, or Scheduled."),
    ] = "Ready",
    schedule_needs_ready: Annotated[
        bool, typer.Option(help="Refuse to schedule a campaign still Preparing (as a start is refused).")
    ] = False,
) -> None:
    """Serve a local sandbox of the vendor's Campaign Management v2 API on 127.0.0.1 until Ctrl-C.

    It takes KORE_STREAM_ID, KORE_ACCOUNT_ID, KORE_IID, KORE_CLIENT_ID and KORE_CLIENT_SECRET from the
    environment when set and makes up the others, then prints the export lines a client in another
    terminal needs. A generated secret is printed on purpose: it is the sandbox's own throwaway
    credential and opens nothing but this local sandbox. A KORE_CLIENT_SECRET taken from the
    environment is never printed.

    Without --contact-lists any contact list name is accepted: the list endpoint shows the lists of
    the INPUT files plus every name a create has used, and tells provisioner that any name will do,
    so plan and run refuse no row for its lists. Each request served is logged to
    standard error (method, path, status, milliseconds); GET /__sandbox__/state shows the stored
    campaigns and the counters (starts per campaign among them) as JSON.

    Example: provisioner sandbox campaigns.xlsx --rate-limit 30 --fault drop_after=0.05 --seed 7
    """
    names = None if contact_lists is None else {n.strip() for n in contact_lists.split(",")} - {""}
    configure_logging()
    try:
        listed = lists_named_in(inputs or [])
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exit_code_for(exc)) from None
    try:
        config = dataclasses.replace(
            SandboxConfig.from_env(os.environ),
            rate_limit=rate_limit,
            latency_ms=latency_ms,
            ready_after_s=ready_after,
            contact_lists=None if names is None else frozenset(names) | listed,
            listed_contact_lists=listed,
            faults=parse_faults(fault or []),
            seed=seed,
            retry_after_header=retry_after_header,
            page_cap=page_cap,
            paging=paging,
            default_window_days=default_window_days,
            list_id_field=list_id_field,
            contact_list_method=contact_list_method,
            clock_skew_s=clock_skew,
            churn_per_list_call=churn,
            scheduled_status=scheduled_status,
            schedule_needs_ready=schedule_needs_ready,
            log_requests=True,
        )
    except ValueError as exc:  # settings that contradict each other, e.g. a window of 0 days
        raise typer.BadParameter(str(exc)) from None

    def announce(server: RunningSandbox) -> None:
        typer.echo(export_lines(server.url, config, os.environ))
        typer.echo(f"# sandbox serving on {server.url}; state at {server.url}{STATE_PATH}; Ctrl-C to stop", err=True)

    try:
        asyncio.run(serve(config, port=port, on_ready=announce))
    except KeyboardInterrupt:  # the normal way to stop a server, so not a failure
        typer.echo("# sandbox stopped", err=True)
    except OSError as exc:  # the port is taken or cannot be bound
        typer.echo(f"cannot serve on 127.0.0.1:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(ExitCode.CONFIG) from None
