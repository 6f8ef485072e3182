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
# Recovery without a working venv needs only the machine's own python3.
SYSTEM_PYTHON ?= /usr/bin/python3
SOAK_DIR := runs/soak-$(shell date -u +%Y%m%dT%H%M%SZ)
SOAK_VARS ?=

# ansible-lint wants the venv's ansible first on PATH.
ANSIBLE_LINT := PATH="$(abspath $(BIN)):$$PATH" $(BIN)/ansible-lint

.PHONY: help venv lab gameday gameday-quick test unit lint recover teardown status bench soak detection crash-matrix extended

help:
	@echo "make gameday   provision the lab and run the default game day ($(GAMEDAY), $(PROFILE) profile);"
	@echo "               GAMEDAY=plans/quick.yaml: every failure experiment in one session"
	@echo "make test      provision the lab and run the test suite (CI's; under 40 min)"
	@echo "make extended  the lab tests CI leaves out: a second experiment of each kind (~26 min)"
	@echo "make unit      the tests that need no lab (no provisioning; under a minute)"
	@echo "make lab       provision (or re-converge) the lab only"
	@echo "make recover   bring the lab back up and revert every fault of every ledger (FORCE=1:"
	@echo "               even while an experiment holds the lab); needs no venv"
	@echo "make teardown  stop and remove what the lab provisioned"
	@echo "make bench     run the benchmarks and print their figures"
	@echo "make gameday-quick  plans/quick.yaml end to end, its report checked in headless Chromium"
	@echo "make soak      provision the lab, run experiments/soak.json (2 h) and print its report"
	@echo "make detection every experiment against every café flaw it must catch (about 30 min);"
	@echo "               writes the matrix into docs/results.md"
	@echo "make crash-matrix  every fault kind's quick experiment, its run SIGKILLed then recovered,"
	@echo "               and SIGHUPed (about 15 min); writes the matrix into docs/results.md"

$(BIN)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (3.11): apt-get install python3 python3-venv"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

venv: $(BIN)/.installed

lab: venv
	$(BIN)/ansible-playbook playbooks/provision.yml $(LAB_ARGS)

# A plan (plans/*.yaml) carries its own profiles; experiment files get PROFILE.
IS_PLAN = $(filter %.yaml %.yml,$(GAMEDAY))
gameday: lab
	@echo "Game day: $(GAMEDAY)$(if $(IS_PLAN), (the plan: edit it to change the session), (profile $(PROFILE)))"
	@echo "Plans: plans/quick.yaml (every failure experiment, ~12 min), plans/full.yaml (the operators' plan, 3-4 h):"
	@echo "       make gameday GAMEDAY=plans/quick.yaml"
	$(BIN)/gameday run $(if $(IS_PLAN),,--profile $(PROFILE)) $(GAMEDAY)

# The quick plan end to end (about 12 min), its report through the Chromium check (offline,
# a chart per experiment, the 503s inside the Redis fault) and the render benchmark.
QUICK_RUNS := runs/quick
gameday-quick: lab
	$(BIN)/gameday run --runs-dir $(QUICK_RUNS) --junit $(QUICK_RUNS)/junit.xml plans/quick.yaml; \
	status=$$?; session=$$(ls -d $(QUICK_RUNS)/gameday-* | tail -n 1); \
	$(BIN)/python -m tests.reportcheck $$session --screenshot $$session/report.png || status=1; \
	$(BIN)/python benchmarks/report_render.py $$session; exit $$status

# CI's suite (under 40 min): the tests without the lab on two processes, then the lab's one at a
# time (they share one lab). `make extended` runs what CI leaves out.
test: lab
	$(BIN)/ruff check .
	$(ANSIBLE_LINT) playbooks/ tests/fixtures/byo_cafe.yml
	$(BIN)/pytest -m "not lab" -n 2 $(PYTEST_ARGS)
	$(BIN)/pytest -m "lab and not extended" $(PYTEST_ARGS)

# A second experiment of each kind CI runs once (kill-postgres, delay-redis, freeze-postgres...)
# and sustained-80 and the ramp on a capacity searched on a café of known limit (about 22 min).
extended: lab
	$(BIN)/pytest -m extended $(PYTEST_ARGS)

unit: venv
	$(BIN)/pytest -m "not lab" -n 2

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(ANSIBLE_LINT) playbooks/ tests/fixtures/byo_cafe.yml

status: venv
	$(BIN)/gameday status

# Never builds the venv (pip may be what is broken): the playbook when the venv works, else the
# standard-library recovery with the machine's python3. A Kubernetes target (COFFEE_CHAOS_TARGET
# with "platform": "kubernetes") has no lab programs to start: its ledger alone is reverted (Chaos
# Mesh objects deleted, replicas restored), which needs the venv (chaostoolkit-kubernetes).
recover:
	@if [ -n "$$COFFEE_CHAOS_TARGET" ] && grep -Eq '"platform": *"kubernetes"' "$$COFFEE_CHAOS_TARGET"; then \
		$(BIN)/gameday recover $(if $(FORCE),--force); \
	elif $(BIN)/ansible-playbook --version >/dev/null 2>&1; then \
		$(BIN)/ansible-playbook playbooks/recover.yml $(if $(FORCE),-e recover_force=true); \
	else \
		echo "$(VENV) is absent or broken: recovering with $(SYSTEM_PYTHON) alone (python3 -m gameday.recover)"; \
		$(SYSTEM_PYTHON) -m gameday.recover $(if $(FORCE),--force); \
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

# The whole crash matrix (CI runs small built experiments instead): for each kind of fault, the
# quick experiment that injects it, its `chaos run` process group SIGKILLed once the ledger
# shows the fault and `make recover` run, then SIGHUPed and nothing run; the figures go into
# docs/results.md.
CRASH_RESULTS := $(abspath runs/crash-matrix/results.jsonl)
crash-matrix: lab
	mkdir -p $(dir $(CRASH_RESULTS)) && rm -f $(CRASH_RESULTS)
	COFFEE_CRASH_MATRIX=$(CRASH_RESULTS) $(BIN)/pytest -m lab tests/test_crash_matrix.py; \
	status=$$?; $(BIN)/python tests/crash_matrix.py $(CRASH_RESULTS); exit $$status
