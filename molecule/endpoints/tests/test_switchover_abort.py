"""The candidate is cut off from the network before the gate: the switchover aborts, the old primary serves writes
again, nothing acknowledged is lost, the pooler is resumed on the old primary and its writer saw no error, and the
candidate streams again once it is reconnected. The candidate promotes
more slowly than the playbook waits: the old primary stays fenced, and never are two members writable."""

from __future__ import annotations

import time

from ops import (
    MEMBERS,
    container_addresses,
    cut_off,
    next_member,
    playbook,
    playbook_reacting,
    pooler_writer,
    primaries,
    psql,
    the_primary,
    wait_streaming_from,
    writer,
)
from watch import WritableWatch


def test_abort_restores_the_old_primary_without_losing_writes():
    primary = the_primary()
    candidate = next_member(primary)
    load = writer().start()
    through_pooler = pooler_writer().start()
    time.sleep(1)
    reconnects = []
    # Cut the candidate off once the pre-checks have passed (they run before the plan is printed), before the stop.
    try:
        status, output = playbook_reacting(
            "switchover",
            "TASK [The plan]",
            lambda: reconnects.append(cut_off(candidate)),
            "new_primary=" + candidate,
            "switchover_gate_timeout=5",
        )
    finally:
        for reconnect in reconnects:
            reconnect()
    assert reconnects, "the playbook never printed its plan"
    # The writer keeps going until the old primary is back.
    time.sleep(2)
    load.stop()
    through_pooler.stop()
    assert status != 0, output[-3000:]
    assert "Switchover aborted" in output, output[-3000:]
    assert primaries() == [primary]
    # The pooler paused before the stop and was resumed on the old primary: its client waited, and saw no error.
    assert through_pooler.failures == 0
    assert [at for _id, at, _took in through_pooler.acknowledged if at > through_pooler.started + 5], (
        "no write through the pooler after the abort"
    )
    assert through_pooler.missing_on(container_addresses([primary])[0]) == []
    address = load.conninfo["host"].split(",")[MEMBERS.index(primary)]
    assert load.missing_on(address) == []
    acknowledged_after = [at for _id, at, _took in load.acknowledged if at > load.started + 5]
    assert acknowledged_after, "no write was acknowledged after the abort"
    psql(primary, "INSERT INTO pgops_writer (id) VALUES (-1)")
    wait_streaming_from(primary, [name for name in MEMBERS if name != primary], timeout=120)
    assert psql(candidate, "SELECT pg_is_in_recovery()") == "t"
    status, output = playbook("status")
    assert status == 0, output[-3000:]


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def test_a_promotion_slower_than_the_playbook_waits_keeps_the_old_primary_fenced():
    primary = the_primary()
    candidate = next_member(primary)
    # A slow archive on the candidate: at the end of recovery the startup process asks restore_command for the next
    # segment and for each newer timeline's history, so the promotion outlasts switchover_promote_timeout.
    psql(candidate, "ALTER SYSTEM SET restore_command = 'sleep 3; false'")
    psql(candidate, "SELECT pg_reload_conf()")
    load = writer().start()
    watch = WritableWatch(MEMBERS).start()
    try:
        time.sleep(1)
        status, output = playbook("switchover", "new_primary=" + candidate, "switchover_promote_timeout=1")
        wait_until(lambda: psql(candidate, "SELECT pg_is_in_recovery()") == "f", 120, "%s never finished its promotion" % candidate)
        time.sleep(2)
    finally:
        watch.stop()
        load.stop()
        psql(candidate, "ALTER SYSTEM RESET restore_command")
        psql(candidate, "SELECT pg_reload_conf()")
    assert status != 0, output[-3000:]
    assert "Switchover failed after %s was asked to promote" % candidate in output, output[-3000:]
    assert "%s stays stopped with standby.signal" % primary in output, output[-3000:]
    assert watch.most_writable_at_once() == 1, [names for _at, names in watch.samples if len(names) > 1][:5]
    assert primaries() == [candidate]
    address = load.conninfo["host"].split(",")[MEMBERS.index(candidate)]
    assert load.missing_on(address) == []
    # What the message leads to: once the candidate runs as primary, every other member follows it.
    status, output = playbook("site")
    assert status == 0, output[-3000:]
    wait_streaming_from(candidate, [name for name in MEMBERS if name != candidate], timeout=120)
