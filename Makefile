.PHONY: run test bench fuzz lint

# Set up (.venv, install, migrate), load demo data, serve on localhost:8000.
run:
	@scripts/run

# Set up and run the whole test suite.
test:
	@scripts/test

# Benchmarks on PostgreSQL (takes a while at full size): writes bench/RESULTS.md.
bench:
	@scripts/bench

# Schemathesis over every operation against a live server with demo data (FUZZ_SECONDS bounds it).
fuzz:
	@scripts/fuzz

lint:
	@.venv/bin/python -m ruff check .
