import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.replication.plugins.filter.topology import cluster_status, endpoints_status, failover_choice
from ansible_collections.pgops.replication.plugins.plugin_utils.cluster import human_bytes, human_seconds


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
    assert status["state"] == "ok" and status["exit_code"] == 0
    assert status["lines"][:2] == ["OK: node1 is primary, 2 of 2 standbys streaming", ""]
    assert len(status["lines"]) == 6 and status["lines"][3].startswith("node1  ") and status["lines"][4].startswith("node2  ")


def column(lines: list, name: str) -> list:
    """The values of one column of the status table (header at lines[2]), read by the header's position."""
    header = lines[2]
    start = header.index(name)
    following = [header.index(other) for other in ("lag", "replay lag", "sync", "slot", "upstream") if header.index(other) > start]
    end = min(following) if following else None
    rows = lines[3 : lines.index("", 3) if "" in lines[3:] else None]
    return [line[start:end].strip() for line in rows]


def test_the_table_is_as_wide_as_its_values_with_units_and_the_problems_sorted_by_severity():
    long_name = "db-eu-west-1-replica-17.internal.example.net"
    variables = hostvars(node1=primary(senders=dict(node2=1 << 20, node3=0)), node2=standby(), node3=standby())
    variables[long_name] = variables.pop("node3")
    variables["node4"] = {}  # no facts: a critical problem, listed before the warnings whatever its place
    variables["node2"]["ansible_facts"]["pg_replication"]["replay_lag_seconds"] = 125.5
    variables["node1"]["ansible_facts"]["pg_replication"]["slots"].append(dict(slot_name="old", active=False, wal_status="reserved"))
    status = cluster_status(["node1", "node2", long_name, "node4"], variables)
    lines = status["lines"]
    assert lines[3 + 2].startswith(long_name + "  ") and lines[2].startswith("host" + " " * (len(long_name) - 2) + "role")
    assert column(lines, "lag")[1] == "1.0 MiB" and column(lines, "replay lag")[1] == "2m 05s"
    severities = [line.split()[0] for line in lines[lines.index("", 3) + 1 :]]
    assert severities == sorted(severities, key=["CRITICAL", "WARNING"].index) and "CRITICAL" in severities and "WARNING" in severities
    assert status["state"] == "critical" and status["exit_code"] == 2
    assert lines[0].startswith("CRITICAL: 1 critical problem, ") and "node1 is primary" in lines[0]


