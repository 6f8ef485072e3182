# Coffee Chaos. `make gameday` and `make test` do all the set-up themselves:
# virtualenv, requirements, the lab (Ansible), then the job.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= quick
GAMEDAY ?= experiments/kill-redis.json
PYTEST_ARGS ?=
# Extra ansible-playbook arguments for the lab's provisioning, e.g. on a lab shared by several
# checkouts: LAB_ARGS="-e cafe_source_dir=/path/to/the/shared/cafe".
LAB_ARGS ?=
SOAK_DIR := runs/soak-$(shell date -u +%Y%m%dT%H%M%SZ)
SOAK_VARS ?=

# ansible-lint wants the venv's ansible first on PATH.
ANSIBLE_LINT := PATH="$(abspath $(BIN)):$$PATH" $(BIN)/ansible-lint

.PHONY: help venv lab gameday test unit lint recover teardown status bench soak detection

help:
	@echo "make gameday   provision the lab and run the default game day ($(GAMEDAY), $(PROFILE) profile)"
	@echo "make test      provision the lab and run the whole test suite"
	@echo "make unit      the tests that need no lab (no provisioning; under a minute)"
	@echo "make lab       provision (or re-converge) the lab only"
	@echo "make recover   revert every fault the ledger holds and bring the lab back up"
	@echo "make teardown  stop and remove what the lab provisioned"
	@echo "make bench     run the benchmarks and print their figures"
	@echo "make soak      provision the lab, run experiments/soak.json (2 h) and print its report"
	@echo "make detection every experiment against every café flaw it must catch (about 30 min);"
	@echo "               writes the matrix into docs/results.md"

$(BIN)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (3.11): apt-get install python3 python3-venv"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

venv: $(BIN)/.installed

lab: venv
	$(BIN)/ansible-playbook playbooks/provision.yml $(LAB_ARGS)

gameday: lab
	$(BIN)/gameday run --profile $(PROFILE) $(GAMEDAY)

test: lab
	$(BIN)/ruff check .
	$(ANSIBLE_LINT) playbooks/ tests/fixtures/byo_cafe.yml
	$(BIN)/pytest $(PYTEST_ARGS)

unit: venv
	$(BIN)/pytest -m "not lab" -n 2

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(ANSIBLE_LINT) playbooks/ tests/fixtures/byo_cafe.yml

status: venv
	$(BIN)/gameday status

# A Kubernetes target (COFFEE_CHAOS_TARGET with "platform": "kubernetes") has no lab programs
# to start: its ledger alone is reverted (Chaos Mesh objects deleted, replicas restored).
recover: venv
	@if [ -n "$$COFFEE_CHAOS_TARGET" ] && grep -Eq '"platform": *"kubernetes"' "$$COFFEE_CHAOS_TARGET"; then \
		$(BIN)/gameday recover; \
	else \
		$(BIN)/ansible-playbook playbooks/recover.yml; \
	fi

teardown: venv
	$(BIN)/ansible-playbook playbooks/teardown.yml

# Each benchmark prints its figures (README, "Benchmarks"); run them on a quiet machine.
bench: lab
	benchmarks/cafe_throughput.sh
	$(BIN)/python benchmarks/aggregator_pass.py
	$(BIN)/python benchmarks/seed_copy.py
	$(BIN)/python benchmarks/dashboard_cache.py
	/usr/bin/python3 benchmarks/faultproxy_overhead.py
	$(BIN)/python benchmarks/load_generator.py
	$(BIN)/python benchmarks/safeguard_reaction.py

# The overnight soak, full defaults (SOAK_VARS="--var soak_s:int=14400" for 4 h). Samples and
# checkpoints go to $(SOAK_DIR)/soak/ as it runs; the report is printed even if it was cut short.
soak: lab
	mkdir -p $(SOAK_DIR)
	COFFEE_CHAOS_RUN_DIR=$(abspath $(SOAK_DIR)) $(BIN)/chaos --log-file $(SOAK_DIR)/chaostoolkit.log --log-file-level info \
		run $(SOAK_VARS) --journal-path $(SOAK_DIR)/journal.json experiments/soak.json; \
	status=$$?; $(BIN)/python -m gameday.soak report $(SOAK_DIR); exit $$status

# The whole detection matrix (CI runs a slice that catches every flaw once): each experiment,
# quick profile, against each café flaw it must catch, one at a time; then the matrix goes
# into docs/results.md.
DETECTION_RESULTS := $(abspath runs/detection/results.jsonl)
detection: lab
	rm -f $(DETECTION_RESULTS)
	COFFEE_DETECTION_RESULTS=$(DETECTION_RESULTS) $(BIN)/pytest -m lab tests/test_detection.py; \
	status=$$?; $(BIN)/python tests/detection_matrix.py $(DETECTION_RESULTS); exit $$status
