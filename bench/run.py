"""Every benchmark, several runs each, one table, written into docs/PERFORMANCE.md.

    python bench/run.py [--db sqlite|postgres|both] [--quick] [--runs N] [--write | --no-write]

Runs each benchmark script as a subprocess with ``--json`` (ingest, request_view, engine_overhead,
throughput, idle on each database; scale on PostgreSQL only, once: it seeds a million
tasks), takes the median over the runs, prints one table with each target and whether
it is met, and replaces the part of docs/PERFORMANCE.md between the markers with it.

``--quick`` is a smoke run (small sizes, one run each, about two minutes): its numbers
say the scripts work, not whether a target is met, so it writes the document only with
``--write``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "PERFORMANCE.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


@dataclass
class Row:
    benchmark: str
    db: str
    unit: str
    values: list[float] = field(default_factory=list)
    target: float | None = None
    higher_is_better: bool = False
    note: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    @property
    def met(self) -> bool | None:
        if self.target is None or self.median is None:
            return None
        return self.median >= self.target if self.higher_is_better else self.median <= self.target

    @property
    def ratio(self) -> float | None:
        """Measured ÷ target: ≤ 1 is met for a ceiling, ≥ 1 for a floor."""
        if self.target is None or self.median is None or not self.target:
            return None
        return self.median / self.target


# --- the machine ---------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    postgres = ""
    try:
        postgres = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "SHOW server_version"],  # noqa: S607
            capture_output=True, text=True, timeout=10, check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": memory,
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "postgres": postgres or "not reachable",
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


# --- running the scripts -------------------------------------------------------------------


def run_json(script: str, *args: str, timeout: float = 3600) -> dict[str, Any]:
    command = [sys.executable, str(ROOT / "bench" / script), *args, "--json"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{script} {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    print(f"  {script} {' '.join(args)}: {seconds:.0f} s", flush=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


class Suite:
    def __init__(self, quick: bool, runs: int):
        self.quick = quick
        self.runs = runs
        self.rows: dict[tuple[str, str], Row] = {}
        self.errors: list[str] = []
        self.details: list[str] = []

    def row(self, benchmark: str, db: str, unit: str, **kwargs: Any) -> Row:
        key = (benchmark, db)
        if key not in self.rows:
            self.rows[key] = Row(benchmark, db, unit, **kwargs)
        return self.rows[key]

    def attempt(self, label: str, work: Callable[[], None]) -> None:
        try:
            work()
        except (RuntimeError, subprocess.TimeoutExpired, ValueError, KeyError) as exc:
            print(f"  FAILED {label}: {exc}", flush=True)
            self.errors.append(f"{label}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else exc!r}")

    # Each benchmark: one subprocess per run, its figures appended to the rows.

    def ingest(self, db: str) -> None:
        sizes = "1,100,1000"
        data = run_json("ingest.py", "--db", db, "--sizes", sizes, "--repeat", "3" if self.quick else "7")
        by_users = {row["users"]: row for row in data["rows"]}
        self.row("ingest 1,000 users (median)", db, "ms", target=250).values.append(by_users[1000]["median_ms"])
        queries = self.row("ingest queries, 1,000 users − 1 user", db, "queries", target=0)
        queries.values.append(by_users[1000]["queries"] - by_users[1]["queries"])
        queries.note = f"{by_users[1]['queries']} queries for 1 user, {by_users[1000]['queries']} for 1,000"

    def request_view(self, db: str) -> None:
        data = run_json("request_view.py", "--db", db, "--people", "1,1000", "--repeat", "3" if self.quick else "7")
        by_people = {row["people"]: row for row in data["rows"]}
        entry = self.row("request detail, 1,000 people (median)", db, "ms", target=200)
        entry.values.append(by_people[1000]["median_ms"])
        entry.note = f"{by_people[1000]['kib']} KiB answer"
        queries = self.row("request detail queries, 1,000 people − 1 person", db, "queries", target=0)
        queries.values.append(by_people[1000]["queries"] - by_people[1]["queries"])

    def engine_overhead(self, db: str) -> None:
        people = "100" if self.quick else "1000"
        data = run_json("engine_overhead.py", "--db", db, "--people", people, "--repeat", "1" if self.quick else "3")
        self.row("engine overhead per task", db, "ms", target=2).values.append(data["ms_per_task"])
        self.row("engine queries per task", db, "queries", target=6).values.append(data["queries_per_task"])

    def throughput(self, db: str) -> None:
        args = ["--db", db, "--concurrency", "16,32", "--latency-ms", "50"]
        data = run_json("throughput.py", *args, *(["--quick"] if self.quick else []))
        for row in data["rows"]:
            target = {16: 0.85, 32: 0.70}[row["concurrency"]]
            entry = self.row(f"efficiency at C={row['concurrency']} (50 ms latency)", db, "ratio",
                             target=target, higher_is_better=True)
            entry.values.append(row["efficiency"])
            entry.note = f"{row['tasks']} tasks, {row['calls_per_s']} calls/s of a {row['ceiling_calls_per_s']} ceiling"

    def idle(self, db: str) -> None:
        data = run_json("idle.py", "--db", db, "--repeat", "3" if self.quick else "7")
        entry = self.row("idle run, process start to exit", db, "ms", target=1000)
        entry.values.append(data["idle_run_ms"])
        entry.note = f"python alone {data['python_ms']} ms, django.setup() {data['django_setup_ms']} ms"

    def scale(self) -> None:
        data = run_json("scale.py", *(["--quick"] if self.quick else []), timeout=7200)
        seed = data["seed"]
        self.details.append(
            f"Scale data: {seed['tasks']:,} tasks ({seed['by_status']}), {seed['logs']:,} attempt logs, "
            f"{seed['database_size']}; each read is the median of {data['repeat']} calls through the API."
        )
        for read in data["reads"]:
            entry = self.row(f"{read['name']} (scale)", "postgres", "ms", target=read["target_ms"])
            entry.values.append(read["median_ms"])
            entry.note = f"{read['queries']} queries, slowest {read['slowest_query_ms']} ms"
        for claim in data["claim"]:
            entry = self.row(f"{claim['name']}, uses an index", "postgres", "ms")
            entry.values.append(claim["median_ms"])
            entry.note = f"{claim['rows']} rows; {'index' if claim['uses_index'] else 'NO INDEX'}"
            self.details.append(f"**{claim['name']}** (`EXPLAIN (ANALYZE, BUFFERS)`):\n\n```\n{claim['plan']}\n```")
        memory = data.get("memory", [])
        for run in memory:
            entry = self.row(f"engine run of {run['tasks']:,} tasks: peak RSS", "postgres", "MiB", target=200)
            entry.values.append(run["peak_rss_mib"])
            entry.note = (f"RSS {run['rss_before_mib']} MiB before the run, {run['rss_after_mib']} after; "
                          f"{run['ms_per_task']} ms/task")
        if len(memory) >= 2:
            growth = self.row(
                f"peak RSS growth {memory[0]['tasks']:,} → {memory[-1]['tasks']:,} tasks", "postgres", "MiB",
                target=20,
            )
            growth.values.append(round(memory[-1]["peak_rss_mib"] - memory[0]["peak_rss_mib"], 1))


# --- output --------------------------------------------------------------------------------


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ratio":
        return f"{value:.0%}"
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"


def table(suite: Suite) -> str:
    lines = [
        "| benchmark | db | median | runs (min–max) | target | measured ÷ target | met | notes |",
        "|---|---|---:|---|---|---:|---|---|",
    ]
    for row in suite.rows.values():
        spread = (f"{len(row.values)} ({_fmt(min(row.values), row.unit)}–{_fmt(max(row.values), row.unit)})"
                  if row.values else "0")
        if row.target is None:
            target = ""
        else:
            target = f"{'≥' if row.higher_is_better else '≤'} {_fmt(row.target, row.unit)}"
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}"
        met = {None: "", True: "met", False: "**not met**"}[row.met]
        unit = "" if row.unit == "ratio" else f" {row.unit}"
        lines.append(f"| {row.benchmark} | {row.db} | {_fmt(row.median, row.unit)}{unit} | {spread} | {target} | "
                     f"{ratio} | {met} | {row.note} |")
    return "\n".join(lines)


def report(suite: Suite, host: dict[str, str], command: str, seconds: float) -> str:
    kind = "quick smoke run: sizes too small to judge the targets" if suite.quick else "full run"
    parts = [
        f"Run of {host['date']}: `{command}` ({kind}, {seconds / 60:.0f} min).",
        "",
        f"Machine: {host['nproc']} CPUs (`nproc`), {host['cpu']}, {host['memory']} memory; load average at start "
        f"{host['load']}; Python {host['python']}, PostgreSQL {host['postgres']}.",
        "",
        table(suite),
    ]
    if suite.errors:
        parts += ["", "Failed benchmarks:", "", *[f"- {error}" for error in suite.errors]]
    if suite.details:
        parts += ["", *suite.details]
    return "\n".join(parts)


def write_doc(markdown: str) -> None:
    text = DOC.read_text() if DOC.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text = text.rstrip() + f"\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{markdown}\n{END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each (a smoke run)")
    parser.add_argument("--runs", type=int, default=None, help="runs of each benchmark (3; --quick: 1)")
    parser.add_argument("--write", action=argparse.BooleanOptionalAction, default=None,
                        help="update docs/PERFORMANCE.md (default: yes, except with --quick)")
    parser.add_argument("--skip", default="", help="comma-separated benchmarks to leave out, e.g. scale,throughput")
    args = parser.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    skip = {name.strip() for name in args.skip.split(",") if name.strip()}
    databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    host = machine()
    print(f"{host['nproc']} CPUs, {host['cpu']}, {host['memory']}, load average {host['load']}", flush=True)
    suite = Suite(args.quick, runs)
    started = time.perf_counter()
    for db in databases:
        for name in ("ingest", "request_view", "engine_overhead", "idle", "throughput"):
            if name in skip:
                continue
            for run in range(runs):
                print(f"{name} on {db}, run {run + 1}/{runs}", flush=True)
                suite.attempt(f"{name} on {db}", functools.partial(getattr(suite, name), db))
    if "postgres" in databases and "scale" not in skip:
        print("scale on postgres (once)", flush=True)
        suite.attempt("scale on postgres", suite.scale)
    seconds = time.perf_counter() - started
    command = "python bench/run.py " + " ".join(sys.argv[1:])
    markdown = report(suite, host, command.strip(), seconds)
    print()
    print(table(suite))
    for error in suite.errors:
        print(f"FAILED: {error}")
    if args.write if args.write is not None else not args.quick:
        write_doc(markdown)
        print(f"\nwritten to {DOC.relative_to(ROOT)}")
    sys.exit(1 if suite.errors else 0)


if __name__ == "__main__":
    main()
