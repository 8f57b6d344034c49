"""Provisioning benchmarks against the built-in sandbox, each printing ratios measured in the same run.

    python benchmarks/bench_run.py            latency-bound, overhead, and the naive loop side by side (~1 min)
    python benchmarks/bench_run.py --rate     also the sustained-rate benchmark (R=600/min over 4 windows, ~4 min)

1. Sustained rate: sandbox limit R per 60 s window, provisioner configured the same; share of R achieved in
   each full window after the first (goal ≥ 97 %), and the 429s served (goal 0).
2. Latency-bound: high limit, L = 100 ms latency, concurrency C; wall time against the ideal N·L/C (goal ≤ 1.15).
3. Overhead: HTTP requests per created campaign on a clean run (goal ≤ 1.05).
4. The naive alternative a user would write: a sequential loop posting each row, same bodies, same sandbox.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

from provisioner.api.auth import mint_token
from provisioner.api.settings import Settings
from provisioner.jobs.check import check_input
from provisioner.jobs.run import Job, run_job
from provisioner.provision.outcomes import Status
from provisioner.provision.wiring import RunOptions
from provisioner.sandbox import SandboxConfig, ThreadedSandbox, client_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.helpers import campaign, window, write_book

LISTS = frozenset({"Renewals East"})


class SandboxProcess:
    """The sandbox in a process of its own, as the real service is: it does not share our GIL or event loop."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._conn, child = multiprocessing.Pipe()
        self._process = multiprocessing.get_context("spawn").Process(target=_serve, args=(config, child))

    def __enter__(self) -> SandboxProcess:
        self._process.start()
        self.url = self._conn.recv()
        return self

    def __exit__(self, *exc: object) -> None:
        self._conn.send("stop")
        self._process.join(10)

    def settings(self) -> Settings:
        """Settings a client needs to reach the sandbox."""
        return client_settings(self.url, self.config)

    def stats(self) -> dict[str, Any]:
        """Counters of the sandbox: requests, 429s served, acceptance times."""
        self._conn.send("stats")
        stats: dict[str, Any] = self._conn.recv()
        return stats


def _serve(config: SandboxConfig, conn: Connection) -> None:
    with ThreadedSandbox(config) as server:
        conn.send(server.url)
        while conn.recv() == "stats":
            sandbox = server.sandbox
            conn.send(
                {
                    "requests_total": sandbox.requests_total,
                    "rate_limited": sandbox.rate_limited,
                    "accepted_at": list(sandbox.accepted_at),
                    "campaigns": len(sandbox.campaigns),
                }
            )


def workbook(folder: Path, n: int, tag: str) -> Path:
    """Write n valid campaigns sharing one set of calling hours."""
    rows = [campaign(name=f"{tag} {i:05d}", calling_hours="Office") for i in range(n)]
    return write_book(folder / f"{tag}.xlsx", rows, [window("Office"), window("Office", "SA", end=dt.time(12))])


def provision(box: SandboxProcess, path: Path, folder: Path, *, rate: int, window_s: float, concurrency: int) -> float:
    """Run provisioner on the workbook and return the wall time of the job; check every row was created."""
    started = time.perf_counter()
    result = run_job(
        Job(
            input_path=path,
            settings=box.settings,
            state_path=folder / f"{path.stem}.ledger.sqlite3",
            options=RunOptions(concurrency=concurrency),
            rate_limit=rate,
            rate_window_s=window_s,
        )
    )
    elapsed = time.perf_counter() - started
    created = sum(o.status is Status.CREATED for o in result.report.outcomes)
    if created != len(result.report.outcomes):
        raise SystemExit(f"benchmark run did not create every campaign: {result.report.summary.notes}")
    return elapsed


def sustained_rate(folder: Path) -> None:
    """Benchmark 1: R=600 per 60 s window over four windows."""
    rate, window_s, windows = 600, 60.0, 4
    n = rate * windows
    config = SandboxConfig(contact_lists=LISTS, rate_limit=rate, window_s=window_s)
    path = workbook(folder, n, "Rate")
    with SandboxProcess(config) as box:
        elapsed = provision(box, path, folder, rate=rate, window_s=window_s, concurrency=16)
        stats = box.stats()
    stamps = sorted(stats["accepted_at"])[2:]  # the two pre-flight reads come first
    creates_from = stamps[0]
    print(f"\n1. sustained rate: R={rate}/{window_s:.0f}s, N={n}, wall {elapsed:.1f} s")
    shares = []
    for k in range(1, windows):
        start = creates_from + k * window_s
        count = sum(start <= t < start + window_s for t in stamps)
        shares.append(count / rate)
        print(f"   window {k}: {count} accepted = {count / rate:.1%} of R")
    print(f"   worst full window: {min(shares):.1%} of R (goal >= 97%), 429s: {stats['rate_limited']} (goal 0)")
    # Stricter: the pace after the first burst, first to last create, as a share of R per window.
    steady = (len(stamps) - rate) / (stamps[-1] - stamps[0]) * window_s
    print(f"   steady pace after the first burst: {steady:.0f} per {window_s:.0f} s = {steady / rate:.1%} of R")


