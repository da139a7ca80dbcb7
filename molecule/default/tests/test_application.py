"""Application users and databases declared in the inventory exist on the primary and reach the standbys."""

from __future__ import annotations

import os

import psycopg
import testinfra
import testinfra.utils.ansible_runner

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY)
MEMBERS = RUNNER.get_hosts("postgres")
PRIMARY = next(name for name in MEMBERS if RUNNER.get_variables(name).get("postgresql_role") == "primary")
USER, READER = RUNNER.get_variables(PRIMARY)["postgresql_users"]


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


def test_a_rule_with_its_defaults_left_out_and_names_to_quote_admits_its_client():
    """From the controller (the network's gateway), over TCP: the rule of postgresql_hba_entries, not the role's own
    loopback rules, lets the user in; every member has it, so the standbys admit the reader too."""
    for name in MEMBERS:
        address = host_of(name).check_output("hostname -I").split()[0]
        with psycopg.connect(
            host=address, user=READER["name"], password=READER["password"], dbname="billing reports", connect_timeout=5
        ) as connection:
            assert connection.execute("SELECT current_user, current_database()").fetchone() == ("billing reader", "billing reports")
    for name in MEMBERS:
        rules = host_of(name).check_output(
            "runuser -u postgres -- psql -XAtq -c %s", "SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL"
        )
        assert rules == "0", name


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
