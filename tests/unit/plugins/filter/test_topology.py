import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.replication.plugins.filter.topology import cluster_status, failover_choice


def primary(lsn="0/5000000", slots=("node2", "node3"), senders=None, system_identifier="1", timeline=1):
    senders = senders if senders is not None else {name: 0 for name in slots}
    return dict(
        role="primary",
        system_identifier=system_identifier,
        timeline=timeline,
        current_lsn=lsn,
        replication=[dict(application_name=name, replay_lag_bytes=lag, sync_state="async") for name, lag in senders.items()],
        slots=[dict(slot_name=name, active=name in senders, wal_status="reserved") for name in slots],
    )


def standby(upstream="node1", received="0/5000000", status="streaming", system_identifier="1", timeline=1, **extra):
    facts = dict(
        role="standby",
        system_identifier=system_identifier,
        timeline=timeline,
        received_lsn=received,
        replayed_lsn=received,
        replay_lag_seconds=0.0,
        replay_paused=False,
        wal_receiver=dict(status=status, sender_host=upstream, sender_port=5432) if status else None,
    )
    facts.update(extra)
    return facts


def hostvars(**facts_by_host):
    return {host: ({"ansible_facts": {"pg_replication": facts}} if facts is not None else {}) for host, facts in facts_by_host.items()}


def checks(status):
    return sorted((problem["host"], problem["severity"], problem["check"]) for problem in status["problems"])


def test_healthy_cluster_has_no_problems_and_a_row_per_member():
    variables = hostvars(node1=primary(), node2=standby(), node3=standby())
    status = cluster_status(["node1", "node2", "node3"], variables)
    assert status["primary"] == "node1" and status["problems"] == []
    assert [row["role"] for row in status["rows"]] == ["primary", "standby", "standby"]
    assert len(status["lines"]) == 4 and status["lines"][2].startswith("node2")


@pytest.mark.parametrize(
    "facts, expected",
    [
        (dict(node1=primary(), node2=primary(), node3=standby()), ("node1 and node2", "critical", "split-brain")),
        (dict(node1=None, node2=standby(), node3=standby()), ("node1", "critical", "reachable")),
        (dict(node1=primary(), node2=standby(status="waiting"), node3=standby()), ("node2", "critical", "streaming")),
        (dict(node1=primary(), node2=standby(status=None), node3=standby()), ("node2", "critical", "streaming")),
        (dict(node1=primary(), node2=standby(upstream="node3"), node3=standby()), ("node2", "critical", "upstream")),
        (dict(node1=primary(), node2=standby(system_identifier="2"), node3=standby()), ("node2", "critical", "cluster")),
        (dict(node1=primary(senders={"node2": 64 << 20, "node3": 0}), node2=standby(), node3=standby()), ("node2", "warning", "lag")),
        (dict(node1=primary(), node2=standby(replay_lag_seconds=300.0), node3=standby()), ("node2", "warning", "lag")),
        (dict(node1=primary(senders={"node3": 0}), node2=standby(), node3=standby()), ("node2", "warning", "slot")),
        (dict(node1=primary(slots=("node3",)), node2=standby(), node3=standby()), ("node2", "warning", "slot")),
        (dict(node1=primary(), node2=standby(replay_paused=True), node3=standby()), ("node2", "warning", "replay")),
        (dict(node1=primary(), node2=dict(role="stopped"), node3=standby()), ("node2", "critical", "running")),
    ],
)
def test_each_problem_is_named_with_its_host_and_severity(facts, expected):
    status = cluster_status(list(facts), hostvars(**facts))
    assert expected in checks(status), checks(status)


def test_lost_slot_is_critical():
    facts = primary()
    facts["slots"][0]["wal_status"] = "lost"
    status = cluster_status(["node1", "node2", "node3"], hostvars(node1=facts, node2=standby(), node3=standby()))
    assert ("node2", "critical", "slot") in checks(status)
    assert status["critical"] and status["critical"][0].startswith("node2:")


def test_no_primary_is_critical():
    status = cluster_status(["node2"], hostvars(node2=standby()))
    assert status["primary"] is None and status["critical"]


def test_failover_prefers_latest_timeline_then_received_lsn_then_priority():
    variables = hostvars(node1=None, node2=standby(received="0/5000000"), node3=standby(received="0/6000000"))
    choice = failover_choice(["node1", "node2", "node3"], variables)
    assert choice["candidate"] == "node3" and choice["problems"] == [] and choice["lag_bytes"] == 0
    tied = hostvars(node2=standby(), node3=standby())
    tied["node2"]["postgresql_failover_priority"] = 10
    assert failover_choice(["node2", "node3"], tied)["candidate"] == "node2"
    assert failover_choice(["node2", "node3"], hostvars(node2=standby(), node3=standby()))["candidate"] == "node2"
    newer = hostvars(node2=standby(received="0/9000000"), node3=standby(received="0/1000000", timeline=2))
    assert failover_choice(["node2", "node3"], newer)["candidate"] == "node3"


def test_failover_refuses_a_lagging_choice_unless_forced():
    variables = hostvars(node2=standby(received="0/5000000"), node3=standby(received="0/6000000"))
    refused = failover_choice(["node2", "node3"], variables, new_primary="node2", max_lag_bytes=1024)
    assert refused["lag_bytes"] == 0x1000000 and "failover_max_lag_bytes" in refused["problems"][0]
    forced = failover_choice(["node2", "node3"], variables, new_primary="node2", max_lag_bytes=1024, force=True)
    assert forced["problems"] == [] and forced["lag_bytes"] == 0x1000000


def test_failover_refuses_members_that_are_no_standby():
    variables = hostvars(node1=primary(), node2=standby())
    assert "not a running standby" in failover_choice(["node1", "node2"], variables, new_primary="node1")["problems"][0]
    with pytest.raises(AnsibleFilterError, match="not a member"):
        failover_choice(["node1", "node2"], variables, new_primary="node9")
    assert failover_choice(["node1"], hostvars(node1=None))["candidate"] is None
