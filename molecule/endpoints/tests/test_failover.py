"""The primary's container is killed under a write load. failover.yml refuses until told the primary is unreachable on
purpose, then promotes the most advanced standby and the other one follows; writes resume. The old primary's
container starts again: its start guard keeps it read-only. rejoin.yml makes it a standby that has the new rows.
A second writer connected to the pooler only writes to the new primary once failover.yml has re-pointed it; the time
from the kill to its first write is reported beside the direct writer's."""

from __future__ import annotations

import subprocess
import time

import psycopg
from ops import (
    MEMBERS,
    POOLERS,
    TLS,
    container_addresses,
    playbook,
    pooler_conninfo,
    pooler_writer,
    primaries,
    psql,
    record,
    the_primary,
    wait_streaming_from,
    writer,
)


def wait_for_proxy(address, port, in_recovery, server_address, timeout=30):
    """Whether a connection through HAProxy at address:port reaches, within `timeout`, a server whose
    pg_is_in_recovery() is `in_recovery` ('t' or 'f') and, when given, whose address is `server_address`."""
    conninfo = dict(pooler_conninfo(), host=address, port=port, prepare_threshold=None)
    if TLS:
        # HAProxy passes TLS through to the member, whose certificate names the member, not the proxy: the client
        # checks the CA only (require with a root certificate is verify-ca).
        conninfo.update(sslmode="require")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(**conninfo) as connection:
                recovery, server = connection.execute("SELECT pg_is_in_recovery(), host(inet_server_addr())").fetchone()
            if ("t" if recovery else "f") == in_recovery and server_address in (None, server):
                return True
        except psycopg.Error:
            pass
        time.sleep(1)
    return False


def test_failover_fencing_and_rejoin():
    old_primary = the_primary()
    standbys = [name for name in MEMBERS if name != old_primary]
    load = writer().start()
    through_pooler = pooler_writer().start()
    time.sleep(2)
    subprocess.run(["docker", "kill", old_primary], check=True, capture_output=True)
    killed_at = time.monotonic()

    refused, output = playbook("failover")
    assert refused != 0 and "%s cannot be reached" % old_primary in output and "split brain" in output, output[-3000:]
    status, output = playbook("failover", "failover_primary_unreachable_ok=true")
    assert status == 0, output[-4000:]
    new_primary = primaries()[0] if primaries() else None
    assert new_primary in standbys and primaries() == [new_primary]
    other = next(name for name in standbys if name != new_primary)
    wait_streaming_from(new_primary, [other])
    time.sleep(2)
    load.stop()
    through_pooler.stop()
    after = [write_id for write_id, at, _took in load.acknowledged if at > killed_at]
    assert after, "writes did not resume on the new primary"
    pooled_after = [(write_id, at) for write_id, at, _took in through_pooler.acknowledged if at > killed_at]
    assert pooled_after, "writes through the pooler did not resume on the new primary"
    pointed = subprocess.run(
        ["docker", "exec", POOLERS[0], "cat", "/etc/pgbouncer/pgops-databases.ini"], check=True, capture_output=True, text=True
    ).stdout
    assert "appdb = host=%s " % new_primary in pointed, pointed
    # HAProxy's write port follows the members' health checks: the new primary, never a standby.
    proxy = container_addresses(POOLERS[:1])[0]
    assert wait_for_proxy(proxy, 5000, "f", container_addresses([new_primary])[0]), "HAProxy's write port never reached the new primary"
    assert wait_for_proxy(proxy, 5001, "t", None), "HAProxy's read port never reached a standby"
    pooled_missing = through_pooler.missing_on(container_addresses([new_primary])[0])
    assert not set(pooled_missing) & {write_id for write_id, _at in pooled_after}
    record(
        "failover_endpoints",
        [
            dict(
                endpoint="direct (libpq multi-host, target_session_attrs=read-write)",
                seconds_from_kill_to_first_write=round(min(at for _id, at, _took in load.acknowledged if at > killed_at) - killed_at, 1),
            ),
            dict(endpoint="PgBouncer", seconds_from_kill_to_first_write=round(min(at for _id, at in pooled_after) - killed_at, 1)),
        ],
    )
    address = load.conninfo["host"].split(",")[MEMBERS.index(new_primary)]
    missing = load.missing_on(address)
    # Asynchronous replication promises nothing for writes the dead primary had not sent; everything after is kept.
    assert not set(missing) & set(after)
    print("acknowledged by the killed primary and lost (asynchronous replication):", len(missing))

    again, output = playbook("failover", "failover_primary_unreachable_ok=true")
    assert again == 0 and "Nothing to do" in output

    subprocess.run(["docker", "start", old_primary], check=True, capture_output=True)
    deadline = time.monotonic() + 60
    while psql(old_primary, "SELECT 1", check=False).rc != 0:
        assert time.monotonic() < deadline, "the old primary's server did not start"
        time.sleep(1)
    assert psql(old_primary, "SELECT pg_is_in_recovery()") == "t"
    refused_write = psql(old_primary, "INSERT INTO pgops_writer (id) VALUES (-1)", check=False)
    assert refused_write.rc != 0 and "read-only" in refused_write.stderr
    assert primaries() == [new_primary]

    status, output = playbook("rejoin", "rejoin_host=" + old_primary)
    assert status == 0, output[-4000:]
    wait_streaming_from(new_primary, [old_primary, other])
    last = max(after)
    deadline = time.monotonic() + 30
    while psql(old_primary, "SELECT count(*) FROM pgops_writer WHERE id = %d" % last) != "1":
        assert time.monotonic() < deadline, "the rejoined member lacks the new primary's rows"
        time.sleep(0.5)
    again, output = playbook("rejoin", "rejoin_host=" + old_primary)
    assert again == 0 and "Nothing to do" in output
    # status.yml shows the pooler and the proxy on the new primary, and reads on a standby.
    status, output = playbook("status")
    assert status == 0, output[-3000:]
    assert "pooler1: writes appdb -> %s" % new_primary in output and "pooler1: writes -> %s" % new_primary in output, output[-3000:]
