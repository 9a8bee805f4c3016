"""Timing helpers: several runs, median and spread, ratios measured side by side."""

import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Timing:
    runs: list

    @property
    def median(self):
        return statistics.median(self.runs)

    @property
    def spread(self):
        """Half the range between the fastest and slowest run, relative to the median."""
        return (max(self.runs) - min(self.runs)) / 2 / self.median if self.median else 0.0

    def ms(self):
        return f"{self.median * 1000:.2f} ms ± {self.spread * 100:.0f}%"

    def per_second(self, items):
        return items / self.median


def timed(fn, runs=7, warmup=2):
    """Run fn warmup times unmeasured, then `runs` times; returns (Timing, last result)."""
    result = None
    for _ in range(warmup):
        result = fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - start)
    return Timing(samples), result


def interleaved(fn_a, fn_b, runs=7, warmup=2):
    """Time two functions alternately, so that drift in the machine affects both alike."""
    for _ in range(warmup):
        fn_a()
        fn_b()
    a, b = [], []
    result_a = result_b = None
    for _ in range(runs):
        start = time.perf_counter()
        result_a = fn_a()
        a.append(time.perf_counter() - start)
        start = time.perf_counter()
        result_b = fn_b()
        b.append(time.perf_counter() - start)
    return Timing(a), Timing(b), result_a, result_b


def replace_section(path, heading, text):
    """Write ``text`` as the section under ``heading`` of RESULTS.md: in place of the one a previous
    run wrote, else at the end (the standalone benchmarks each own one section)."""
    path = Path(path)
    current = path.read_text() if path.exists() else ""
    pattern = re.compile(re.escape(heading) + r".*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        current = pattern.sub(lambda _: text + "\n", current, count=1)
    else:
        current = current.rstrip("\n") + "\n\n" + text
    path.write_text(current)
