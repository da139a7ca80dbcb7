# pgops.replication development tasks. `make test` is what CI runs.
SHELL := /bin/bash
VENV := .venv
PYTHON := $(VENV)/bin/python
COLLECTION_LINK := $(VENV)/collections/ansible_collections/pgops/replication
SANITY_ROOT := $(VENV)/sanity/ansible_collections/pgops/replication
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(VENV)/collections
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: venv lint unit integration test sanity clean

venv: $(VENV)/.installed

$(VENV)/.installed: test-requirements.txt
	python=$$(.ci/find-python) && "$$python" -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r test-requirements.txt
	mkdir -p $(dir $(COLLECTION_LINK))
	ln -sfn $(CURDIR) $(COLLECTION_LINK)
	touch $@

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check plugins tests
	$(VENV)/bin/ansible-lint
	$(MAKE) sanity

# ansible-test wants the collection under ansible_collections/<namespace>/<name>: run it on a copy there.
sanity: venv
	rm -rf $(SANITY_ROOT) && mkdir -p $(SANITY_ROOT)
	tar --exclude=./.venv --exclude=./.git --exclude=./tests/output -cf - . | tar -xf - -C $(SANITY_ROOT)
	cd $(SANITY_ROOT) && PATH=$(CURDIR)/$(VENV)/bin:$$PATH ansible-test sanity --local --python $$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])') --color no

unit: venv
	$(VENV)/bin/pytest -q tests/unit

integration: venv
	$(VENV)/bin/pytest -q tests/integration

test: lint unit integration

clean:
	rm -rf $(VENV) tests/output
