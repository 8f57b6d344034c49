"""Options shared by several commands, defined once, and the mapping from failures to exit codes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Final

import typer

from provisioner.api.settings import load_settings
from provisioner.errors import ProvisionerError
from provisioner.exit_codes import ExitCode, exit_code_for
from provisioner.jobs.run import Job
from provisioner.logs import configure_logging, scrub
from provisioner.provision.engine import RunOptions
from provisioner.workbook.load import Limits
from provisioner.workbook.problems import Problem

SCREEN_PROBLEMS: Final = 20  # the console shows this many; the report workbook holds all of them

log = logging.getLogger("provisioner")


class LogFormat(StrEnum):
    """How log lines are written."""

    text = "text"
    json = "json"


Verbose = Annotated[int, typer.Option("--verbose", "-v", count=True, help="More detail (-v debug).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors (for cron).")]
LogFormatOpt = Annotated[LogFormat, typer.Option("--log-format", help="text for people, json for log collectors.")]
LogFile = Annotated[Path | None, typer.Option("--log-file", help="Also write the log to this file.")]
MaxRows = Annotated[int, typer.Option("--max-rows", help="Most rows accepted per sheet.")]
MaxFileMb = Annotated[int, typer.Option("--max-file-mb", help="Largest input file accepted, in MB.")]

DEFAULT_LIMITS: Final = Limits()


def setup(verbose: int, quiet: bool, log_format: LogFormat, log_file: Path | None) -> None:
    """Configure logging from the shared options."""
    configure_logging(verbosity=verbose, quiet=quiet, log_format=log_format.value, log_file=log_file)


def limits(max_rows: int, max_file_mb: int) -> Limits:
    """Build the input caps from the shared options."""
    return Limits(max_rows=max_rows, max_file_bytes=max_file_mb * 1024 * 1024)


@contextmanager
def failures_to_exit_codes() -> Iterator[None]:
    """Turn the tool's own errors into one clear line and the documented exit code; never a traceback."""
    try:
        yield
    except ProvisionerError as exc:
        _fail(exc, exit_code_for(exc))


def _fail(exc: Exception, code: ExitCode) -> None:
    log.debug("failure detail", exc_info=True)
    typer.echo(f"error: {scrub(str(exc))}", err=True)
    raise typer.Exit(code) from None


def render_problems(problems: list[Problem], echo: Callable[[str], None], limit: int = SCREEN_PROBLEMS) -> None:
    """Print problems one per line, capped with 'and N more'."""
    for problem in problems[:limit]:
        value = f" [{problem.value}]" if problem.value is not None else ""
        echo(f"  {problem.severity.upper():7} {problem.location}{value}: {problem.message}")
    if len(problems) > limit:
        echo(f"  … and {len(problems) - limit} more (all of them are in the report workbook: use --report)")


Host = Annotated[str | None, typer.Option("--host", help="API host, https://… ($KORE_HOST).")]
StreamId = Annotated[str | None, typer.Option("--stream-id", help="Bot/stream id st-… ($KORE_STREAM_ID).")]
AccountId = Annotated[str | None, typer.Option("--account-id", help="Account id ($KORE_ACCOUNT_ID).")]
Iid = Annotated[str | None, typer.Option("--iid", help="App id header; defaults to the stream id ($KORE_IID).")]
ClientId = Annotated[str | None, typer.Option("--client-id", help="JWT app client id cs-… ($KORE_CLIENT_ID).")]
CaBundle = Annotated[Path | None, typer.Option("--ca-bundle", help="PEM file of CAs to trust (corporate proxy).")]
ConfigPath = Annotated[Path | None, typer.Option("--config", help="TOML config file with [profiles.NAME].")]
Profile = Annotated[str | None, typer.Option("--profile", help="Profile of the config file to use.")]
RateLimit = Annotated[
    int | None, typer.Option("--rate-limit", min=1, help="Requests per minute for the account (default 60).")
]
State = Annotated[
    Path | None,
    typer.Option("--state", help="Ledger file ($PROVISIONER_STATE; default in the XDG state dir)."),
]
Sandbox = Annotated[
    bool, typer.Option("--sandbox", help="Run against a built-in sandbox API with generated credentials.")
]
Concurrency = Annotated[int, typer.Option("--concurrency", min=1, max=64, help="Requests in flight at most.")]
SkipInvalid = Annotated[bool, typer.Option("--skip-invalid", help="Send the valid rows even if others are invalid.")]


def make_job(
    input_path: Path,
    *,
    out: Path | None = None,
    concurrency: int = 4,
    rate_limit: int | None,
    skip_invalid: bool,
    state: Path | None,
    sandbox: bool,
    host: str | None,
    stream_id: str | None,
    account_id: str | None,
    iid: str | None,
    client_id: str | None,
    ca_bundle: Path | None,
    config: Path | None,
    profile: str | None,
    max_rows: int,
    max_file_mb: int,
) -> Job:
    """Build the Job of one input from the shared options (settings load lazily: options > env > config file)."""
    overrides: dict[str, object | None] = {
        "host": host,
        "stream_id": stream_id,
        "account_id": account_id,
        "iid": iid,
        "client_id": client_id,
        "ca_bundle": ca_bundle,
    }
    return Job(
        input_path=input_path,
        settings=lambda: load_settings(overrides, config_path=config, profile=profile),
        options=RunOptions(concurrency=concurrency, skip_invalid=skip_invalid),
        out_path=out,
        state_path=state,
        limits=limits(max_rows, max_file_mb),
        rate_limit=rate_limit,
        sandbox=sandbox,
    )
