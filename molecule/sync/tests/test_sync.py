"""Synchronous replication is real: the primary counts the standbys in its quorum, and without them commits wait."""

from __future__ import annotations

import os
import time

import testinfra
import testinfra.utils.ansible_runner

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY)
HOSTS = RUNNER.get_hosts("postgres")
PRIMARY = next(name for name in HOSTS if RUNNER.get_variables(name).get("postgresql_role") == "primary")
STANDBYS = [name for name in HOSTS if name != PRIMARY]
SERVICE = "postgresql@15-main"


def host_of(name):
    return testinfra.get_host("ansible://%s?ansible_inventory=%s" % (name, INVENTORY))


def psql(name, statement):
    return host_of(name).run("runuser -u postgres -- psql -XAtq -c %s", statement)


def test_primary_reports_quorum_standbys():
    assert psql(PRIMARY, "SHOW synchronous_standby_names").stdout.strip() == 'ANY 1 ("node1", "node2", "node3")'
    rows = psql(PRIMARY, "SELECT application_name, sync_state FROM pg_stat_replication ORDER BY 1").stdout.split()
    assert rows == ["%s|quorum" % name for name in sorted(STANDBYS)]


def test_commit_waits_without_standbys():
    for name in STANDBYS:
        host_of(name).run("systemctl stop %s", SERVICE)
    try:
        started = time.monotonic()
        statement = "SET statement_timeout = '3s'; CREATE TABLE IF NOT EXISTS sync_probe (id int); INSERT INTO sync_probe VALUES (1)"
        result = psql(PRIMARY, statement)
        waited = time.monotonic() - started
        # The commit is durable locally but was not confirmed: PostgreSQL cancels the wait and says so.
        assert "canceling wait for synchronous replication" in result.stderr, result.stderr
        assert waited >= 3
    finally:
        for name in STANDBYS:
            host_of(name).run("systemctl start %s", SERVICE)
    deadline = time.monotonic() + 60
    while psql(PRIMARY, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'").stdout.strip() != str(len(STANDBYS)):
        assert time.monotonic() < deadline, "standbys did not stream again"
        time.sleep(0.5)
    started = time.monotonic()
    psql(PRIMARY, "INSERT INTO sync_probe VALUES (2)")
    assert time.monotonic() - started < 3
