"""With postgresql_tls, PgBouncer takes TLS clients only and presents a certificate from the cluster's CA that names its
address; it reaches the members over TLS too. Asserted on the connections themselves: the client's TLS session, and
the primary's view of the pooler's server connections."""

from __future__ import annotations

import psycopg
import pytest
from ops import CA_FILE, POOLERS, TLS, container_addresses, host_of, pooler_conninfo, psql, the_primary


def test_a_client_that_verifies_the_pooler_gets_tls():
    assert TLS, "the endpoints scenario's members serve TLS (postgresql_tls)"
    with psycopg.connect(**pooler_conninfo()) as connection:
        assert connection.pgconn.ssl_in_use
        assert connection.info.parameter_status("server_version")
        # The server connection the pooler used for this transaction, as the member sees it.
        (ssl,) = connection.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
        assert ssl is True


def test_a_client_without_tls_is_refused():
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(**dict(pooler_conninfo(), sslmode="disable"))
    assert "SSL" in str(refused.value) or "ssl" in str(refused.value), str(refused.value)


def test_the_certificate_names_the_pooler_and_no_other_host():
    address = container_addresses(POOLERS[:1])[0]
    with pytest.raises(psycopg.OperationalError) as mismatch:
        psycopg.connect(**dict(pooler_conninfo(), host="not-the-pooler", hostaddr=address))
    assert 'does not match host name "not-the-pooler"' in str(mismatch.value), str(mismatch.value)


def test_every_server_connection_of_the_pooler_uses_tls():
    address = container_addresses(POOLERS[:1])[0]
    with psycopg.connect(**pooler_conninfo()) as connection:
        connection.execute("SELECT 1")
    rows = psql(the_primary(), "SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.client_addr = '%s'" % address)
    assert rows and set(rows.split()) == {"t"}, rows


def test_the_pooler_key_is_private_and_the_ca_is_the_members():
    pooler = host_of(POOLERS[0])
    key = pooler.file("/etc/pgbouncer/tls/pooler.key")
    assert key.user == "postgres" and key.mode == 0o600
    with open(CA_FILE) as controller_ca:
        assert pooler.file("/etc/pgbouncer/tls/ca.crt").content_string == controller_ca.read()
