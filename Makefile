.PHONY: run test lint

# Set up (.venv, install, migrate), load demo data, serve on localhost:8000.
run:
	@scripts/run

# Set up and run the whole test suite.
test:
	@scripts/test

lint:
	@.venv/bin/python -m ruff check .
