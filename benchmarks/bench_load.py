"""Time load + validate + build payloads on large generated workbooks against a bare calamine read_excel.

The requirement: 10,000 campaigns with 50,000 calling-hours rows in at most 3 s on a 2-core machine, growing
linearly to 100,000 campaigns (500,000 rows), peak memory under 1 GB; aim for at most 2x a bare
``pandas.read_excel(path, sheet_name=None, engine="calamine")`` of the same file, measured in the same run.

    python benchmarks/bench_load.py                      # 10k and 50k campaigns, best of 2 (about 35 s)
    python benchmarks/bench_load.py --full               # also 30k and 100k, to show linear growth
    python benchmarks/bench_load.py --profile            # cProfile of the 10k pipeline, top functions
    python benchmarks/bench_load.py --gc-threshold 50000 # experiment: what a CLI-wide GC setting would give

Workbooks are generated once with openpyxl (write-only) and cached under benchmarks/_data/ (first run: about
10 s per 10,000 campaigns). openpyxl writes every string inline, so the XML is larger than Excel would save;
baseline and pipeline read the same file, so the ratio is fair.

Every measurement runs in a fresh subprocess that first processes the small bundled example, so one-off costs
(lazy imports, e.g. pandera's backends pulling in hypothesis when installed) stay out of the table; they are
constant, not per row, and are printed below it. Peak memory is the subprocess's own high-water mark,
``resource.getrusage(RUSAGE_SELF).ru_maxrss``: unlike tracemalloc it counts numpy buffers and calamine's Rust
allocations too. Every pipeline result is checked against what the generator wrote, so a broken fast path
cannot look good.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import json
import pstats
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

from openpyxl import Workbook

from provisioner.workbook import spec

DATA = Path(__file__).parent / "_data"
EXAMPLE = Path(__file__).parents[1] / "examples" / "campaigns.xlsx"
GENERATOR_VERSION = 2  # bump when the generated data changes, so cached workbooks are rebuilt
HOURS_PER_CAMPAIGN = 5
SHARED_EVERY = 10  # every 10th campaign names a shared hours key ...
CAMPAIGNS_PER_SHARED_KEY = 10  # ... which 10 campaigns use
BUDGET_S = 3.0
BUDGET_RSS_MB = 1024

REGIONS = ("East", "West", "North", "South", "Central")
PURPOSES = ("Spring Renewals", "Winback", "Payment Reminder", "Appointment Confirmation")
# (cell as a person types it, value the API gets)
FREQUENCIES = (("WEEKLY", "WEEKLY"), ("weekly", "WEEKLY"), ("DAILY", "DAILY"))
ZONES = (
    ("America/New_York", "America/New_York"),
    ("America/Chicago", "America/Chicago"),
    ("america/denver", "America/Denver"),
    ("America/Los_Angeles", "America/Los_Angeles"),
    ("Europe/London", "Europe/London"),
)
ORDERS = (("FIFO", "FIFO"), ("LIFO", "LIFO"), ("fifo", "FIFO"))
DETECT = (("detect", "detect"), ("no", "no"), ("disconnect", "disconnect"), ("Detect", "detect"))
MODES = ((None, "Agentless"), ("Agentless", "Agentless"), ("agentless", "Agentless"))
TYPES = ((None, "voice"), ("voice", "voice"), ("Voice", "voice"))
RETRY_PERIODS = (30, 60, 120, 240)
RING_TIMES = (20, 30, 45)
CALLER_IDS = 500  # an organisation's pool of outbound numbers; campaigns reuse them
# each weekday as people type it; a key's rows use one spelling (its seed % 3)
WEEKDAYS = (
    ("MO", "Mon", "Monday"),
    ("TU", "Tue", "tuesday"),
    ("WE", "Wed", "WE"),
    ("TH", "Thu", "TH"),
    ("FR", "Fri", "friday"),
)
STARTS = (dt.time(8), dt.time(8, 30), dt.time(9), dt.time(10))
ENDS = (dt.time(16), dt.time(17), dt.time(17, 30), dt.time(18), dt.time(20))
SATURDAY = ("SA", dt.time(10), dt.time(14))


# --- the generated workbook -------------------------------------------------------------------------


def is_shared(i: int) -> bool:
    return i % SHARED_EVERY == SHARED_EVERY - 1


def shared_keys(campaigns: int) -> int:
    return campaigns // (SHARED_EVERY * CAMPAIGNS_PER_SHARED_KEY)


def shared_key(i: int, campaigns: int) -> int:
    return i // SHARED_EVERY % shared_keys(campaigns)


def has_saturday(i: int) -> bool:
    # Half of the campaigns with their own hours also call on Saturday, so the hours sheet holds exactly
    # 5 rows per campaign while a tenth of the campaigns share keys.
    own_index = i - (i + 1) // SHARED_EVERY
    return own_index % 2 == 0


def name(i: int) -> str:
    return f"{PURPOSES[i % len(PURPOSES)]} {REGIONS[i % len(REGIONS)]} {i:06d}"


def campaign(i: int, campaigns: int) -> dict[str, tuple[object, object]]:
    """Return campaign ``i`` by column key: the cell as a person would type it, and the value the API gets."""
    region = REGIONS[i % len(REGIONS)]
    lists = [f"Renewals {region} Q{i % 4 + 1}", *([f"Backfill {i % 7}"] if i % 3 == 0 else [])]
    description = f"Reminder calls for the {region} region, wave {i % 12 + 1}, batch {i}"
    caller_id = f"+1415555{i * 7919 % CALLER_IDS:04d}"
    hours: str | None = None
    if is_shared(i):
        hours = f"Business Hours {shared_key(i, campaigns)}"
        if i % 20 == 19:
            hours = hours.upper() + " "  # keys match ignoring case and spaces
    return {
        "name": (name(i), name(i)),
        "description": (description, description),
        "contact_lists": ("; ".join(lists), lists),
        "dnc_list": (("Global DNC", "Regional DNC")[i % 2],) * 2,
        "priority": (i % 5 + 1, str(i % 5 + 1)),
        "dialing_mode": MODES[i % len(MODES)],
        "caller_id": (caller_id, caller_id),
        "frequency": FREQUENCIES[i % len(FREQUENCIES)],
        "timezone": ZONES[i % len(ZONES)],
        "dialing_order": ORDERS[i % len(ORDERS)],
        "max_attempts_per_record": (i % 5 + 1,) * 2,
        "default_retry_period": (RETRY_PERIODS[i % len(RETRY_PERIODS)],) * 2,
        "max_ring_time": (RING_TIMES[i % len(RING_TIMES)],) * 2,
        "experience_flow_name": (f"Renewal Reminder Flow {i % 20}",) * 2,
        "enable_machine_detect": DETECT[i % len(DETECT)],
        "campaign_type": TYPES[i % len(TYPES)],
        "calling_hours": (hours, None),
    }


def windows(seed: int, saturday: bool) -> list[tuple[str, dt.time, dt.time]]:
    """Return the (day cell, start, end) rows of one hours key, in weekday order."""
    start, end = STARTS[seed % len(STARTS)], ENDS[seed % len(ENDS)]
    return [(spellings[seed % 3], start, end) for spellings in WEEKDAYS] + ([SATURDAY] if saturday else [])


def hours_rows(campaigns: int) -> list[tuple[str, str, dt.time, dt.time]]:
    """Return the CallingHours rows: each own-hours campaign's, then each shared key's."""
    rows = [(name(i), *window) for i in range(campaigns) if not is_shared(i) for window in windows(i, has_saturday(i))]
    for k in range(shared_keys(campaigns)):
        rows += [(f"Business Hours {k}", *window) for window in windows(k, saturday=False)]
    return rows


def workbook_path(campaigns: int) -> Path:
    """Return the cached workbook of ``campaigns`` campaigns, writing it first if needed."""
    if campaigns % (SHARED_EVERY * CAMPAIGNS_PER_SHARED_KEY):
        raise SystemExit(f"sizes must be multiples of {SHARED_EVERY * CAMPAIGNS_PER_SHARED_KEY}")
    path = DATA / f"campaigns-{campaigns}-v{GENERATOR_VERSION}.xlsx"
    if path.exists():
        return path
    DATA.mkdir(exist_ok=True)
    print(f"generating {path.name} ...", file=sys.stderr, flush=True)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(spec.CAMPAIGNS)
    # The generated campaigns have no schedule and are not started: those columns are left out.
    columns = [c for c in spec.CAMPAIGN_COLUMNS if c.key in campaign(0, campaigns)]
    sheet.append([c.label for c in columns])
    for i in range(campaigns):
        cells = campaign(i, campaigns)
        sheet.append([cells[c.key][0] for c in columns])
    sheet = book.create_sheet(spec.CALLING_HOURS)
    sheet.append([c.label for c in spec.HOURS_COLUMNS])
    for row in hours_rows(campaigns):
        sheet.append(row)
    partial = path.with_suffix(".partial")
    book.save(partial)
    partial.rename(path)
    return path


# --- what the pipeline must produce -----------------------------------------------------------------


def expected_body(i: int, campaigns: int) -> dict[str, Any]:
    """Return the create body campaign ``i`` must become, written independently of provision.payloads."""
    api = {key: value for key, (_, value) in campaign(i, campaigns).items()}
    seed = shared_key(i, campaigns) if is_shared(i) else i
    days = [
        {"day": day if day == "SA" else spec.DAYS[n], "start": api_time(start), "end": api_time(end)}
        for n, (day, start, end) in enumerate(windows(seed, saturday=not is_shared(i) and has_saturday(i)))
    ]
    return {
        "name": api["name"],
        "description": api["description"],
        "contactLists": api["contact_lists"],
        "dncLists": {"name": api["dnc_list"]},
        "priority": api["priority"],
        "dialingMode": api["dialing_mode"],
        "dialingStrategy": {
            "callerId": {"phoneNumber": api["caller_id"]},
            "callingHours": {"frequency": api["frequency"], "timezone": api["timezone"], "days": days},
            "dialingOrder": api["dialing_order"],
            "maxAttemptsPerRecord": api["max_attempts_per_record"],
            "defaultRetryPeriod": api["default_retry_period"],
            "maxRingTime": api["max_ring_time"],
        },
        "schedule": {"isSchedulingEnabled": False},
        "experienceFlowName": api["experience_flow_name"],
        "enableMachineDetect": api["enable_machine_detect"],
        "campaignType": api["campaign_type"],
    }


def api_time(value: dt.time) -> str:
    return value.strftime("%I:%M %p").lstrip("0")


def verify(payloads: list[Any], campaigns: int) -> None:
    """Fail loudly unless every campaign became exactly the body the generator implies, on its own row."""
    if len(payloads) != campaigns:
        raise SystemExit(f"expected {campaigns} payloads, got {len(payloads)}")
    for i, payload in enumerate(payloads):
        want = expected_body(i, campaigns)
        if (payload.row, payload.name, payload.body) != (i + 2, want["name"], want):
            raise SystemExit(f"campaign {i} is wrong:\n got  {payload}\n want row {i + 2}, {want}")


# --- measurements, each in a fresh process ----------------------------------------------------------


class Clock:
    """Wall and CPU seconds between laps; CPU time is what noisy neighbours on a shared machine distort least."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        spent = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return spent


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def tune_gc(threshold: int) -> None:
    """Apply the process-wide GC setting a CLI could choose (see --gc-threshold)."""
    gc.freeze()  # what the imports allocated is never garbage: stop rescanning it
    gc.set_threshold(threshold, 10, 10)


