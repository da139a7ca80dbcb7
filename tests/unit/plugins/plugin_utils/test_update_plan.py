"""The rolling minor update's order and refusals: every branch of update_plan."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.replication.plugins.filter import topology
from ansible_collections.pgops.replication.plugins.plugin_utils.cluster import PlanError
from ansible_collections.pgops.replication.plugins.plugin_utils.plans import update_plan

NODES = ["node1", "node2", "node3"]


def member(role, version_num=150018):
    return dict(role=role, system_identifier="1", timeline=1, server_version_num=version_num)


def hostvars(**facts_by_host):
    return {host: ({"ansible_facts": {"pg_replication": facts}} if facts is not None else {}) for host, facts in facts_by_host.items()}


def cluster(primary_host="node1", versions=None):
    versions = versions or {}
    return hostvars(**{host: member("primary" if host == primary_host else "standby", versions.get(host, 150018)) for host in NODES})


def test_every_member_behind_updates_the_standbys_then_switches_over_and_updates_the_old_primary():
    plan = update_plan(NODES, cluster(), "15.20")
    assert not plan["refused"] and not plan["done"]
    assert plan["standbys"] == ["node2", "node3"] and plan["switchover_to"] == "node2" and plan["update_primary"] is True
    assert plan["switch_back_to"] is None
    assert plan["releases"] == {"node1": "15.18", "node2": "15.18", "node3": "15.18"}
    assert plan["lines"] == [
        "1. node2: 15.18 -> 15.20: upgrade the packages, restart, wait until it streams from node1",
        "2. node3: 15.18 -> 15.20: upgrade the packages, restart, wait until it streams from node1",
        "3. switch over to node2 (the gates of switchover.yml: lag, replay, quorum)",
        "4. node1: 15.18 -> 15.20: upgrade the packages, restart as a standby of node2, wait until it streams",
        "5. verify: every member runs 15.20, one primary, every other member streaming from it",
    ]


def test_switch_back_hands_the_primary_role_back_at_the_end():
    plan = update_plan(NODES, cluster(), "15.20", True)
    assert plan["switch_back_to"] == "node1"
    assert plan["lines"][4] == "5. switch back to node1"


@pytest.mark.parametrize("target", ["15.20", "15.20-0+deb12u1", "150020", 150020])
def test_the_target_may_be_a_release_a_package_version_or_a_version_number(target):
    assert update_plan(NODES, cluster(), target)["target"] == "15.20"


def test_an_interrupted_update_goes_on_with_the_members_still_behind():
    # node2 was updated before the run stopped: the re-run updates node3, then switches over.
    plan = update_plan(NODES, cluster(versions={"node2": 150020}), "15.20")
    assert plan["standbys"] == ["node3"] and plan["switchover_to"] == "node2" and plan["update_primary"] is True


def test_a_primary_already_on_the_target_needs_no_switchover():
    plan = update_plan(NODES, cluster(versions={"node1": 150020}), "15.20")
    assert plan["standbys"] == ["node2", "node3"] and plan["switchover_to"] is None and plan["update_primary"] is False


def test_every_member_on_the_target_is_done():
    plan = update_plan(NODES, cluster(versions=dict.fromkeys(NODES, 150020)), "15.20")
    assert plan["done"] and plan["lines"] == ["Nothing to do: every member runs 15.20."]


def test_a_major_release_change_is_refused_and_says_so():
    plan = update_plan(NODES, cluster(), "16.4")
    assert plan["refused"] and "16.4 is another major release than the members run (node1 15.18" in plan["refusal"]
    assert "a major upgrade (pg_upgrade" in plan["refusal"]


def test_going_back_is_refused():
    plan = update_plan(NODES, cluster(versions={"node3": 150020}), "15.18")
    assert plan["refused"] and plan["refusal"].startswith("node3 already runs a newer release than 15.18 (node3 15.20)")


def test_a_member_that_does_not_run_or_two_primaries_refuse():
    stopped = cluster()
    stopped["node3"]["ansible_facts"]["pg_replication"]["role"] = "stopped"
    assert update_plan(NODES, stopped, "15.20")["refusal"].startswith("node3 could not be inspected or does not run")
    split = cluster()
    split["node2"]["ansible_facts"]["pg_replication"]["role"] = "primary"
    assert update_plan(NODES, split, "15.20")["refused"]


@pytest.mark.parametrize("target", ["", "15", "15.x", "latest", None, "15.20.1"])
def test_a_target_that_is_no_minor_release_is_a_plan_error(target):
    with pytest.raises(PlanError, match="written MAJOR.MINOR"):
        update_plan(NODES, cluster(), target)


def test_the_filter_turns_a_plan_error_into_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="written MAJOR.MINOR"):
        topology.FilterModule().filters()["update_plan"](NODES, cluster(), "newest")
