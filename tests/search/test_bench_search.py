"""bench/search.py is not part of the suite; this tiny run of it is, so that it keeps working."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.postgres
def test_search_benchmark_smoke_run(tmp_path, db):
    settings_dict = connection.settings_dict
    server = f"postgres://{settings_dict['USER']}@{settings_dict['HOST'] or '127.0.0.1'}:{settings_dict['PORT'] or 5432}"
    database = f"flowdesk_bench_search_smoke_{os.getpid()}"
    output = tmp_path / "RESULTS.md"
    output.write_text("# Flowdesk benchmark results\n\n## 1. Data generation (COPY)\n\nkept\n")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "bench.search", "--messages", "50", "--items", "40", "--runs", "1", "--server", server,
             "--database", database, "--output", str(output)],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        # Run twice: the section is replaced, not added again.
        subprocess.run([sys.executable, "-m", "bench.search", "--messages", "50", "--items", "40", "--runs", "1",
                        "--server", server, "--database", database, "--output", str(output)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300, check=True)
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    text = output.read_text()
    assert text.startswith("# Flowdesk benchmark results\n\n## 1. Data generation (COPY)\n\nkept\n")
    assert text.count("## Search what was said") == 1
    rows = [line for line in text.splitlines() if line.startswith(("| common", "| rare", "| Japanese"))]
    assert len(rows) == 3
    assert all(row.endswith("| found |") for row in rows), rows
