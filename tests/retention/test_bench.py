"""The untimed pieces of bench/retention.py: its section of RESULTS.md is replaced, the rest kept,
and the main run (bench/run.py) keeps it as a standalone benchmark's."""

from bench.retention import SECTION, percentile, write_section
from bench.run import standalone_sections


def test_the_section_is_added_then_replaced_and_the_rest_kept(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Flowdesk benchmark results\n\n## 1. Data\n\nrows\n")
    write_section(path, [SECTION, "", "first"])
    assert path.read_text() == f"# Flowdesk benchmark results\n\n## 1. Data\n\nrows\n\n{SECTION}\n\nfirst\n"
    path.write_text(path.read_text() + "\n## Findings\n\nkept\n")
    write_section(path, [SECTION, "", "second"])
    text = path.read_text()
    assert text.startswith("# Flowdesk benchmark results\n\n## 1. Data\n\nrows\n\n")
    assert f"{SECTION}\n\nsecond\n" in text and "first" not in text and text.endswith("## Findings\n\nkept\n")
    assert standalone_sections(path) == ["", f"{SECTION}\n\nsecond"]


def test_percentile():
    values = list(range(1, 101))
    assert percentile(values, 0.99) == 100 and percentile(values, 0.5) == 51
