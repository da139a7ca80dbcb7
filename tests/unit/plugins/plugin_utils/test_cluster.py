"""Branches of the cluster judgements that the filter tests (tests/unit/plugins/filter/test_topology.py) leave out."""

import pytest

from ansible_collections.pgops.replication.plugins.plugin_utils.cluster import (
    PlanError,
    cluster_status,
    describe_members,
    failover_choice,
    needed_wal_gone,
    switchover_checks,
)


def facts(**by_host):
    return {host: {"ansible_facts": {"pg_replication": value}} for host, value in by_host.items()}


def test_one_host_name_is_not_a_member_list():
    with pytest.raises(PlanError, match="must be a list of inventory host names"):
        describe_members("node1", facts(node1=dict(role="primary")))


def test_a_standby_with_only_a_received_position_shows_it():
    standby = dict(role="standby", received_lsn="0/3000000", wal_receiver=dict(status="streaming"))
    status = cluster_status(["node1"], facts(node1=standby))
    assert status["rows"][0]["lsn"] == "0/3000000"


def test_a_position_that_is_no_lsn_ranks_last():
    variables = facts(
        node1=dict(role="standby", received_lsn="garbage", timeline=3),
        node2=dict(role="standby", received_lsn="0/1000000", timeline=1),
    )
    assert failover_choice(["node1", "node2"], variables)["ranking"] == ["node2", "node1"]


def test_a_switchover_to_a_member_that_is_no_running_standby_is_refused():
    variables = facts(
        node1=dict(role="primary", system_identifier="1", current_lsn="0/5000000", replication=[], slots=[]),
        node2=dict(role="stopped", system_identifier="1"),
    )
    problems = switchover_checks(["node1", "node2"], variables, "node2")["problems"]
    assert "candidate check: node2 is not a running standby (it is stopped)" in problems


def test_a_position_that_is_no_lsn_is_a_mistake_for_needed_wal_gone():
    variables = facts(
        node1=dict(role="primary", oldest_wal_lsn="0/1000000", slots=[]),
        node2=dict(role="stopped", controldata=dict(checkpoint_lsn="nonsense")),
    )
    with pytest.raises(PlanError, match="needed_wal_gone"):
        needed_wal_gone("node2", "node1", variables)


def test_a_setting_that_waits_for_a_restart_is_a_warning_that_names_the_way_out():
    status = cluster_status(["node1"], facts(node1=dict(role="primary", pending_restart=["max_connections", "shared_buffers"])))
    assert status["state"] == "warning"
    assert status["warnings"] == [
        "node1: max_connections, shared_buffers wait for a restart (playbooks/restart.yml restarts the members one at a time)"
    ]
    assert cluster_status(["node1"], facts(node1=dict(role="primary", pending_restart=[])))["state"] == "ok"
