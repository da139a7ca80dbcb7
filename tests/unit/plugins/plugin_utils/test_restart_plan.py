"""The rolling restart's order: every branch of restart_plan, on hostvars as tasks/inspect.yml leaves them."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.replication.plugins.filter import topology
from ansible_collections.pgops.replication.plugins.plugin_utils.cluster import PlanError
from ansible_collections.pgops.replication.plugins.plugin_utils.plans import HOT_STANDBY_SETTINGS, restart_plan

NODES = ["node1", "node2", "node3"]


def member(role, pending=None):
    facts = dict(role=role, system_identifier="1", timeline=1)
    if pending is not None:
        facts["pending_restart_changes"] = pending
    return facts


def change(running, wanted):
    return {"running": str(running), "wanted": str(wanted)}


def hostvars(**facts_by_host):
    return {host: ({"ansible_facts": {"pg_replication": facts}} if facts is not None else {}) for host, facts in facts_by_host.items()}


def everywhere(pending, primary_host="node1", hosts=tuple(NODES)):
    return hostvars(**{host: member("primary" if host == primary_host else "standby", dict(pending)) for host in hosts})


def test_nothing_waits_for_a_restart_so_the_plan_is_done():
    plan = restart_plan(NODES, hostvars(node1=member("primary"), node2=member("standby", {}), node3=member("standby")))
    assert plan["done"] and not plan["refused"]
    assert plan["standbys"] == [] and plan["switchover_to"] is None and not plan["restart_primary"]
    assert plan["lines"] == ["Nothing to restart: no member has a setting that waits for a restart."]


def test_a_raise_restarts_the_standbys_one_at_a_time_then_switches_over_to_the_first():
    plan = restart_plan(NODES, everywhere({"max_connections": change(100, 200)}))
    assert not plan["refused"] and not plan["done"]
    assert plan["restart_first"] == []
    assert plan["standbys"] == ["node2", "node3"]
    assert plan["switchover_to"] == "node2"
    assert plan["restart_primary"] is False and plan["left_pending"] == []
    assert plan["lines"] == [
        "1. node2: restart (max_connections 100 -> 200), then wait until it streams from node1 again",
        "2. node3: restart (max_connections 100 -> 200), then wait until it streams from node1 again",
        "3. switch over to node2; node1 starts again as its standby with the new settings (max_connections 100 -> 200)",
        "4. verify: one primary, every other member streaming from it",
    ]


def test_the_standbys_keep_inventory_order_whichever_member_is_primary():
    plan = restart_plan(NODES, everywhere({"shared_buffers": change("128MB", "256MB")}, primary_host="node2"))
    assert plan["primary"] == "node2"
    assert plan["standbys"] == ["node1", "node3"]
    assert plan["switchover_to"] == "node1"


def test_a_lowering_restarts_the_primary_in_place_first_whatever_the_policy():
    for policy in ("switchover", "in_place"):
        plan = restart_plan(NODES, everywhere({"max_connections": change(200, 100)}), policy)
        assert not plan["refused"]
        assert plan["restart_first"] == ["node1"]
        assert plan["standbys"] == ["node2", "node3"]
        assert plan["switchover_to"] is None and plan["restart_primary"] is False
        assert plan["lines"][0].startswith("1. node1 (primary): restart in place first (max_connections 200 -> 100)")


def test_a_lowering_with_the_report_policy_is_refused_since_no_standby_may_go_first():
    plan = restart_plan(NODES, everywhere({"max_wal_senders": change(10, 5)}), "report")
    assert plan["refused"] and "lowers node1 max_wal_senders" in plan["refusal"] and "Nothing was restarted" in plan["refusal"]


@pytest.mark.parametrize("setting", HOT_STANDBY_SETTINGS)
def test_raising_one_and_lowering_another_is_refused_and_asks_for_two_runs(setting):
    other = next(name for name in HOT_STANDBY_SETTINGS if name != setting)
    plan = restart_plan(NODES, everywhere({setting: change(10, 20), other: change(20, 10)}))
    assert plan["refused"]
    assert "node1 %s" % setting in plan["refusal"] and "node1 %s" % other in plan["refusal"]
    assert "two runs, the increases first" in plan["refusal"]


def test_settings_outside_the_hot_standby_five_have_no_direction():
    # shared_buffers may go down on the standbys first: only the five are compared with the primary.
    plan = restart_plan(NODES, everywhere({"shared_buffers": change("256MB", "128MB"), "max_connections": change(100, 200)}))
    assert not plan["refused"] and plan["restart_first"] == [] and plan["switchover_to"] == "node2"


def test_in_place_restarts_the_primary_after_the_standbys():
    plan = restart_plan(NODES, everywhere({"max_connections": change(100, 200)}), "in_place")
    assert plan["standbys"] == ["node2", "node3"] and plan["restart_primary"] is True and plan["switchover_to"] is None
    assert plan["lines"][2] == "3. node1 (primary): restart in place (max_connections 100 -> 200); writes stop while it restarts"


def test_report_leaves_the_primary_waiting_and_says_so():
    plan = restart_plan(NODES, everywhere({"max_connections": change(100, 200)}), "report")
    assert plan["standbys"] == ["node2", "node3"] and plan["left_pending"] == ["node1"]
    assert plan["switchover_to"] is None and plan["restart_primary"] is False
    assert "left as is (restart_primary: report)" in plan["lines"][2]


def test_only_the_members_that_wait_are_restarted():
    facts = hostvars(node1=member("primary"), node2=member("standby", {"shared_buffers": change("1GB", "2GB")}), node3=member("standby"))
    plan = restart_plan(NODES, facts)
    assert plan["standbys"] == ["node2"] and plan["switchover_to"] is None and plan["restart_first"] == []
    assert plan["lines"] == [
        "1. node2: restart (shared_buffers 1GB -> 2GB), then wait until it streams from node1 again",
        "2. verify: one primary, every other member streaming from it",
    ]


def test_a_primary_alone_waiting_switches_over_to_the_first_standby_without_restarting_any():
    facts = hostvars(node1=member("primary", {"max_connections": change(100, 200)}), node2=member("standby"), node3=member("standby"))
    plan = restart_plan(NODES, facts)
    assert plan["standbys"] == [] and plan["switchover_to"] == "node2"


def test_a_quorum_that_one_restart_would_leave_short_is_refused():
    two = ["node1", "node2"]
    plan = restart_plan(two, everywhere({"max_connections": change(100, 200)}, hosts=two), "switchover", "quorum")
    assert plan["refused"] and "waits for 1 standby confirmation(s)" in plan["refusal"] and "1 standby(s) run" in plan["refusal"]


def test_a_quorum_that_survives_one_restart_goes_on():
    plan = restart_plan(NODES, everywhere({"max_connections": change(100, 200)}), "switchover", "quorum")
    assert not plan["refused"] and plan["standbys"] == ["node2", "node3"]


def test_a_stopped_standby_counts_against_the_quorum():
    facts = everywhere({"max_connections": change(100, 200)})
    facts["node3"]["ansible_facts"]["pg_replication"]["role"] = "stopped"
    plan = restart_plan(NODES, facts, "switchover", "ANY 1")
    assert plan["refused"] and "1 standby(s) run" in plan["refusal"]


def test_two_primaries_no_primary_or_an_uninspected_member_refuse():
    split = everywhere({})
    split["node2"]["ansible_facts"]["pg_replication"]["role"] = "primary"
    assert restart_plan(NODES, split)["refused"]
    none = hostvars(node1=member("stopped"), node2=member("standby"), node3=member("standby"))
    assert restart_plan(NODES, none)["refusal"] == "No member runs as primary. Nothing was restarted."
    unknown = hostvars(node1=member("primary"), node2=member("standby"), node3=None)
    assert restart_plan(NODES, unknown)["refusal"].startswith("node3 could not be inspected")


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: restart_plan(NODES, everywhere({}), "restart"), "must be one of switchover, in_place, report, got 'restart'"),
        (lambda: restart_plan(NODES, everywhere({"max_connections": change("a", 2)})), "values are not whole numbers"),
        (lambda: restart_plan(NODES, everywhere({}), "switchover", "ANY 3"), "needs n below the number of members"),
        (lambda: restart_plan(NODES, everywhere({"max_connections": {"running": "100", "wanted": None}})), "may not read pg_file_settings"),
        (lambda: restart_plan("node1", everywhere({})), "must be a list of inventory host names"),
    ],
)
def test_bad_input_is_a_plan_error(call, message):
    with pytest.raises(PlanError, match=message):
        call()


def test_the_filter_turns_a_plan_error_into_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="got 'sometimes'"):
        topology.FilterModule().filters()["restart_plan"](NODES, everywhere({}), "sometimes")


def test_in_check_mode_the_restarts_the_configure_step_would_bring_count_and_override_the_older_ones():
    variables = everywhere({"shared_buffers": change("128MB", "256MB")})
    for host in NODES:
        variables[host]["postgresql_config_files_result"] = {"restart_changes": {"max_connections": change(100, 130)}}
    variables["node3"]["postgresql_config_files_result"]["restart_changes"]["shared_buffers"] = change("128MB", "512MB")
    plan = restart_plan(NODES, variables, "switchover", "off", True)
    assert plan["standbys"] == ["node2", "node3"] and plan["switchover_to"] == "node2"
    assert (
        plan["lines"][1]
        == "2. node3: restart (max_connections 100 -> 130, shared_buffers 128MB -> 512MB), then wait until it streams from node1 again"
    )
    # Without the flag (a real run), only what the servers report: the files were written and read by then.
    assert (
        restart_plan(NODES, variables)["lines"][1]
        == "2. node3: restart (shared_buffers 128MB -> 256MB), then wait until it streams from node1 again"
    )
    # The hostvars themselves are not changed by planning.
    assert variables["node3"]["ansible_facts"]["pg_replication"]["pending_restart_changes"] == {"shared_buffers": change("128MB", "256MB")}


def test_in_check_mode_a_configure_step_that_changes_nothing_adds_nothing():
    variables = hostvars(node1=member("primary"), node2=member("standby"), node3=member("standby"))
    variables["node2"]["postgresql_config_files_result"] = {"restart_changes": {}}
    assert restart_plan(NODES, variables, "switchover", "off", True)["done"]