@pytest.mark.parametrize(
    "count, shown",
    [(None, "-"), (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (16 << 20, "16.0 MiB"), (5 << 30, "5.0 GiB"), (3 << 40, "3072.0 GiB")],
)
def test_human_bytes(count, shown):
    assert human_bytes(count) == shown


@pytest.mark.parametrize(
    "seconds, shown", [(None, "-"), (0, "0.0 s"), (59.94, "59.9 s"), (60, "1m 00s"), (3599, "59m 59s"), (7384, "2h 03m")]
)
def test_human_seconds(seconds, shown):
    assert human_seconds(seconds) == shown


@pytest.mark.parametrize(
    "facts, expected",
    [
        (dict(node1=primary(), node2=primary(), node3=standby()), ("cluster", "critical", "split-brain")),
        (dict(node1=primary(), node2=primary(system_identifier="2"), node3=standby()), ("cluster", "critical", "clusters")),
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


def healthy(**overrides):
    facts = dict(node1=primary(), node2=standby(), node3=standby())
    for facts_by_host in facts.values():
        facts_by_host["settings"] = dict(max_wal_senders=10, max_replication_slots=10, data_checksums=True, wal_log_hints=True)
    facts.update(overrides)
    return facts


def test_switchover_checks_pass_on_a_healthy_cluster_and_report_done_after():
    from ansible_collections.pgops.replication.plugins.filter.topology import switchover_checks

    checked = switchover_checks(["node1", "node2", "node3"], hostvars(**healthy()), "node2")
    assert checked["problems"] == [] and checked["primary"] == "node1" and checked["done"] is False
    after = healthy(node1=standby(upstream="node2"), node2=primary(slots=("node1", "node3"), senders={"node1": 0, "node3": 0}))
    after["node3"]["wal_receiver"]["sender_host"] = "node2"
    done = switchover_checks(["node1", "node2", "node3"], hostvars(**after), "node2")
    assert done["done"] is True and done["problems"] == []


@pytest.mark.parametrize(
    "change, check",
    [
        (lambda facts: facts["node1"].update(replication=[dict(application_name="node2", replay_lag_bytes=1 << 30)]), "lag check"),
        (lambda facts: facts["node2"].update(replay_paused=True), "replay check"),
        (lambda facts: facts["node2"]["settings"].update(max_wal_senders=1), "capacity check"),
        (lambda facts: facts["node1"]["settings"].update(data_checksums=False, wal_log_hints=False), "rewind check"),
        (lambda facts: facts["node1"].update(archive_ready_files=500), "archive check"),
        (lambda facts: facts["node2"]["wal_receiver"].update(status="waiting"), "streaming check"),
        (lambda facts: facts.update(node3=None), "reachable check"),
    ],
)
def test_switchover_checks_name_the_failing_check(change, check):
    from ansible_collections.pgops.replication.plugins.filter.topology import switchover_checks

    facts = healthy()
    change(facts)
    problems = switchover_checks(["node1", "node2", "node3"], hostvars(**facts), "node2")["problems"]
    assert any(problem.startswith(check) for problem in problems), problems


def test_switchover_checks_refuse_unknown_or_missing_candidates():
    from ansible_collections.pgops.replication.plugins.filter.topology import switchover_checks

    with pytest.raises(AnsibleFilterError, match="not a member"):
        switchover_checks(["node1", "node2"], hostvars(**healthy()), "node7")
    with pytest.raises(AnsibleFilterError, match="required"):
        switchover_checks(["node1", "node2"], hostvars(**healthy()), "")


def test_pgpass_line_escapes_like_the_modules():
    from ansible_collections.pgops.replication.plugins.filter.pgpass import pgpass_line
    from ansible_collections.pgops.replication.plugins.module_utils.conninfo import rewrite_passfile_text

    password = "mol 'ecule' \\ $HOME %s ünï:x"
    assert pgpass_line(password, "node1", 5432, "replication", "replicator") + "\n" == rewrite_passfile_text(
        "", "node1", 5432, "replication", "replicator", password
    )


def test_inactive_slot_warning_says_how_much_wal_is_left_before_it_is_lost():
    facts = primary(senders={"node3": 0})
    facts["slots"][0].update(wal_status="unreserved", safe_wal_size=48 << 20)
    status = cluster_status(["node1", "node2", "node3"], hostvars(node1=facts, node2=standby(), node3=standby()))
    (message,) = [problem["message"] for problem in status["problems"] if problem["check"] == "slot"]
    assert "inactive" in message and "unreserved" in message and "lost after 48 MiB more WAL" in message


def test_stopped_standby_slot_is_reported_with_the_wal_it_may_still_hold():
    facts = primary(senders={"node3": 0})
    facts["slots"][0].update(wal_status="extended", safe_wal_size=100 << 20)
    status = cluster_status(
        ["node1", "node2", "node3"], hostvars(node1=facts, node2=dict(role="stopped", system_identifier="1"), node3=standby())
    )
    assert ("node2", "critical", "running") in checks(status) and ("node2", "warning", "slot") in checks(status)
    assert status["rows"][1]["slot"] == "extended"


@pytest.mark.parametrize(
    "slot_status, oldest, position, gone",
    [
        ("lost", None, "0/5000000", True),
        ("reserved", "0/6000000", "0/5000000", True),
        ("reserved", "0/4000000", "0/5000000", False),
        ("reserved", None, "0/5000000", False),
        ("reserved", "0/6000000", None, False),
    ],
)
def test_needed_wal_gone(slot_status, oldest, position, gone):
    from ansible_collections.pgops.replication.plugins.filter.topology import needed_wal_gone

    facts = primary()
    facts["slots"][0]["wal_status"] = slot_status
    facts["oldest_wal_lsn"] = oldest
    member = dict(role="stopped", system_identifier="1", controldata=dict(checkpoint_lsn=position))
    assert needed_wal_gone("node2", "node1", hostvars(node1=facts, node2=member, node3=standby())) is gone


def test_failover_refuses_two_running_primaries_even_with_a_forced_standby():
    """Split brain is for a person to resolve: fencing both primaries would throw away the writes of each."""
    variables = hostvars(node1=primary(), node2=primary(lsn="0/6000000", timeline=2), node3=standby())
    for choice in (
        failover_choice(["node1", "node2", "node3"], variables),
        failover_choice(["node1", "node2", "node3"], variables, new_primary="node3", force=True),
    ):
        assert choice["problems"] and "Split brain: node1 and node2 both run as primary" in choice["problems"][0]
        assert "RUNBOOK" in choice["problems"][0]


def test_an_inactive_slot_of_no_member_is_reported_on_the_primary_and_an_active_one_is_not():
    facts = primary(slots=("node2", "node3", "node4", "barman"), senders={"node2": 0, "node3": 0, "barman": 0})
    facts["slots"][2].update(wal_status="extended", safe_wal_size=None, restart_lsn="0/1000000")
    status = cluster_status(["node1", "node2", "node3"], hostvars(node1=facts, node2=standby(), node3=standby()))
    assert checks(status) == [("node1", "warning", "slot")]
    (message,) = status["warnings"]
    assert "node4" in message and "no member" in message and "pg_drop_replication_slot('node4')" in message
    assert "barman" not in message


@pytest.mark.parametrize("receiver_status", [None, "waiting", "stopping"])
def test_a_standby_that_does_not_stream_shows_no_replay_lag_rather_than_zero(receiver_status):
    variables = hostvars(node1=primary(), node2=standby(status=receiver_status), node3=standby())
    status = cluster_status(["node1", "node2", "node3"], variables)
    assert status["rows"][1]["lag_seconds"] is None and status["rows"][2]["lag_seconds"] == 0.0
    assert column(status["lines"], "replay lag")[1:] == ["-", "0.0 s"]


# The status playbook's judgement of the poolers: where each sends writes and reads, against the cluster's primary.
NODES = ["node1", "node2", "node3"]


def healthy_report():
    variables = hostvars(node1=primary(), node2=standby(), node3=standby())
    return cluster_status(NODES, variables), variables


def pooler(write="node1", read="node2", paused=False, host="pooler1"):
    return dict(
        host=host,
        reached=True,
        read_suffix="_read",
        databases=[
            dict(name="appdb", host=write, port=5432, paused=paused),
            dict(name="appdb_read", host=read, port=5432, paused=paused),
        ],
    )


def test_a_pooler_on_the_primary_adds_its_lines_and_no_problem():
    report, variables = healthy_report()
    status = endpoints_status(report, [pooler()], variables)
    assert status["state"] == "ok" and status["exit_code"] == 0 and status["problems"] == []
    assert status["poolers"] == ["pooler1: writes appdb -> node1", "pooler1: reads appdb_read -> node2"]
    assert status["lines"][-2:] == status["poolers"]


def test_writes_sent_to_a_standby_are_critical():
    report, variables = healthy_report()
    status = endpoints_status(report, [pooler(write="node2")], variables)
    assert status["exit_code"] == 2 and checks(status) == [("pooler1", "critical", "pooler-writes")]
    assert status["critical"] == [
        "pooler1: sends the writes of appdb to node2, which is not the primary (node1): run the rejoin playbook (or the "
        "switchover or failover that stopped) to re-point it"
    ]
    assert status["verdict"].startswith("CRITICAL: 1 critical problem; node1 is primary, 2 of 2 standbys streaming; first: pooler1")


def test_the_pooler_matches_members_by_their_connect_host():
    report, variables = healthy_report()
    for host, address in (("node1", "10.0.0.1"), ("node2", "10.0.0.2")):
        variables[host]["postgresql_connect_host"] = address
    status = endpoints_status(report, [pooler(write="10.0.0.1", read="10.0.0.2")], variables)
    assert status["problems"] == [] and status["poolers"][0] == "pooler1: writes appdb -> node1"
    unknown = endpoints_status(report, [pooler(write="10.9.9.9", read="10.0.0.2")], variables)
    assert checks(unknown) == [("pooler1", "critical", "pooler-writes")] and "10.9.9.9 (no member)" in unknown["critical"][0]


def test_a_paused_pooler_is_a_warning_and_one_that_does_not_answer_is_critical():
    report, variables = healthy_report()
    paused = endpoints_status(report, [pooler(paused=True)], variables)
    assert paused["exit_code"] == 1 and checks(paused) == [("pooler1", "warning", "paused"), ("pooler1", "warning", "paused")]
    silent = endpoints_status(report, [dict(host="pooler2", reached=False, error="connection refused")], variables)
    assert silent["exit_code"] == 2
    assert silent["critical"] == ["pooler2: PgBouncer's admin console did not answer (connection refused)"]


def test_reads_on_a_stopped_member_are_a_warning():
    variables = hostvars(node1=primary(), node2=standby(), node3=dict(role="stopped"))
    report = cluster_status(NODES, variables)
    status = endpoints_status(report, [pooler(read="node3")], variables)
    assert ("pooler1", "warning", "pooler-reads") in checks(status)


def test_without_a_single_primary_writes_are_not_judged_again():
    variables = hostvars(node1=None, node2=standby(), node3=standby())
    report = cluster_status(NODES, variables)
    status = endpoints_status(report, [pooler()], variables)
    assert [problem for problem in status["problems"] if problem["host"] == "pooler1"] == []
    assert status["exit_code"] == 2


def proxy(writes=("node1",), reads=("node2", "node3"), host="proxy1"):
    servers = [dict(backend="postgresql_write", server=name, status="UP" if name in writes else "DOWN", backup=False) for name in NODES]
    servers += [dict(backend="postgresql_read", server=name, status="UP" if name in reads else "DOWN", backup=False) for name in NODES]
    servers.append(dict(backend="postgresql_read", server="node1_primary", status="UP", backup=True))
    return dict(host=host, reached=True, servers=servers)


def test_a_proxy_on_the_primary_and_the_standbys_adds_its_lines_and_no_problem():
    report, variables = healthy_report()
    status = endpoints_status(report, [], variables, [proxy()])
    assert status["problems"] == [] and status["exit_code"] == 0
    assert status["poolers"] == ["proxy1: writes -> node1", "proxy1: reads -> node2, node3"]


def test_a_proxy_that_still_sends_writes_to_a_former_primary_is_a_warning_only():
    report, variables = healthy_report()
    status = endpoints_status(report, [], variables, [proxy(writes=("node1", "node2"), reads=("node3", "node1"))])
    assert status["exit_code"] == 1
    assert checks(status) == [("proxy1", "warning", "proxy-reads"), ("proxy1", "warning", "proxy-writes")]
    assert status["warnings"][0].startswith("proxy1: HAProxy sends writes to node1, node2, not to the primary node1 alone")
    silent = endpoints_status(report, [], variables, [dict(host="proxy2", reached=False, error="no such socket")])
    assert silent["warnings"] == ["proxy2: could not read HAProxy's state (no such socket)"]
