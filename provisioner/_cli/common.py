"""Options shared by several commands, each defined once in an options group, and the failure-to-exit mapping.

A command takes a group by naming a parameter of its type (``job: JobOptions``); :func:`command` turns the
group's fields into that command's options and hands the command the filled-in group.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final

import typer

from provisioner._cli._app import app
from provisioner._cli.exits import epilog
from provisioner.api.settings import Settings, load_settings
from provisioner.errors import ProvisionerError
from provisioner.exit_codes import ExitCode, exit_code_for
from provisioner.jobs.run import Job
from provisioner.logs import configure_logging, scrub
from provisioner.provision.wiring import RunOptions
from provisioner.workbook.load import Limits
from provisioner.workbook.problems import Problem

SCREEN_PROBLEMS: Final = 20  # the console shows this many; the report workbook holds all of them
DEFAULT_LIMITS: Final = Limits()
# Marks a JobOptions field passed to the settings loader, where it overrides the setting of the same name.
_SETTING: Final = "setting"

log = logging.getLogger("provisioner")


class LogFormat(StrEnum):
    """How log lines are written."""

    text = "text"
    json = "json"


@dataclasses.dataclass(frozen=True)
class InputOptions:
    """How a command reads its input: every command that reads a workbook takes these."""

    max_rows: Annotated[int, typer.Option("--max-rows", help="Most rows accepted per sheet.")] = DEFAULT_LIMITS.max_rows
    max_file_mb: Annotated[int, typer.Option("--max-file-mb", help="Largest input file accepted, in MB.")] = (
        DEFAULT_LIMITS.max_file_bytes // 2**20
    )

    @property
    def limits(self) -> Limits:
        """Return the input caps."""
        return Limits(max_rows=self.max_rows, max_file_bytes=self.max_file_mb * 1024 * 1024)


@dataclasses.dataclass(frozen=True)
class LogOptions:
    """How a command logs: every command that works for long or talks to a server takes these."""

    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More detail (-v debug).")] = 0
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors (for cron).")] = False
    log_format: Annotated[LogFormat, typer.Option("--log-format", help="text for people, json for log collectors.")] = (
        LogFormat.text
    )
    log_file: Annotated[Path | None, typer.Option("--log-file", help="Also write the log to this file.")] = None

    def setup_logging(self) -> None:
        """Configure logging as these options ask."""
        configure_logging(
            verbosity=self.verbose, quiet=self.quiet, log_format=self.log_format.value, log_file=self.log_file
        )


@dataclasses.dataclass(frozen=True)
class StateOptions:
    """Where the ledger is: every command that reads or writes it takes this."""

    state: Annotated[
        Path | None, typer.Option("--state", help="Ledger file ($PROVISIONER_STATE; default in the XDG state dir).")
    ] = None


@dataclasses.dataclass(frozen=True)
class ConnectionOptions:
    """Which tenant a command talks to, and how fast: every command that reaches the server takes these."""

    rate_limit: Annotated[
        int | None, typer.Option("--rate-limit", min=1, help="Requests per minute for the account (default 60).")
    ] = None
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="Run against a built-in sandbox API with generated credentials.")
    ] = False
    host: Annotated[str | None, _SETTING, typer.Option("--host", help="API host, https://… ($KORE_HOST).")] = None
    stream_id: Annotated[
        str | None, _SETTING, typer.Option("--stream-id", help="Bot/stream id st-… ($KORE_STREAM_ID).")
    ] = None
    account_id: Annotated[str | None, _SETTING, typer.Option("--account-id", help="Account id ($KORE_ACCOUNT_ID).")] = (
        None
    )
    iid: Annotated[
        str | None, _SETTING, typer.Option("--iid", help="App id header; defaults to the stream id ($KORE_IID).")
    ] = None
    client_id: Annotated[
        str | None, _SETTING, typer.Option("--client-id", help="JWT app client id cs-… ($KORE_CLIENT_ID).")
    ] = None
    ca_bundle: Annotated[
        Path | None, _SETTING, typer.Option("--ca-bundle", help="PEM file of CAs to trust (corporate proxy).")
    ] = None
    config: Annotated[Path | None, typer.Option("--config", help="TOML config file with [profiles.NAME].")] = None
    profile: Annotated[str | None, typer.Option("--profile", help="Profile of the config file to use.")] = None

    def settings(self) -> Settings:
        """Resolve the settings: options > environment > config-file profile."""
        hints = typing.get_type_hints(ConnectionOptions, include_extras=True)
        overrides = {name: getattr(self, name) for name, hint in hints.items() if _SETTING in hint.__metadata__}
        return load_settings(overrides, config_path=self.config, profile=self.profile)


@dataclasses.dataclass(frozen=True)
class JobOptions(ConnectionOptions, StateOptions):
    """How a command sends to the server: run, plan and batch take these (with the connection and the ledger)."""

    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=64, help="Requests in flight at most.")] = 4
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Send the valid rows even if others are invalid.")
    ] = False

    def job(self, input_path: Path, limits: Limits, out: Path | None = None) -> Job:
        """Build the Job of one input (settings load lazily, when the job needs them)."""
        return Job(
            input_path=input_path,
            settings=self.settings,
            options=RunOptions(concurrency=self.concurrency, skip_invalid=self.skip_invalid),
            out_path=out,
            state_path=self.state,
            limits=limits,
            rate_limit=self.rate_limit,
            sandbox=self.sandbox,
        )


_GROUPS: Final = (InputOptions, LogOptions, StateOptions, ConnectionOptions, JobOptions)


def command(
    name: str, short_help: str, *, group: typer.Typer = app, exits: str | None = None
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register a command with its own exit-code epilog, a short line for the listing, and its option groups.

    ``group`` is the (sub-)application it belongs to; ``exits`` names its row of the exit-code table
    (default: ``name``).

    Each parameter annotated with an options group is replaced by the group's fields, as keyword-only
    options after the command's own parameters (so they are accepted anywhere after the command name);
    the command receives the group filled in.
    """

    def register(function: Callable[..., None]) -> Callable[..., None]:
        hints = typing.get_type_hints(function, include_extras=True)
        signature = inspect.signature(function)
        groups = {p: hints[p] for p in signature.parameters if hints[p] in _GROUPS}
        own = [p.replace(annotation=hints[p.name]) for p in signature.parameters.values() if p.name not in groups]
        added = [_parameter(group, f) for group in groups.values() for f in dataclasses.fields(group)]
        clash = {p.name for p in own} & {p.name for p in added}
        assert not clash, f"{function.__name__}: parameters named like shared options: {clash}"

        @functools.wraps(function)
        def with_groups(**values: Any) -> None:
            for parameter, group in groups.items():
                values[parameter] = group(**{f.name: values.pop(f.name) for f in dataclasses.fields(group)})
            function(**values)

        parameters = own + added
        with_groups.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        with_groups.__annotations__ = {p.name: p.annotation for p in parameters}
        return group.command(name, short_help=short_help, epilog=epilog(exits or name))(with_groups)

    return register


