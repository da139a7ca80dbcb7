"""Switch A→B→C→A under a write load: after each, one primary, every other member streams from it, nothing
acknowledged is lost; then site.yml changes nothing."""

from __future__ import annotations

import json
import os

from ops import MEMBERS, changed_total, playbook, primaries, psql, wait_streaming_from, writer

RESULTS = os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"), "switchover-gaps.json")


def test_check_mode_prints_the_plan_and_changes_nothing():
    assert primaries() == ["node1"]
    status, output = playbook("switchover", "new_primary=node2", "--check")
    assert status == 0, output[-3000:]
    assert "promote node2" in output
    assert primaries() == ["node1"]
    assert psql("node2", "SELECT pg_is_in_recovery()") == "t"


def test_refuses_a_member_that_is_not_in_the_cluster():
    status, output = playbook("switchover", "new_primary=node9")
    assert status != 0 and "node9 is not a member" in output
    assert primaries() == ["node1"]


def test_round_trip_under_writes():
    gaps = {}
    for target in ("node2", "node3", "node1"):
        load = writer().start()
        status, output = playbook("switchover", "new_primary=" + target)
        load.stop()
        assert status == 0, output[-4000:]
        assert primaries() == [target]
        wait_streaming_from(target, [name for name in MEMBERS if name != target])
        address = load.conninfo["host"].split(",")[MEMBERS.index(target)]
        assert load.missing_on(address) == [], "acknowledged writes lost in the switchover to %s" % target
        assert len(load.acknowledged) > 100
        gaps[target] = round(load.longest_gap(), 3)
        again, output = playbook("switchover", "new_primary=" + target)
        assert again == 0 and changed_total(output) == 0 and "Nothing to do" in output
    with open(RESULTS, "w") as results:
        json.dump(gaps, results)
    print("longest gap between acknowledged writes per switchover (s):", gaps)


def test_site_changes_nothing_after_the_switchovers():
    status, output = playbook("site")
    assert status == 0, output[-3000:]
    assert changed_total(output) == 0, output[-5000:]
