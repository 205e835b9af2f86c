"""The benchmark scripts still import and their pieces still work (no timing asserted).

The benchmarks themselves are not part of the suite (``bench/run.py --quick`` is the smoke
run of the whole set); this keeps them from rotting between runs.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def bench_modules():
    sys.path.insert(0, str(BENCH))
    try:
        names = ("run", "scale", "idle", "ingest", "throughput", "engine_overhead", "request_view",
                 "callback_overhead")
        yield {name: importlib.import_module(name) for name in names}
    finally:
        sys.path.remove(str(BENCH))


def test_every_script_has_its_entry_points(bench_modules):
    for module in bench_modules.values():
        assert callable(module.main)
    assert {case[0] for case in bench_modules["scale"].read_cases(
        {"employee_number": "E1", "business_key": "BK1", "task_id": 1}
    )} >= {"task_stats", "list no filter", "list status=pending", "task logs"}
    assert "DJANGO_SETTINGS_MODULE" in bench_modules["idle"].child_env("sqlite:///x")


def test_run_tables_and_the_document_markers(bench_modules, tmp_path, monkeypatch):
    run = bench_modules["run"]
    suite = run.Suite(quick=True, runs=1)
    suite.row("ingest 1,000 users (median)", "sqlite", "ms", target=250).values.extend([200, 300, 240])
    suite.row("efficiency at C=16", "sqlite", "ratio", target=0.85, higher_is_better=True).values.append(0.8)
    rows = list(suite.rows.values())
    assert (rows[0].median, rows[0].met, rows[1].met) == (240, True, False)
    doc = tmp_path / "PERFORMANCE.md"
    doc.write_text(f"# Performance\n\nhand-written intro\n\n{run.BEGIN}\nold\n{run.END}\n\nhand-written end\n")
    monkeypatch.setattr(run, "DOC", doc)
    run.write_doc(run.table(suite))
    text = doc.read_text()
    assert "hand-written intro" in text
    assert "hand-written end" in text
    assert "old" not in text
    assert "| ingest 1,000 users (median) | sqlite | 240 ms |" in text
    assert "**not met**" in text


@pytest.mark.django_db(transaction=True)
def test_engine_overhead_runs_with_tiny_sizes(bench_modules, departments):
    # `departments` also restores the bundled employee types a transactional test may have flushed.
    result = bench_modules["engine_overhead"].measure(5)
    assert result["ms_per_task"] > 0
    assert result["queries_per_task"] > 0
