# `make demo` and `make test` each create .venv if missing and install the project into it,
# with every version pinned by requirements.lock (regenerate it with `make lock`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint lock clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		--constraint requirements.lock --editable '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/orchestrator validate flows/*.yaml
	$(BIN)/orchestrator graph flows/warm_transfer.yaml
	@echo "The flow above is valid and compiled. The simulation (a full warm transfer against"
	@echo "the embedded LiveKit sandbox) arrives with the engine; until then this is the demo."

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy orchestrator

test: lint
	$(BIN)/pytest

lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^livekit-warm-transfer' > requirements.lock

clean:
	rm -rf $(VENV)
