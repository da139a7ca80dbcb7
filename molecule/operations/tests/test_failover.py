"""The primary's container is killed under a write load. failover.yml refuses until told the primary is unreachable on
purpose, then promotes the most advanced standby and the other one follows; writes resume. The old primary's
container starts again: its start guard keeps it read-only. rejoin.yml makes it a standby that has the new rows."""

from __future__ import annotations

import subprocess
import time

from ops import MEMBERS, playbook, primaries, psql, the_primary, wait_streaming_from, writer


def test_failover_fencing_and_rejoin():
    old_primary = the_primary()
    standbys = [name for name in MEMBERS if name != old_primary]
    load = writer().start()
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
    after = [write_id for write_id, at, _took in load.acknowledged if at > killed_at]
    assert after, "writes did not resume on the new primary"
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
