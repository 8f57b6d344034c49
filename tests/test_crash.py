"""Crash soak: a run killed with SIGKILL at random moments, then completed, creates every campaign exactly once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from provisioner.names import fold_name
from provisioner.sandbox import SandboxConfig, client_env
from tests.conftest import ThreadedSandbox
from tests.helpers import campaign, read_results, window, write_book

N = 150


def _start(path: Path, box: ThreadedSandbox, state: Path, out: Path) -> subprocess.Popen[bytes]:
    assert box.server is not None
    env = {**os.environ, **client_env(box.server.url, box.config), "PROVISIONER_STATE": str(state)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "provisioner",
            "run",
            str(path),
            "--out",
            str(out),
            "--concurrency",
            "4",
            "--rate-limit",
            "100000",
            "--quiet",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_sigkill_at_random_moments_then_a_final_run(tmp_path: Path, threaded_sandbox) -> None:
    box: ThreadedSandbox = threaded_sandbox(
        SandboxConfig(contact_lists=frozenset({"Renewals East"}), rate_limit=100_000, latency_ms=40, seed=3)
    )
    assert box.server is not None
    sandbox = box.server.sandbox
    names = [f"Crash {i:03d}" for i in range(N)]
    path = write_book(
        tmp_path / "in.xlsx", [campaign(name=n, calling_hours="Office") for n in names], [window("Office")]
    )
    state, out = tmp_path / "ledger.sqlite3", tmp_path / "results.xlsx"
    rng = random.Random(11)
    kills = 0
    while kills < 5 and len(sandbox.campaigns) < N:
        before = sandbox.requests["create"]
        process = _start(path, box, state, out)
        deadline = time.monotonic() + 60
        # Kill once this run has sent some creates, at a random point of its work.
        target = before + rng.randint(3, 25)
        while sandbox.requests["create"] < target and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.08))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(30)
    assert kills >= 3, "the runs finished before they could be killed; slow the sandbox down"
    assert 0 < len(sandbox.campaigns) < N

    final = _start(path, box, state, out)
    _, err = final.communicate(timeout=120)
    assert final.returncode == 0, err.decode()

    assert sandbox.duplicates() == {}
    stored = {c.lname: c.id for c in sandbox.campaigns}
    assert set(stored) == {fold_name(n) for n in names}
    results = read_results(out)
    assert len(results) == N
    for row in results:
        assert row["status"] in ("created", "unchanged"), row
        assert stored[fold_name(row["name"])] == row["campaign_id"]