def _parameter(group: type, field: dataclasses.Field[Any]) -> inspect.Parameter:
    """Return the keyword-only parameter one field of an options group becomes."""
    annotation = typing.get_type_hints(group, include_extras=True)[field.name]
    return inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=field.default, annotation=annotation)


@contextmanager
def failures_to_exit_codes() -> Iterator[None]:
    """Turn the tool's own errors into one clear line and the documented exit code; never a traceback."""
    try:
        yield
    except ProvisionerError as exc:
        fail(str(exc), exit_code_for(exc))


def fail(message: str, code: ExitCode) -> typing.NoReturn:
    """Print ``error: message`` (secrets masked) on stderr and end the command with ``code``."""
    log.debug("failure detail", exc_info=True)
    typer.echo(f"error: {scrub(message)}", err=True)
    raise typer.Exit(code) from None


def render_problems(problems: list[Problem], echo: Callable[[str], None], limit: int = SCREEN_PROBLEMS) -> None:
    """Print problems one per line, capped with 'and N more'."""
    for problem in problems[:limit]:
        value = f" [{problem.value}]" if problem.value is not None else ""
        echo(f"  {problem.severity.upper():7} {problem.location}{value}: {problem.message}")
    if len(problems) > limit:
        echo(f"  … and {len(problems) - limit} more (all of them are in the report workbook: use --report)")
