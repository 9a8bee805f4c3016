"""The benchmark is not part of the suite; this tiny run of it is, so that it keeps working."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.postgres
def test_benchmark_smoke_run(tmp_path, db):
    settings_dict = connection.settings_dict
    server = f"postgres://{settings_dict['USER']}@{settings_dict['HOST'] or '127.0.0.1'}:{settings_dict['PORT'] or 5432}"
    output = tmp_path / "RESULTS.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--server", server, "--database",
         f"flowdesk_bench_smoke_{os.getpid()}", "--output", str(output), "--sections", "generate,lists,scale,imports,live_memory"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = output.read_text()
    assert "# Flowdesk benchmark results" in text
    for heading in ("1. Data generation", "2. List latency", "4. Imports against COPY"):
        assert heading in text
    # every list case produced the same body through Django as through the floor
    assert "| NO |" not in text
