# `make demo` and `make test` each create .venv if missing and install the project into it,
# with every version pinned by requirements.lock (regenerate it with `make lock`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench lock clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		--constraint requirements.lock --editable '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/orchestrator validate flows/*.yaml
	$(BIN)/orchestrator simulate flows/warm_transfer.yaml --scenario examples/demo_scenario.yaml

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy orchestrator

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/bench.py

lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^livekit-warm-transfer' > requirements.lock

clean:
	rm -rf $(VENV)
