# `make demo` and `make test` each create .venv if missing and install the project into it,
# with every version pinned by requirements.lock (regenerate it with `make lock`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench lock clean reliability e2e real-demo stack-build stack-up stack-down \
	studio-assets report-assets

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		--constraint requirements.lock --editable '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/orchestrator validate flows/*.yaml
	$(BIN)/orchestrator simulate flows/warm_transfer.yaml --scenario examples/demo_scenario.yaml --api

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy orchestrator stack tools

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m bench.bench

# The fault catalogue, hostile inputs and random interleavings, with many more Hypothesis
# examples than `make test`; the last line printed is the JSON of the figures the tests
# counted. Fails (after printing them) when a test fails.
# RELIABILITY_MIXES random fault mixes (docs/random-mixes.md) from RELIABILITY_MIX_SEED.
RELIABILITY_EXAMPLES ?= 1000
RELIABILITY_MIXES ?= 300
RELIABILITY_MIX_SEED ?= 20
reliability: $(STAMP)
	@rm -f build/reliability.json
	RELIABILITY_REPORT=build/reliability.json RELIABILITY_EXAMPLES=$(RELIABILITY_EXAMPLES) \
		RELIABILITY_MIXES=$(RELIABILITY_MIXES) RELIABILITY_MIX_SEED=$(RELIABILITY_MIX_SEED) \
		$(BIN)/pytest tests/reliability -q -p no:cacheprovider; status=$$?; \
		$(BIN)/python -m tests.reliability.report build/reliability.json; exit $$status

# The real LiveKit stack (livekit-server, livekit-sip, Redis, sipp; versions pinned in
# stack/versions.env): built into build/stack/ by Go and apt when missing, run on 127.0.0.1.
stack-build: $(STAMP)
	$(BIN)/python -m stack build

stack-up: $(STAMP)
	$(BIN)/python -m stack up

stack-down: $(STAMP)
	$(BIN)/python -m stack down

# Conformance (sandbox vs real server) and the engine end to end on the real stack; the
# session starts the stack (unless `make stack-up` runs one) and always stops it. The last
# line printed is the JSON of the figures the tests counted. Fails (after printing them)
# when a test fails.
e2e: $(STAMP)
	@rm -f build/e2e.json
	$(BIN)/python -m stack build
	E2E_REPORT=build/e2e.json $(BIN)/pytest tests/e2e -q -p no:cacheprovider; status=$$?; \
		$(BIN)/python -m tests.e2e.harness.report build/e2e.json; exit $$status

# One real warm transfer on this machine (real stack, the example worker with offline
# models, sipp phones), printed as a timeline of what each phone received; everything it
# starts is stopped at the end.
real-demo: $(STAMP)
	$(BIN)/python -m tests.e2e.harness.demo

# The studio's third-party scripts (CodeMirror 6 bundled by esbuild, Mermaid's dist), built
# from orchestrator/studio/web/package-lock.json into orchestrator/studio/static/ (committed:
# the package works offline after pip install). Needs Node 20 and npm.
studio-assets:
	cd orchestrator/studio/web && npm ci --no-audit --no-fund && npm run build

# The HTML report's chart library (Chart.js' UMD build, as released, with its licence),
# copied from orchestrator/report/web/package-lock.json into orchestrator/report/static/
# (committed: `orchestrator report --html` inlines it into the page). Needs Node 20 and npm.
report-assets:
	cd orchestrator/report/web && npm ci --no-audit --no-fund && npm run build

lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^livekit-warm-transfer' > requirements.lock

clean:
	rm -rf $(VENV)
