"""What waiting for Ready costs: requests per round of `run --wait` against the budget ⌈N / page⌉ + 1.

    python benchmarks/bench_wait.py            1,000 campaigns, 100 a page, Ready 20 s after their create (~30 s)
    python benchmarks/bench_wait.py --n 300 --page 50 --ready-after 10

Budget (issue 11): each round of polling N campaigns costs at most ⌈N / page⌉ + 1 requests, where one status
call per campaign would cost N. The run creates N campaigns against the sandbox, waits for all of them to
leave Preparing, and the sandbox counts the list requests the wait made; the script prints each round's cost
and its ratio to the budget, and the ratio to one status call per campaign per round.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

from provisioner.jobs.run import Job, run_job
from provisioner.provision.lifecycle import WaitOptions
from provisioner.sandbox import SandboxConfig, ThreadedSandbox, client_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.bench_run import workbook


def wait_rounds(n: int, page: int, ready_after_s: float, interval_s: float) -> tuple[tuple[int, ...], int, str]:
    """Create n campaigns with --wait; return each round's requests, the list requests the sandbox saw, statuses."""
    config = SandboxConfig(
        contact_lists=frozenset({"Renewals East"}), rate_limit=1_000_000, page_cap=page, ready_after_s=ready_after_s
    )
    with tempfile.TemporaryDirectory() as folder, ThreadedSandbox(config) as server:
        path = workbook(Path(folder), n, "Wait")
        settings = client_settings(server.url, config)
        job = Job(
            input_path=path,
            settings=lambda: settings,
            state_path=Path(folder) / "ledger.sqlite3",
            rate_limit=1_000_000,
            wait=WaitOptions(wait=True, timeout_s=ready_after_s * 10, interval_s=interval_s),
        )
        result = run_job(job)
        statuses = sorted({o.campaign_status or "?" for o in result.report.outcomes})
        assert statuses == ["Ready"], (statuses, result.report.summary.notes)
        preflight = 1  # the pre-flight's read of an empty list
        return result.rounds, server.sandbox.requests["list"] - preflight, ", ".join(statuses)


def main() -> None:
    """Print the requests of each polling round against the budget."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--ready-after", type=float, default=20.0)
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args()
    budget = math.ceil(args.n / args.page) + 1
    rounds, listed, statuses = wait_rounds(args.n, args.page, args.ready_after, args.interval)
    print(f"{args.n} campaigns, {args.page} a page, Ready {args.ready_after:g} s after their create")
    print(f"budget per round ⌈{args.n}/{args.page}⌉ + 1 = {budget} requests (one status call each: {args.n})")
    for number, requests in enumerate(rounds, start=1):
        print(f"  round {number}: {requests:4d} requests  ratio to budget {requests / budget:.2f} (goal ≤ 1.00)")
    worst = max(rounds, default=0)
    print(f"worst round {worst} requests, ratio {worst / budget:.2f}; to a status call each {worst / args.n:.3f}")
    print(f"list requests the sandbox saw while waiting: {listed} (= sum of rounds: {sum(rounds) == listed})")
    print(f"final statuses: {statuses}")


if __name__ == "__main__":
    main()
