"""The no-op rerun's request count: 1,000 campaigns created, then a rerun of the unchanged sheet.

    python benchmarks/bench_sync.py            1,000 campaigns, the sandbox serving 100 a page (~30 s)
    python benchmarks/bench_sync.py --n 200 --page 50

Budget (issue 10): a rerun that finds every campaign unchanged spends at most ⌈N / page⌉ + 5 requests in all
(the list pages, the contact lists, a little slack): the ledger's last body and updatedAt settle each row from
the list, with no read by id. A second figure shows the first rerun after the campaigns turned Ready, which
moves their updatedAt once and so reads each campaign by id once.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

from provisioner.jobs.run import Job, run_job
from provisioner.provision.outcomes import Status
from provisioner.sandbox import SandboxConfig, ThreadedSandbox, client_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.bench_run import workbook


def rerun_requests(n: int, page: int, ready_after_s: float) -> tuple[int, int]:
    """Create n campaigns, rerun twice; return the requests of the first and of the second rerun."""
    config = SandboxConfig(
        contact_lists=frozenset({"Renewals East"}), rate_limit=1_000_000, page_cap=page, ready_after_s=ready_after_s
    )
    with tempfile.TemporaryDirectory() as folder, ThreadedSandbox(config) as server:
        path = workbook(Path(folder), n, "Sync")
        settings = client_settings(server.url, config)
        state = Path(folder) / "ledger.sqlite3"
        job = Job(input_path=path, settings=lambda: settings, state_path=state, rate_limit=1_000_000)
        first = run_job(job)
        assert {o.status for o in first.report.outcomes} == {Status.CREATED}, first.report.summary.notes
        time.sleep(ready_after_s)  # every campaign Ready (its updatedAt moved once) before the reruns
        counts = []
        for _ in range(2):
            before = server.sandbox.requests_total
            again = run_job(job)
            assert {o.status for o in again.report.outcomes} == {Status.UNCHANGED}, again.report.summary.notes
            counts.append(server.sandbox.requests_total - before)
        assert server.sandbox.requests["update"] == 0 and server.sandbox.requests["create"] == n
        return counts[0], counts[1]


def main() -> None:
    """Print the no-op rerun's requests against the budget."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--page", type=int, default=100)
    args = parser.parse_args()
    budget = math.ceil(args.n / args.page) + 5
    settled, _ = rerun_requests(args.n, args.page, ready_after_s=0)
    first_ready, after_ready = rerun_requests(args.n, args.page, ready_after_s=0.5)
    print(f"{args.n} unchanged campaigns, {args.page} a page; budget ⌈{args.n}/{args.page}⌉ + 5 = {budget} requests")
    print(f"  no-op rerun:                          {settled:5d} requests  ratio {settled / budget:.2f} (goal ≤ 1.00)")
    print(f"  first rerun after Preparing → Ready: {first_ready:5d} requests  (one read by id per campaign)")
    print(f"  the rerun after that:                 {after_ready:5d} requests  ratio {after_ready / budget:.2f}")


if __name__ == "__main__":
    main()
