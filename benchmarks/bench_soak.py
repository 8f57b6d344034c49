"""Fault soak and crash soak against the sandbox, printing the figures: duplicates, lost campaigns, mismatches.

    python benchmarks/bench_soak.py                 1,000 campaigns through mixed faults, then 5 SIGKILLs + a final run
    python benchmarks/bench_soak.py -n 2000 --kills 8

Fault soak: 5xx, spurious 429, drops before and after storing, stored-then-5xx and replies slower than the client's
timeout, all at once. Afterwards the results workbook is compared with the sandbox row by row.
Crash soak: `provisioner run` in a subprocess is killed with SIGKILL at random moments, then run to the end.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from provisioner.jobs.run import Job, run_job
from provisioner.names import fold_name
from provisioner.provision.retry import RetryPolicy
from provisioner.provision.wiring import RunOptions
from provisioner.sandbox import Faults, SandboxConfig, ThreadedSandbox, client_env

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.helpers import campaign, read_results, window, write_book

LISTS = frozenset({"Renewals East"})
FAULTS = Faults(
    error_5xx=0.08, spurious_429=0.05, drop_before=0.04, drop_after=0.04, error_after=0.03, slow_after=0.02, slow_s=3.0
)


def workbook(folder: Path, n: int, tag: str) -> Path:
    """Write n valid campaigns sharing one set of calling hours."""
    rows = [campaign(name=f"{tag} {i:05d}", calling_hours="Office") for i in range(n)]
    return write_book(folder / f"{tag}.xlsx", rows, [window("Office")])


def compare(rows: list[dict[str, Any]], box: ThreadedSandbox, n: int) -> tuple[int, int, int]:
    """Return duplicates on the sandbox, campaigns missing from it, and rows that disagree with it."""
    assert box.server is not None
    sandbox = box.server.sandbox
    stored = {c.lname: c.id for c in sandbox.campaigns}
    mismatches = 0
    for row in rows:
        key = fold_name(row["name"])
        if row["status"] in ("created", "exists"):
            mismatches += stored.get(key) != row["campaign_id"]
        else:
            mismatches += key in stored
    duplicates = sum(count - 1 for count in sandbox.duplicates().values())
    return duplicates, n - len(stored), mismatches


def fault_soak(folder: Path, n: int) -> None:
    """Mixed faults over n campaigns, in-process."""
    config = SandboxConfig(contact_lists=LISTS, rate_limit=1_000_000, window_s=0.5, faults=FAULTS, seed=2026)
    box = ThreadedSandbox(config)
    path = workbook(folder, n, "Soak")
    with box as server:
        started = time.perf_counter()
        result = run_job(
            Job(
                input_path=path,
                settings=box.settings,
                state_path=folder / "soak.sqlite3",
                rate_limit=1_000_000,
                rate_window_s=0.5,
                options=RunOptions(
                    concurrency=8,
                    request_timeout_s=1.0,
                    reconcile_delay_s=0.1,
                    max_sends=8,
                    retry=RetryPolicy(max_attempts=10, backoff_base_s=0.05, backoff_cap_s=0.5),
                ),
            )
        )
        elapsed = time.perf_counter() - started
        assert result.results_path is not None
        rows = read_results(result.results_path)
        duplicates, missing, mismatches = compare(rows, box, n)
        faults = dict(server.sandbox.faults)
        requests = server.sandbox.requests_total
    statuses = {s: sum(r["status"] == s for r in rows) for s in ("created", "exists", "failed", "unknown")}
    print(f"fault soak: {n} campaigns in {elapsed:.1f} s, {requests} requests ({requests / n:.2f} per campaign)")
    print(f"   faults injected: {faults}")
    print(f"   outcomes: {statuses}")
    print(
        f"   duplicates: {duplicates}   lost: {missing - statuses['failed']}   rows disagreeing with the sandbox: "
        f"{mismatches}   (goal: 0, 0, 0)"
    )


def crash_soak(folder: Path, n: int, kills: int) -> None:
    """SIGKILL `provisioner run` at random moments, then run it to the end."""
    config = SandboxConfig(contact_lists=LISTS, rate_limit=1_000_000, latency_ms=30, seed=7)
    box = ThreadedSandbox(config)
    path = workbook(folder, n, "Crash")
    out, state = folder / "crash.results.xlsx", folder / "crash.sqlite3"
    rng = random.Random(7)
    with box as server:
        env = {**os.environ, **client_env(server.url, config), "PROVISIONER_STATE": str(state)}
        command = [
            sys.executable,
            "-m",
            "provisioner",
            "run",
            str(path),
            "--out",
            str(out),
            "--quiet",
            "--rate-limit",
            "1000000",
            "--concurrency",
            "6",
        ]
        done = 0
        while done < kills and len(server.sandbox.campaigns) < n:
            target = server.sandbox.requests["create"] + rng.randint(5, max(6, n // (kills + 2)))
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while server.sandbox.requests["create"] < target and process.poll() is None:
                time.sleep(0.002)
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                done += 1
            process.wait()
        before_final = len(server.sandbox.campaigns)
        final = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        duplicates, missing, mismatches = compare(read_results(out), box, n)
    print(
        f"\ncrash soak: {n} campaigns, {done} SIGKILLs ({before_final} created before the final run), "
        f"final run exit {final.returncode}"
    )
    print(
        f"   duplicates: {duplicates}   missing: {missing}   rows disagreeing with the sandbox: {mismatches}"
        "   (goal: 0, 0, 0)"
    )


def main() -> None:
    """Run both soaks."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=1000, help="campaigns in the fault soak")
    parser.add_argument("--crash-n", type=int, default=300, help="campaigns in the crash soak")
    parser.add_argument("--kills", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fault_soak(Path(tmp), args.n)
        crash_soak(Path(tmp), args.crash_n, args.kills)


if __name__ == "__main__":
    main()
