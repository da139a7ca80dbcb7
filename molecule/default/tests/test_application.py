"""Application users and databases declared in the inventory exist on the primary and reach the standbys."""

from __future__ import annotations

import os

import testinfra
import testinfra.utils.ansible_runner

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY)
MEMBERS = RUNNER.get_hosts("postgres")
PRIMARY = next(name for name in MEMBERS if RUNNER.get_variables(name).get("postgresql_role") == "primary")
USER = RUNNER.get_variables(PRIMARY)["postgresql_users"][0]


def host_of(name):
    return testinfra.get_host("ansible://%s?ansible_inventory=%s" % (name, INVENTORY))


def test_application_user_logs_in_with_its_password_to_its_database():
    host = host_of(PRIMARY)
    result = host.run(
        "PGPASSWORD=%s psql -XAtq -h 127.0.0.1 -U %s -d billing -c 'SELECT current_user, current_database()'",
        USER["password"],
        USER["name"],
    )
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "billing|billing"


def test_application_user_is_neither_superuser_nor_replication_and_exists_everywhere():
    for name in MEMBERS:
        result = host_of(name).run(
            "runuser -u postgres -- psql -XAtq -c %s",
            "SELECT r.rolsuper, r.rolreplication, pg_get_userbyid(d.datdba) FROM pg_roles r, pg_database d "
            "WHERE r.rolname = 'billing' AND d.datname = 'billing'",
        )
        assert result.stdout.strip() == "f|f|billing", (name, result.stdout, result.stderr)


def test_application_password_is_not_in_files_or_processes():
    for name in MEMBERS:
        host = host_of(name)
        assert USER["password"] not in host.check_output("ps -eo args")
        assert host.run("grep -rlF -- %s /etc/postgresql /var/lib/postgresql", USER["password"]).stdout.strip() == ""
