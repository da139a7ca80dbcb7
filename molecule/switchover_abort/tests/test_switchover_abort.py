"""The candidate is cut off from the network before the gate: the switchover aborts, the old primary serves writes
again, nothing acknowledged is lost, and the candidate streams again once it is reconnected."""

from __future__ import annotations

import subprocess
import time

from ops import MEMBERS, playbook, playbook_reacting, primaries, psql, wait_streaming_from, writer

NETWORK = "pgops-molecule-switchover_abort"


def docker_network(action, container, *options):
    subprocess.run(["docker", "network", action, *options, NETWORK, container], check=True, capture_output=True)


def test_abort_restores_the_old_primary_without_losing_writes():
    assert primaries() == ["node1"]
    load = writer().start()
    time.sleep(1)
    # Cut the candidate off once the pre-checks have passed (they run before the plan is printed), before the stop.
    try:
        status, output = playbook_reacting(
            "switchover", "TASK [The plan]", lambda: docker_network("disconnect", "node2"), "new_primary=node2", "switchover_gate_timeout=5"
        )
    finally:
        docker_network("connect", "node2", "--ip", "172.30.3.12")
    # The writer keeps going until the old primary is back.
    time.sleep(2)
    load.stop()
    assert status != 0, output[-3000:]
    assert "Switchover aborted" in output, output[-3000:]
    assert primaries() == ["node1"]
    address = load.conninfo["host"].split(",")[MEMBERS.index("node1")]
    assert load.missing_on(address) == []
    acknowledged_after = [at for _id, at, _took in load.acknowledged if at > load.started + 5]
    assert acknowledged_after, "no write was acknowledged after the abort"
    psql("node1", "INSERT INTO pgops_writer (id) VALUES (-1)")
    wait_streaming_from("node1", ["node2", "node3"], timeout=120)
    assert psql("node2", "SELECT pg_is_in_recovery()") == "t"
    status, output = playbook("status")
    assert status == 0, output[-3000:]
