"""``provisioner batch``: run every workbook and CSV folder dropped in an inbox folder, once each (for cron)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from provisioner._cli import common
from provisioner._cli.common import InputOptions, JobOptions, LogOptions
from provisioner.exit_codes import ExitCode
from provisioner.jobs.batch import DEFAULT_SETTLE_S, run_batch
from provisioner.jobs.run import Job


@common.command("batch", short_help="Run every workbook dropped in a folder, once each (for cron).")
def batch(
    inbox: Annotated[Path, typer.Argument(metavar="INBOX", help="Folder where workbooks and CSV folders are dropped.")],
    job: JobOptions,
    io: InputOptions,
    log: LogOptions,
    outbox: Annotated[
        Path | None, typer.Option("--outbox", help="Folder for the results workbooks (default INBOX/results).")
    ] = None,
    settle_seconds: Annotated[
        float,
        typer.Option("--settle-seconds", min=0, help="Leave an input changed less than this long ago for later."),
    ] = DEFAULT_SETTLE_S,
) -> None:
    """Run every workbook (*.xlsx) and CSV folder in INBOX, oldest first, each exactly once, like `run`.

    Each results workbook goes to INBOX/results (or --outbox); each input then moves to INBOX/done (exit 0)
    or INBOX/failed, renamed with the time. An input still changing or open in an editor waits for a later
    run. An interrupted run, or one stopped by configuration, credentials, connectivity or a ledger in use,
    puts its input back in INBOX and ends the batch: the next batch run retries it and creates only what is missing.
    Another batch run already working on INBOX makes this one exit at once with code 4.

    The batch exits with the most severe exit of its inputs: 143, 130, 3, 1, 2, 4, then 0.

    Example (crontab): */5 * * * * provisioner batch /srv/campaigns/inbox --profile prod --quiet
    """

    def make_job(input_path: Path, results: Path) -> Job:
        return job.job(input_path, io.limits, results)

    try:
        with common.failures_to_exit_codes():
            log.setup_logging()
            result = run_batch(inbox, make_job=make_job, outbox=outbox, settle_s=settle_seconds)
    except KeyboardInterrupt:
        # Ctrl-C outside the sending (reading an input, between inputs): the input is back in INBOX.
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    raise typer.Exit(result.exit_code)