def latency_bound(folder: Path, n: int, concurrency: int, latency_ms: float) -> tuple[float, int, int]:
    """Benchmark 2 and 3: wall time against N·L/C, and requests per created campaign."""
    config = SandboxConfig(contact_lists=LISTS, rate_limit=1_000_000, latency_ms=latency_ms)
    path = workbook(folder, n, "Latency")
    with SandboxProcess(config) as box:
        elapsed = provision(box, path, folder, rate=1_000_000, window_s=60.0, concurrency=concurrency)
        stats = box.stats()
    requests = stats["requests_total"]
    stamps = sorted(stats["accepted_at"])
    ideal = n * latency_ms / 1000 / concurrency
    served = stamps[-1] - stamps[0] + latency_ms / 1000  # first request in to last reply out, at the server
    print(f"\n2. latency-bound: N={n}, L={latency_ms:.0f} ms, C={concurrency}; ideal N·L/C {ideal:.2f} s")
    print(
        f"   requests at the server (pre-flight + creates): {served:.2f} s, ratio {served / ideal:.3f} (goal <= 1.15)"
    )
    print(f"   whole job, reading the workbook and writing results too: {elapsed:.2f} s, ratio {elapsed / ideal:.3f}")
    print(
        f"\n3. overhead: {requests} HTTP requests for {n} created campaigns = {requests / n:.3f} per campaign "
        f"(goal <= 1.05; 2 of them are the pre-flight reads)"
    )
    return elapsed, requests, n


async def naive_loop(url: str, box: SandboxProcess, path: Path) -> tuple[float, int, int]:
    """What a user would write: post each row in turn, no concurrency, no retry, no reconciliation."""
    settings = box.settings()
    bodies = [p.body for p in check_input(path).payloads]
    created = failed = 0
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        for body in bodies:
            headers = {"auth": mint_token(settings, time.time()), "accountid": settings.account_id, "iid": settings.iid}
            params = {"accountId": settings.account_id, "campaignType": "voice"}
            async with session.post(
                f"{url}/campaign/api/v2/public/{settings.stream_id}/campaign", json=body, headers=headers, params=params
            ) as response:
                await response.read()
                if response.status == 200:
                    created += 1
                else:
                    failed += 1
    return time.perf_counter() - started, created, failed


def side_by_side(folder: Path, n: int, concurrency: int, latency_ms: float, ours: float) -> None:
    """Benchmark 4: the naive sequential loop on the same bodies, same sandbox settings."""
    config = SandboxConfig(contact_lists=LISTS, rate_limit=1_000_000, latency_ms=latency_ms)
    path = workbook(folder, n, "Latency")
    with SandboxProcess(config) as box:
        naive, created, failed = asyncio.run(naive_loop(box.url, box, path))
    print(
        f"\n4. naive sequential loop, same {n} bodies and latency: {naive:.2f} s ({created} created, "
        f"{failed} failed); provisioner {ours:.2f} s with C={concurrency}: {naive / ours:.1f}x faster"
    )
    config = SandboxConfig(contact_lists=LISTS, rate_limit=60, latency_ms=latency_ms)
    with SandboxProcess(config) as box:
        naive, created, failed = asyncio.run(naive_loop(box.url, box, path))
    print(
        f"   against the real default limit (60/min) the naive loop created {created} and lost {failed} "
        f"to 429s in {naive:.1f} s; provisioner would pace them and create all {n}"
    )


def main() -> None:
    """Run the benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", action="store_true", help="also run the ~4 minute sustained-rate benchmark")
    parser.add_argument("-n", type=int, default=400, help="campaigns for the latency benchmarks")
    parser.add_argument("-c", "--concurrency", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ours, _, _ = latency_bound(folder, args.n, args.concurrency, args.latency_ms)
        side_by_side(folder, args.n, args.concurrency, args.latency_ms, ours)
        if args.rate:
            sustained_rate(folder)


if __name__ == "__main__":
    main()
