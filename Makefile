# pgops.replication development tasks. `make test` is what CI runs.
SHELL := /bin/bash
VENV ?= .venv
REQUIREMENTS ?= test-requirements.txt
PYTHON := $(VENV)/bin/python
COLLECTION_LINK := $(VENV)/collections/ansible_collections/pgops/replication
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(VENV)/collections
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: venv lint compat galaxy unit integration molecule molecule-lane molecule-failures test sanity clean demo demo-clean images host-packages

venv: $(VENV)/.installed

$(VENV)/.installed: $(REQUIREMENTS)
	python=$$(.ci/find-python) && "$$python" -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r $(REQUIREMENTS)
	mkdir -p $(dir $(COLLECTION_LINK))
	ln -sfn $(CURDIR) $(COLLECTION_LINK)
	touch $@

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check plugins roles tests bench molecule
	$(VENV)/bin/ansible-lint
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/antsibull-docs lint-collection-docs --plugin-docs $(COLLECTION_LINK)
	$(VENV)/bin/antsibull-changelog lint
	$(MAKE) sanity

# The oldest ansible-core that meta/runtime.yml admits gets ansible-lint and sanity too, in a venv of its own, and runs
# every module again: the bad-input batch (each module's every failure path) and the configuration check.
COMPAT_VENV := .venv-compat
compat: venv host-packages
	$(MAKE) VENV=$(COMPAT_VENV) REQUIREMENTS=.ci/compat-requirements.txt venv
	$(COMPAT_VENV)/bin/ansible --version | head -1
	$(MAKE) VENV=$(COMPAT_VENV) REQUIREMENTS=.ci/compat-requirements.txt sanity
	ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/$(COMPAT_VENV)/collections $(COMPAT_VENV)/bin/ansible-lint
	PGOPS_ANSIBLE_BIN_DIR=$(CURDIR)/$(COMPAT_VENV)/bin $(VENV)/bin/pytest -q tests/integration/test_bad_inputs.py tests/integration/test_config_check.py tests/integration/test_config_files.py

