"""The client secret and every JWT stay out of logs, output, exceptions, results workbooks and the ledger."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from provisioner.api.auth import mint_token
from provisioner.errors import ProvisionerError
from provisioner.jobs.run import Job, run_job
from provisioner.provision.retry import RetryPolicy
from provisioner.provision.wiring import RunOptions
from provisioner.sandbox import Faults, SandboxConfig, client_env
from tests.helpers import campaign, window, write_book

SECRET = "s3cr3t-" + "Q" * 40
JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")


def assert_clean(text: str, where: str) -> None:
    assert SECRET not in text, f"the client secret leaked into {where}"
    assert not JWT.search(text), f"a JWT leaked into {where}: {JWT.search(text)}"


def everything_in(path: Path) -> str:
    """Every byte of a file as text; an .xlsx is unzipped so its XML is searched too."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            return "\n".join(zf.read(n).decode("utf-8", "replace") for n in zf.namelist())
    return path.read_bytes().decode("utf-8", "replace")


@pytest.mark.slow
def test_nothing_anywhere_holds_the_secret_or_a_token(
    tmp_path: Path,
    threaded_sandbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # No spurious 429 here: without Retry-After it pauses the run until the 60 s window frees.
    faults = Faults(error_5xx=0.1, drop_after=0.05, drop_before=0.05)
    box = threaded_sandbox(
        SandboxConfig(
            client_secret=SECRET,
            contact_lists=frozenset({"Renewals East"}),
            rate_limit=100_000,
            window_s=0.2,
            faults=faults,
            seed=5,
        )
    )
    rows = [campaign(name=f"Secret test {i}", calling_hours="Office") for i in range(30)]
    rows.append(campaign(name="Refused", contact_lists="Nope"))
    path = write_book(tmp_path / "in.xlsx", rows, [window("Office"), window("Refused")])
    state = tmp_path / "ledger.sqlite3"
    assert box.server is not None
    env = {**os.environ, **client_env(box.server.url, box.config), "PROVISIONER_STATE": str(state)}
    outputs: list[tuple[str, str]] = []

    # 1. The CLI at debug level, JSON logs and a log file, through faults and retries.
    for fmt in ("text", "json"):
        log_file = tmp_path / f"run-{fmt}.log"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "provisioner",
                "run",
                str(path),
                "-v",
                "--log-format",
                fmt,
                "--log-file",
                str(log_file),
                "--out",
                str(tmp_path / f"results-{fmt}.xlsx"),
                "--rate-limit",
                "100000",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode in (0, 1), done.stderr
        outputs += [
            (f"stdout ({fmt})", done.stdout),
            (f"stderr ({fmt})", done.stderr),
            (f"log file ({fmt})", everything_in(log_file)),
        ]
        outputs.append((f"results workbook ({fmt})", everything_in(tmp_path / f"results-{fmt}.xlsx")))
    assert "POST" in outputs[-2][1]  # the debug log really logged the requests

    # 2. A wrong secret: the error path, in-process, every record and exception captured.
    wrong = {**env, "KORE_CLIENT_SECRET": SECRET[::-1]}
    done = subprocess.run(
        [sys.executable, "-m", "provisioner", "run", str(path), "-v", "--out", str(tmp_path / "auth.xlsx")],
        env=wrong,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3
    outputs += [
        ("stdout (auth)", done.stdout),
        ("stderr (auth)", done.stderr),
        ("results (auth)", everything_in(tmp_path / "auth.xlsx")),
    ]

    caplog.set_level(logging.DEBUG, logger="provisioner")
    errors: list[str] = []
    try:
        result = run_job(
            Job(
                input_path=path,
                settings=box.settings,
                state_path=tmp_path / "inproc.sqlite3",
                rate_limit=100_000,
                rate_window_s=0.2,
                options=RunOptions(reconcile_delay_s=0, retry=RetryPolicy(backoff_base_s=0.01)),
            )
        )
        errors += [o.error or "" for o in result.report.outcomes]
    except ProvisionerError as exc:  # pragma: no cover - the run reports, it should not raise
        errors.append(repr(exc) + str(exc))
    outputs.append(
        (
            "log records",
            "\n".join(
                r.getMessage() + (logging.Formatter().formatException(r.exc_info) if r.exc_info else "")
                for r in caplog.records
            ),
        )
    )
    outputs.append(("row errors", "\n".join(errors)))
    outputs.append(("ledger", everything_in(state)))
    outputs.append(("repr of settings", repr(box.settings())))

    for where, text in outputs:
        assert_clean(text, where)
    # The net is fine enough: a real token and the secret itself would be caught.
    assert JWT.search(mint_token(box.settings(), 0.0))
    with pytest.raises(AssertionError):
        assert_clean(f"header auth: {SECRET}", "a planted leak")
