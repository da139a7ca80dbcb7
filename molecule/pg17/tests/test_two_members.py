"""A cluster of two members: what the guard promises there, and what it does not (docs/RELIABILITY.md). Runs after
test_cluster.py has checked the freshly provisioned cluster.

1. No isolation fence is installed (a majority of two is both members, so a standby's restart would stop the
   primary); the start guard is.
2. The primary powered off: failover.yml refuses without the flag and says that nothing stops a cut-off primary;
   with it, it promotes the standby at once (there is no fence to wait for).
3. The former primary powered on again: its start guard finds the other member running as primary and starts it
   read-only with standby.signal; rejoin.yml makes it a standby of the new primary.
"""

from __future__ import annotations

import subprocess
import time

from ops import MEMBERS, playbook, primaries, psql, record, the_primary, unreachable, wait_streaming_from

FENCE_UNITS = "pgops-isolation-fence-*"


def docker(*arguments):
    return subprocess.run(["docker", *arguments], capture_output=True, text=True, check=True).stdout


def in_container(name, command):
    return docker("exec", name, "sh", "-c", command).strip()


def service(name):
    return "postgresql@%s-main" % in_container(name, "ls /etc/postgresql")


def test_two_members_get_the_start_guard_and_no_fence():
    assert len(MEMBERS) == 2, MEMBERS
    for name in MEMBERS:
        assert in_container(name, "systemctl list-unit-files --no-legend '%s' | wc -l" % FENCE_UNITS) == "0"
        unit = in_container(name, "systemctl cat %s" % service(name))
        assert "pgops-start-guard.conf" in unit and " start " in unit.split("pgops-start-guard.conf", 1)[1], unit


def test_failover_past_a_powered_off_primary_then_it_starts_read_only():
    old_primary = the_primary()
    (standby,) = [name for name in MEMBERS if name != old_primary]
    wait_streaming_from(old_primary, [standby])
    psql(old_primary, "CREATE TABLE IF NOT EXISTS before_the_kill AS SELECT 1 AS one")
    wait = time.monotonic() + 30
    while psql(standby, "SELECT to_regclass('before_the_kill') IS NOT NULL") != "t":
        assert time.monotonic() < wait, "the standby never received the table"
        time.sleep(0.5)

    docker("kill", old_primary)
    killed_at = time.monotonic()
    status, output = playbook("failover", unreachable(old_primary))
    assert status != 0 and "With two members there is no isolation fence: nothing stops a cut-off primary." in output, output[-3000:]
    assert psql(standby, "SELECT pg_is_in_recovery()") == "t"

    status, output = playbook("failover", unreachable(old_primary), "failover_primary_unreachable_ok=true")
    assert status == 0, output[-4000:]
    promoted_after = time.monotonic() - killed_at
    assert psql(standby, "SELECT pg_is_in_recovery()") == "f"
    assert psql(standby, "SELECT count(*) FROM before_the_kill") == "1"

    docker("start", old_primary)
    started = time.monotonic()
    while psql(old_primary, "SELECT 1", check=False).rc != 0:
        assert time.monotonic() - started < 120, "the former primary's server never started"
        time.sleep(0.5)
    start_took = time.monotonic() - started
    assert psql(old_primary, "SELECT pg_is_in_recovery()") == "t"
    assert primaries() == [standby]
    assert in_container(old_primary, "ls /var/lib/postgresql/*/main/standby.signal | wc -l") == "1"
    journal = in_container(old_primary, "journalctl -b --no-pager -u %s" % service(old_primary))
    assert "%s runs as primary of this cluster" % standby in journal, journal[-3000:]

    status, output = playbook("rejoin", "rejoin_host=" + old_primary)
    assert status == 0, output[-4000:]
    wait_streaming_from(standby, [old_primary])
    assert psql(old_primary, "SELECT count(*) FROM before_the_kill") == "1"
    record(
        "two_members",
        dict(seconds_from_kill_to_promotion=round(promoted_after, 1), seconds_the_former_primary_took_to_start=round(start_took, 1)),
    )
