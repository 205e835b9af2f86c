"""Run the chaos suite by hand: ``python tests/chaos/run_chaos.py --rounds 50``.

Needs PostgreSQL on 127.0.0.1:5432 (user postgres); creates and drops its own database.
Exit status 0 when every invariant held and no secret leaked, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

from tests.chaos.harness import ChaosConfig, run_chaos  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=None, help="Reproduce a run (printed at its start).")
    parser.add_argument("--people", type=int, default=20, help="People per round.")
    parser.add_argument("--runners", type=int, default=3, help="Runner processes kept alive during a storm.")
    parser.add_argument("--concurrency", type=int, default=3, help="Worker threads per runner.")
    parser.add_argument("--storm-seconds", type=float, default=20.0)
    parser.add_argument("--outage-seconds", type=float, default=3.0)
    args = parser.parse_args()
    report = run_chaos(
        ChaosConfig(
            rounds=args.rounds,
            seed=args.seed,
            people=args.people,
            runners=args.runners,
            concurrency=args.concurrency,
            storm_seconds=args.storm_seconds,
            outage_seconds=args.outage_seconds,
            out=lambda line: print(line, flush=True),
        )
    )
    print(report.summary(), flush=True)
    for line in report.violations + report.secret_findings:
        print(f"  - {line}")
    return 0 if not report.violations and not report.secret_findings else 1


if __name__ == "__main__":
    raise SystemExit(main())
