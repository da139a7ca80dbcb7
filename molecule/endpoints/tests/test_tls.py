"""The members replicate over TLS, and the standbys check the primary's certificate and host name; generated
certificates, the members' and the pooler's, are issued again near their end, and the servers and PgBouncer read them
on a reload. These tests run last on the endpoints cluster (TLS on), from whichever member is primary then; its
switchovers and its rejoin have run pg_rewind against the new primary, which the rewind role reaches over TLS only."""

from __future__ import annotations

import datetime
import re
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from ops import MEMBERS, POOLERS, changed_total, host_of, playbook, psql, the_primary


def standbys_of(primary):
    return [name for name in MEMBERS if name != primary]


def test_every_walsender_connection_uses_tls():
    rows = psql(
        the_primary(), "SELECT r.application_name, s.ssl, s.version FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) ORDER BY 1"
    )
    lines = rows.splitlines()
    assert len(lines) == len(MEMBERS) - 1
    assert all(line.split("|")[1] == "t" and line.split("|")[2].startswith("TLS") for line in lines), rows


def test_standbys_verify_the_primary_certificate_and_name():
    for name in standbys_of(the_primary()):
        conninfo = psql(name, "SHOW primary_conninfo")
        assert "sslmode=verify-full" in conninfo and "sslrootcert=" in conninfo, conninfo


def test_replication_only_over_tls_in_pg_hba():
    hba = host_of(the_primary()).file("/etc/postgresql/15/main/pg_hba.conf").content_string
    replication = [line.split()[0] for line in hba.splitlines() if line.split()[1:2] == ["replication"]]
    assert replication and set(replication) == {"hostssl"}


def test_server_key_is_private():
    key = host_of(the_primary()).file("/etc/ssl/pgops/15-main/server.key")
    assert key.mode == 0o600 and key.user == "postgres"


def connect_from(name, conninfo):
    return host_of(name).run("runuser -u postgres -- psql -w -XAtq -c 'SELECT 1' %s", conninfo + " connect_timeout=5")


def test_replication_and_rewind_roles_are_refused_without_tls():
    """pg_basebackup, streaming and pg_rewind can only reach the primary over TLS: pg_hba.conf has hostssl lines only."""
    primary = the_primary()
    standby = standbys_of(primary)[0]
    for conninfo in (
        "host=%s dbname=replication replication=true user=replicator" % primary,
        "host=%s dbname=postgres user=pgops_rewind" % primary,
    ):
        result = connect_from(standby, conninfo + " sslmode=disable")
        assert result.rc != 0 and "no pg_hba.conf entry" in result.stderr and "no encryption" in result.stderr, result.stderr


def test_verify_full_checks_the_host_name():
    """The primary's certificate names it and its address. Reached under another name (hostaddr keeps the address),
    it is refused by verify-full before any password is sent."""
    primary = the_primary()
    standby = standbys_of(primary)[0]
    address = host_of(standby).run("getent hosts %s", primary).stdout.split()[0]
    rootcert = "sslrootcert=/etc/ssl/pgops/15-main/ca.crt sslmode=verify-full"
    replication = "dbname=replication replication=true user=replicator " + rootcert
    result = connect_from(standby, "host=not-the-primary hostaddr=%s %s" % (address, replication))
    assert result.rc != 0 and 'does not match host name "not-the-primary"' in result.stderr, result.stderr
    by_name = connect_from(standby, "host=%s %s" % (primary, replication))
    assert "does not match host name" not in by_name.stderr and "certificate" not in by_name.stderr, by_name.stderr


def served_certificate(name, port=5432):
    """The certificate the server (or PgBouncer) presents to a client now (PostgreSQL's STARTTLS, from the controller)."""
    address = host_of(name).check_output("hostname -I").split()[0]
    completed = subprocess.run(
        ["openssl", "s_client", "-starttls", "postgres", "-connect", "%s:%d" % (address, port)],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    found = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", completed.stdout, re.S)
    assert found, completed.stdout[-2000:] + completed.stderr[-2000:]
    return x509.load_pem_x509_certificate(found.group(0).encode())


def test_certificates_near_their_end_are_issued_again_and_read_on_a_reload():
    """A renewal window wider than what the certificates have left (as if the clock had moved on): site.yml issues
    every member's certificate and the pooler's again, valid for postgresql_tls_cert_days, and reloads; no server or
    PgBouncer restarts, the new certificate is the one served, replication stays on TLS. The same run again changes
    nothing."""
    pooler = POOLERS[0]
    before = {name: served_certificate(name) for name in MEMBERS}
    pooler_before = served_certificate(pooler, 6432)
    started = {name: psql(name, "SELECT pg_postmaster_start_time()") for name in MEMBERS}
    pooler_pid = host_of(pooler).check_output("systemctl show -p MainPID --value pgbouncer")
    renewal = ("postgresql_tls_renew_days=1000", "postgresql_tls_cert_days=3000")
    status, output = playbook("site", *renewal)
    assert status == 0, output[-4000:]
    assert "Signing request of this host (expires on" in output, output[-4000:]
    for name in MEMBERS:
        served = served_certificate(name)
        assert served.serial_number != before[name].serial_number, name
        days = (served.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)).days
        assert 2998 <= days <= 3000, (name, days)
        installed = host_of(name).file("/etc/ssl/pgops/15-main/server.crt").content_string.strip()
        assert served.public_bytes(Encoding.PEM).decode().strip() == installed, name
    assert {name: psql(name, "SELECT pg_postmaster_start_time()") for name in MEMBERS} == started
    pooler_served = served_certificate(pooler, 6432)
    assert pooler_served.serial_number != pooler_before.serial_number
    installed = host_of(pooler).file("/etc/pgbouncer/tls/pooler.crt").content_string.strip()
    assert pooler_served.public_bytes(Encoding.PEM).decode().strip() == installed
    assert host_of(pooler).check_output("systemctl show -p MainPID --value pgbouncer") == pooler_pid
    primary = the_primary()
    assert psql(primary, "SELECT bool_and(s.ssl) FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)") == "t"
    status, output = playbook("site", *renewal)
    assert status == 0 and changed_total(output) == 0, output[-4000:]
