# Two entry points for a fresh machine: `make run` and `make test`. Both install what they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLE_EVIDENCE := sample_cases/aws_incident/evidence
SAMPLE_NETWORK := sample_cases/aws_incident/network_evidence
SAMPLE_CASE := sample_cases/aws_incident/aws_incident.caseline

.PHONY: run test lint typecheck hygiene sample clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# CloudTrail (the central log bucket) and the network evidence (VPC flow logs, GuardDuty
# findings), written side by side by one generator run and imported together.
$(SAMPLE_CASE): $(STAMP) sample_cases/generate_aws_incident.py $(wildcard sample_cases/aws_incident_*.py)
	rm -f $(SAMPLE_CASE)
	$(BIN)/python sample_cases/generate_aws_incident.py --out $(SAMPLE_EVIDENCE) --network-out $(SAMPLE_NETWORK)
	$(BIN)/caseline import $(SAMPLE_CASE) $(SAMPLE_EVIDENCE) $(SAMPLE_NETWORK)

sample: $(SAMPLE_CASE)

# Bytecode compiled ahead (skipped when current), as pip does for an installed wheel: where
# PYTHONDONTWRITEBYTECODE is set, every start would otherwise compile ~200 modules first.
run: $(SAMPLE_CASE)
	$(BIN)/python -m compileall -q viewer
	$(BIN)/caseline open $(SAMPLE_CASE)

lint: $(STAMP)
	$(BIN)/ruff check viewer tests benchmarks sample_cases
	$(BIN)/ruff format --check viewer tests benchmarks sample_cases

typecheck: $(STAMP)
	$(BIN)/mypy viewer

hygiene: $(STAMP)
	$(BIN)/lint-imports

test: $(STAMP) lint typecheck hygiene
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(SAMPLE_CASE)
