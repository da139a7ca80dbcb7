"""Synchronous replication is real: the primary counts the standbys in its quorum, and without them commits wait."""

from __future__ import annotations

import os
import subprocess
import time

import testinfra
import testinfra.utils.ansible_runner
from ops import MEMBERS, playbook, primaries, record, wait_streaming_from, writer

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
    members = ", ".join('"%s"' % name for name in sorted(HOSTS))
    assert psql(PRIMARY, "SHOW synchronous_standby_names").stdout.strip() == "ANY 1 (%s)" % members
    rows = psql(PRIMARY, "SELECT application_name, sync_state FROM pg_stat_replication ORDER BY 1").stdout.split()
    assert rows == ["%s|quorum" % name for name in sorted(STANDBYS)]


def test_commit_waits_without_standbys():
    """Without a standby to confirm, a commit waits (wait event SyncRep) and finishes once one streams again.

    statement_timeout cannot show this: PostgreSQL disables it before the commit starts waiting.
    """
    primary = host_of(PRIMARY)
    psql(PRIMARY, "CREATE TABLE IF NOT EXISTS sync_probe (id int)")
    for name in STANDBYS:
        host_of(name).run("systemctl stop %s", SERVICE)
    try:
        primary.run(
            "rm -f /tmp/sync_probe.out; runuser -u postgres -- sh -c %s",
            "psql -XAtq -c 'INSERT INTO sync_probe VALUES (1)' > /tmp/sync_probe.out 2>&1 &",
        )
        time.sleep(3)
        waiting = psql(
            PRIMARY, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep' AND query LIKE 'INSERT INTO sync_probe%'"
        )
        assert waiting.stdout.strip() == "1", "the commit did not wait for a standby"
        assert primary.file("/tmp/sync_probe.out").content_string == ""
    finally:
        for name in STANDBYS:
            host_of(name).run("systemctl start %s", SERVICE)
    deadline = time.monotonic() + 60
    while psql(PRIMARY, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'").stdout.strip() != "0":
        assert time.monotonic() < deadline, "the waiting commit never finished after the standbys came back"
        time.sleep(0.5)
    assert psql(PRIMARY, "SELECT count(*) FROM sync_probe").stdout.strip() == "1"
    started = time.monotonic()
    psql(PRIMARY, "INSERT INTO sync_probe VALUES (2)")
    assert time.monotonic() - started < 3


def test_failover_to_a_synchronous_standby_loses_no_acknowledged_write():
    """Kill the primary under writes and fail over: with quorum (ANY 1 of 3), every acknowledged commit is on a standby already."""
    load = writer().start()
    time.sleep(5)
    subprocess.run(["docker", "kill", PRIMARY], check=True, capture_output=True)
    killed_at = time.monotonic()
    status, output = playbook("failover", "failover_primary_unreachable_ok=true")
    assert status == 0, output[-4000:]
    (new_primary,) = primaries()
    assert new_primary in STANDBYS
    other = next(name for name in STANDBYS if name != new_primary)
    wait_streaming_from(new_primary, [other])
    time.sleep(2)
    load.stop()
    address = load.conninfo["host"].split(",")[MEMBERS.index(new_primary)]
    missing = load.missing_on(address)
    before = [write_id for write_id, at, _took in load.acknowledged if at < killed_at]
    after = [write_id for write_id, at, _took in load.acknowledged if at > killed_at]
    first_write = min(at for _write_id, at, _took in load.acknowledged if at > killed_at)
    record(
        "sync_failover",
        dict(
            acknowledged_before_the_kill=len(before),
            acknowledged_after=len(after),
            lost=len(missing),
            new_primary=new_primary,
            seconds_from_kill_to_first_write=round(first_write - killed_at, 1),
        ),
    )
    assert before and after
    assert missing == [], "acknowledged commits lost in a synchronous failover: %r" % missing[:20]