def measure_baseline(path: Path, gc_threshold: int | None) -> dict[str, float]:
    import pandas as pd

    clock = Clock()
    pd.read_excel(EXAMPLE, sheet_name=None, engine="calamine")
    warm_up, _ = clock.lap()
    if gc_threshold:
        tune_gc(gc_threshold)
    clock.lap()
    frames = pd.read_excel(path, sheet_name=None, engine="calamine")
    wall, cpu = clock.lap()
    assert set(frames) == {spec.CAMPAIGNS, spec.CALLING_HOURS}
    return {"wall": wall, "cpu": cpu, "warm_up": warm_up, "rss_mb": peak_rss_mb()}


def measure_pipeline(path: Path, campaigns: int, gc_threshold: int | None) -> dict[str, float]:
    from provisioner.provision.payloads import build_payloads
    from provisioner.workbook.load import Limits, load_workbook
    from provisioner.workbook.validate import validate

    clock = Clock()
    build_payloads(validate(load_workbook(EXAMPLE)))
    warm_up, _ = clock.lap()
    limits = Limits(max_rows=1_000_000)  # the default 200,000 is below the larger sizes' hours sheets
    if gc_threshold:
        tune_gc(gc_threshold)
    clock.lap()
    workbook = load_workbook(path, limits)
    load, load_cpu = clock.lap()
    validated = validate(workbook)
    check, check_cpu = clock.lap()
    payloads = build_payloads(validated)
    build, build_cpu = clock.lap()
    rss = peak_rss_mb()
    if validated.problems:
        raise SystemExit(f"{len(validated.problems)} problems, first: {validated.problems[0]}")
    verify(payloads, campaigns)
    return {
        "load": load,
        "validate": check,
        "payloads": build,
        "wall": load + check + build,
        "cpu": load_cpu + check_cpu + build_cpu,
        "warm_up": warm_up,
        "rss_mb": rss,
    }


