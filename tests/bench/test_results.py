"""RESULTS.md is written by several benchmarks: the main run keeps the standalone ones' sections,
and each standalone one replaces only its own."""

from bench.measure import replace_section
from bench.run import standalone_sections

RESULTS = """# Flowdesk benchmark results

## 1. Lists

old lists

## Search what was said (issue #18, bench/search.py)

search figures

## Insights (issue #18, bench/insights.py)

insights figures

## Findings

by hand
"""


def test_the_main_run_keeps_the_standalone_sections(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text(RESULTS)
    assert standalone_sections(path) == [
        "", "## Search what was said (issue #18, bench/search.py)\n\nsearch figures",
        "## Insights (issue #18, bench/insights.py)\n\ninsights figures",
    ]
    assert standalone_sections(tmp_path / "none.md") == []


def test_a_standalone_run_replaces_its_own_section_only(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text(RESULTS)
    replace_section(path, "## Insights (issue #18, bench/insights.py)", "## Insights (issue #18, bench/insights.py)\n\nnew\n")
    text = path.read_text()
    assert "insights figures" not in text and "\nnew\n" in text
    assert "search figures" in text and "old lists" in text and text.endswith("by hand\n")
    replace_section(path, "## Retention (issue #17, bench/retention.py)", "## Retention (issue #17, bench/retention.py)\n\nr\n")
    assert path.read_text().endswith("## Retention (issue #17, bench/retention.py)\n\nr\n")
