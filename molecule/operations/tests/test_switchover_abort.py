"""The candidate is cut off from the network before the gate: the switchover aborts, the old primary serves writes
again, nothing acknowledged is lost, and the candidate streams again once it is reconnected."""

from __future__ import annotations

import time

from ops import MEMBERS, cut_off, next_member, playbook, playbook_reacting, primaries, psql, the_primary, wait_streaming_from, writer


def test_abort_restores_the_old_primary_without_losing_writes():
    primary = the_primary()
    candidate = next_member(primary)
    load = writer().start()
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
    assert status != 0, output[-3000:]
    assert "Switchover aborted" in output, output[-3000:]
    assert primaries() == [primary]
    address = load.conninfo["host"].split(",")[MEMBERS.index(primary)]
    assert load.missing_on(address) == []
    acknowledged_after = [at for _id, at, _took in load.acknowledged if at > load.started + 5]
    assert acknowledged_after, "no write was acknowledged after the abort"
    psql(primary, "INSERT INTO pgops_writer (id) VALUES (-1)")
    wait_streaming_from(primary, [name for name in MEMBERS if name != primary], timeout=120)
    assert psql(candidate, "SELECT pg_is_in_recovery()") == "t"
    status, output = playbook("status")
    assert status == 0, output[-3000:]