def run_child(kind: str, campaigns: int, gc_threshold: int | None) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", kind, str(campaigns)]
    if gc_threshold:
        command += ["--gc-threshold", str(gc_threshold)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


class Result(NamedTuple):
    """One size: the best of the repeated runs, and the largest peak memory seen."""

    campaigns: int
    baseline: dict[str, float]  # the run with the least wall time; "cpu" is the least CPU time of any run
    pipeline: dict[str, float]  # likewise
    rss_mb: float
    baseline_rss_mb: float

    @property
    def ratio(self) -> float:
        return self.pipeline["wall"] / self.baseline["wall"]

    @property
    def cpu_ratio(self) -> float:
        return self.pipeline["cpu"] / self.baseline["cpu"]

    def row(self) -> str:
        p, hours = self.pipeline, self.campaigns * HOURS_PER_CAMPAIGN
        split = f"{p['validate'] + p['payloads']:.2f} ({p['validate']:.2f}+{p['payloads']:.2f})"
        return (
            f"{self.campaigns:>9,} {hours:>9,} {self.baseline['wall']:>8.2f} {p['load']:>6.2f} {split:>19} "
            f"{p['wall']:>6.2f} {(self.campaigns + hours) / p['wall']:>8,.0f} {self.ratio:>6.2f}x "
            f"{self.cpu_ratio:>6.2f}x {self.rss_mb:>7.0f} {self.baseline_rss_mb:>7.0f}"
        )


HEADER = (
    f"{'campaigns':>9} {'hours':>9} {'baseline':>8} {'load':>6} {'validate+payloads':>19} {'total':>6} "
    f"{'rows/s':>8} {'ratio':>7} {'cpu':>7} {'peakMB':>7} {'baseMB':>7}"
)


def bench(campaigns: int, repeat: int, gc_threshold: int | None) -> Result:
    """Run baseline and pipeline ``repeat`` times each, alternating, every run in a fresh process."""
    baselines, pipelines = [], []
    for _ in range(repeat):
        baselines.append(run_child("baseline", campaigns, gc_threshold))
        pipelines.append(run_child("pipeline", campaigns, gc_threshold))

    def best(runs: list[dict[str, float]]) -> dict[str, float]:
        return {**min(runs, key=lambda r: r["wall"]), "cpu": min(r["cpu"] for r in runs)}

    return Result(
        campaigns,
        best(baselines),
        best(pipelines),
        max(p["rss_mb"] for p in pipelines),
        max(b["rss_mb"] for b in baselines),
    )


def summary(results: list[Result]) -> list[str]:
    first = results[0]
    per_campaign = first.pipeline["cpu"] / first.campaigns
    growth = ", ".join(f"{r.campaigns:,}: {r.pipeline['cpu'] / (per_campaign * r.campaigns):.2f}" for r in results)
    lines = [f"CPU time relative to linear growth from {first.campaigns:,} campaigns: {growth}"]
    for r in results:
        if r.campaigns == 10_000:
            verdict = "meets" if r.pipeline["wall"] <= BUDGET_S else "MISSES"
            lines.append(
                f"10k campaigns / 50k hours: {r.pipeline['wall']:.2f} s, {verdict} the {BUDGET_S:.0f} s budget"
            )
    worst = max(r.rss_mb for r in results)
    lines.append(
        f"largest peak RSS: {worst:.0f} MB ({'under' if worst < BUDGET_RSS_MB else 'OVER'} {BUDGET_RSS_MB} MB)"
    )
    lines.append(
        f"one-off first-call cost, not in the table ({EXAMPLE.name} first): "
        f"pipeline {first.pipeline['warm_up']:.2f} s, read_excel {first.baseline['warm_up']:.2f} s"
    )
    return lines


def profile(campaigns: int) -> None:
    from provisioner.provision.payloads import build_payloads
    from provisioner.workbook.load import Limits, load_workbook
    from provisioner.workbook.validate import validate

    path = workbook_path(campaigns)
    build_payloads(validate(load_workbook(EXAMPLE)))
    profiler = cProfile.Profile()
    profiler.enable()
    build_payloads(validate(load_workbook(path, Limits(max_rows=1_000_000))))
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also 30k and 100k campaigns")
    parser.add_argument("--sizes", type=int, nargs="+", help="campaign counts to run instead of the defaults")
    parser.add_argument("--repeat", type=int, default=2, help="runs per size; the best is reported")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the smallest size and stop")
    parser.add_argument(
        "--gc-threshold",
        type=int,
        help="experiment: in both baseline and pipeline, freeze what the imports allocated and set gen-0 GC threshold",
    )
    parser.add_argument("--child", nargs=2, metavar=("KIND", "CAMPAIGNS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, campaigns = args.child[0], int(args.child[1])
        path = workbook_path(campaigns)
        if kind == "baseline":
            result = measure_baseline(path, args.gc_threshold)
        else:
            result = measure_pipeline(path, campaigns, args.gc_threshold)
        print(json.dumps(result))
        return
    sizes = sorted(args.sizes or ([10_000, 30_000, 50_000, 100_000] if args.full else [10_000, 50_000]))
    if args.profile:
        profile(sizes[0])
        return
    for campaigns in sizes:
        workbook_path(campaigns)
    gc_note = f", GC tuned (threshold {args.gc_threshold:,})" if args.gc_threshold else ""
    print(f"python {sys.version.split()[0]}, best of {args.repeat}{gc_note}; every run's result verified")
    print("seconds are wall-clock; ratio = total / baseline (wall), cpu = the same ratio in CPU time")
    print(HEADER)
    results = []
    for campaigns in sizes:
        results.append(bench(campaigns, args.repeat, args.gc_threshold))
        print(results[-1].row(), flush=True)
    print("\n".join(summary(results)))


if __name__ == "__main__":
    main()
