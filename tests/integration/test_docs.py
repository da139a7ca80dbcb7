import os
import re
import subprocess

import pytest
from pglab import CHECKOUT, COLLECTIONS_PATH

MODULES = sorted(name[:-3] for name in os.listdir(os.path.join(CHECKOUT, "plugins", "modules")) if name.endswith(".py"))


def test_all_modules_exist():
    assert MODULES == [
        "pg_basebackup",
        "pg_database",
        "pg_follow",
        "pg_promote",
        "pg_replication_facts",
        "pg_replication_slot",
        "pg_replication_user",
        "pg_rewind",
        "pg_rewind_user",
        "pg_shutdown",
        "pg_user",
    ]


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders(module):
    completed = subprocess.run(
        [os.path.join(CHECKOUT, ".venv", "bin", "ansible-doc"), "-t", "module", "pgops.replication." + module],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH, ANSIBLE_NOCOLOR="1"),
    )
    assert completed.returncode == 0, completed.stderr
    assert "pgops.replication.%s" % module in completed.stdout
    for section in ("OPTIONS", "EXAMPLES", "RETURN VALUES"):
        assert section in completed.stdout, section
    assert "WARNING" not in completed.stderr and "ERROR" not in completed.stderr, completed.stderr


ROLES = sorted(os.listdir(os.path.join(CHECKOUT, "roles")))


def test_all_three_roles_exist():
    assert ROLES == ["postgresql", "primary", "standby"]


@pytest.mark.parametrize("role", ROLES)
def test_ansible_doc_renders_role_argument_specs(role):
    completed = subprocess.run(
        [os.path.join(CHECKOUT, ".venv", "bin", "ansible-doc"), "-t", "role", "pgops.replication." + role],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH, ANSIBLE_NOCOLOR="1"),
    )
    assert completed.returncode == 0, completed.stderr
    assert re.search(r"ENTRY POINT: \W*main", completed.stdout) and "Options" in completed.stdout
    assert "ERROR" not in completed.stderr, completed.stderr
