"""One minimum ansible-core everywhere it is stated: meta/runtime.yml (what ansible-galaxy and ansible-core enforce),
each role's meta, the README and the quick start, and the compat venv that CI runs lint and sanity in."""

import glob
import os
import re

import yaml

CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read(*path):
    with open(os.path.join(CHECKOUT, *path)) as handle:
        return handle.read()


def minimum() -> str:
    requires = yaml.safe_load(read("meta", "runtime.yml"))["requires_ansible"]
    found = re.fullmatch(r">=(\d+\.\d+)\.0", requires)
    assert found, "requires_ansible %r is not a plain minimum" % requires
    return found.group(1)


def test_every_role_states_the_same_minimum():
    for path in glob.glob(os.path.join(CHECKOUT, "roles", "*", "meta", "main.yml")):
        with open(path) as handle:
            assert str(yaml.safe_load(handle)["galaxy_info"]["min_ansible_version"]) == minimum(), path


def test_the_docs_and_the_compat_venv_name_it():
    assert "ansible-core %s or" % minimum() in read("README.md")
    assert "ansible-core %s or newer" % minimum() in read("docs", "QUICKSTART.md")
    assert re.search(r"^ansible-core==%s\.\d+$" % re.escape(minimum()), read(".ci", "compat-requirements.txt"), re.M)
