"""Replication runs over TLS, and the standbys check the primary's certificate and host name."""

from __future__ import annotations

import os

import testinfra
import testinfra.utils.ansible_runner

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY)
HOSTS = RUNNER.get_hosts("postgres")
PRIMARY = next(name for name in HOSTS if RUNNER.get_variables(name).get("postgresql_role") == "primary")
STANDBYS = [name for name in HOSTS if name != PRIMARY]


def host_of(name):
    return testinfra.get_host("ansible://%s?ansible_inventory=%s" % (name, INVENTORY))


def psql(name, statement):
    result = host_of(name).run("runuser -u postgres -- psql -XAtq -c %s", statement)
    assert result.rc == 0, result.stderr
    return result.stdout.strip()


def test_every_walsender_connection_uses_tls():
    rows = psql(PRIMARY, "SELECT r.application_name, s.ssl, s.version FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) ORDER BY 1")
    lines = rows.splitlines()
    assert len(lines) == len(STANDBYS)
    assert all(line.split("|")[1] == "t" and line.split("|")[2].startswith("TLS") for line in lines), rows


def test_standbys_verify_the_primary_certificate_and_name():
    for name in STANDBYS:
        conninfo = psql(name, "SHOW primary_conninfo")
        assert "sslmode=verify-full" in conninfo and "sslrootcert=" in conninfo, conninfo


def test_replication_only_over_tls_in_pg_hba():
    hba = host_of(PRIMARY).file("/etc/postgresql/15/main/pg_hba.conf").content_string
    replication = [line.split()[0] for line in hba.splitlines() if line.split()[1:2] == ["replication"]]
    assert replication and set(replication) == {"hostssl"}


def test_server_key_is_private():
    key = host_of(PRIMARY).file("/etc/ssl/pgops/15-main/server.key")
    assert key.mode == 0o600 and key.user == "postgres"