# ansible-test wants the collection under ansible_collections/<namespace>/<name>: run it on a copy there.
# The copy lives outside this checkout: inside it, ansible-test would find our .git and list the copy's files
# with `git ls-files`, which returns none for a git-ignored directory ("All targets skipped").
# Each sanity test runs in a venv of its own that ansible-test bootstraps pip into with a script downloaded from
# ci-files.testing.ansible.com, unreachable here, unless ~/.ansible/test/cache has it: give it .ci/get-pip.py.
sanity: venv
	pip=$$($(PYTHON) -c 'import sys, types; from ansible_test._internal.python_requirements import get_venv_packages as p; \
	  print(p(types.SimpleNamespace(version="%d.%d" % sys.version_info[:2]))["pip"])') \
	  && script=$$HOME/.ansible/test/cache/get_pip_$${pip//./_}.py && { [ -e "$$script" ] || install -D -m 644 .ci/get-pip.py "$$script"; }
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && root=$$tmp/ansible_collections/pgops/replication && mkdir -p "$$root" \
	  && tar --exclude='./.venv*' --exclude=./.git --exclude=./.ansible --exclude=./tests/output -cf - . | tar -xf - -C "$$root" \
	  && cd "$$root" && PATH=$(CURDIR)/$(VENV)/bin:$$PATH ansible-test sanity --local --color no \
	    --python $$($(CURDIR)/$(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')

unit: venv
	$(VENV)/bin/pytest -q tests/unit

integration: venv host-packages
	$(VENV)/bin/pytest -q --durations=25 tests/integration

# Two lanes of scenarios at once, each one after the other within its lane: the scenarios on the shared hosts of
# .config/molecule/config.yml (db1..db3, network pgops-molecule-db; pg17 restates them on its own image), and those that
# restate `platforms` with hosts node1..node4 (networks pgops-molecule and pgops-molecule-quorum). The lanes are
# balanced by the scenarios' times (docs/BENCHMARKS.md). Within a lane they share container names. Molecule
# merges .config/molecule/config.yml under each molecule/<scenario>/molecule.yml. Each line is prefixed with its
# scenario, each scenario's wall time is printed as it ends (docs/BENCHMARKS.md keeps the breakdown), and the target
# fails when either lane fails.
# The `backup` scenario's hosts (pg1..pg3, repo) and network are its own, so it can run beside either lane: `molecule`
# runs it as a third lane, and `test` runs MOLECULE_APART_IN_TEST after the checks, on the CPU they leave.
MOLECULE_SHARED_HOSTS := endpoints sync pg17
MOLECULE_OWN_HOSTS := quorum default rolling
MOLECULE_APART := backup
# Not in `make test` yet: of its two clean-clone runs under CI's load (commits 3cb3634 and ba189d0), the second failed
# in test_a_former_primary_whose_wal_was_recycled_rewinds_from_the_archive_instead_of_a_reclone (the row written on
# the cut-off old primary was still there after the rewind), not yet explained. `make molecule` and
# `make molecule-lane SCENARIOS=backup` run it.
MOLECULE_APART_IN_TEST :=
MOLECULE_SCENARIOS := $(MOLECULE_SHARED_HOSTS) $(MOLECULE_OWN_HOSTS) $(MOLECULE_APART)
molecule: venv images
	@rm -f tests/output/molecule/*.failed; $(MAKE) --no-print-directory molecule-lane SCENARIOS="$(MOLECULE_SHARED_HOSTS)" & shared=$$!; \
	  $(MAKE) --no-print-directory molecule-lane SCENARIOS="$(MOLECULE_APART)" & apart=$$!; \
	  $(MAKE) --no-print-directory molecule-lane SCENARIOS="$(MOLECULE_OWN_HOSTS)"; own=$$?; \
	  wait $$shared; shared=$$?; wait $$apart; apart=$$?; \
	  $(MAKE) --no-print-directory molecule-failures; \
	  echo "make molecule: $(MOLECULE_SHARED_HOSTS): exit $$shared; $(MOLECULE_OWN_HOSTS): exit $$own; $(MOLECULE_APART): exit $$apart"; \
	  [ $$shared -eq 0 ] && [ $$own -eq 0 ] && [ $$apart -eq 0 ]

# One lane: SCENARIOS one after the other, stopping at the first that fails. A failed scenario leaves what failed
# (pytest's failures, Ansible's failed tasks) in tests/output/molecule/<scenario>.failed, which `molecule` and `test`
# print last, where a log's tail shows it.
# Each scenario's line says its wall time and the CPU of everything it ran outside its containers (Molecule, Ansible,
# the tests and their clients; the containers' own CPU is in the verifier's "CPU by test" section).
molecule-lane: venv
	@set -o pipefail; mkdir -p tests/output/molecule; children_cpu() { awk '{print $$16 + $$17}' /proc/$$$$/stat; }; \
	  for scenario in $(SCENARIOS); do started=$$(date +%s); cpu_before=$$(children_cpu); \
	  log=tests/output/molecule/$$scenario.log; rm -f tests/output/molecule/$$scenario.failed; \
	  if ! PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/molecule test -s $$scenario 2>&1 | sed -u "s/^/$$scenario| /" | tee $$log; then \
	    sed 's/\x1b\[[0-9;]*m//g' $$log | grep -E '(FAILED|Error|^[^|]*\|[ │]*E  |fatal: \[|failed: \[)' | tail -60 \
	      >tests/output/molecule/$$scenario.failed; \
	    echo "molecule: scenario $$scenario failed after $$(( $$(date +%s) - started )) s"; exit 1; fi; \
	  echo "molecule: scenario $$scenario took $$(( $$(date +%s) - started )) s," \
	    "$$(( ($$(children_cpu) - cpu_before) / $$(getconf CLK_TCK) )) CPU-s outside its containers"; done

# What failed in the scenarios of the last run, if any.
molecule-failures:
	@for failed in tests/output/molecule/*.failed; do [ -e "$$failed" ] || continue; \
	  echo "=== what failed in scenario $$(basename $$failed .failed):"; cat "$$failed"; done

# The path users take: build the Galaxy tarball, install it offline, provision the lab from a separate infra repo.
galaxy: venv images
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH lab/galaxy-install

# Once the venv is made, three jobs run at once: the lab images (debootstrap and the mirror's packages, mostly waiting on
# the network; built once, by whichever lane asks first), then one lane of Molecule scenarios each (lines prefixed with
# the scenario); and everything else (lint, compat, unit, integration, then the Galaxy install, whose containers and
# network have names of their own), which needs no image until the Galaxy install and so uses the CPU the image builds
# leave, then the scenarios of MOLECULE_APART_IN_TEST. The machine is CPU-bound once the scenarios run, so work done
# while the images build is work the scenarios no longer wait behind. The target fails when any lane fails.
test: host-packages
	@$(MAKE) --no-print-directory venv
	@rm -f tests/output/molecule/*.failed; \
	  { $(MAKE) --no-print-directory images && $(MAKE) --no-print-directory molecule-lane SCENARIOS="$(MOLECULE_SHARED_HOSTS)"; } & shared=$$!; \
	  { $(MAKE) --no-print-directory images && $(MAKE) --no-print-directory molecule-lane SCENARIOS="$(MOLECULE_OWN_HOSTS)"; } & own=$$!; \
	  $(MAKE) --no-print-directory lint compat unit integration galaxy; checks=$$?; \
	  $(MAKE) --no-print-directory molecule-lane SCENARIOS="$(MOLECULE_APART_IN_TEST)"; apart=$$?; \
	  wait $$shared; shared=$$?; wait $$own; own=$$?; \
	  $(MAKE) --no-print-directory molecule-failures; \
	  echo "make test: lint, compat, unit, integration, galaxy: exit $$checks; images and molecule: $(MOLECULE_SHARED_HOSTS): exit $$shared;" \
	    "$(MOLECULE_OWN_HOSTS): exit $$own; $(MOLECULE_APART): exit $$apart"; \
	  [ $$checks -eq 0 ] && [ $$shared -eq 0 ] && [ $$own -eq 0 ] && [ $$apart -eq 0 ]

clean:
	rm -rf $(VENV) tests/output

# Local lab images pgops-lab:debian12/debian13 (debootstrap + docker import; cached by content hash), and
# pgops-lab:debian12-preinstalled with PostgreSQL's packages installed (the Molecule scenarios other than `rolling`
# and `pg17`, which install from the mirror).
# Debian's packages this machine needs for the tests (PostgreSQL's server programs, psycopg, debootstrap, ...).
host-packages:
	lab/host-packages

# One build at a time: `make test` asks for the images from two lanes (the scenarios and the Galaxy install); the second
# finds them built (by content hash) once the first is done.
images:
	flock /tmp/pgops-build-images.lock lab/build-images

# The demo's containers use pgops-lab:debian12 only (lab/cluster's default).
demo: venv
	lab/build-images debian12
	lab/demo

demo-clean:
	lab/demo clean
