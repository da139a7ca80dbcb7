"""20 consecutive switchovers A→B→C→A→… under a write load, from whichever member is primary: after each, one primary,
every other member streams from it, nothing acknowledged is lost; then site.yml changes nothing."""

from __future__ import annotations

import json
import os
import time

from ops import MEMBERS, changed_total, next_member, playbook, primaries, psql, record, the_primary, wait_streaming_from, writer

ROUNDS = int(os.environ.get("PGOPS_SWITCHOVER_ROUNDS", "20"))


def test_check_mode_prints_the_plan_and_changes_nothing():
    primary = the_primary()
    candidate = next_member(primary)
    status, output = playbook("switchover", "new_primary=" + candidate, "--check")
    assert status == 0, output[-3000:]
    assert "promote " + candidate in output
    assert primaries() == [primary]
    assert psql(candidate, "SELECT pg_is_in_recovery()") == "t"


def test_refuses_a_member_that_is_not_in_the_cluster():
    primary = the_primary()
    status, output = playbook("switchover", "new_primary=node9")
    assert status != 0 and "new_primary must name a member of group postgres" in output and "got 'node9'" in output
    assert primaries() == [primary]


def test_consecutive_switchovers_under_writes():
    """Switch ROUNDS times around the members (A→B→C→A→…) under a write load; after each, check the cluster."""
    rounds = []
    targets = [next_member(the_primary())]
    while len(targets) < ROUNDS:
        targets.append(next_member(targets[-1]))
    for number, target in enumerate(targets, start=1):
        load = writer().start()
        started = time.monotonic()
        status, output = playbook("switchover", "new_primary=" + target)
        took = time.monotonic() - started
        load.stop()
        assert status == 0, "switchover %d to %s: %s" % (number, target, output[-4000:])
        assert primaries() == [target], "after switchover %d" % number
        wait_streaming_from(target, [name for name in MEMBERS if name != target])
        address = load.conninfo["host"].split(",")[MEMBERS.index(target)]
        missing = load.missing_on(address)
        assert len(load.acknowledged) > 100
        rounds.append(
            dict(
                round=number,
                new_primary=target,
                playbook_seconds=round(took, 2),
                longest_gap_seconds=round(load.longest_gap(), 3),
                acknowledged=len(load.acknowledged),
                lost=len(missing),
            )
        )
        assert missing == [], "acknowledged writes lost in switchover %d to %s" % (number, target)
        if number in (1, ROUNDS):
            again, output = playbook("switchover", "new_primary=" + target)
            assert again == 0 and changed_total(output) == 0 and "Nothing to do" in output
    record("switchovers", rounds)
    print("switchovers:", json.dumps(rounds))


def test_site_changes_nothing_after_the_switchovers():
    status, output = playbook("site")
    assert status == 0, output[-3000:]
    assert changed_total(output) == 0, output[-5000:]
